//! Every request's method and path, parsed once into a `Route`: the endpoint with its typed
//! segments, and the body class of its path, which decides the body limit, whether
//! credentials are needed before the body is read, and whether the body takes an upload slot.

use hyper::Method;

use catalog::ids::{TaskId, TokenId};

use crate::config::ServiceConfig;
use crate::services::accounts::UserAction;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Health,
    /// `POST /api/v1/token`.
    Login,
    /// `POST /api/v1/users/<name>/<action>`; an unknown action is a 404 for staff.
    UserAction {
        name: String,
        action: Option<UserAction>,
    },
    ReviewQueue,
    PluginInfo {
        package: String,
    },
    PatchPlugin {
        package: String,
    },
    DeletePlugin {
        package: String,
    },
    RestorePlugin {
        package: String,
    },
    ListTokens {
        package: String,
    },
    CreateToken {
        package: String,
    },
    /// `id` is `None` when the segment is not a number (404 once authenticated).
    RevokeToken {
        package: String,
        id: Option<TokenId>,
    },
    VersionInfo {
        package: String,
        version: String,
    },
    DeleteVersion {
        package: String,
        version: String,
    },
    SetApproval {
        package: String,
        version: String,
        approve: bool,
    },
    PrivateDownload {
        package: String,
        version: String,
    },
    /// `POST /api/v1/plugins/<pkg>/check`: the dry run (a zip: upload body class).
    CheckPackage {
        package: String,
    },
    /// `GET`, `POST`, `DELETE /api/v1/plugins/<pkg>/waivers`.
    Waivers {
        package: String,
    },
    /// `PUT /api/v1/plugins/<pkg>/vendored`.
    SetVendored {
        package: String,
    },
    /// `POST /api/v1/plugins/<pkg>/versions/<v>/override` (staff).
    ScanOverride {
        package: String,
        version: String,
    },
    /// `POST /api/v1/plugins/<pkg>/versions/<v>/rescan`.
    Rescan {
        package: String,
        version: String,
    },
    /// `GET /api/v1/plugins/<pkg>/versions/<v>/feedback`.
    Feedback {
        package: String,
        version: String,
    },
    /// `POST /api/v1/plugins/<pkg>/versions/<v>/feedback`.
    GiveFeedback {
        package: String,
        version: String,
    },
    /// `/api/v1/plugins/<pkg>/versions/<v>/feedback/<id>[/<verb>]`; `task` is `None` when
    /// the segment is not a number (404 once authenticated).
    FeedbackTask {
        package: String,
        version: String,
        task: Option<TaskId>,
        verb: TaskVerb,
    },
    /// `GET /api/v1/plugins/<pkg>/versions/<v>/status`: public, no credentials.
    VersionStatus {
        package: String,
        version: String,
    },
    /// `POST /plugins/add/` with a user JWT (the JSON upload); without one, the web form.
    WebUpload,
    /// A page of the web workplace (GET shows it, POST submits its form).
    Page(Page),
    /// The token API (any method: it answers its own 405 after the token check).
    TokenApiAdd {
        package: String,
    },
    TokenApiUpdate {
        package: String,
        version: String,
    },
    /// XML-RPC (any method: it answers its own 405).
    XmlRpc,
    /// A known path with another method: 405 naming the allowed ones.
    MethodNotAllowed {
        allow: &'static str,
    },
    /// 404.
    NotFound,
}

/// What a request does to one feedback task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskVerb {
    /// `POST …/<id>/complete`.
    Complete,
    /// `POST …/<id>/reopen`.
    Reopen,
    /// `POST …/<id>/answer` `{"text"}`.
    Answer,
    /// `PATCH …/<id>` `{"text"}`.
    Edit,
    /// `DELETE …/<id>`.
    Delete,
}

