//! Tests of token signing and checking (reliability catalogue C, signature level) and of
//! password hashing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac_free::hs256;

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Builds a token by hand: header and payload JSON as given, HS256 over them with `key`.
fn raw_token(header: &str, payload: &str, key: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(header);
    let p = URL_SAFE_NO_PAD.encode(payload);
    let sig = URL_SAFE_NO_PAD.encode(hs256(key, format!("{h}.{p}").as_bytes()));
    format!("{h}.{p}.{sig}")
}

/// HMAC-SHA256 from sha2, so tests can sign arbitrary (even ill-typed) payloads.
mod hmac_free {
    use sha2::{Digest, Sha256};

    pub(super) fn hs256(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(msg);
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().to_vec()
    }
}

fn plugin_payload(exp: i64) -> String {
    format!(
        r#"{{"token_type":"access","exp":{exp},"iat":{},"jti":"j1","plugin_id":7,"refresh_jti":"r1"}}"#,
        now() - 10
    )
}

#[test]
fn hand_built_tokens_match_the_library() {
    let keys = Keys::new(SECRET);
    let t = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &plugin_payload(now() + 600), SECRET);
    let c = keys.verify(&t, TokenType::Upload, now()).unwrap();
    assert_eq!(c, TokenKind::Upload { plugin_id: PluginId(7), refresh_jti: "r1".into() });
}

#[test]
fn minted_tokens_verify_and_kinds_do_not_mix() {
    let keys = Keys::new(SECRET);
    let (user, exp) = keys.user_token(UserId(3), now(), 3600).unwrap();
    assert!(exp > now());
    let c = keys.verify(&user, TokenType::User, now()).unwrap();
    assert_eq!(c, TokenKind::User { user_id: UserId(3) });
    assert_eq!(keys.verify(&user, TokenType::Upload, now()), Err(TokenError::WrongKind));
    let plugin = keys.plugin_token(PluginId(9), "abc", now(), now() + 100).unwrap();
    assert_eq!(
        keys.verify(&plugin, TokenType::Upload, now()).unwrap(),
        TokenKind::Upload { plugin_id: PluginId(9), refresh_jti: "abc".into() }
    );
    assert_eq!(keys.verify(&plugin, TokenType::User, now()), Err(TokenError::WrongKind));
}

#[test]
fn expiry_boundary_and_missing_exp() {
    let keys = Keys::new(SECRET);
    let lee = LEEWAY_SECS as i64;
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    let expired = raw_token(h, &plugin_payload(now() - lee - 5), SECRET);
    assert!(keys.verify(&expired, TokenType::Upload, now()).is_err());
    let within = raw_token(h, &plugin_payload(now() - lee + 10), SECRET);
    assert!(keys.verify(&within, TokenType::Upload, now()).is_ok());
    let no_exp = raw_token(
        h,
        r#"{"token_type":"access","iat":1,"jti":"j","plugin_id":7,"refresh_jti":"r"}"#,
        SECRET,
    );
    assert!(keys.verify(&no_exp, TokenType::Upload, now()).is_err());
}

#[test]
fn not_yet_valid_and_future_iat_are_refused() {
    let keys = Keys::new(SECRET);
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    let n = now();
    let nbf = raw_token(
        h,
        &format!(
            r#"{{"token_type":"access","exp":{},"iat":{n},"nbf":{},"jti":"j","plugin_id":7,"refresh_jti":"r"}}"#,
            n + 600,
            n + 120
        ),
        SECRET,
    );
    assert!(keys.verify(&nbf, TokenType::Upload, n).is_err());
    let iat = raw_token(
        h,
        &format!(
            r#"{{"token_type":"access","exp":{},"iat":{},"jti":"j","plugin_id":7,"refresh_jti":"r"}}"#,
            n + 600,
            n + 600
        ),
        SECRET,
    );
    assert!(keys.verify(&iat, TokenType::Upload, n).is_err());
}

#[test]
fn type_confusion_of_exp_nbf_and_plugin_id_is_refused() {
    // CVE-2026-25537: `exp`/`nbf` as strings must not count as absent.
    let keys = Keys::new(SECRET);
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    for payload in [
        r#"{"token_type":"access","exp":"9999999999","iat":1,"jti":"j","plugin_id":7,"refresh_jti":"r"}"#,
        r#"{"token_type":"access","exp":9999999999.5,"iat":1,"jti":"j","plugin_id":7,"refresh_jti":"r"}"#,
        r#"{"token_type":"access","exp":null,"iat":1,"jti":"j","plugin_id":7,"refresh_jti":"r"}"#,
        r#"{"token_type":"access","exp":9999999999,"nbf":"9999999999","iat":1,"jti":"j","plugin_id":7,"refresh_jti":"r"}"#,
        r#"{"token_type":"access","exp":9999999999,"iat":1,"jti":"j","plugin_id":"7","refresh_jti":"r"}"#,
        r#"[1,2,3]"#,
    ] {
        let t = raw_token(h, payload, SECRET);
        assert!(keys.verify(&t, TokenType::Upload, now()).is_err(), "{payload}");
    }
}

