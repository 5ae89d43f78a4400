//! Review and plugin management: approve/unapprove a version, the review queue, the private
//! views of a plugin and a version, plugin edits (owners, maintainer, deprecated), version
//! deletion, soft deletion and restore. Permissions as reference §3.2 with decisions §5.
//!
//! Approval names the reviewed bytes (decisions §9), compared inside the transaction.
//! Every change goes through `change::change_plugin`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction};

use catalog::accounts::User;
use catalog::events::AuditEvent;
use catalog::ids::{UserId, VersionId};
use catalog::metadata::VersionMetadata;
use catalog::plugins::PluginRow;
use catalog::review::PendingVersion;
use catalog::versions::VersionRow;

use super::change::{self, Applied, Changed, Permission, Reach};
use super::uploads::remove_unreferenced;
use super::{
    ServiceError, ServiceResult, api_time, db, forbid_non_editor, plugin_or_404, version_or_404,
};
use crate::app::App;
use crate::mail::MailEvent;

/// A SHA-256 as a reviewer names it: 64 hex digits, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sha256Hex(String);

impl Sha256Hex {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }

    fn matches(&self, stored: &str) -> bool {
        self.0.eq_ignore_ascii_case(stored)
    }
}

/// Approve (naming the reviewed bytes) or unapprove.
#[derive(Debug, Clone)]
pub(crate) enum Approval {
    Approve(Sha256Hex),
    Unapprove,
}

/// The 409 of an approval whose zip is not the reviewed one.
fn changed_since_review(plugin: &PluginRow, row: &VersionRow, sent: &Sha256Hex) -> ServiceError {
    let replaced = match row.replaced_on {
        Some(t) => format!(", replaced at {}", api_time(t)),
        None => String::new(),
    };
    ServiceError::ChangedSinceReview(format!(
        "The zip of {} {} changed since it was reviewed: you sent sha256 {}, the stored zip has \
         sha256 {} ({} bytes{replaced}). Nothing was approved. Download the version again, review \
         it, and approve with its sha256.",
        plugin.package_name, row.version, sent.0, row.package_sha256, row.package_size
    ))
}

/// Approves or unapproves a version; the value is the plugin and the version row.
pub(crate) async fn set_approval(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
    approval: Approval,
) -> ServiceResult<Applied<(PluginRow, VersionRow)>> {
    if matches!(approval, Approval::Approve(_)) {
        // A version still being scanned is waited for (bounded); the gate below decides.
        super::scans::wait_scanned(app, package, version).await?;
    }
    let (app2, version, user_id) = (app.clone(), version.to_owned(), user.id);
    let applied = change::change_plugin(app, user, package, Permission::Approve, Reach::Site, move |tx, plugin, now| {
        let row = version_or_404(tx, plugin, &version)?;
        let approve = matches!(approval, Approval::Approve(_));
        if approve && !row.approved {
            super::scans::approval_gate(tx, plugin, &row)?;
        }
        if let Approval::Approve(sent) = &approval
            && !sent.matches(&row.package_sha256)
        {
            return Err(changed_since_review(plugin, &row, sent));
        }
        if approve
            && !row.approved
            && !app2.store.verify(&row.package_path, &row.package_sha256, row.package_size)
        {
            return Err(ServiceError::Conflict(format!(
                "The stored package of {} {} is missing or damaged; it cannot be published. Upload the version again.",
                plugin.package_name, row.version
            )));
        }
        let changed =
            catalog::review::set_version_approved(tx, plugin.id, row.id, approve, user_id, now)?;
        let (version, sha256) = (row.version.clone(), row.package_sha256.clone());
        let event = if approve {
            AuditEvent::VersionApprove { version, sha256 }
        } else {
            AuditEvent::VersionUnapprove { version, sha256 }
        };
        if changed {
            let (plugin, version, by) = (plugin.id, row.id, user_id);
            let mail = if approve {
                MailEvent::Approved { plugin, version, by }
            } else {
                MailEvent::Unapproved { plugin, version, by }
            };
            crate::mail::notify(tx, &app2.config.site.base_url, now, &mail)?;
        }
        let value = (plugin.clone(), row);
        Ok(if changed { Changed::Yes(value, event) } else { Changed::No(value) })
    })
    .await;
    if applied.as_ref().is_ok_and(|a| a.changed) {
        app.mail_wake.notify_one();
    }
    applied
}

