//! An in-process browser for the workplace pages: a cookie jar over `crate::http::handle`,
//! the CSRF token read from the page holding the form, urlencoded form posts.

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};

use super::{Env, PASSWORD, Resp, call};

/// One browser's cookies.
#[derive(Default)]
pub(in crate::http) struct Jar {
    cookies: BTreeMap<String, String>,
}

impl Jar {
    /// A browser signed in as `name` (password `PASSWORD`).
    pub(in crate::http) async fn signed_in(env: &Env, name: &str) -> Self {
        let mut jar = Jar::default();
        let r = jar
            .submit(env, "/accounts/login/", &[("username", name), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign-in of {name}: {}", r.text());
        jar
    }

    pub(in crate::http) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub(in crate::http) fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    fn keep(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (k, val) = v.split(';').next().unwrap().split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    /// A request with the jar's cookies and `headers`.
    pub(in crate::http) async fn request(
        &mut self,
        env: &Env,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: impl Into<bytes::Bytes>,
    ) -> Resp {
        let mut all = headers.to_vec();
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        if !cookie.is_empty() {
            all.push(("cookie", cookie.join("; ")));
        }
        let r = call(&env.app, method, path, &all, body).await;
        self.keep(&r);
        r
    }

    pub(in crate::http) async fn get(&mut self, env: &Env, path: &str) -> Resp {
        self.request(env, Method::GET, path, &[], "").await
    }

    /// GETs `path`, reads its form's CSRF token, posts `fields` with it.
    pub(in crate::http) async fn submit(
        &mut self,
        env: &Env,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Resp {
        let page = self.get(env, path).await;
        let token = csrf_in(&page.text())
            .unwrap_or_else(|| panic!("no CSRF field on {path}: {}", page.text()));
        self.post(env, path, fields, Some(&token)).await
    }

    /// Posts urlencoded `fields` (plus `csrf` when given).
    pub(in crate::http) async fn post(
        &mut self,
        env: &Env,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> Resp {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        if let Some(t) = csrf {
            ser.append_pair("csrfmiddlewaretoken", t);
        }
        let ctype = ("content-type", "application/x-www-form-urlencoded".to_owned());
        self.request(env, Method::POST, path, &[ctype], ser.finish()).await
    }
}

/// The first `csrfmiddlewaretoken` value of a page.
pub(in crate::http) fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrfmiddlewaretoken\"")?;
    let value = html[at..].split("value=\"").nth(1)?;
    Some(value.split('"').next()?.to_owned())
}