#[test]
fn bad_signatures_and_alg_none_are_refused() {
    let keys = Keys::new(SECRET);
    let payload = plugin_payload(now() + 600);
    let good = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
    let other_key = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, b"another-secret");
    assert!(keys.verify(&other_key, TokenType::Upload, now()).is_err());
    // One bit flipped in the signature.
    let (body, sig) = good.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    raw[0] ^= 1;
    let flipped = format!("{body}.{}", URL_SAFE_NO_PAD.encode(raw));
    assert!(keys.verify(&flipped, TokenType::Upload, now()).is_err());
    // Signature removed.
    assert!(keys.verify(&format!("{body}."), TokenType::Upload, now()).is_err());
    assert!(keys.verify(body, TokenType::Upload, now()).is_err());
    // alg none and variants, unsigned.
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let p = URL_SAFE_NO_PAD.encode(&payload);
        for t in [format!("{h}.{p}."), format!("{h}.{p}"), format!("{h}.{p}.{sig}")] {
            assert!(keys.verify(&t, TokenType::Upload, now()).is_err(), "alg {alg}");
        }
    }
    // Other HMAC algorithms with the right key are refused too (HS256 pinned).
    for alg in ["HS384", "HS512"] {
        let header = jsonwebtoken::Header::new(match alg {
            "HS384" => jsonwebtoken::Algorithm::HS384,
            _ => jsonwebtoken::Algorithm::HS512,
        });
        let claims: Claims = serde_json::from_str(&payload).unwrap();
        let t =
            jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET))
                .unwrap();
        assert!(keys.verify(&t, TokenType::Upload, now()).is_err(), "{alg}");
    }
}

#[test]
fn garbage_never_panics() {
    let keys = Keys::new(SECRET);
    for t in ["", "a", "a.b", "a.b.c.d", "....", "eyJ.eyJ.x", "%%%.%%%.%%%", &"x".repeat(10_000)] {
        assert!(keys.verify(t, TokenType::Upload, now()).is_err());
    }
}

#[test]
fn authorization_header_parsing() {
    use hyper::header::HeaderValue;
    let mut h = HeaderMap::new();
    assert_eq!(credentials(&h), Credentials::None);
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
    assert_eq!(credentials(&h), Credentials::Bearer("abc".into()));
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
    assert_eq!(credentials(&h), Credentials::Malformed);
    h.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
    assert_eq!(credentials(&h), Credentials::Malformed);
    h.insert(AUTHORIZATION, HeaderValue::from_static("Basic dTpwOnc="));
    assert_eq!(
        credentials(&h),
        Credentials::Basic { username: "u".into(), password: "p:w".into() }
    );
    h.append(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
    assert_eq!(credentials(&h), Credentials::Malformed);
}

#[test]
fn passwords_hash_with_argon2id_and_verify() {
    let h = hash_password("correct horse").unwrap();
    assert!(h.starts_with("$argon2id$"));
    assert!(verify_password(Some(&h), "correct horse"));
    assert!(!verify_password(Some(&h), "wrong"));
    assert!(!verify_password(None, "correct horse"));
    assert!(!verify_password(Some("not a hash"), "x"));
}

/// Hashes made by the argon2 crate's own hasher (what earlier versions stored) verify, and
/// ours verify with the crate's verifier: same algorithm, parameters, salt and output.
#[test]
fn password_hashes_match_the_argon2_crate() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    let theirs = super::argon2().hash_password(b"pass phrase", &salt).unwrap().to_string();
    assert!(verify_password(Some(&theirs), "pass phrase"));
    assert!(!verify_password(Some(&theirs), "pass phrasf"));
    // A hash with other parameters (argon2i, 8 MiB, 3 passes) verifies with its own ones.
    let other = argon2::Argon2::new(
        argon2::Algorithm::Argon2i,
        argon2::Version::V0x13,
        argon2::Params::new(8 * 1024, 3, 1, Some(24)).unwrap(),
    );
    let other = other.hash_password(b"pw", &salt).unwrap().to_string();
    assert!(verify_password(Some(&other), "pw"));
    assert!(!verify_password(Some(&other), "pW"));
    let ours = hash_password("pass phrase").unwrap();
    let parsed = argon2::PasswordHash::new(&ours).unwrap();
    assert!(super::argon2().verify_password(b"pass phrase", &parsed).is_ok());
    assert!(super::argon2().verify_password(b"pass phrasf", &parsed).is_err());
    assert_eq!(ours.split('$').nth(3), theirs.split('$').nth(3), "same parameters");
}
