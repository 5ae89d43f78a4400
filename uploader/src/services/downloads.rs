//! Private downloads: the stored zip of a version not (yet) published, for the plugin's
//! editors and staff. Anyone else learns nothing, not even whether the version exists.

use catalog::accounts::User;

use super::{ServiceError, ServiceResult, can_edit, db};
use crate::app::App;

const NOT_FOUND: &str = "No such plugin version.";

/// The 404 of every refused private download.
pub(crate) fn not_found() -> ServiceError {
    ServiceError::NotFound(NOT_FOUND.into())
}

/// A stored zip an editor may download.
#[derive(Debug, Clone)]
pub(crate) struct PrivateFile {
    pub package: String,
    pub version: String,
    /// The path inside the store's packages directory: checked to be plain (no empty, `.`
    /// or `..` segment, only `[A-Za-z0-9/._+-]`).
    pub inner_path: String,
}

/// The zip of `package` `version` for `user`, or 404.
pub(crate) async fn private_file(
    app: &App,
    user: User,
    package: &str,
    version: &str,
) -> ServiceResult<PrivateFile> {
    let (pkg, ver) = (package.to_owned(), version.to_owned());
    let file = db(app, move |conn| {
        let Some(file) = catalog::downloads::version_file(conn, &pkg, &ver)? else {
            return Ok(None);
        };
        let Some(plugin) = catalog::plugins::plugin_by_id(conn, file.plugin_id)? else {
            return Ok(None);
        };
        if !can_edit(conn, &plugin, &user)? {
            return Ok(None);
        }
        super::scans::download_gate(conn, plugin.id, &file.version)?;
        Ok(Some((plugin.package_name, file)))
    })
    .await?;
    let Some((package, file)) = file else { return Err(not_found()) };
    let inner = file
        .package_path
        .strip_prefix(&format!("{}/", catalog::store::PACKAGES_DIR))
        .filter(|p| !p.split('/').any(|s| s.is_empty() || s == "." || s == ".."))
        .filter(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b)))
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!(
                "unexpected package path `{}`",
                file.package_path
            ))
        })?;
    Ok(PrivateFile { package, version: file.version.clone(), inner_path: inner.to_owned() })
}
