//! Credentials: argon2id password hashes, HS256 JWTs (user tokens and per-plugin upload
//! tokens with the reference's claim names), and parsing of `Authorization` headers.
//!
//! Only the signature and the claims are checked here; authority (the token row exists, is
//! not revoked, the user is active and still an editor) is checked against the database by
//! the services.

use std::sync::LazyLock;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm as ArgonAlgorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use catalog::ids::{PluginId, UserId};
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Longest accepted token; longer ones are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The `token_type` claim: which of the two kinds a token is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum TokenType {
    /// A user JWT (ours; from `POST /api/v1/token`).
    #[serde(rename = "user")]
    User,
    /// A per-plugin upload token (the reference's derived access token).
    #[serde(rename = "access")]
    Upload,
}

/// A verified token: its kind with the claims that kind requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A user JWT: authority comes from the user's row.
    User { user_id: UserId },
    /// An upload token: `refresh_jti` names its database row.
    Upload { plugin_id: PluginId, refresh_jti: String },
}

/// Claims of both token kinds as they travel; names as the reference's simplejwt tokens.
/// Ids stay plain numbers here (the wire format); `kind` types them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_jti: Option<String>,
}

impl Claims {
    /// The kind, when the claims it requires are there (a user token names no plugin).
    fn kind(self) -> Option<TokenKind> {
        match self.token_type {
            TokenType::User => match (self.user_id, self.plugin_id) {
                (Some(user_id), None) => Some(TokenKind::User { user_id: UserId(user_id) }),
                _ => None,
            },
            TokenType::Upload => match (self.plugin_id, self.refresh_jti) {
                (Some(plugin_id), Some(refresh_jti)) => {
                    Some(TokenKind::Upload { plugin_id: PluginId(plugin_id), refresh_jti })
                }
                _ => None,
            },
        }
    }
}

/// Why a token was refused (never shown in detail to clients).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token of the wrong kind")]
    WrongKind,
}

/// Signs and checks JWTs with one HS256 secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Signs `claims` with HS256.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)?)
    }

    /// Checks signature, algorithm (HS256 only), `exp` (required), `nbf`, `iat` (not in the
    /// future), `jti`, and the kind. `now` is a Unix time in seconds.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now: i64,
    ) -> Result<TokenKind, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let c = data.claims;
        let leeway = LEEWAY_SECS as i64;
        // Re-check with our clock too (typed claims: strings or floats fail to parse above).
        if c.exp < now - leeway {
            return Err(TokenError::Invalid("expired".into()));
        }
        if c.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(TokenError::Invalid("not yet valid".into()));
        }
        if c.iat > now + leeway {
            return Err(TokenError::Invalid("issued in the future".into()));
        }
        if c.jti.is_empty() || c.jti.len() > 128 {
            return Err(TokenError::Invalid("bad jti".into()));
        }
        if c.token_type != expected {
            return Err(TokenError::WrongKind);
        }
        c.kind().ok_or(TokenError::WrongKind)
    }

    /// Mints a user JWT; returns it with its expiry (Unix seconds).
    pub fn user_token(
        &self,
        user_id: UserId,
        now: i64,
        ttl_secs: i64,
    ) -> anyhow::Result<(String, i64)> {
        let exp = now + ttl_secs;
        let claims = Claims {
            token_type: TokenType::User,
            exp,
            iat: now,
            jti: new_jti(),
            nbf: None,
            user_id: Some(user_id.get()),
            plugin_id: None,
            refresh_jti: None,
        };
        Ok((self.sign(&claims)?, exp))
    }

    /// Mints a per-plugin upload token; `refresh_jti` names its database row.
    pub fn plugin_token(
        &self,
        plugin_id: PluginId,
        refresh_jti: &str,
        now: i64,
        exp: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            token_type: TokenType::Upload,
            exp,
            iat: now,
            jti: new_jti(),
            nbf: None,
            user_id: None,
            plugin_id: Some(plugin_id.get()),
            refresh_jti: Some(refresh_jti.to_owned()),
        };
        self.sign(&claims)
    }
}

/// A random 128-bit identifier, hex.
pub fn new_jti() -> String {
    let mut raw = [0u8; 16];
    rand::fill(&mut raw);
    hex::encode(raw)
}