/// The pages of the web workplace (contract of issue 14; paths as the reference's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Page {
    /// `/accounts/login/`.
    Login,
    /// `/accounts/logout/`.
    Logout,
    /// `/accounts/password/change/`.
    PasswordChange,
    /// `/accounts/sessions/end/`: sign out everywhere.
    SessionsEnd,
    /// `/accounts/invite/` (staff).
    Invite,
    /// `/accounts/invitation/<token>/`.
    Invitation { token: String },
    /// `/accounts/signup/` (when self-registration is on).
    Signup,
    /// `/plugins/my`.
    MyPlugins,
    /// `/plugins/add/` (GET; POST without a JWT).
    AddPlugin,
    /// `/plugins/<pkg>/update/`.
    PluginUpdate { package: String },
    /// `/plugins/<pkg>/delete/`.
    PluginDelete { package: String },
    /// `/plugins/<pkg>/restore/`.
    PluginRestore { package: String },
    /// `/plugins/<pkg>/version/add/`.
    VersionAdd { package: String },
    /// `/plugins/<pkg>/version/<v>/update/`.
    VersionUpdate { package: String, version: String },
    /// `/plugins/<pkg>/version/<v>/delete/`.
    VersionDelete { package: String, version: String },
    /// `/plugins/<pkg>/version/<v>/review/`.
    VersionReview { package: String, version: String },
    /// `/plugins/<pkg>/version/<v>/approve/` and `…/unapprove/`.
    VersionApproval { package: String, version: String, approve: bool },
    /// `/plugins/<pkg>/version/<v>/feedback/` (POST: write feedback).
    FeedbackGive { package: String, version: String },
    /// `/plugins/<pkg>/version/<v>/feedback/<id>/{complete,reopen,answer,delete}/` (POST).
    FeedbackTask { package: String, version: String, task: Option<TaskId>, verb: TaskVerb },
    /// `/plugins/<pkg>/version/<v>/rescan/` (POST: editors and staff queue a new scan).
    ScanRescan { package: String, version: String },
    /// `/plugins/<pkg>/version/<v>/override/` (POST: staff lift a block with a reason).
    ScanOverride { package: String, version: String },
    /// `/plugins/<pkg>/waivers/` (POST: editors add or remove a waiver).
    Waivers { package: String },
    /// `/plugins/<pkg>/tokens/`.
    Tokens { package: String },
    /// `/plugins/<pkg>/tokens/create/`.
    TokenCreate { package: String },
    /// `/plugins/<pkg>/tokens/<id>/`; `id` is `None` when not a number (404).
    TokenShow { package: String, id: Option<TokenId> },
    /// `/plugins/<pkg>/tokens/<id>/update`.
    TokenUpdate { package: String, id: Option<TokenId> },
    /// `/plugins/<pkg>/tokens/<id>/delete/`.
    TokenDelete { package: String, id: Option<TokenId> },
    /// `/plugins/unapproved/` (reviewers; 404 for anyone else).
    ReviewQueue,
    /// `/plugins/user/<u>/admin` (staff; 404 for anyone else).
    UserAdmin { username: String },
    /// `/plugins/user/<u>/{trust,untrust,block,unblock}/`.
    UserAction { username: String, action: UserAction },
}

impl Page {
    /// Pages whose form carries a plugin zip (multipart, the upload body limit).
    fn takes_zip(&self) -> bool {
        matches!(self, Page::AddPlugin | Page::VersionAdd { .. } | Page::VersionUpdate { .. })
    }
}

/// The body class of a path, by its prefix (as nginx routes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyClass {
    /// `/plugins/RPC2...`: base64 zips inside XML; authenticated before the body is read.
    XmlRpc,
    /// `/plugins/add...` and `/plugins/api/...`: multipart zips, needing credentials.
    Upload,
    /// `/api/v1/...` (but the login): JSON, needing credentials.
    Api,
    /// Anything else: small JSON bodies.
    Other,
}

impl BodyClass {
    fn of(path: &str) -> Self {
        if path.starts_with("/plugins/RPC2") {
            BodyClass::XmlRpc
        } else if path.starts_with("/plugins/add") || path.starts_with("/plugins/api/") {
            BodyClass::Upload
        } else if path.starts_with("/api/v1/") && !path.starts_with("/api/v1/token") {
            BodyClass::Api
        } else {
            BodyClass::Other
        }
    }
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub endpoint: Endpoint,
    class: BodyClass,
    post: bool,
}

