//! The account pages through nginx and the real service: sign in with the form, the session
//! cookie's attributes, a POST without its CSRF token refused, sign-out ends the session,
//! staff invite an author whose one-time link sets a password.

use crate::support::deploy::{Deployment, PASSWORD};
use crate::support::web::Browser;

#[test]
fn sign_in_and_out_through_nginx() {
    let d = Deployment::start();
    d.user_add("wanda", &[]);
    let mut b = Browser::new(&d);
    let form = b.get("/accounts/login/?next=/accounts/password/change/");
    assert_eq!(form.status, 200);
    assert!(form.text().contains("<h1>Sign in</h1>"));
    assert_eq!(form.header("cache-control"), Some("no-store"));
    assert!(
        form.header("content-security-policy").is_some_and(|c| c.contains("script-src 'self'"))
    );

    let token = b.csrf_of("/accounts/login/");
    let no_csrf =
        b.post_form("/accounts/login/", &[("username", "wanda"), ("password", PASSWORD)], None);
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.text());
    assert!(b.cookie("qgis_session").is_none());

    let r = b.post_form(
        "/accounts/login/",
        &[("username", "wanda"), ("password", PASSWORD), ("next", "/accounts/password/change/")],
        Some(&token),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/accounts/password/change/"));
    let set_cookie = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("qgis_session="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let old = b.cookie("qgis_session").unwrap().to_owned();
    let page = b.get("/accounts/password/change/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("wanda"), "the header names the signed-in user");

    let out = b.submit("/accounts/logout/", &[]);
    assert_eq!(out.status, 303);
    assert!(b.cookie("qgis_session").is_none());
    let mut replay = Browser::new(&d);
    let r = replay.request(
        "GET",
        "/accounts/password/change/",
        &[("Cookie", &format!("qgis_session={old}"))],
        b"",
    );
    assert_eq!(r.status, 303, "a signed-out session is dead");
    assert!(r.header("location").unwrap().starts_with("/accounts/login/?next="));
}

#[test]
fn staff_invite_an_author_through_nginx() {
    let d = Deployment::start();
    d.user_add("rita", &["--staff"]);
    let mut rita = Browser::signed_in(&d, "rita");
    let r = rita.submit("/accounts/invite/", &[("username", "newbie"), ("email", "n@example.org")]);
    assert_eq!(r.status, 201, "{}", r.text());
    let html = r.text();
    let at = html.find("/accounts/invitation/").expect("the link is shown");
    let path = html[at..].split('<').next().unwrap().to_owned();
    let mut newbie = Browser::new(&d);
    let set = newbie.submit(
        &path,
        &[("new_password1", "newbie's passphrase"), ("new_password2", "newbie's passphrase")],
    );
    assert_eq!(set.status, 303, "{}", set.text());
    assert!(newbie.cookie("qgis_session").is_some());
    assert_eq!(Browser::new(&d).get(&path).status, 404, "the link works once");
}