/// Versions awaiting review: staff see all, trusted users those of plugins they edit.
pub(crate) async fn queue(app: &App, user: &User) -> ServiceResult<Vec<PendingVersion>> {
    let filter = if user.is_staff || user.is_superuser {
        None
    } else if user.can_approve {
        Some(user.id)
    } else {
        return Err(ServiceError::Forbidden(
            "Only staff and trusted users can see the review queue.".into(),
        ));
    };
    db(app, move |conn| Ok(catalog::review::pending_versions(conn, filter)?)).await
}

/// A plugin with every version, approved or not, as its editors see it.
#[derive(Debug)]
pub(crate) struct PluginState {
    pub plugin: PluginRow,
    /// Owner names (editors beside the creator).
    pub owners: Vec<String>,
    pub versions: Vec<VersionRow>,
    /// Each version's own uploaded metadata, by version id.
    pub metadata: HashMap<VersionId, VersionMetadata>,
    pub creator: Option<String>,
    pub maintainer: Option<String>,
}

/// The plugin's private state (editors and staff; this is where authors see their drafts).
pub(crate) async fn plugin_state(
    app: &App,
    user: User,
    package: &str,
) -> ServiceResult<PluginState> {
    let package = package.to_owned();
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        forbid_non_editor(conn, &plugin, &user, "see its drafts")?;
        read_state(conn, plugin)
    })
    .await
}

fn read_state(conn: &Connection, plugin: PluginRow) -> ServiceResult<PluginState> {
    let owners = catalog::plugins::plugin_owners(conn, plugin.id)?;
    let versions = catalog::versions::versions_of_plugin(conn, plugin.id)?;
    let metadata = catalog::metadata::versions_metadata(conn, plugin.id)?.into_iter().collect();
    let name_of = |id: Option<UserId>| -> ServiceResult<Option<String>> {
        Ok(match id {
            Some(id) => catalog::accounts::user_by_id(conn, id)?.map(|u| u.username),
            None => None,
        })
    };
    let creator = name_of(Some(plugin.created_by))?;
    let maintainer = name_of(plugin.maintainer)?;
    Ok(PluginState {
        owners: owners.into_iter().map(|(_, n)| n).collect(),
        versions,
        metadata,
        creator,
        maintainer,
        plugin,
    })
}

/// A PATCH of a plugin: only fields whose value differs are written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PluginPatch {
    /// Replaces the owners (editors beside the creator), by user name.
    pub owners: Option<Vec<String>>,
    /// User name of the maintainer (must be the creator or an owner).
    pub maintainer: Option<String>,
    pub deprecated: Option<bool>,
}

/// Applies `patch`; a PATCH that changes nothing writes nothing.
pub(crate) async fn patch_plugin(
    app: &App,
    user: &User,
    package: &str,
    patch: PluginPatch,
) -> ServiceResult<Applied<()>> {
    if patch.owners.as_ref().is_some_and(|o| o.len() > 100) {
        return Err(ServiceError::BadRequest("At most 100 owners.".into()));
    }
    let edit = Permission::Edit { what: "edit it" };
    change::change_plugin(app, user, package, edit, Reach::Site, move |tx, plugin, now| {
        let changed = apply_patch(tx, plugin, &patch, now)?;
        if changed.is_empty() {
            return Ok(Changed::No(()));
        }
        let PluginPatch { owners, maintainer, deprecated } = patch;
        Ok(Changed::Yes((), AuditEvent::PluginUpdate { changed, owners, maintainer, deprecated }))
    })
    .await
}