impl Route {
    /// Parses `method` and `path` (percent-decoded segments, one trailing slash ignored).
    pub(crate) fn parse(method: &Method, path: &str) -> Self {
        let endpoint = match segments(path) {
            Some(segs) => {
                let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
                endpoint(method, &segs)
            }
            None => Endpoint::NotFound,
        };
        let class = match &endpoint {
            Endpoint::Page(page) if page.takes_zip() => BodyClass::Upload,
            Endpoint::Page(_) => BodyClass::Other,
            Endpoint::CheckPackage { .. } => BodyClass::Upload,
            _ => BodyClass::of(path),
        };
        Route { endpoint, class, post: method == Method::POST }
    }

    /// The largest body accepted (checked before the body is read).
    pub(crate) fn body_limit(&self, config: &ServiceConfig) -> u64 {
        match self.class {
            BodyClass::XmlRpc => config.max_xmlrpc_bytes(),
            BodyClass::Upload => config.max_multipart_bytes(),
            BodyClass::Api | BodyClass::Other => config.max_json_bytes,
        }
    }

    /// Handlers refuse these without credentials: such requests are answered without
    /// reading their body.
    pub(crate) fn needs_credentials(&self) -> bool {
        matches!(self.class, BodyClass::Upload | BodyClass::Api)
    }

    /// Bodies that carry zips wait for an upload slot (bounded memory) before being read.
    pub(crate) fn takes_upload_slot(&self) -> bool {
        matches!(self.class, BodyClass::Upload | BodyClass::XmlRpc)
    }

    /// Requests that hold zips in memory (uploads, a review page's two zips): the server gives
    /// the freed memory back to the system after them.
    pub(crate) fn holds_zips(&self) -> bool {
        self.takes_upload_slot()
            || matches!(self.endpoint, Endpoint::Page(Page::VersionReview { .. }))
    }

    /// XML-RPC calls: HTTP Basic is checked before the body is read.
    pub(crate) fn authenticates_before_body(&self) -> bool {
        self.class == BodyClass::XmlRpc && self.post
    }
}

/// Ok when `method` is allowed, else the 405 naming `allow`.
fn only(method: &Method, allowed: &[Method], allow: &'static str, then: Endpoint) -> Endpoint {
    if allowed.contains(method) { then } else { Endpoint::MethodNotAllowed { allow } }
}

fn endpoint(method: &Method, segs: &[&str]) -> Endpoint {
    let post = |then| only(method, &[Method::POST], "POST", then);
    match segs {
        ["healthz"] => only(method, &[Method::GET, Method::HEAD], "GET, HEAD", Endpoint::Health),
        ["api", "v1", "token"] => post(Endpoint::Login),
        ["api", "v1", "users", name, action] => post(Endpoint::UserAction {
            name: (*name).to_owned(),
            action: UserAction::parse(action),
        }),
        ["api", "v1", "review"] => only(method, &[Method::GET], "GET", Endpoint::ReviewQueue),
        ["api", "v1", "plugins", package, rest @ ..] => plugin_endpoint(method, package, rest),
        ["api", "v1", "download", package, version] => only(
            method,
            &[Method::GET, Method::HEAD],
            "GET",
            Endpoint::PrivateDownload {
                package: (*package).to_owned(),
                version: (*version).to_owned(),
            },
        ),
        ["plugins", "add"] if method == Method::POST => Endpoint::WebUpload,
        ["plugins", "api", package, "version", "add"] => {
            Endpoint::TokenApiAdd { package: (*package).to_owned() }
        }
        ["plugins", "api", package, "version", version, "update"] => Endpoint::TokenApiUpdate {
            package: (*package).to_owned(),
            version: (*version).to_owned(),
        },
        ["plugins", "RPC2"] => Endpoint::XmlRpc,
        _ => match page(segs) {
            Some(page) => only(
                method,
                &[Method::GET, Method::HEAD, Method::POST],
                "GET, POST",
                Endpoint::Page(page),
            ),
            None => Endpoint::NotFound,
        },
    }
}

