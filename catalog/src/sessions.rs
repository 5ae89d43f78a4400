//! Browser sessions and staff invitations: rows keyed by the SHA-256 of a secret the browser
//! (or the invitee) holds, never the secret itself. Callers own the transaction.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::accounts::{USER_COLUMNS, User, user_from_row};

/// How many columns `USER_COLUMNS` names (the session id follows them).
const USER_COLUMN_COUNT: usize = 8;
use crate::ids::{SessionId, UserId};
use crate::time::fmt_time;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub user: User,
}

/// Records a new session.
pub fn create_session(
    conn: &Connection,
    secret_hash: &str,
    user_id: UserId,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<SessionId> {
    conn.execute(
        "INSERT INTO sessions (secret_hash, user_id, created_on, expires_on, last_seen_on)
         VALUES (?1, ?2, ?3, ?4, ?3)",
        params![secret_hash, user_id, fmt_time(now), fmt_time(expires)],
    )
    .context("failed to record the session")?;
    Ok(SessionId(conn.last_insert_rowid()))
}

/// The live (not revoked, not expired) session with this secret hash, and its user.
pub fn live_session(
    conn: &Connection,
    secret_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>> {
    let columns = qualified_user_columns();
    conn.query_row(
        &format!(
            "SELECT {}, s.id FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.secret_hash = ?1 AND s.revoked_on IS NULL AND s.expires_on > ?2",
            columns
        ),
        params![secret_hash, fmt_time(now)],
        |r| Ok(SessionRow { user: user_from_row(r)?, id: r.get(USER_COLUMN_COUNT)? }),
    )
    .optional()
    .context("failed to look up the session")
}

/// Notes that a session was used (at most one write per session per minute is the
/// caller's business).
pub fn touch_session(conn: &Connection, id: SessionId, now: DateTime<Utc>) -> Result<()> {
    conn.execute("UPDATE sessions SET last_seen_on = ?2 WHERE id = ?1", params![id, fmt_time(now)])
        .context("failed to touch the session")?;
    Ok(())
}

/// Revokes one session.
pub fn revoke_session(conn: &Connection, id: SessionId, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET revoked_on = ?2 WHERE id = ?1 AND revoked_on IS NULL",
        params![id, fmt_time(now)],
    )
    .context("failed to revoke the session")?;
    Ok(())
}

/// Revokes every live session of a user but `keep`; returns how many.
pub fn revoke_user_sessions(
    conn: &Connection,
    user_id: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<usize> {
    conn.execute(
        "UPDATE sessions SET revoked_on = ?3
         WHERE user_id = ?1 AND revoked_on IS NULL AND id IS NOT ?2",
        params![user_id, keep, fmt_time(now)],
    )
    .context("failed to revoke the user's sessions")
}

/// Deletes sessions that ended (expired or revoked) before `before`.
pub fn purge_sessions(conn: &Connection, before: DateTime<Utc>) -> Result<usize> {
    let t = fmt_time(before);
    conn.execute(
        "DELETE FROM sessions WHERE expires_on < ?1 OR (revoked_on IS NOT NULL AND revoked_on < ?1)",
        [t],
    )
    .context("failed to purge old sessions")
}

/// Records an invitation for `user_id`, mailed to `email` (`''`: only shown to staff).
pub fn create_invitation(
    conn: &Connection,
    secret_hash: &str,
    user_id: UserId,
    created_by: UserId,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
    email: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO invitations (secret_hash, user_id, created_by, created_on, expires_on, email)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![secret_hash, user_id, created_by, fmt_time(now), fmt_time(expires), email],
    )
    .context("failed to record the invitation")?;
    Ok(())
}

/// The user of an unused, unexpired invitation.
pub fn open_invitation(
    conn: &Connection,
    secret_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    let columns = qualified_user_columns();
    conn.query_row(
        &format!(
            "SELECT {} FROM invitations i JOIN users u ON u.id = i.user_id
             WHERE i.secret_hash = ?1 AND i.used_on IS NULL AND i.expires_on > ?2",
            columns
        ),
        params![secret_hash, fmt_time(now)],
        user_from_row,
    )
    .optional()
    .context("failed to look up the invitation")
}

/// Marks an invitation used; false when it was already used (a second use must fail).
pub fn use_invitation(conn: &Connection, secret_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE invitations SET used_on = ?2 WHERE secret_hash = ?1 AND used_on IS NULL",
            params![secret_hash, fmt_time(now)],
        )
        .context("failed to use the invitation")?;
    Ok(n == 1)
}

/// `USER_COLUMNS` prefixed with the `u.` alias.
fn qualified_user_columns() -> String {
    let columns: Vec<String> = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
    debug_assert_eq!(columns.len(), USER_COLUMN_COUNT);
    columns.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{NewUser, create_user};
    use chrono::Duration;

    fn conn_with_user() -> (tempfile::TempDir, Connection, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let user = NewUser { username: "ana".into(), ..NewUser::default() };
        let id = create_user(&conn, &user, crate::time::now()).unwrap();
        (dir, conn, id)
    }

    #[test]
    fn a_session_lives_until_revoked_or_expired() {
        let (_dir, conn, uid) = conn_with_user();
        let now = crate::time::now();
        let a = create_session(&conn, "h1", uid, now, now + Duration::days(1)).unwrap();
        create_session(&conn, "h2", uid, now, now + Duration::days(1)).unwrap();
        assert_eq!(live_session(&conn, "h1", now).unwrap().unwrap().user.username, "ana");
        assert!(live_session(&conn, "h1", now + Duration::days(2)).unwrap().is_none());
        assert_eq!(revoke_user_sessions(&conn, uid, Some(a), now).unwrap(), 1);
        assert!(live_session(&conn, "h2", now).unwrap().is_none());
        assert!(live_session(&conn, "h1", now).unwrap().is_some());
        revoke_session(&conn, a, now).unwrap();
        assert!(live_session(&conn, "h1", now).unwrap().is_none());
    }

    #[test]
    fn an_invitation_is_used_once() {
        let (_dir, conn, uid) = conn_with_user();
        let now = crate::time::now();
        create_invitation(&conn, "i1", uid, uid, now, now + Duration::days(7), "").unwrap();
        assert!(open_invitation(&conn, "i1", now).unwrap().is_some());
        assert!(open_invitation(&conn, "i1", now + Duration::days(8)).unwrap().is_none());
        assert!(use_invitation(&conn, "i1", now).unwrap());
        assert!(!use_invitation(&conn, "i1", now).unwrap());
        assert!(open_invitation(&conn, "i1", now).unwrap().is_none());
    }
}
