//! Every request's method and path, parsed once into a `Route`: the endpoint with its typed
//! segments, and the body class of its path, which decides the body limit, whether
//! credentials are needed before the body is read, and whether the body takes an upload slot.

use hyper::Method;

use catalog::ids::TokenId;

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
    /// `POST /plugins/add/`.
    WebUpload,
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
        Route { endpoint, class: BodyClass::of(path), post: method == Method::POST }
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
        ["plugins", "add"] => post(Endpoint::WebUpload),
        ["plugins", "api", package, "version", "add"] => {
            Endpoint::TokenApiAdd { package: (*package).to_owned() }
        }
        ["plugins", "api", package, "version", version, "update"] => Endpoint::TokenApiUpdate {
            package: (*package).to_owned(),
            version: (*version).to_owned(),
        },
        ["plugins", "RPC2"] => Endpoint::XmlRpc,
        _ => Endpoint::NotFound,
    }
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
        assert_eq!(r.endpoint, Endpoint::MethodNotAllowed { allow: "POST" });
        assert!(r.needs_credentials() && r.takes_upload_slot());
        assert_eq!(Route::parse(&Method::GET, "/a%2Fb").endpoint, Endpoint::NotFound);
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
