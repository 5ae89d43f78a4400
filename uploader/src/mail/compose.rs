//! The words of every mail (pure): a `MailEvent` and the names it needs → the subject
//! (reference §3.8's, prefixed `[QGIS Plugins]`) and a plain-text body with absolute links.

use catalog::outbox::{MailKind, VersionNames};

use super::MailEvent;

/// Every subject starts with this (reference §3.8).
pub const SUBJECT_PREFIX: &str = "[QGIS Plugins]";

/// What the catalog says about the people and the version an event names.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The public base URL, without a trailing slash.
    pub base_url: &'a str,
    /// The version the event is about (version events).
    pub version: Option<&'a VersionNames>,
    /// The user name of who did it (`by`).
    pub actor: Option<&'a str>,
    /// The user name the event is about (trust, invitation).
    pub user: Option<&'a str>,
}

/// A composed mail, before its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
}

/// The mail of `event`; `None` when a fact it needs is missing.
pub fn compose(event: &MailEvent, facts: &Facts<'_>) -> Option<Composed> {
    let (kind, subject, body) = match event {
        MailEvent::TrustChanged { trusted, .. } => trust(*trusted, facts)?,
        MailEvent::Invitation { link, .. } => invitation(link, facts)?,
        _ => version_mail(event, facts.version?, facts)?,
    };
    let subject = format!("{SUBJECT_PREFIX} {}", one_line(&subject));
    let body =
        format!("{body}\n\n-- \nQGIS Python Plugins Repository\n{}/plugins/\n", facts.base_url);
    Some(Composed { kind, subject, body })
}

/// Names from metadata end up in a header: no line breaks or other control characters.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

struct Links {
    review: String,
    plugin: String,
    my: String,
    queue: String,
}

fn links(base: &str, v: &VersionNames) -> Links {
    Links {
        review: format!("{base}/plugins/{}/version/{}/review/", v.package, v.version),
        plugin: format!("{base}/plugins/{}/", v.package),
        my: format!("{base}/plugins/my/"),
        queue: format!("{base}/plugins/unapproved/"),
    }
}

fn version_mail(
    event: &MailEvent,
    v: &VersionNames,
    facts: &Facts<'_>,
) -> Option<(MailKind, String, String)> {
    let l = links(facts.base_url, v);
    let who = facts.actor.unwrap_or("someone");
    let (name, ver) = (one_line(&v.name), &v.version);
    Some(match event {
        MailEvent::PluginCreated { .. } => (
            MailKind::PluginCreated,
            format!("A new plugin has been created by {who}."),
            format!(
                "{who} created the plugin {name} ({}) with version {ver}.\n\nReview it: {}\nThe review queue: {}",
                v.package, l.review, l.queue
            ),
        ),
        MailEvent::UploadReceived { .. } => (
            MailKind::UploadReceived,
            format!("Plugin Upload Confirmation: {name} v{ver}"),
            format!(
                "Version {ver} of {name} was uploaded by {who}. It is checked automatically, then reviewed by the staff; you get a mail at each step.\n\nThe version's page: {}\nYour plugins: {}",
                l.review, l.my
            ),
        ),
        MailEvent::ScanFinished { .. } => (
            MailKind::ScanFinished,
            format!("Plugin Validation Results: {name} v{ver}"),
            format!(
                "The automated checks of {name} {ver} finished: {}.\n{}\n\nThe findings, and how to waive a warning: {}",
                v.validation_status,
                scan_advice(&v.validation_status),
                l.review
            ),
        ),
        MailEvent::ReadyForReview { .. } => (
            MailKind::ReadyForReview,
            format!("A new plugin version is ready for review: {name} v{ver}"),
            format!(
                "{name} {ver} passed the automated checks and waits for review.\n\nReview it: {}\nThe review queue: {}",
                l.review, l.queue
            ),
        ),
        MailEvent::Approved { .. } => (
            MailKind::Approved,
            format!("Plugin {name} approval notification."),
            format!(
                "{who} approved version {ver} of {name}: it is published.\n\nThe plugin's page: {}\nYour plugins: {}",
                l.plugin, l.my
            ),
        ),
        MailEvent::Unapproved { .. } => (
            MailKind::Unapproved,
            format!("Plugin {name} unapproval notification."),
            format!(
                "{who} withdrew the approval of version {ver} of {name}: it is no longer published.\n\nThe version's page: {}\nYour plugins: {}",
                l.review, l.my
            ),
        ),
        MailEvent::FeedbackGiven { .. } => (
            MailKind::FeedbackGiven,
            format!("Plugin {name} feedback notification."),
            format!(
                "{who} reviewed version {ver} of {name} and asks for changes. Tick the tasks or answer them on the version's page, and upload a fix.\n\nThe version's page: {}",
                l.review
            ),
        ),
        MailEvent::FeedbackResolved { .. } => (
            MailKind::FeedbackResolved,
            format!("Plugin {name} feedback resolved notification."),
            format!(
                "Every task of your feedback on version {ver} of {name} is done.\n\nReview it again: {}",
                l.review
            ),
        ),
        MailEvent::TrustChanged { .. } | MailEvent::Invitation { .. } => return None,
    })
}

