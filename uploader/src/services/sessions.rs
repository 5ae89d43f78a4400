//! Browser sessions and the account operations of the web workplace: sign in and out, "sign
//! out everywhere", password changes, staff invitations and (when enabled) self-registration.
//! A session is an opaque random secret held by the browser; the catalog stores its SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use catalog::accounts::{NewUser, User};
use catalog::events::AuditEvent;
use catalog::ids::SessionId;

use super::accounts::{PasswordCheck, check_password, validate_username};
use super::{ServiceError, ServiceResult, db, immediate, now};
use crate::app::App;
use crate::auth;

/// Shortest password accepted from the web forms (the CLI's rule too).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// How long an invitation link stays valid.
pub const INVITATION_DAYS: i64 = 7;
/// The one message of a failed sign-in, whatever failed (no user enumeration).
pub const SIGN_IN_FAILED: &str = "Your username and password didn't match. Please try again.";

/// A random secret (session cookie value, invitation token): 32 bytes, base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Secret(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts a value a client sent, if it has the shape of one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == 43
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Secret(text.to_owned()))
    }

    /// The value to hand to the browser or put in a link.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the catalog stores.
    fn hash(&self) -> String {
        catalog::hash::sha256_hex(self.0.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user: User,
}

/// A session just started: its secret goes into the cookie.
#[derive(Debug)]
pub struct Started {
    pub secret: Secret,
    pub user: User,
    pub expires: DateTime<Utc>,
}

/// Checks a user name and password and starts a session. Every failure but throttling and
/// overload is the one generic `Unauthorized(SIGN_IN_FAILED)`.
pub async fn sign_in(app: &App, username: String, password: String) -> ServiceResult<Started> {
    let user = match check_password(app, username, password).await? {
        PasswordCheck::Ok(user) => user,
        PasswordCheck::Blocked | PasswordCheck::Wrong => {
            return Err(ServiceError::Unauthorized(SIGN_IN_FAILED.into()));
        }
    };
    start(app, user).await
}

/// Starts a session for `user`.
async fn start(app: &App, user: User) -> ServiceResult<Started> {
    let secret = Secret::random();
    let hash = secret.hash();
    let now = now();
    let expires = now + ttl(app);
    let uid = user.id;
    db(app, move |conn| {
        catalog::sessions::create_session(conn, &hash, uid, now, expires)?;
        // Ended sessions are kept a day for the record, then dropped.
        catalog::sessions::purge_sessions(conn, now - Duration::days(1))?;
        Ok(())
    })
    .await?;
    Ok(Started { secret, user, expires })
}

fn ttl(app: &App) -> Duration {
    Duration::from_std(app.config.session_ttl).unwrap_or(Duration::days(14))
}

/// The live session of a cookie value, if any (a blocked user has none).
pub async fn session(app: &App, secret: &Secret) -> ServiceResult<Option<Session>> {
    let hash = secret.hash();
    let found =
        db(app, move |conn| Ok(catalog::sessions::live_session(conn, &hash, now())?)).await?;
    Ok(found.filter(|s| s.user.is_active).map(|s| Session { id: s.id, user: s.user }))
}

/// Ends one session.
pub async fn sign_out(app: &App, id: SessionId) -> ServiceResult<()> {
    db(app, move |conn| Ok(catalog::sessions::revoke_session(conn, id, now())?)).await
}

/// Ends every session of the session's user, this one included; returns how many.
pub async fn sign_out_everywhere(app: &App, session: &Session) -> ServiceResult<usize> {
    let user = session.user.clone();
    db(app, move |conn| {
        let tx = immediate(conn)?;
        let now = now();
        let count = catalog::sessions::revoke_user_sessions(&tx, user.id, None, now)?;
        let event = AuditEvent::SessionsEnd { user: user.username.clone(), count };
        catalog::events::log_event(&tx, now, Some(user.id), None, &event)?;
        tx.commit()?;
        Ok(count)
    })
    .await
}

/// A new password as typed twice.
#[derive(Debug)]
pub struct NewPassword {
    pub password: String,
    pub again: String,
}

impl NewPassword {
    /// The password, or the reason it is refused.
    fn checked(self, username: &str) -> ServiceResult<String> {
        if self.password != self.again {
            return Err(ServiceError::BadRequest(
                "The two passwords differ: type the same password twice.".into(),
            ));
        }
        if self.password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(ServiceError::BadRequest(format!(
                "The password is too short: use at least {MIN_PASSWORD_CHARS} characters."
            )));
        }
        if self.password.len() > 1024 {
            return Err(ServiceError::BadRequest(
                "The password is too long: use at most 1024 bytes.".into(),
            ));
        }
        if self.password.eq_ignore_ascii_case(username) {
            return Err(ServiceError::BadRequest("The password must not be the user name.".into()));
        }
        Ok(self.password)
    }
}

