//! The audit log: one row per change, with its actor and plugin.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::ids::{PluginId, TaskId, TokenId, UserId};
use crate::time::fmt_time;

/// How an upload arrived (audit detail `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadVia {
    /// `POST /plugins/add/` with a user token.
    Web,
    /// The token API with an upload token.
    Token,
    /// XML-RPC `plugin.upload` with HTTP Basic.
    XmlRpc,
}

impl UploadVia {
    /// The text the audit log stores.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadVia::Web => "web",
            UploadVia::Token => "token",
            UploadVia::XmlRpc => "xmlrpc",
        }
    }
}

/// The details of an upload event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadDetail {
    pub version: String,
    /// The version the upload replaced (token API update).
    pub replaced: Option<String>,
    pub approved: bool,
    pub via: UploadVia,
    pub token_id: Option<TokenId>,
    pub sha256: String,
}

/// One change to the catalog, as the audit log records it: `action` and the JSON `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// An upload that created its plugin.
    PluginCreate(UploadDetail),
    /// An upload that added a version.
    VersionUpload(UploadDetail),
    /// An upload that replaced an unapproved version.
    VersionReplace(UploadDetail),
    VersionApprove {
        version: String,
        sha256: String,
    },
    VersionUnapprove {
        version: String,
        sha256: String,
    },
    VersionDelete {
        version: String,
        was_approved: bool,
    },
    /// A PATCH: the fields it changed and what it asked for.
    PluginUpdate {
        changed: Vec<&'static str>,
        owners: Option<Vec<String>>,
        maintainer: Option<String>,
        deprecated: Option<bool>,
    },
    PluginDelete,
    PluginRestore,
    /// `expires_at` as the API shows it.
    TokenCreate {
        token_id: TokenId,
        expires_at: String,
    },
    TokenRevoke {
        token_id: TokenId,
    },
    /// The description of a token changed (the text itself is in the token's row).
    TokenDescribe {
        token_id: TokenId,
    },
    UserCreate {
        user: String,
        staff: bool,
        trusted: bool,
    },
    UserTrust {
        user: String,
    },
    UserUntrust {
        user: String,
    },
    /// Staff put a staff member in (or out of) the review notification group.
    UserReviewMail {
        user: String,
        on: bool,
    },
    UserBlock {
        user: String,
    },
    UserUnblock {
        user: String,
    },
    /// A staff member invited `user` (an account without a password yet).
    UserInvite {
        user: String,
    },
    /// `user` set a password (change, invitation or sign-up); other sessions were ended.
    PasswordSet {
        user: String,
    },
    /// `user` signed out everywhere: `count` sessions ended.
    SessionsEnd {
        user: String,
        count: usize,
    },
    /// The scan of an approved version found something critical: it was unapproved.
    ScanBlock {
        version: String,
        sha256: String,
    },
    /// Staff lifted a scan's block, saying why.
    ScanOverride {
        version: String,
        reason: String,
    },
    /// An editor or staff asked for a new scan.
    ScanRescan {
        version: String,
    },
    /// An editor waived a rule (`file` empty: the whole plugin).
    WaiverAdd {
        rule: String,
        file: String,
        reason: String,
    },
    WaiverRemove {
        rule: String,
        file: String,
    },
    /// The folders of vendored code were declared.
    VendoredSet {
        paths: Vec<String>,
    },
    /// A reviewer wrote feedback on `version`: `tasks` new tasks.
    FeedbackGive {
        version: String,
        tasks: Vec<TaskId>,
    },
    /// Something happened to one feedback task of `version`.
    FeedbackTask {
        version: String,
        task: TaskId,
        change: TaskChange,
    },
}

/// What happened to a feedback task (the `action` of `AuditEvent::FeedbackTask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskChange {
    Complete,
    Reopen,
    Answer,
    Edit,
    Delete,
}