/// The workplace page of a path.
fn page(segs: &[&str]) -> Option<Page> {
    let s = |x: &&str| (*x).to_owned();
    let token = |id: &&str| id.parse().ok().map(TokenId);
    Some(match segs {
        ["accounts", "login"] => Page::Login,
        ["accounts", "logout"] => Page::Logout,
        ["accounts", "password", "change"] => Page::PasswordChange,
        ["accounts", "sessions", "end"] => Page::SessionsEnd,
        ["accounts", "invite"] => Page::Invite,
        ["accounts", "invitation", t] => Page::Invitation { token: s(t) },
        ["accounts", "signup"] => Page::Signup,
        ["plugins", "my"] => Page::MyPlugins,
        ["plugins", "add"] => Page::AddPlugin,
        ["plugins", "unapproved"] => Page::ReviewQueue,
        ["plugins", "user", u, "admin"] => Page::UserAdmin { username: s(u) },
        ["plugins", "user", u, action @ ("trust" | "untrust" | "block" | "unblock")] => {
            Page::UserAction { username: s(u), action: UserAction::parse(action)? }
        }
        ["plugins", p, "update"] => Page::PluginUpdate { package: s(p) },
        ["plugins", p, "delete"] => Page::PluginDelete { package: s(p) },
        ["plugins", p, "restore"] => Page::PluginRestore { package: s(p) },
        ["plugins", p, "tokens"] => Page::Tokens { package: s(p) },
        ["plugins", p, "tokens", "create"] => Page::TokenCreate { package: s(p) },
        ["plugins", p, "tokens", id] => Page::TokenShow { package: s(p), id: token(id) },
        ["plugins", p, "tokens", id, "update"] => {
            Page::TokenUpdate { package: s(p), id: token(id) }
        }
        ["plugins", p, "tokens", id, "delete"] => {
            Page::TokenDelete { package: s(p), id: token(id) }
        }
        ["plugins", p, "version", "add"] => Page::VersionAdd { package: s(p) },
        ["plugins", p, "version", v, "update"] => {
            Page::VersionUpdate { package: s(p), version: s(v) }
        }
        ["plugins", p, "version", v, "delete"] => {
            Page::VersionDelete { package: s(p), version: s(v) }
        }
        ["plugins", p, "version", v, "review"] => {
            Page::VersionReview { package: s(p), version: s(v) }
        }
        ["plugins", p, "version", v, "feedback"] => {
            Page::FeedbackGive { package: s(p), version: s(v) }
        }
        ["plugins", p, "version", v, "feedback", id, verb] => Page::FeedbackTask {
            package: s(p),
            version: s(v),
            task: id.parse().ok().map(TaskId),
            verb: match *verb {
                "complete" => TaskVerb::Complete,
                "reopen" => TaskVerb::Reopen,
                "answer" => TaskVerb::Answer,
                "delete" => TaskVerb::Delete,
                _ => return None,
            },
        },
        ["plugins", p, "version", v, action @ ("approve" | "unapprove")] => {
            Page::VersionApproval { package: s(p), version: s(v), approve: *action == "approve" }
        }
        ["plugins", p, "version", v, "rescan"] => Page::ScanRescan { package: s(p), version: s(v) },
        ["plugins", p, "version", v, "override"] => {
            Page::ScanOverride { package: s(p), version: s(v) }
        }
        ["plugins", p, "waivers"] => Page::Waivers { package: s(p) },
        _ => return None,
    })
}

