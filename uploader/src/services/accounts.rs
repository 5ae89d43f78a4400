//! Accounts: who a user token or a password names, user tokens for a password, the staff
//! actions trust/untrust/block/unblock (reference §3.6), and account creation
//! (`uploader user add`).

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use catalog::accounts::{NewUser, User, UserProfile};
use catalog::events::AuditEvent;
use catalog::ids::UserId;
use catalog::plugins::UserPlugin;

use super::change::{self, Applied};
use super::{ServiceError, ServiceResult, db, now};
use crate::app::{App, AppState};
use crate::auth::{self, TokenKind, TokenType};

const BAD_TOKEN: &str = "Missing, invalid or expired token: send `Authorization: Bearer <token>` with a token from POST /api/v1/token.";

/// The 401 of a request without a usable user token.
pub fn bad_token() -> ServiceError {
    ServiceError::Unauthorized(BAD_TOKEN.into())
}

/// The 403 of a blocked account.
pub fn blocked() -> ServiceError {
    ServiceError::Forbidden("This account is blocked.".into())
}

/// The active user named by a user JWT. 401 for bad tokens (signature and claims are checked
/// before any database access), 403 for blocked accounts. Authority comes from the database
/// row, not from the token.
pub async fn user_for_token(app: &App, token: &str) -> ServiceResult<User> {
    let Ok(TokenKind::User { user_id }) =
        app.keys.verify(token, TokenType::User, now().timestamp())
    else {
        return Err(bad_token());
    };
    let user = db(app, move |conn| Ok(catalog::accounts::user_by_id(conn, user_id)?)).await?;
    let user = user.ok_or_else(bad_token)?;
    if !user.is_active {
        return Err(blocked());
    }
    Ok(user)
}

/// Outcome of checking a user name and password.
#[derive(Debug)]
pub enum PasswordCheck {
    Wrong,
    Blocked,
    Ok(User),
}

/// Looks a user up and verifies the password; unknown users cost the same time. The account's
/// throttle is consulted first (429 without hashing), then a hashing slot is awaited for at
/// most `hash_wait` (503 `busy` after that): a flood never holds connections for long.
pub async fn check_password(
    app: &App,
    username: String,
    password: String,
) -> ServiceResult<PasswordCheck> {
    app.login_throttle
        .begin(&username, std::time::Instant::now())
        .map_err(ServiceError::TooManyAttempts)?;
    let slot = match tokio::time::timeout(app.config.hash_wait, app.hash_slots.acquire()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => {
            return Err(ServiceError::Unavailable("The service is shutting down.".into()));
        }
        Err(_) => {
            app.login_throttle.cancel(&username);
            return Err(ServiceError::Busy);
        }
    };
    let name = username.clone();
    let user = if username.is_empty() || username.len() > 150 {
        None
    } else {
        db(app, move |conn| Ok(catalog::accounts::user_by_name(conn, &name)?)).await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    app.password_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ok = AppState::blocking(move || auth::verify_password(hash.as_deref(), &password)).await?;
    drop(slot);
    if ok {
        app.login_throttle.succeeded(&username);
    }
    Ok(match user {
        Some(u) if ok && !u.is_active => PasswordCheck::Blocked,
        Some(u) if ok => PasswordCheck::Ok(u),
        _ => PasswordCheck::Wrong,
    })
}

/// A user JWT issued for a password.
#[derive(Debug)]
pub struct UserToken {
    pub token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub user: User,
}

/// Exchanges a user name and password for a short-lived user JWT.
pub async fn login(app: &App, username: String, password: String) -> ServiceResult<UserToken> {
    let user = match check_password(app, username, password).await? {
        PasswordCheck::Ok(user) => user,
        PasswordCheck::Blocked => return Err(blocked()),
        PasswordCheck::Wrong => {
            return Err(ServiceError::Unauthorized("Invalid username or password.".into()));
        }
    };
    let ttl = app.config.user_token_ttl.as_secs() as i64;
    let (token, exp) = app.keys.user_token(user.id, now().timestamp(), ttl)?;
    Ok(UserToken { token, expires_at: Utc.timestamp_opt(exp, 0).single(), user })
}

/// A staff action on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Trust,
    Untrust,
    Block,
    Unblock,
}

impl UserAction {
    /// The action named by the last URL segment.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "trust" => Some(UserAction::Trust),
            "untrust" => Some(UserAction::Untrust),
            "block" => Some(UserAction::Block),
            "unblock" => Some(UserAction::Unblock),
            _ => None,
        }
    }

    fn event(self, user: String) -> AuditEvent {
        match self {
            UserAction::Trust => AuditEvent::UserTrust { user },
            UserAction::Untrust => AuditEvent::UserUntrust { user },
            UserAction::Block => AuditEvent::UserBlock { user },
            UserAction::Unblock => AuditEvent::UserUnblock { user },
        }
    }
}