impl AuditEvent {
    /// The `action` column.
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::PluginCreate(_) => "plugin.create",
            AuditEvent::VersionUpload(_) => "version.upload",
            AuditEvent::VersionReplace(_) => "version.replace",
            AuditEvent::VersionApprove { .. } => "version.approve",
            AuditEvent::VersionUnapprove { .. } => "version.unapprove",
            AuditEvent::VersionDelete { .. } => "version.delete",
            AuditEvent::PluginUpdate { .. } => "plugin.update",
            AuditEvent::PluginDelete => "plugin.delete",
            AuditEvent::PluginRestore => "plugin.restore",
            AuditEvent::TokenCreate { .. } => "token.create",
            AuditEvent::TokenRevoke { .. } => "token.revoke",
            AuditEvent::TokenDescribe { .. } => "token.describe",
            AuditEvent::UserCreate { .. } => "user.create",
            AuditEvent::UserTrust { .. } => "user.trust",
            AuditEvent::UserUntrust { .. } => "user.untrust",
            AuditEvent::UserReviewMail { .. } => "user.review_mail",
            AuditEvent::UserBlock { .. } => "user.block",
            AuditEvent::UserUnblock { .. } => "user.unblock",
            AuditEvent::UserInvite { .. } => "user.invite",
            AuditEvent::PasswordSet { .. } => "user.password",
            AuditEvent::SessionsEnd { .. } => "user.sessions_end",
            AuditEvent::ScanBlock { .. } => "scan.block",
            AuditEvent::ScanOverride { .. } => "scan.override",
            AuditEvent::ScanRescan { .. } => "scan.rescan",
            AuditEvent::WaiverAdd { .. } => "scan.waiver_add",
            AuditEvent::WaiverRemove { .. } => "scan.waiver_remove",
            AuditEvent::VendoredSet { .. } => "scan.vendored",
            AuditEvent::FeedbackGive { .. } => "feedback.give",
            AuditEvent::FeedbackTask { change, .. } => match change {
                TaskChange::Complete => "feedback.complete",
                TaskChange::Reopen => "feedback.reopen",
                TaskChange::Answer => "feedback.answer",
                TaskChange::Edit => "feedback.edit",
                TaskChange::Delete => "feedback.delete",
            },
        }
    }

    /// The `detail` column: a JSON object.
    pub fn detail(&self) -> String {
        use serde_json::json;
        let value = match self {
            AuditEvent::PluginCreate(u)
            | AuditEvent::VersionUpload(u)
            | AuditEvent::VersionReplace(u) => json!({
                "version": u.version,
                "replaced": u.replaced,
                "approved": u.approved,
                "via": u.via.as_str(),
                "token_id": u.token_id,
                "sha256": u.sha256,
            }),
            AuditEvent::VersionApprove { version, sha256 }
            | AuditEvent::VersionUnapprove { version, sha256 } => {
                json!({"version": version, "sha256": sha256})
            }
            AuditEvent::VersionDelete { version, was_approved } => {
                json!({"version": version, "was_approved": was_approved})
            }
            AuditEvent::PluginUpdate { changed, owners, maintainer, deprecated } => json!({
                "changed": changed,
                "owners": owners,
                "maintainer": maintainer,
                "deprecated": deprecated,
            }),
            AuditEvent::PluginDelete | AuditEvent::PluginRestore => json!({}),
            AuditEvent::TokenCreate { token_id, expires_at } => {
                json!({"token_id": token_id, "expires_at": expires_at})
            }
            AuditEvent::TokenRevoke { token_id } | AuditEvent::TokenDescribe { token_id } => {
                json!({"token_id": token_id})
            }
            AuditEvent::UserCreate { user, staff, trusted } => {
                json!({"user": user, "staff": staff, "trusted": trusted})
            }
            AuditEvent::UserReviewMail { user, on } => json!({"user": user, "on": on}),
            AuditEvent::UserTrust { user }
            | AuditEvent::UserUntrust { user }
            | AuditEvent::UserBlock { user }
            | AuditEvent::UserUnblock { user }
            | AuditEvent::UserInvite { user }
            | AuditEvent::PasswordSet { user } => json!({"user": user}),
            AuditEvent::SessionsEnd { user, count } => json!({"user": user, "count": count}),
            AuditEvent::ScanBlock { version, sha256 } => {
                json!({"version": version, "sha256": sha256})
            }
            AuditEvent::ScanOverride { version, reason } => {
                json!({"version": version, "reason": reason})
            }
            AuditEvent::ScanRescan { version } => json!({"version": version}),
            AuditEvent::WaiverAdd { rule, file, reason } => {
                json!({"rule": rule, "file": file, "reason": reason})
            }
            AuditEvent::WaiverRemove { rule, file } => json!({"rule": rule, "file": file}),
            AuditEvent::VendoredSet { paths } => json!({"paths": paths}),
            AuditEvent::FeedbackGive { version, tasks } => {
                json!({"version": version, "tasks": tasks})
            }
            AuditEvent::FeedbackTask { version, task, .. } => {
                json!({"version": version, "task": task})
            }
        };
        value.to_string()
    }
}