/// `/api/v1/plugins/<package>/...`.
fn plugin_endpoint(method: &Method, package: &str, rest: &[&str]) -> Endpoint {
    let package = package.to_owned();
    match (rest, method.clone()) {
        ([], Method::GET) => Endpoint::PluginInfo { package },
        ([], Method::PATCH) => Endpoint::PatchPlugin { package },
        ([], Method::DELETE) => Endpoint::DeletePlugin { package },
        ([], _) => Endpoint::MethodNotAllowed { allow: "GET, PATCH, DELETE" },
        (["restore"], m) => only(&m, &[Method::POST], "POST", Endpoint::RestorePlugin { package }),
        (["tokens"], Method::GET) => Endpoint::ListTokens { package },
        (["tokens"], Method::POST) => Endpoint::CreateToken { package },
        (["tokens"], _) => Endpoint::MethodNotAllowed { allow: "GET, POST" },
        (["tokens", id], m) => only(
            &m,
            &[Method::DELETE],
            "DELETE",
            Endpoint::RevokeToken { package, id: id.parse().ok().map(TokenId) },
        ),
        (["versions", version], Method::GET) => {
            Endpoint::VersionInfo { package, version: (*version).to_owned() }
        }
        (["versions", version], Method::DELETE) => {
            Endpoint::DeleteVersion { package, version: (*version).to_owned() }
        }
        (["versions", _], _) => Endpoint::MethodNotAllowed { allow: "GET, DELETE" },
        (["versions", version, action @ ("approve" | "unapprove")], m) => only(
            &m,
            &[Method::POST],
            "POST",
            Endpoint::SetApproval {
                package,
                version: (*version).to_owned(),
                approve: *action == "approve",
            },
        ),
        (["check"], m) => only(&m, &[Method::POST], "POST", Endpoint::CheckPackage { package }),
        (["waivers"], m) => only(
            &m,
            &[Method::GET, Method::POST, Method::DELETE],
            "GET, POST, DELETE",
            Endpoint::Waivers { package },
        ),
        (["vendored"], m) => only(&m, &[Method::PUT], "PUT", Endpoint::SetVendored { package }),
        (["versions", version, "override"], m) => only(
            &m,
            &[Method::POST],
            "POST",
            Endpoint::ScanOverride { package, version: (*version).to_owned() },
        ),
        (["versions", version, "rescan"], m) => only(
            &m,
            &[Method::POST],
            "POST",
            Endpoint::Rescan { package, version: (*version).to_owned() },
        ),
        (["versions", version, "feedback", ..], _) | (["versions", version, "status"], _) => {
            feedback_endpoint(method, package, version, &rest[2..])
        }
        _ => Endpoint::NotFound,
    }
}

/// `/api/v1/plugins/<package>/versions/<version>/{feedback,status}...`.
fn feedback_endpoint(method: &Method, package: String, version: &str, rest: &[&str]) -> Endpoint {
    let version = version.to_owned();
    let task = |id: &str| id.parse().ok().map(TaskId);
    let on_task = |id: &str, verb| Endpoint::FeedbackTask {
        package: package.clone(),
        version: version.clone(),
        task: task(id),
        verb,
    };
    match (rest, method.clone()) {
        (["status"], m) => only(
            &m,
            &[Method::GET, Method::HEAD],
            "GET, HEAD",
            Endpoint::VersionStatus { package, version },
        ),
        (["feedback"], Method::GET) => Endpoint::Feedback { package, version },
        (["feedback"], Method::POST) => Endpoint::GiveFeedback { package, version },
        (["feedback"], _) => Endpoint::MethodNotAllowed { allow: "GET, POST" },
        (["feedback", id], Method::PATCH) => on_task(id, TaskVerb::Edit),
        (["feedback", id], Method::DELETE) => on_task(id, TaskVerb::Delete),
        (["feedback", _], _) => Endpoint::MethodNotAllowed { allow: "PATCH, DELETE" },
        (["feedback", id, verb @ ("complete" | "reopen" | "answer")], m) => {
            let verb = match *verb {
                "complete" => TaskVerb::Complete,
                "reopen" => TaskVerb::Reopen,
                _ => TaskVerb::Answer,
            };
            only(&m, &[Method::POST], "POST", on_task(id, verb))
        }
        _ => Endpoint::NotFound,
    }
}

