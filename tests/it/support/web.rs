//! A browser-like client of the web workplace for end-to-end tests through nginx: it keeps
//! the cookies the service sets, reads each form's CSRF token from the page that holds the
//! form, and submits forms urlencoded or multipart.

use std::collections::BTreeMap;

use super::deploy::{Deployment, PASSWORD};
use super::http::Response;

/// One browser: a cookie jar over a deployment.
pub(crate) struct Browser<'a> {
    d: &'a Deployment,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(d: &'a Deployment) -> Self {
        Browser { d, cookies: BTreeMap::new() }
    }

    /// A browser signed in as `user` (password of `Deployment::user_add`).
    pub(crate) fn signed_in(d: &'a Deployment, user: &str) -> Self {
        let mut b = Self::new(d);
        let r = b.submit("/accounts/login/", &[("username", user), ("password", PASSWORD)]);
        assert_eq!(r.status, 303, "sign-in of {user} failed: {}", r.text());
        assert!(b.cookie("qgis_session").is_some(), "no session cookie after sign-in");
        b
    }

    /// The current value of a cookie.
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Applies the response's `Set-Cookie` headers (Max-Age=0 deletes).
    fn keep_cookies(&mut self, r: &Response) {
        for (name, value) in &r.headers {
            if name != "set-cookie" {
                continue;
            }
            let first = value.split(';').next().unwrap_or("");
            let Some((k, v)) = first.split_once('=') else { continue };
            if value.contains("Max-Age=0") {
                self.cookies.remove(k.trim());
            } else {
                self.cookies.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }

    /// A request with the jar's cookies; keeps the cookies of the answer.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let cookie = self.cookie_header();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !cookie.is_empty() {
            all.push(("Cookie", &cookie));
        }
        let r = self.d.req(method, path, &all, body);
        self.keep_cookies(&r);
        r
    }

    /// `GET path`.
    pub(crate) fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// The CSRF token of the forms on `page` (GET first).
    pub(crate) fn csrf_of(&mut self, page: &str) -> String {
        let r = self.get(page);
        csrf_in(&r.text())
            .unwrap_or_else(|| panic!("no CSRF field on {page} ({}): {}", r.status, r.text()))
    }

    /// Opens `path` (to get its form's token) and posts `fields` plus the token to `path`.
    pub(crate) fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_of(path);
        self.post_form(path, fields, Some(&token))
    }

    /// Posts urlencoded `fields` to `path`, with `csrf` as `csrfmiddlewaretoken` when given.
    pub(crate) fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> Response {
        let mut body = String::new();
        let all = fields.iter().copied().chain(csrf.map(|t| ("csrfmiddlewaretoken", t)));
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                body.push('&');
            }
            body.push_str(&format!("{}={}", encode(k), encode(v)));
        }
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// Posts a multipart form: text `fields`, the CSRF token read from `form_page`, and the
    /// zip as the `package` file field.
    pub(crate) fn upload(
        &mut self,
        form_page: &str,
        action: &str,
        zip: &[u8],
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_of(form_page);
        let boundary = "----qgisworkplacetest";
        let mut body = Vec::new();
        let all = fields.iter().copied().chain([("csrfmiddlewaretoken", token.as_str())]);
        for (k, v) in all {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"plugin.zip\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(zip);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ctype = format!("multipart/form-data; boundary={boundary}");
        self.request("POST", action, &[("Content-Type", &ctype)], &body)
    }
}

/// The value of the first `csrfmiddlewaretoken` hidden field of a page.
pub(crate) fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrfmiddlewaretoken\"")?;
    let rest = &html[at..];
    let value = rest.split("value=\"").nth(1)?;
    Some(value.split('"').next()?.to_owned())
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