/// Appends `event` to the audit log.
pub fn log_event(
    conn: &Connection,
    now: DateTime<Utc>,
    actor_id: Option<UserId>,
    plugin_id: Option<PluginId>,
    event: &AuditEvent,
) -> Result<()> {
    let action = event.action();
    conn.execute(
        "INSERT INTO events (at, actor_id, action, plugin_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![fmt_time(now), actor_id, action, plugin_id, event.detail()],
    )
    .with_context(|| format!("failed to log event `{action}`"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(via: UploadVia, replaced: Option<&str>, token_id: Option<TokenId>) -> UploadDetail {
        UploadDetail {
            version: "1.0".into(),
            replaced: replaced.map(str::to_owned),
            approved: true,
            via,
            token_id,
            sha256: "ab".into(),
        }
    }

    /// Each variant writes exactly the action and detail text the log has always held
    /// (`serde_json` without `preserve_order`: keys sorted).
    fn pins(event: AuditEvent, action: &str, detail: &str) {
        assert_eq!(event.action(), action);
        assert_eq!(event.detail(), detail);
    }

    #[test]
    fn plugin_create() {
        pins(
            AuditEvent::PluginCreate(upload(UploadVia::Web, None, None)),
            "plugin.create",
            r#"{"approved":true,"replaced":null,"sha256":"ab","token_id":null,"version":"1.0","via":"web"}"#,
        );
    }

    #[test]
    fn version_upload() {
        pins(
            AuditEvent::VersionUpload(upload(UploadVia::XmlRpc, None, None)),
            "version.upload",
            r#"{"approved":true,"replaced":null,"sha256":"ab","token_id":null,"version":"1.0","via":"xmlrpc"}"#,
        );
    }

    #[test]
    fn version_replace() {
        pins(
            AuditEvent::VersionReplace(upload(UploadVia::Token, Some("1.0"), Some(TokenId(7)))),
            "version.replace",
            r#"{"approved":true,"replaced":"1.0","sha256":"ab","token_id":7,"version":"1.0","via":"token"}"#,
        );
    }

    #[test]
    fn version_approve_and_unapprove() {
        pins(
            AuditEvent::VersionApprove { version: "1.0".into(), sha256: "ab".into() },
            "version.approve",
            r#"{"sha256":"ab","version":"1.0"}"#,
        );
        pins(
            AuditEvent::VersionUnapprove { version: "1.0".into(), sha256: "ab".into() },
            "version.unapprove",
            r#"{"sha256":"ab","version":"1.0"}"#,
        );
    }

    #[test]
    fn version_delete() {
        pins(
            AuditEvent::VersionDelete { version: "1.0".into(), was_approved: false },
            "version.delete",
            r#"{"version":"1.0","was_approved":false}"#,
        );
    }

    #[test]
    fn plugin_update() {
        pins(
            AuditEvent::PluginUpdate {
                changed: vec!["owners", "maintainer"],
                owners: Some(vec!["bob".into()]),
                maintainer: None,
                deprecated: Some(true),
            },
            "plugin.update",
            r#"{"changed":["owners","maintainer"],"deprecated":true,"maintainer":null,"owners":["bob"]}"#,
        );
    }

    #[test]
    fn plugin_delete_and_restore() {
        pins(AuditEvent::PluginDelete, "plugin.delete", "{}");
        pins(AuditEvent::PluginRestore, "plugin.restore", "{}");
    }

    #[test]
    fn tokens() {
        pins(
            AuditEvent::TokenCreate {
                token_id: TokenId(3),
                expires_at: "2030-01-01T00:00:00Z".into(),
            },
            "token.create",
            r#"{"expires_at":"2030-01-01T00:00:00Z","token_id":3}"#,
        );
        pins(AuditEvent::TokenRevoke { token_id: TokenId(3) }, "token.revoke", r#"{"token_id":3}"#);
        pins(
            AuditEvent::TokenDescribe { token_id: TokenId(3) },
            "token.describe",
            r#"{"token_id":3}"#,
        );
    }

    #[test]
    fn users() {
        pins(
            AuditEvent::UserCreate { user: "al".into(), staff: true, trusted: false },
            "user.create",
            r#"{"staff":true,"trusted":false,"user":"al"}"#,
        );
        let user = || "al".to_owned();
        pins(AuditEvent::UserTrust { user: user() }, "user.trust", r#"{"user":"al"}"#);
        pins(AuditEvent::UserUntrust { user: user() }, "user.untrust", r#"{"user":"al"}"#);
        pins(AuditEvent::UserBlock { user: user() }, "user.block", r#"{"user":"al"}"#);
        pins(AuditEvent::UserUnblock { user: user() }, "user.unblock", r#"{"user":"al"}"#);
        pins(
            AuditEvent::UserReviewMail { user: user(), on: true },
            "user.review_mail",
            r#"{"on":true,"user":"al"}"#,
        );
    }

    #[test]
    fn feedback() {
        pins(
            AuditEvent::FeedbackGive { version: "1.0".into(), tasks: vec![TaskId(4), TaskId(5)] },
            "feedback.give",
            r#"{"tasks":[4,5],"version":"1.0"}"#,
        );
        pins(
            AuditEvent::FeedbackTask {
                version: "1.0".into(),
                task: TaskId(4),
                change: TaskChange::Complete,
            },
            "feedback.complete",
            r#"{"task":4,"version":"1.0"}"#,
        );
    }
}