/// Splits a path into percent-decoded segments, ignoring one trailing slash.
/// `None` when a segment is not valid percent-encoded UTF-8 or is empty inside the path.
fn segments(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_prefix('/')?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Some(Vec::new());
    }
    trimmed.split('/').map(percent_decode).collect()
}

fn percent_decode(seg: &str) -> Option<String> {
    if seg.is_empty() {
        return None;
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = seg.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains(['/', '\0'])).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_endpoints_with_typed_segments() {
        let r = Route::parse(&Method::POST, "/api/v1/plugins/my%5Fplugin/versions/1.0/approve/");
        assert_eq!(
            r.endpoint,
            Endpoint::SetApproval {
                package: "my_plugin".into(),
                version: "1.0".into(),
                approve: true
            }
        );
        let r = Route::parse(&Method::DELETE, "/api/v1/plugins/p/tokens/x");
        assert_eq!(r.endpoint, Endpoint::RevokeToken { package: "p".into(), id: None });
        let r = Route::parse(&Method::GET, "/plugins/add/");
        assert_eq!(r.endpoint, Endpoint::Page(Page::AddPlugin));
        assert!(r.needs_credentials() && r.takes_upload_slot());
        let r = Route::parse(&Method::POST, "/plugins/p/version/1.0/update/");
        let update = Page::VersionUpdate { package: "p".into(), version: "1.0".into() };
        assert_eq!(r.endpoint, Endpoint::Page(update));
        assert!(r.takes_upload_slot());
        let r = Route::parse(&Method::POST, "/plugins/p/tokens/7/delete/");
        assert!(!r.takes_upload_slot() && !r.needs_credentials());
        assert_eq!(
            Route::parse(&Method::PUT, "/plugins/my").endpoint,
            Endpoint::MethodNotAllowed { allow: "GET, POST" }
        );
        assert_eq!(Route::parse(&Method::GET, "/a%2Fb").endpoint, Endpoint::NotFound);
    }

    #[test]
    fn feedback_paths_parse_with_their_task_ids_and_verbs() {
        let task = |method: Method, path: &str| Route::parse(&method, path).endpoint;
        let (p, v) = (|| "p".to_owned(), || "1.0".to_owned());
        assert_eq!(
            task(Method::POST, "/api/v1/plugins/p/versions/1.0/feedback/7/complete/"),
            Endpoint::FeedbackTask {
                package: p(),
                version: v(),
                task: Some(TaskId(7)),
                verb: TaskVerb::Complete
            }
        );
        assert_eq!(
            task(Method::DELETE, "/api/v1/plugins/p/versions/1.0/feedback/x"),
            Endpoint::FeedbackTask {
                package: p(),
                version: v(),
                task: None,
                verb: TaskVerb::Delete
            }
        );
        assert_eq!(
            task(Method::GET, "/api/v1/plugins/p/versions/1.0/feedback/7/answer"),
            Endpoint::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(
            task(Method::POST, "/api/v1/plugins/p/versions/1.0/feedback"),
            Endpoint::GiveFeedback { package: p(), version: v() }
        );
        assert_eq!(
            task(Method::GET, "/api/v1/plugins/p/versions/1.0/status"),
            Endpoint::VersionStatus { package: p(), version: v() }
        );
        assert_eq!(
            task(Method::GET, "/api/v1/plugins/p/versions/1.0/feedback/7/x"),
            Endpoint::NotFound
        );
    }

    #[test]
    fn body_classes_follow_the_path_prefix() {
        let login = Route::parse(&Method::POST, "/api/v1/token/");
        assert!(!login.needs_credentials() && !login.takes_upload_slot());
        let rpc = Route::parse(&Method::POST, "/plugins/RPC2/");
        assert!(rpc.authenticates_before_body() && !rpc.needs_credentials());
        assert!(!Route::parse(&Method::GET, "/plugins/RPC2/").authenticates_before_body());
        assert!(Route::parse(&Method::GET, "/api/v1/nothing").needs_credentials());
    }
}