/// Where the credentials of a request are.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    /// Present but unusable (two headers, unknown scheme, bad encoding, too long).
    Malformed,
}

/// Reads the `Authorization` header(s).
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Credentials::None };
    if values.next().is_some() || value.len() > MAX_TOKEN_LEN + 16 {
        return Credentials::Malformed;
    }
    let Ok(value) = value.to_str() else { return Credentials::Malformed };
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Credentials::Malformed;
        }
        return Credentials::Bearer(token.to_owned());
    }
    if let Some(b64) = value.strip_prefix("Basic ") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return Credentials::Malformed;
        };
        let Ok(text) = String::from_utf8(raw) else { return Credentials::Malformed };
        let Some((username, password)) = text.split_once(':') else {
            return Credentials::Malformed;
        };
        return Credentials::Basic { username: username.to_owned(), password: password.to_owned() };
    }
    Credentials::Malformed
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params)
}

/// glibc serves an allocation of more than 32 MiB (its largest dynamic mmap threshold) with
/// a fresh mapping that it unmaps on free. Argon2's 19 MiB would otherwise stay in the
/// malloc arena of whichever blocking thread hashed: tens of MB held after a few logins.
const ALWAYS_MAPPED_BYTES: usize = 33 << 20;

/// Argon2's working memory, reserved large enough to be returned to the system when freed
/// (only the blocks used are ever touched, so only they become resident).
fn argon2_memory(params: &Params) -> Vec<Block> {
    let blocks = params.block_count();
    let mut memory = Vec::with_capacity(blocks.max(ALWAYS_MAPPED_BYTES / Block::SIZE));
    memory.resize(blocks, Block::new());
    memory
}

/// What `PasswordHasher::hash_password` computes, with `argon2_memory`.
fn argon2_output(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'_>,
) -> password_hash::Result<Output> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let len = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let memory = argon2_memory(argon.params());
    Output::init_with(len, |out| {
        Ok(argon.hash_password_into_with_memory(password, salt, out, memory)?)
    })
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let argon = argon2();
    let failed = |e| anyhow::anyhow!("failed to hash the password: {e}");
    let hash = PasswordHash {
        algorithm: ArgonAlgorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2_output(&argon, password.as_bytes(), salt.as_salt()).map_err(failed)?),
    };
    Ok(hash.to_string())
}

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&new_jti()).unwrap_or_default());

/// Checks a password against a stored PHC hash. With no stored hash (unknown user or no
/// password), a dummy hash is verified instead so timing does not reveal which case it was.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    // `PasswordVerifier::verify_password`, with `argon2_memory`.
    let check = || -> password_hash::Result<bool> {
        let parsed = PasswordHash::new(hash)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Ok(false) };
        let algorithm = ArgonAlgorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let argon = Argon2::new(algorithm, version, Params::try_from(&parsed)?);
        // `Output`'s equality is constant-time.
        Ok(argon2_output(&argon, password.as_bytes(), salt)? == expected)
    };
    check().unwrap_or(false) && real
}

/// `uploader bench-hash`: the machine's limit for password checks.
#[derive(Debug, clap::Args)]
pub struct BenchHashArgs {
    /// Seconds to keep verifying (at most 1000 checks are made).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
}

/// Verifies a password on one thread for `seconds`; prints `checks_per_second N` and the
/// median time of one check.
pub fn bench_hash(args: &BenchHashArgs) -> std::process::ExitCode {
    let Ok(hash) = hash_password("bench password") else {
        eprintln!("bench-hash: failed to hash a password");
        return std::process::ExitCode::FAILURE;
    };
    let started = std::time::Instant::now();
    let mut times = Vec::new();
    while times.len() < 1000 && started.elapsed().as_secs_f64() < args.seconds.max(0.01) {
        let t = std::time::Instant::now();
        verify_password(Some(&hash), "wrong password");
        times.push(t.elapsed());
    }
    times.sort();
    let total = started.elapsed().as_secs_f64();
    println!("checks_per_second {:.1}", times.len() as f64 / total);
    println!("median_ms {:.1}", times[times.len() / 2].as_secs_f64() * 1000.0);
    std::process::ExitCode::SUCCESS
}

/// SHA-256 of a token, hex (what `upload_tokens.token_sha256` holds).
pub fn token_hash(token: &str) -> String {
    catalog::hash::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests;
