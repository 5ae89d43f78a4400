//! Accounts: the users table (creation, look-up, password hash, trust, blocking).
//! Callers own the transaction (the uploader's single writer connection, `BEGIN IMMEDIATE`).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::UserId;
use crate::time::{fmt_time, parse_time};

/// A user row, as the uploader needs it for authentication and permissions.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub can_approve: bool,
}

/// Finds a user by name (case-insensitive).
pub fn user_by_name(conn: &Connection, username: &str) -> Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {} FROM users WHERE username = ?1", USER_COLUMNS),
        [username],
        user_from_row,
    )
    .optional()
    .with_context(|| format!("failed to look up user `{username}`"))
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub can_approve: bool,
}

/// Inserts a user and returns its id.
pub fn create_user(conn: &Connection, u: &NewUser, now: DateTime<Utc>) -> Result<UserId> {
    conn.execute(
        "INSERT INTO users (username, email, password_hash, is_staff, is_superuser, can_approve,
                            created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.username,
            u.email,
            u.password_hash,
            u.is_staff,
            u.is_superuser,
            u.can_approve,
            fmt_time(now)
        ],
    )
    .with_context(|| format!("failed to create user `{}`", u.username))?;
    Ok(UserId(conn.last_insert_rowid()))
}

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, password_hash, is_active, is_staff, is_superuser, can_approve";

pub(crate) fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get(3)?,
        is_active: r.get(4)?,
        is_staff: r.get(5)?,
        is_superuser: r.get(6)?,
        can_approve: r.get(7)?,
    })
}

/// Finds a user by id.
pub fn user_by_id(conn: &Connection, id: UserId) -> Result<Option<User>> {
    conn.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [id], user_from_row)
        .optional()
        .with_context(|| format!("failed to look up user {id}"))
}

/// A user as staff's admin page shows them: the account and when it was created.
#[derive(Debug, Clone)]
pub struct UserProfile {
    pub user: User,
    pub joined: DateTime<Utc>,
    /// In the review notification group (reference §3.8; meaningful for staff).
    pub review_mail: bool,
}

/// Finds a user's profile by name (case-insensitive).
pub fn user_profile(conn: &Connection, username: &str) -> Result<Option<UserProfile>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS}, created_at, review_mail FROM users WHERE username = ?1"),
        [username],
        |r| {
            Ok(UserProfile {
                user: user_from_row(r)?,
                joined: parse_time(&r.get::<_, String>(8)?)?,
                review_mail: r.get(9)?,
            })
        },
    )
    .optional()
    .with_context(|| format!("failed to look up the profile of `{username}`"))
}

/// Grants or revokes trust (`can_approve`). Bumps the revision of every plugin whose pages
/// name the user as a (trusted) uploader or editor.
pub fn set_user_trusted(conn: &Connection, user_id: UserId, trusted: bool) -> Result<()> {
    conn.execute("UPDATE users SET can_approve = ?2 WHERE id = ?1", params![user_id, trusted])
        .with_context(|| format!("failed to change the trust of user {user_id}"))?;
    bump_plugins_of_user(conn, user_id)
}

/// Blocks (`active = false`) or unblocks a user.
pub fn set_user_active(conn: &Connection, user_id: UserId, active: bool) -> Result<()> {
    conn.execute("UPDATE users SET is_active = ?2 WHERE id = ?1", params![user_id, active])
        .with_context(|| format!("failed to change the state of user {user_id}"))?;
    bump_plugins_of_user(conn, user_id)
}

/// Puts a user in (or takes them out of) the review notification group, which receives the
/// "new plugin" and "ready for review" mails. True when it changed.
pub fn set_review_mail(conn: &Connection, user_id: UserId, on: bool) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE users SET review_mail = ?2 WHERE id = ?1 AND review_mail <> ?2",
            params![user_id, on],
        )
        .with_context(|| format!("failed to change the review mail of user {user_id}"))?;
    Ok(n > 0)
}

/// Sets (or clears, with `None`) a user's password hash.
pub fn set_password_hash(conn: &Connection, user_id: UserId, hash: Option<&str>) -> Result<()> {
    conn.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user_id, hash])
        .with_context(|| format!("failed to set the password of user {user_id}"))?;
    Ok(())
}

fn bump_plugins_of_user(conn: &Connection, user_id: UserId) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET revision = revision + 1
         WHERE created_by = ?1 OR maintainer = ?1
            OR id IN (SELECT plugin_id FROM plugin_owners WHERE user_id = ?1)
            OR id IN (SELECT plugin_id FROM plugin_versions WHERE created_by = ?1)",
        [user_id],
    )?;
    Ok(())
}