/// Hashes a password in a hashing slot (argon2id: a core and 19 MiB each).
async fn hash(app: &App, password: String) -> ServiceResult<String> {
    let slot = tokio::time::timeout(app.config.hash_wait, app.hash_slots.acquire())
        .await
        .map_err(|_| ServiceError::Busy)?
        .map_err(|_| ServiceError::Unavailable("The service is shutting down.".into()))?;
    let hashed = crate::app::AppState::blocking(move || auth::hash_password(&password)).await??;
    drop(slot);
    Ok(hashed)
}

/// Changes the password of the session's user after checking the old one; every other
/// session of the user ends.
pub async fn change_password(
    app: &App,
    session: &Session,
    old: String,
    new: NewPassword,
) -> ServiceResult<()> {
    let user = session.user.clone();
    let new = new.checked(&user.username)?;
    match check_password(app, user.username.clone(), old).await? {
        PasswordCheck::Ok(_) => {}
        _ => return Err(ServiceError::BadRequest("The current password is not right.".into())),
    }
    let hashed = hash(app, new).await?;
    let keep = session.id;
    db(app, move |conn| {
        let tx = immediate(conn)?;
        let now = now();
        catalog::accounts::set_password_hash(&tx, user.id, Some(&hashed))?;
        catalog::sessions::revoke_user_sessions(&tx, user.id, Some(keep), now)?;
        let event = AuditEvent::PasswordSet { user: user.username.clone() };
        catalog::events::log_event(&tx, now, Some(user.id), None, &event)?;
        tx.commit()?;
        Ok(())
    })
    .await
}

/// An invitation just created: the link's token is shown to the staff member once (and
/// mailed to the invitee when an address was given). No `Debug`: the link is a secret.
pub struct Invitation {
    pub token: Secret,
    pub username: String,
    pub expires: DateTime<Utc>,
    /// The one-time link (absolute), shown to the staff member and mailed to the invitee.
    pub link: String,
    /// Whether the link was also mailed (an address was given).
    pub mailed: bool,
}

/// Creates an account without a password and a one-time link to set it (staff only).
pub async fn invite(
    app: &App,
    staff: &User,
    username: &str,
    email: &str,
) -> ServiceResult<Invitation> {
    if !staff.is_staff && !staff.is_superuser {
        return Err(ServiceError::NotFound("There is no such page.".into()));
    }
    let username = validate_username(username).map_err(ServiceError::BadRequest)?;
    let email = email.trim().to_owned();
    if email.len() > 254 || (!email.is_empty() && !email.contains('@')) {
        return Err(ServiceError::BadRequest("The e-mail address is not valid.".into()));
    }
    let token = Secret::random();
    let hash = token.hash();
    let by = staff.id;
    let now = now();
    let expires = now + Duration::days(INVITATION_DAYS);
    let name = username.clone();
    let base_url = app.config.site.base_url.clone();
    let link = format!("{base_url}/accounts/invitation/{}/", token.expose());
    let mailed = !email.is_empty();
    let mail_link = link.clone();
    db(app, move |conn| {
        let tx = immediate(conn)?;
        if catalog::accounts::user_by_name(&tx, &name)?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "The user name `{name}` is taken: choose another."
            )));
        }
        let new = NewUser { username: name.clone(), email: email.clone(), ..NewUser::default() };
        let id = catalog::accounts::create_user(&tx, &new, now)?;
        catalog::sessions::create_invitation(&tx, &hash, id, by, now, expires, &email)?;
        catalog::events::log_event(
            &tx,
            now,
            Some(by),
            None,
            &AuditEvent::UserInvite { user: name },
        )?;
        let mail = crate::mail::MailEvent::Invitation { user: id, email, link: mail_link, by };
        crate::mail::notify(&tx, &base_url, now, &mail)?;
        tx.commit()?;
        Ok(())
    })
    .await?;
    app.mail_wake.notify_one();
    Ok(Invitation { token, username, expires, link, mailed })
}