/// Writes the fields of `patch` that differ from `plugin`; returns their names.
fn apply_patch(
    tx: &Transaction<'_>,
    plugin: &PluginRow,
    patch: &PluginPatch,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<&'static str>> {
    let mut changed = Vec::new();
    let mut owner_ids: Vec<UserId> =
        catalog::plugins::plugin_owners(tx, plugin.id)?.into_iter().map(|(id, _)| id).collect();
    owner_ids.sort_unstable();
    let mut maintainer = plugin.maintainer.unwrap_or(plugin.created_by);
    if let Some(owners) = &patch.owners {
        let ids = owner_ids_of(tx, plugin, owners)?;
        if ids != owner_ids {
            catalog::plugins::set_plugin_owners(tx, plugin.id, &ids, now)?;
            changed.push("owners");
            owner_ids = ids;
            // A maintainer who is no longer an editor falls back to the creator.
            if maintainer != plugin.created_by
                && !owner_ids.contains(&maintainer)
                && patch.maintainer.is_none()
            {
                catalog::plugins::set_plugin_maintainer(tx, plugin.id, plugin.created_by, now)?;
                maintainer = plugin.created_by;
                changed.push("maintainer");
            }
        }
    }
    if let Some(name) = &patch.maintainer {
        let m = user_named(tx, name)?;
        if m.id != plugin.created_by && !owner_ids.contains(&m.id) {
            return Err(ServiceError::BadRequest(format!(
                "`{name}` is not an editor of `{}`: add them to the owners first.",
                plugin.package_name
            )));
        }
        if m.id != maintainer {
            catalog::plugins::set_plugin_maintainer(tx, plugin.id, m.id, now)?;
            changed.push("maintainer");
        }
    }
    if let Some(deprecated) = patch.deprecated
        && deprecated != plugin.deprecated
    {
        catalog::plugins::set_plugin_deprecated(tx, plugin.id, deprecated, now)?;
        changed.push("deprecated");
    }
    Ok(changed)
}

fn user_named(conn: &Connection, name: &str) -> ServiceResult<User> {
    catalog::accounts::user_by_name(conn, name)?
        .ok_or_else(|| ServiceError::BadRequest(format!("There is no user `{name}`.")))
}

/// The owners' ids, sorted, without the creator.
fn owner_ids_of(
    conn: &Connection,
    plugin: &PluginRow,
    names: &[String],
) -> ServiceResult<Vec<UserId>> {
    let mut ids =
        names.iter().map(|n| user_named(conn, n).map(|u| u.id)).collect::<Result<Vec<_>, _>>()?;
    ids.retain(|id| *id != plugin.created_by);
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Deletes a version (editors and staff). The zip is removed once the build without the
/// version is live, and only if no row references it by then.
pub(crate) async fn delete_version(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
) -> ServiceResult<Applied<(PluginRow, VersionRow)>> {
    let version = version.to_owned();
    let edit = Permission::Edit { what: "delete its versions" };
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Site, move |tx, plugin, now| {
            let row = version_or_404(tx, plugin, &version)?;
            catalog::versions::delete_version(tx, plugin.id, row.id, now)?;
            let event = AuditEvent::VersionDelete {
                version: row.version.clone(),
                was_approved: row.approved,
            };
            Ok(Changed::Yes((plugin.clone(), row), event))
        })
        .await?;
    // The zip goes after the build that drops the version (a build already running may still
    // be publishing it). By then the same bytes may have been uploaded again (the path is
    // content-named): the writer decides, in a transaction, and removes it before releasing.
    let (app2, path) = (app.clone(), applied.value.1.package_path.clone());
    db(app, move |conn| {
        remove_unreferenced(&app2, conn, &path);
        Ok(())
    })
    .await?;
    Ok(applied)
}

/// Soft deletion (`delete`) or restore of a plugin. Soft deletion keeps the zips (a restore
/// needs them).
pub(crate) async fn set_deleted(
    app: &App,
    user: &User,
    package: &str,
    delete: bool,
) -> ServiceResult<Applied<PluginRow>> {
    let what = if delete { "delete it" } else { "restore it" };
    change::change_plugin(
        app,
        user,
        package,
        Permission::Edit { what },
        Reach::Site,
        move |tx, plugin, now| {
            if !delete && !plugin.is_deleted {
                return Err(ServiceError::NotFound(format!(
                    "Plugin `{}` is not marked for deletion.",
                    plugin.package_name
                )));
            }
            if plugin.is_deleted == delete {
                return Ok(Changed::No(plugin.clone()));
            }
            catalog::plugins::set_plugin_deleted(tx, plugin.id, delete, now)?;
            let event = if delete { AuditEvent::PluginDelete } else { AuditEvent::PluginRestore };
            Ok(Changed::Yes(plugin.clone(), event))
        },
    )
    .await
}