/// Applies a staff action to user `name`; returns the updated account. Blocking and
/// unblocking apply only to non-staff users (404 otherwise, as the reference). Trust shows
/// in plugins.xml, so the site is rebuilt. An unknown action (`None`) is a 404 for staff:
/// who is not staff learns nothing about the URL space.
pub async fn user_action(
    app: &App,
    actor: &User,
    name: &str,
    action: Option<UserAction>,
) -> ServiceResult<Applied<User>> {
    if !(actor.is_staff || actor.is_superuser) {
        return Err(ServiceError::Forbidden("Only staff can change trust and block users.".into()));
    }
    let action = action.ok_or_else(|| ServiceError::NotFound("No such resource.".into()))?;
    let name = name.to_owned();
    let (base_url, by) = (app.config.site.base_url.clone(), actor.id);
    let applied = change::change_catalog(app, actor, move |tx| {
        let not_found = || ServiceError::NotFound(format!("There is no user `{name}`."));
        let target = catalog::accounts::user_by_name(tx, &name)?.ok_or_else(not_found)?;
        match action {
            UserAction::Trust => catalog::accounts::set_user_trusted(tx, target.id, true)?,
            UserAction::Untrust => catalog::accounts::set_user_trusted(tx, target.id, false)?,
            _ if target.is_staff || target.is_superuser => return Err(not_found()),
            UserAction::Block => catalog::accounts::set_user_active(tx, target.id, false)?,
            UserAction::Unblock => catalog::accounts::set_user_active(tx, target.id, true)?,
        }
        let updated = catalog::accounts::user_by_id(tx, target.id)?.ok_or_else(not_found)?;
        if updated.can_approve != target.can_approve {
            let trusted = updated.can_approve;
            let mail = crate::mail::MailEvent::TrustChanged { user: target.id, trusted, by };
            crate::mail::notify(tx, &base_url, now(), &mail)?;
        }
        Ok((updated, action.event(target.username)))
    })
    .await;
    if applied.is_ok() {
        app.mail_wake.notify_one();
    }
    applied
}

/// Puts staff member `name` in (`on`) or out of the review notification group (staff only;
/// only staff can be in it). True when it changed.
pub(crate) async fn set_review_mail(
    app: &App,
    actor: &User,
    name: &str,
    on: bool,
) -> ServiceResult<bool> {
    if !(actor.is_staff || actor.is_superuser) {
        return Err(ServiceError::Forbidden("Only staff can change the review group.".into()));
    }
    let (name, by) = (name.to_owned(), actor.id);
    db(app, move |conn| {
        let tx = super::immediate(conn)?;
        let target = catalog::accounts::user_by_name(&tx, &name)?
            .ok_or_else(|| ServiceError::NotFound(format!("There is no user `{name}`.")))?;
        if on && !(target.is_staff || target.is_superuser) {
            return Err(ServiceError::Conflict(format!(
                "`{name}` is not staff: only staff members can be in the review group."
            )));
        }
        let changed = catalog::accounts::set_review_mail(&tx, target.id, on)?;
        if changed {
            let event = AuditEvent::UserReviewMail { user: target.username, on };
            catalog::events::log_event(&tx, now(), Some(by), None, &event)?;
        }
        tx.commit()?;
        Ok(changed)
    })
    .await
}

/// A user's profile and plugins (created or co-owned), for staff's page of that user.
pub(crate) async fn user_admin_view(
    app: &App,
    actor: &User,
    name: &str,
) -> ServiceResult<(UserProfile, Vec<UserPlugin>)> {
    if !(actor.is_staff || actor.is_superuser) {
        return Err(ServiceError::Forbidden("Only staff can see this page.".into()));
    }
    let name = name.to_owned();
    db(app, move |conn| {
        let profile = catalog::accounts::user_profile(conn, &name)?
            .ok_or_else(|| ServiceError::NotFound(format!("There is no user `{name}`.")))?;
        let plugins = catalog::plugins::plugins_of_user(conn, profile.user.id)?;
        Ok((profile, plugins))
    })
    .await
}

/// A user name as accounts may have it (reference §5: `[\w.@+-]+`, at most 150), trimmed;
/// else the message saying why not.
pub fn validate_username(username: &str) -> Result<String, String> {
    let name = username.trim();
    if !name.is_empty()
        && name.len() <= 150
        && name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        Ok(name.to_owned())
    } else {
        Err(format!("The user name `{name}` is invalid: use at most 150 letters, digits and @.+-_"))
    }
}

/// Creates an account (`uploader user add`). The password is hashed with argon2id.
pub fn add_user(
    conn: &mut Connection,
    username: &str,
    email: &str,
    password: Option<&str>,
    staff: bool,
    trusted: bool,
) -> anyhow::Result<UserId> {
    let name = validate_username(username).map_err(anyhow::Error::msg)?;
    let name = name.as_str();
    if let Some(pw) = password {
        anyhow::ensure!(
            pw.chars().count() >= 8,
            "the password is too short: at least 8 characters"
        );
    }
    let hash = password.map(auth::hash_password).transpose()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    anyhow::ensure!(
        catalog::accounts::user_by_name(&tx, name)?.is_none(),
        "user `{name}` already exists"
    );
    let now = now();
    let new = NewUser {
        username: name.to_owned(),
        email: email.to_owned(),
        password_hash: hash,
        is_staff: staff,
        is_superuser: false,
        can_approve: trusted,
    };
    let id = catalog::accounts::create_user(&tx, &new, now)?;
    let event = AuditEvent::UserCreate { user: name.to_owned(), staff, trusted };
    catalog::events::log_event(&tx, now, None, None, &event)?;
    tx.commit()?;
    Ok(id)
}
