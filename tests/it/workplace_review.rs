//! The reviewer's journey through nginx and the real service: an untrusted author's v2
//! (a changed `.py` file and a changed `homepage=`) waits in the queue; staff open it, see
//! the diff line and the homepage row marked changed, approve with the shown sha256, and the
//! public plugin page shows v2 as soon as the 303 arrives (approval waits until live).

use crate::support::deploy::{Deployment, plugin_files, stored_zip};
use crate::support::web::{Browser, csrf_in};

const PKG: &str = "review_journey";

/// The plugin's zip at `version`; v2 changes `plugin.py` and the homepage.
fn zip(version: &str, v2: bool) -> Vec<u8> {
    let mut files = vec![(format!("{PKG}/"), Vec::new())];
    for (name, bytes) in plugin_files(PKG, version) {
        let text = String::from_utf8(bytes).unwrap();
        let text = match (v2, name.rsplit('/').next().unwrap()) {
            (true, "plugin.py") => text.replace("pass\n", "print(\"reviewed change\")\n"),
            (true, "metadata.txt") => text.replace(
                &format!("homepage=https://example.org/{PKG}"),
                "homepage=https://changed.example.org/home",
            ),
            _ => text,
        };
        files.push((name, text.into_bytes()));
    }
    stored_zip(&files)
}

#[test]
fn staff_review_the_diff_and_approval_is_live_on_answer() {
    let d = Deployment::start();
    d.user_add("author", &[]);
    d.user_add("boss", &["--staff"]);
    let (author, boss) = (d.user_token("author"), d.user_token("boss"));
    let r = d.upload("/plugins/add/", &author, &zip("1.0", false), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(d.set_approved(PKG, "1.0", &boss, true).0, 200);
    // The same upload path adds v2 to the existing plugin, unapproved (untrusted author).
    let r = d.upload("/plugins/add/", &author, &zip("2.0", true), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(d.versions(PKG).iter().filter(|(_, approved)| *approved).count(), 1);

    // The queue lists the pending version (and only reviewers see it).
    let review = format!("/plugins/{PKG}/version/2.0/review/");
    assert_eq!(Browser::new(&d).get("/plugins/unapproved/").status, 404);
    let mut staff = Browser::signed_in(&d, "boss");
    let queue = staff.get("/plugins/unapproved/");
    assert_eq!(queue.status, 200, "{}", queue.text());
    assert!(queue.text().contains(&review), "{}", queue.text());

    // The review page: the changed line of plugin.py, the homepage row marked changed.
    let page = staff.get(&review);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("<tr class=\"line added\">"), "{html}");
    assert!(html.contains("+        print(&quot;reviewed change&quot;)"), "{html}");
    let homepage_row = html.split("<tr class=\"changed\">").skip(1).any(|row| {
        row.split("</tr>")
            .next()
            .is_some_and(|r| r.contains("homepage") && r.contains("changed.example.org"))
    });
    assert!(homepage_row, "the homepage row is marked changed: {html}");
    let sha = d.stored_sha256(PKG, "2.0");
    assert!(html.contains(&format!("name=\"sha256\" value=\"{sha}\"")));

    // Approve: the 303 comes once the change is live, so the public page shows v2 at once.
    let csrf = csrf_in(&html).unwrap();
    let r = staff.post_form(
        &format!("/plugins/{PKG}/version/2.0/approve/"),
        &[("sha256", &sha)],
        Some(&csrf),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let public = d.req("GET", &format!("/plugins/{PKG}/"), &[], b"");
    assert_eq!(public.status, 200);
    assert!(public.text().contains("2.0"), "{}", public.text());
    assert!(d.plugins_xml().contains(&format!("{PKG}.2.0.zip")));
    let after = staff.get(&review);
    assert!(after.text().contains("is now approved and live on the site."), "{}", after.text());

    // Reading two zips per review page, uploads and builds leave the service small.
    let rss = d.rss_kb();
    assert!(
        rss < 30 * 1024,
        "uploader serve holds {rss} kB after the review journey (limit 30 MB)"
    );
}
