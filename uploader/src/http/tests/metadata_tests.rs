//! Metadata passes review: uploads awaiting approval request no build and change no public
//! state, and a display name under review cannot be taken by another plugin.

use hyper::StatusCode;

use super::*;

/// An untrusted editor's new version: no build requested, the plugin row untouched, and
/// the version keeps its own metadata until approval publishes it.
#[tokio::test]
async fn unapproved_upload_requests_no_build_and_keeps_the_plugin_row() {
    let env = env();
    add_user(&env, "author", false, false);
    add_user(&env, "boss", true, false);
    let (author, boss) = (login(&env, "author").await, login(&env, "boss").await);
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    assert_eq!(approve(&env, &boss, "test_plugin", "1.0").await.status, StatusCode::OK);
    let requested = env.app.rebuild.status().requested;
    let row = "SELECT name || author || description || revision || modified_on FROM plugins";
    let before: String = env.conn().query_row(row, [], |r| r.get(0)).unwrap();

    let zip = plugin_zip_with("test_plugin", "1.1", "name=Renamed\nauthor=Other\ntags=newtag");
    assert_eq!(web_upload(&env, &author, &zip).await.status, 201);
    assert_eq!(env.app.rebuild.status().requested, requested, "no build for a draft");
    let after: String = env.conn().query_row(row, [], |r| r.get(0)).unwrap();
    assert_eq!(after, before);

    assert_eq!(approve(&env, &boss, "test_plugin", "1.1").await.status, StatusCode::OK);
    assert!(env.app.rebuild.status().requested > requested, "approval requests a build");
    let name: String = env.conn().query_row("SELECT name FROM plugins", [], |r| r.get(0)).unwrap();
    assert_eq!(name, "Renamed", "the public name follows the approved version");
}

/// Plugin A's draft renames it to "Taken"; plugin B cannot take that name meanwhile (it
/// would make A's approval collide), and A's old name stays A's too.
#[tokio::test]
async fn a_name_under_review_is_reserved() {
    let env = env();
    add_user(&env, "alice", false, false);
    add_user(&env, "bob", false, false);
    let (alice, bob) = (login(&env, "alice").await, login(&env, "bob").await);
    assert_eq!(web_upload(&env, &alice, &plugin_zip("plugin_a", "1.0")).await.status, 201);
    let draft = plugin_zip_with("plugin_a", "1.1", "name=Taken");
    assert_eq!(web_upload(&env, &alice, &draft).await.status, 201);
    for name in ["Taken", "TAKEN", "Test Plugin plugin_a"] {
        let zip = plugin_zip_with("plugin_b", "1.0", &format!("name={name}"));
        let r = web_upload(&env, &bob, &zip).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{name}: {}", r.text());
        assert!(r.text().contains("already named"), "{}", r.text());
    }
    assert_eq!(env.count("SELECT count(*) FROM plugins WHERE package_name = 'plugin_b'"), 0);
}
