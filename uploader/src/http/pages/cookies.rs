//! The workplace's cookies: reading the `Cookie` header and writing `Set-Cookie` values with
//! the attributes every one of ours carries (`HttpOnly; SameSite=Lax; Path=/`, `Secure` on
//! https).

use hyper::HeaderMap;
use hyper::header::COOKIE;

/// The browser session (its value is the session secret).
pub(crate) const SESSION: &str = "qgis_session";
/// The anonymous visitor's CSRF seed (forms before sign-in).
pub(crate) const CSRF: &str = "qgis_csrf";
/// A one-shot message for the next page.
pub(crate) const FLASH: &str = "qgis_flash";

/// The value of cookie `name` (the first one, if a client sent it twice).
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub(crate) fn set(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_among_several() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; qgis_session=abc".parse().unwrap());
        h.append(COOKIE, "qgis_csrf=\"x\"".parse().unwrap());
        assert_eq!(get(&h, SESSION), Some("abc"));
        assert_eq!(get(&h, CSRF), Some("x"));
        assert_eq!(get(&h, FLASH), None);
    }

    #[test]
    fn every_cookie_is_http_only_and_lax() {
        let c = set(SESSION, "v", 60, true);
        assert_eq!(c, "qgis_session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure");
        assert!(!set(CSRF, "v", 0, false).contains("Secure"));
    }
}
