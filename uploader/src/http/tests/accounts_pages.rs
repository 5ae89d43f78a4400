//! The account pages in process: sign-in (generic failure, CSRF, open redirects), the session
//! cookie's attributes, sign-out, sign out everywhere, password change, invitations,
//! self-registration off by default, blocked users.

use hyper::StatusCode;

use super::web::{Jar, csrf_in};
use super::{PASSWORD, add_user, env};

const SIGNED_IN_PAGE: &str = "/accounts/password/change/";

fn location(r: &super::Resp) -> &str {
    r.headers.get("location").map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn sign_in_needs_the_csrf_token_and_gives_one_generic_failure() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut jar = Jar::default();
    let page = jar.get(&env, "/accounts/login/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(jar.cookie("qgis_csrf").is_some(), "an anonymous CSRF seed is set");
    let token = csrf_in(&page.text()).unwrap();

    let no_token = jar
        .post(&env, "/accounts/login/", &[("username", "ana"), ("password", PASSWORD)], None)
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.text().contains("did not come from this site"));
    let forged = Some("00ff");
    let r = jar
        .post(&env, "/accounts/login/", &[("username", "ana"), ("password", PASSWORD)], forged)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(jar.cookie("qgis_session").is_none());

    for (user, pw) in [("ana", "wrong password"), ("nobody", PASSWORD)] {
        let r = jar
            .post(&env, "/accounts/login/", &[("username", user), ("password", pw)], Some(&token))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text().contains("Your username and password didn&#x27;t match")
                || r.text().contains("didn't match"),
            "{}",
            r.text()
        );
        assert!(jar.cookie("qgis_session").is_none());
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_stored_hashed() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut jar = Jar::default();
    let r = jar
        .submit(
            &env,
            "/accounts/login/?next=/plugins/my",
            &[("username", "ana"), ("password", PASSWORD), ("next", "/plugins/my")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/plugins/my");
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("qgis_session="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http base URL: no Secure flag");
    let secret = jar.cookie("qgis_session").unwrap().to_owned();
    let stored: String =
        env.conn().query_row("SELECT secret_hash FROM sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, catalog::hash::sha256_hex(secret.as_bytes()));
    assert!(jar.get(&env, SIGNED_IN_PAGE).await.status == StatusCode::OK);
}

#[tokio::test]
async fn next_never_leaves_the_site() {
    let env = env();
    add_user(&env, "ana", false, false);
    for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
        let mut jar = Jar::default();
        let r = jar
            .submit(
                &env,
                "/accounts/login/",
                &[("username", "ana"), ("password", PASSWORD), ("next", evil)],
            )
            .await;
        assert_eq!(location(&r), "/plugins/my", "next={evil}");
    }
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_come_back() {
    let env = env();
    let r = Jar::default().get(&env, "/accounts/password/change/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/accounts/login/?next=%2Faccounts%2Fpassword%2Fchange%2F");
}

#[tokio::test]
async fn sign_out_ends_the_session_for_good() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut jar = Jar::signed_in(&env, "ana").await;
    let old = jar.cookie("qgis_session").unwrap().to_owned();
    let r = jar.submit(&env, "/accounts/logout/", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(jar.cookie("qgis_session").is_none(), "the cookie is expired");
    let mut replay = Jar::default();
    replay.set_cookie("qgis_session", &old);
    assert_eq!(replay.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut laptop = Jar::signed_in(&env, "ana").await;
    let mut phone = Jar::signed_in(&env, "ana").await;
    let r = laptop.submit(&env, "/accounts/sessions/end/", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/accounts/login/");
    assert_eq!(phone.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::SEE_OTHER);
    assert_eq!(laptop.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut here = Jar::signed_in(&env, "ana").await;
    let mut there = Jar::signed_in(&env, "ana").await;
    let wrong = here
        .submit(
            &env,
            SIGNED_IN_PAGE,
            &[
                ("old_password", "nope"),
                ("new_password1", "a new passphrase"),
                ("new_password2", "a new passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.text().contains("current password is not right"));
    let differ = here
        .submit(
            &env,
            SIGNED_IN_PAGE,
            &[
                ("old_password", PASSWORD),
                ("new_password1", "a new passphrase"),
                ("new_password2", "another one!"),
            ],
        )
        .await;
    assert!(differ.text().contains("two passwords differ"));
    let ok = here
        .submit(
            &env,
            SIGNED_IN_PAGE,
            &[
                ("old_password", PASSWORD),
                ("new_password1", "a new passphrase"),
                ("new_password2", "a new passphrase"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(here.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::OK);
    assert_eq!(there.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::SEE_OTHER);
    let mut fresh = Jar::default();
    let r = fresh
        .submit(&env, "/accounts/login/", &[("username", "ana"), ("password", "a new passphrase")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_invitation_link_sets_the_password_once() {
    let env = env();
    add_user(&env, "rita", true, false);
    add_user(&env, "ana", false, false);
    let mut ana = Jar::signed_in(&env, "ana").await;
    assert_eq!(ana.get(&env, "/accounts/invite/").await.status, StatusCode::NOT_FOUND);
    let mut rita = Jar::signed_in(&env, "rita").await;
    let r = rita
        .submit(
            &env,
            "/accounts/invite/",
            &[("username", "newbie"), ("email", "newbie@example.org")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let html = r.text();
    let start = html.find("/accounts/invitation/").unwrap();
    let path = html[start..].split('<').next().unwrap().to_owned();
    let taken = rita.submit(&env, "/accounts/invite/", &[("username", "newbie")]).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);

    let mut newbie = Jar::default();
    let r = newbie
        .submit(
            &env,
            &path,
            &[("new_password1", "newbie's secret"), ("new_password2", "newbie's secret")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(newbie.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::OK);
    let again = Jar::default().get(&env, &path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let stored: i64 = env
        .conn()
        .query_row("SELECT COUNT(*) FROM invitations WHERE used_on IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn self_registration_is_off_by_default() {
    let env = env();
    let r = Jar::default().get(&env, "/accounts/signup/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("invitation"));
}

#[tokio::test]
async fn a_blocked_users_session_stops_working_at_once() {
    let env = env();
    add_user(&env, "ana", false, false);
    let mut jar = Jar::signed_in(&env, "ana").await;
    let id = catalog::accounts::user_by_name(&env.conn(), "ana").unwrap().unwrap().id;
    catalog::accounts::set_user_active(&env.conn(), id, false).unwrap();
    assert_eq!(jar.get(&env, SIGNED_IN_PAGE).await.status, StatusCode::SEE_OTHER);
}
