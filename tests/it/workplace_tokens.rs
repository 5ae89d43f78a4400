//! The tokens pages end to end, through the real nginx and `uploader serve`: an author signs
//! in, creates an upload token in the browser and reads it from that page only, uploads a
//! version with it through the token API, revokes it in the browser, and the next upload with
//! it is refused with the token API's plain `403 Invalid token` (reference §5.7, §5.8).

use crate::support::deploy::{Deployment, plugin_zip};
use crate::support::http::Response;
use crate::support::web::Browser;

const PKG: &str = "wp_tokens";

/// The text of `<code id="new-token">`.
fn shown_token(r: &Response) -> Option<String> {
    let html = r.text();
    let open = "<code id=\"new-token\">";
    let start = html.find(open)? + open.len();
    let len = html[start..].find("</code>")?;
    Some(html[start..start + len].to_owned())
}

/// The first `/plugins/<pkg>/tokens/<id>/delete/` link of a page.
fn revoke_link(html: &str) -> Option<String> {
    let prefix = format!("/plugins/{PKG}/tokens/");
    html.match_indices(&prefix).find_map(|(at, _)| {
        let rest = &html[at + prefix.len()..];
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let tail = &rest[id.len()..];
        (!id.is_empty() && tail.starts_with("/delete/")).then(|| format!("{prefix}{id}/delete/"))
    })
}

/// The `src` of the page's copy script.
fn copy_script(html: &str) -> Option<String> {
    let at = html.find("<script src=\"")? + "<script src=\"".len();
    let src = &html[at..at + html[at..].find('"')?];
    src.contains("copy").then(|| src.to_owned())
}

fn token_upload(d: &Deployment, token: &str, version: &str) -> Response {
    let path = format!("/plugins/api/{PKG}/version/add/");
    d.upload(&path, token, &plugin_zip(PKG, version), "plugin.zip").expect("token upload")
}

#[test]
fn workplace_tokens_shown_once_used_then_revoked_in_the_browser() {
    let d = Deployment::start();
    d.user_add("tess", &[]);
    let jwt = d.user_token("tess");
    let r = d.upload("/plugins/add/", &jwt, &plugin_zip(PKG, "1.0.0"), "wp_tokens.zip").unwrap();
    assert_eq!(r.status, 201, "new plugin: {}", r.text());

    let mut b = Browser::signed_in(&d, "tess");
    let list = format!("/plugins/{PKG}/tokens/");
    let csrf = b.csrf_of(&list);
    let create = format!("/plugins/{PKG}/tokens/create/");
    let created = b.post_form(&create, &[("description", "e2e release job")], Some(&csrf));
    assert_eq!(created.status, 200, "create: {}", created.text());
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let token = shown_token(&created).expect("the token on the create page");
    assert!(created.text().contains(&format!("/plugins/api/{PKG}/version/add/")));
    let script = copy_script(&created.text()).expect("the copy script");
    assert_eq!(b.get(&script).status, 200, "{script} is published");

    // Reading it again is impossible: the list (and a GET of the create path) never show it.
    let listed = b.get(&list);
    assert!(listed.text().contains("e2e release job"), "{}", listed.text());
    assert!(!listed.text().contains(&token), "the list shows the token again");
    let again = b.get(&create);
    assert_eq!((again.status, again.header("location")), (303, Some(list.as_str())));

    let up = token_upload(&d, &token, "1.1.0");
    assert_eq!(up.status, 201, "upload with the new token: {}", up.text());

    let revoke = revoke_link(&listed.text()).expect("a revoke link");
    let r = b.submit(&revoke, &[("delete_confirm", "1")]);
    assert_eq!((r.status, r.header("location")), (303, Some(list.as_str())), "{}", r.text());
    let after = b.get(&list).text();
    assert!(after.contains("The token has been successfully deleted."), "{after}");
    assert!(!after.contains("e2e release job"), "the revoked token is still listed");

    let refused = token_upload(&d, &token, "1.2.0");
    assert_eq!((refused.status, refused.text().as_str()), (403, "Invalid token"));
    assert_eq!(d.versions(PKG), vec![("1.0.0".into(), false), ("1.1.0".into(), false)]);
}
