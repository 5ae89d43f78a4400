//! Per-plugin upload tokens: rows keyed by the JWT id, never the token itself.
//! Callers own the transaction.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{PluginId, TokenId, UserId};
use crate::time::{fmt_time, parse_time};

/// A per-plugin upload token row (the token itself is never stored, only its hash).
#[derive(Debug, Clone)]
pub struct UploadToken {
    pub id: TokenId,
    pub jti: String,
    pub token_sha256: String,
    pub plugin_id: PluginId,
    pub user_id: UserId,
    pub username: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewUploadToken {
    pub jti: String,
    pub token_sha256: String,
    pub plugin_id: PluginId,
    pub user_id: UserId,
    pub description: String,
    pub expires_at: DateTime<Utc>,
}

const TOKEN_COLUMNS: &str = "t.id, t.jti, t.token_sha256, t.plugin_id, t.user_id, u.username,
     t.description, t.created_at, t.expires_at, t.last_used_at, t.revoked_at";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<UploadToken> {
    let opt_time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        r.get::<_, Option<String>>(i)?.as_deref().map(parse_time).transpose()
    };
    Ok(UploadToken {
        id: r.get(0)?,
        jti: r.get(1)?,
        token_sha256: r.get(2)?,
        plugin_id: r.get(3)?,
        user_id: r.get(4)?,
        username: r.get(5)?,
        description: r.get(6)?,
        created_at: parse_time(&r.get::<_, String>(7)?)?,
        expires_at: parse_time(&r.get::<_, String>(8)?)?,
        last_used_at: opt_time(9)?,
        revoked_at: opt_time(10)?,
    })
}

/// Records a newly minted upload token and returns its id.
pub fn insert_upload_token(
    conn: &Connection,
    t: &NewUploadToken,
    now: DateTime<Utc>,
) -> Result<TokenId> {
    conn.execute(
        "INSERT INTO upload_tokens (jti, token_sha256, plugin_id, user_id, description,
                                    created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.jti,
            t.token_sha256,
            t.plugin_id,
            t.user_id,
            t.description,
            fmt_time(now),
            fmt_time(t.expires_at)
        ],
    )
    .with_context(|| format!("failed to record a token for plugin {}", t.plugin_id))?;
    Ok(TokenId(conn.last_insert_rowid()))
}

/// Finds a token by its `jti` (the `refresh_jti` claim of an upload token).
pub fn upload_token_by_jti(conn: &Connection, jti: &str) -> Result<Option<UploadToken>> {
    conn.query_row(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM upload_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.jti = ?1"
        ),
        [jti],
        token_from_row,
    )
    .optional()
    .context("failed to look up a token")
}

/// Finds a token of a plugin by id.
pub fn upload_token_by_id(
    conn: &Connection,
    plugin_id: PluginId,
    id: TokenId,
) -> Result<Option<UploadToken>> {
    conn.query_row(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM upload_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.id = ?1 AND t.plugin_id = ?2"
        ),
        params![id, plugin_id],
        token_from_row,
    )
    .optional()
    .context("failed to look up a token")
}

/// Live (not revoked, not expired) tokens of a plugin, newest first; only those of
/// `only_user` when given.
pub fn live_upload_tokens(
    conn: &Connection,
    plugin_id: PluginId,
    only_user: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<Vec<UploadToken>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {TOKEN_COLUMNS} FROM upload_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.plugin_id = ?1 AND t.revoked_at IS NULL AND t.expires_at > ?2
           AND (?3 IS NULL OR t.user_id = ?3)
         ORDER BY t.created_at DESC, t.id DESC"
    ))?;
    let rows = stmt
        .query_map(params![plugin_id, fmt_time(now), only_user], token_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to list tokens")?;
    Ok(rows)
}

/// Records a successful use of a token.
pub fn touch_upload_token(conn: &Connection, id: TokenId, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE upload_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, fmt_time(now)],
    )?;
    Ok(())
}

/// Revokes a token (no un-revoke). Returns false when it was already revoked.
pub fn revoke_upload_token(conn: &Connection, id: TokenId, now: DateTime<Utc>) -> Result<bool> {
    let n = conn.execute(
        "UPDATE upload_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, fmt_time(now)],
    )?;
    Ok(n == 1)
}

/// Sets a token's description. Returns false when it already had that description.
pub fn set_upload_token_description(
    conn: &Connection,
    id: TokenId,
    description: &str,
) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE upload_tokens SET description = ?2 WHERE id = ?1 AND description <> ?2",
            params![id, description],
        )
        .with_context(|| format!("failed to describe token {id}"))?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{NewUser, create_user};
    use crate::names::PackageName;
    use crate::plugins::{PluginFields, create_plugin};

    fn conn_with_token() -> (tempfile::TempDir, Connection, TokenId) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let now = crate::time::now();
        let user =
            create_user(&conn, &NewUser { username: "ana".into(), ..NewUser::default() }, now)
                .unwrap();
        let fields = PluginFields { name: "P".into(), ..PluginFields::default() };
        let plugin =
            create_plugin(&conn, &PackageName::parse("pkg").unwrap(), user, &fields, now).unwrap();
        let token = NewUploadToken {
            jti: "j1".into(),
            token_sha256: "h".into(),
            plugin_id: plugin,
            user_id: user,
            description: "CI".into(),
            expires_at: now + chrono::Duration::days(1),
        };
        let id = insert_upload_token(&conn, &token, now).unwrap();
        (dir, conn, id)
    }

    #[test]
    fn a_description_changes_once_and_revocation_is_final() {
        let (_dir, conn, id) = conn_with_token();
        assert!(set_upload_token_description(&conn, id, "GitHub Actions").unwrap());
        assert!(!set_upload_token_description(&conn, id, "GitHub Actions").unwrap());
        let t = upload_token_by_jti(&conn, "j1").unwrap().unwrap();
        assert_eq!(
            (t.id, t.description.as_str(), t.username.as_str()),
            (id, "GitHub Actions", "ana")
        );
        let now = crate::time::now();
        assert!(revoke_upload_token(&conn, id, now).unwrap());
        assert!(!revoke_upload_token(&conn, id, now).unwrap());
        assert!(live_upload_tokens(&conn, t.plugin_id, None, now).unwrap().is_empty());
    }
}