/// The user an open invitation is for (404 when unknown, used or expired).
pub async fn invitation_user(app: &App, token: &Secret) -> ServiceResult<User> {
    let hash = token.hash();
    db(app, move |conn| Ok(catalog::sessions::open_invitation(conn, &hash, now())?))
        .await?
        .ok_or_else(invitation_gone)
}

fn invitation_gone() -> ServiceError {
    ServiceError::NotFound(
        "This invitation link is unknown, already used or expired: ask a staff member for a new one.".into(),
    )
}

/// Sets the invited user's password, uses up the link and starts a session.
pub async fn accept_invitation(
    app: &App,
    token: &Secret,
    new: NewPassword,
) -> ServiceResult<Started> {
    let user = invitation_user(app, token).await?;
    let hashed = hash(app, new.checked(&user.username)?).await?;
    let secret_hash = token.hash();
    let uid = user.id;
    let name = user.username.clone();
    db(app, move |conn| {
        let tx = immediate(conn)?;
        let now = now();
        if !catalog::sessions::use_invitation(&tx, &secret_hash, now)? {
            return Err(invitation_gone());
        }
        catalog::accounts::set_password_hash(&tx, uid, Some(&hashed))?;
        catalog::events::log_event(
            &tx,
            now,
            Some(uid),
            None,
            &AuditEvent::PasswordSet { user: name },
        )?;
        tx.commit()?;
        Ok(())
    })
    .await?;
    start(app, user).await
}

/// Self-registration (only when the setting is on; else 404): creates a plain account and
/// starts a session.
pub async fn sign_up(
    app: &App,
    username: &str,
    email: &str,
    new: NewPassword,
) -> ServiceResult<Started> {
    if !app.config.self_registration {
        return Err(ServiceError::NotFound(
            "Self-registration is off on this site: ask a staff member for an invitation.".into(),
        ));
    }
    let username = validate_username(username).map_err(ServiceError::BadRequest)?;
    let email = email.trim().to_owned();
    if email.len() > 254 || !email.contains('@') {
        return Err(ServiceError::BadRequest("Give a valid e-mail address.".into()));
    }
    let hashed = hash(app, new.checked(&username)?).await?;
    let name = username.clone();
    let user = db(app, move |conn| {
        let tx = immediate(conn)?;
        if catalog::accounts::user_by_name(&tx, &name)?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "The user name `{name}` is taken: choose another."
            )));
        }
        let now = now();
        let new = NewUser {
            username: name.clone(),
            email,
            password_hash: Some(hashed),
            ..NewUser::default()
        };
        let id = catalog::accounts::create_user(&tx, &new, now)?;
        let event = AuditEvent::UserCreate { user: name, staff: false, trusted: false };
        catalog::events::log_event(&tx, now, Some(id), None, &event)?;
        let user = catalog::accounts::user_by_id(&tx, id)?
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("user {id} vanished")))?;
        tx.commit()?;
        Ok(user)
    })
    .await?;
    start(app, user).await
}
