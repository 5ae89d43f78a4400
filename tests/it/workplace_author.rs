//! The authors' pages through the real nginx and `uploader serve` (issue 14): an author
//! signs in, uploads a broken zip and sees every problem, uploads a good one (awaiting review
//! → its review page; a trusted author's → its live public page), finds the states on
//! `/plugins/my`, and deletes a version after confirming.

use crate::support::deploy::{Deployment, plugin_files, plugin_zip, stored_zip};
use crate::support::http::Response;
use crate::support::web::Browser;

fn location(r: &Response) -> &str {
    r.header("location").unwrap_or("")
}

/// A zip whose metadata lacks `author` and `email`, has an empty description and no LICENSE.
fn broken_zip() -> Vec<u8> {
    let meta = "[general]\nname=Broken\nqgisMinimumVersion=3.0\ndescription=\nversion=1.0\n\
                about=Broken on purpose, to see every problem at once.\n";
    let files = vec![
        ("broken/".to_owned(), Vec::new()),
        ("broken/metadata.txt".to_owned(), meta.as_bytes().to_vec()),
        ("broken/__init__.py".to_owned(), b"def classFactory(iface):\n    pass\n".to_vec()),
    ];
    stored_zip(&files)
}

#[test]
fn an_author_uploads_sees_states_and_deletes_a_version() {
    let d = Deployment::start();
    d.user_add("wp_ana", &[]);
    d.user_add("wp_bob", &[]);
    let mut ana = Browser::signed_in(&d, "wp_ana");

    let empty = ana.get("/plugins/my");
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert!(empty.text().contains("You have no plugins yet"));

    let r = ana.upload("/plugins/add/", "/plugins/add/", &broken_zip(), &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    let html = r.text();
    for needle in [
        "<ul class=\"problems\">",
        "Cannot find metadata author",
        "Cannot find metadata email",
        "Metadata description is empty",
        "LICENSE",
        "<span class=\"hint\">",
    ] {
        assert!(html.contains(needle), "{needle} missing from the refusal page: {html}");
    }
    assert!(d.versions("broken").is_empty());

    let r = ana.upload("/plugins/add/", "/plugins/add/", &plugin_zip("e2e_author", "1.0"), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(location(&r), "/plugins/e2e_author/version/1.0/review/");
    let zip = plugin_zip("e2e_author", "1.1");
    let page = "/plugins/e2e_author/version/add/";
    let r = ana.upload(page, page, &zip, &[("changelog", "Second try")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(d.versions("e2e_author"), [("1.0".to_owned(), false), ("1.1".to_owned(), false)]);

    let my = ana.get("/plugins/my");
    let html = my.text();
    assert!(html.contains("awaiting review"), "{html}");
    assert!(html.contains("href=\"/plugins/e2e_author/version/1.1/delete/\""));
    assert!(!html.contains("href=\"/plugins/e2e_author/\""), "no public page before approval");

    let mut bob = Browser::signed_in(&d, "wp_bob");
    let r = bob.get("/plugins/e2e_author/version/1.1/delete/");
    assert_eq!(r.status, 403, "{}", r.text());

    let path = "/plugins/e2e_author/version/1.1/delete/";
    let confirm = ana.get(path);
    assert_eq!(confirm.status, 200);
    assert!(confirm.text().contains("1.1") && confirm.text().contains("E2E e2e_author"));
    let r = ana.submit(path, &[("delete_confirm", "1")]);
    assert_eq!((r.status, location(&r)), (303, "/plugins/my"), "{}", r.text());
    assert_eq!(d.versions("e2e_author"), [("1.0".to_owned(), false)]);
    let after = ana.get("/plugins/my").text();
    assert!(after.contains("Version 1.1 of E2E e2e_author was deleted."), "{after}");
    d.assert_store_matches_db();
}

#[test]
fn a_trusted_authors_upload_is_live_when_the_redirect_arrives() {
    let d = Deployment::start();
    d.user_add("wp_tess", &["--trusted"]);
    let mut tess = Browser::signed_in(&d, "wp_tess");
    let mut files = vec![("e2e_live/".to_owned(), Vec::new())];
    files.extend(plugin_files("e2e_live", "2.0"));
    let r = tess.upload("/plugins/add/", "/plugins/add/", &stored_zip(&files), &[]);
    assert_eq!((r.status, location(&r)), (303, "/plugins/e2e_live/"), "{}", r.text());
    let public = tess.get("/plugins/e2e_live/");
    assert_eq!(public.status, 200, "the public page is live at once");
    assert!(public.text().contains("E2E e2e_live"));
    let my = tess.get("/plugins/my").text();
    assert!(my.contains("badge approved") && my.contains("href=\"/plugins/e2e_live/\""), "{my}");
    let r = tess.get("/plugins/e2e_live/version/2.0/update/");
    assert_eq!(r.status, 409, "approved versions are immutable");
}