/// What the author should do after a scan that ended in `status`.
fn scan_advice(status: &str) -> &'static str {
    match status {
        "validated" => "Nothing critical was found; the version now waits for review.",
        "blocked" => {
            "A critical finding blocks the version: it cannot be approved nor downloaded. Fix it and upload a new version."
        }
        "incomplete" => {
            "A check could not finish; it is retried, and staff may review the version all the same."
        }
        _ => "See the version's page for the details.",
    }
}

fn trust(trusted: bool, facts: &Facts<'_>) -> Option<(MailKind, String, String)> {
    let user = facts.user?;
    let (subject, body) = if trusted {
        (
            "User trust notification.",
            format!(
                "Hello {user},\n\nyou are now a trusted author: the versions you upload are approved at once, and you may approve the plugins you edit.\n\nYour plugins: {}/plugins/my/",
                facts.base_url
            ),
        )
    } else {
        (
            "User untrust notification.",
            format!(
                "Hello {user},\n\nyou are no longer a trusted author: the versions you upload now wait for review by the staff.\n\nYour plugins: {}/plugins/my/",
                facts.base_url
            ),
        )
    };
    Some((MailKind::TrustChanged, subject.to_owned(), body))
}

fn invitation(link: &str, facts: &Facts<'_>) -> Option<(MailKind, String, String)> {
    let user = facts.user?;
    let by = facts.actor.unwrap_or("A staff member");
    Some((
        MailKind::Invitation,
        "Invitation to the QGIS plugin repository".to_owned(),
        format!(
            "Hello {user},\n\n{by} created an account for you on the QGIS Python Plugins Repository. Choose your password with this link (it works once, for 7 days; do not share it):\n\n{link}\n\nThen sign in at {}/accounts/login/ as {user}.",
            facts.base_url
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::ids::{PluginId, UserId, VersionId};

    fn names() -> VersionNames {
        VersionNames {
            package: "demo".into(),
            name: "Demo\r\nBcc: x@evil".into(),
            version: "1.2".into(),
            validation_status: "blocked".into(),
            approved: false,
        }
    }

    fn facts(v: &VersionNames) -> Facts<'_> {
        Facts { base_url: "https://p.example", version: Some(v), actor: Some("ana"), user: None }
    }

    const P: PluginId = PluginId(1);
    const V: VersionId = VersionId(2);
    const U: UserId = UserId(3);

    #[test]
    fn subjects_follow_the_reference_and_stay_on_one_line() {
        let v = names();
        let created =
            compose(&MailEvent::PluginCreated { plugin: P, version: V, by: U }, &facts(&v));
        let created = created.unwrap();
        assert_eq!(created.subject, "[QGIS Plugins] A new plugin has been created by ana.");
        assert!(created.body.contains("https://p.example/plugins/demo/version/1.2/review/"));
        let up = compose(&MailEvent::UploadReceived { plugin: P, version: V, by: U }, &facts(&v));
        let up = up.unwrap();
        assert_eq!(up.subject, "[QGIS Plugins] Plugin Upload Confirmation: Demo  Bcc: x@evil v1.2");
        assert!(!up.subject.contains('\n'));
        let ok =
            compose(&MailEvent::Approved { plugin: P, version: V, by: U }, &facts(&v)).unwrap();
        assert_eq!(ok.subject, "[QGIS Plugins] Plugin Demo  Bcc: x@evil approval notification.");
        assert!(ok.body.contains("https://p.example/plugins/demo/"));
        let scan = compose(&MailEvent::ScanFinished { plugin: P, version: V }, &facts(&v)).unwrap();
        assert!(scan.body.contains("finished: blocked"), "{}", scan.body);
    }

    #[test]
    fn version_events_need_the_version() {
        let f = Facts { base_url: "b", version: None, actor: None, user: None };
        assert_eq!(compose(&MailEvent::ScanFinished { plugin: P, version: V }, &f), None);
    }

    #[test]
    fn trust_and_invitation_name_the_user() {
        let f = Facts {
            base_url: "https://p.example",
            version: None,
            actor: Some("staff"),
            user: Some("bo"),
        };
        let t = compose(&MailEvent::TrustChanged { user: U, trusted: false, by: U }, &f).unwrap();
        assert_eq!(t.subject, "[QGIS Plugins] User untrust notification.");
        let link = "https://p.example/accounts/invitation/SECRET/".to_owned();
        let event =
            MailEvent::Invitation { user: U, email: "bo@x".into(), link: link.clone(), by: U };
        let i = compose(&event, &f).unwrap();
        assert_eq!(i.kind, MailKind::Invitation);
        assert!(i.body.contains(&link));
    }
}
