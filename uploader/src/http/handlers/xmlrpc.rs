//! XML-RPC at `POST /plugins/RPC2/` (reference §5.10), as qgis-plugin-ci and legacy scripts
//! use it: `plugin.upload(base64 zip[, boolean])` with HTTP Basic → `[plugin_id, version_id]`,
//! `plugin.tags()` → every tag name, `system.listMethods()`.
//!
//! Every failure inside a method is a fault with code 1 (validator messages prefixed as the
//! reference does). Unlike the reference, `plugin.upload` checks that the caller edits the
//! plugin it updates (decisions §5). Credentials are checked before the body is parsed or
//! decoded (and, in `server`, before it is read): wrong ones get HTTP 401, a blocked account
//! HTTP 403; without any, only small bodies are read and `plugin.upload` gets 401. The
//! parser refuses DOCTYPEs (no entity expansion), and bounds nesting and element counts.

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response};
use quick_xml::events::Event;

use catalog::events::UploadVia;

use super::upload::{error_messages, problem_text};
use super::{BasicAuth, basic_user};
use crate::app::App;
use crate::auth::{self, Credentials};
use crate::http::error::{ApiError, ApiResult, HttpResponse};
use crate::services::ServiceError;
use crate::services::uploads::{self, Target, UploadError, UploadRequest};

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Bool(bool),
    Str(String),
    Double(f64),
    Base64(Vec<u8>),
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    Nil,
}

const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 100_000;

/// A parsed XML element (tiny DOM; text of mixed content concatenated).
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

fn parse_dom(body: &[u8]) -> Result<Node, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the request is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut nodes = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| format!("malformed XML: {e}"))?;
        match event {
            Event::Start(e) => {
                nodes += 1;
                if stack.len() > MAX_DEPTH || nodes > MAX_NODES {
                    return Err("the request nests too deeply or has too many elements".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Node { name, ..Default::default() });
            }
            Event::Empty(e) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err("the request has too many elements".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node { name, ..Default::default() });
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced XML")?;
                let parent = stack.last_mut().ok_or("unbalanced XML")?;
                parent.children.push(node);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| format!("bad text: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| format!("bad CDATA: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| format!("bad character reference: {e}"))?
                        .map(String::from)
                } else {
                    let name = r.decode().map_err(|e| format!("bad reference: {e}"))?;
                    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                };
                let resolved = resolved.ok_or("unknown entity reference")?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err("DOCTYPE is not allowed".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced XML".into());
    }
    let mut root = stack.pop().ok_or("empty document")?;
    match root.children.len() {
        1 => root.children.pop().ok_or_else(|| "empty document".into()),
        _ => Err("the document must have exactly one root element".into()),
    }
}

fn child<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    node.children.iter().find(|c| c.name == name)
}

fn parse_value(node: &Node) -> Result<Value, String> {
    // <value>text</value> is a string.
    let Some(inner) = node.children.first() else { return Ok(Value::Str(node.text.clone())) };
    let text = inner.text.trim();
    Ok(match inner.name.as_str() {
        "int" | "i4" | "i8" => Value::Int(text.parse().map_err(|_| format!("bad int `{text}`"))?),
        "boolean" => Value::Bool(match text {
            "1" => true,
            "0" => false,
            _ => return Err(format!("bad boolean `{text}`")),
        }),
        "string" => Value::Str(inner.text.clone()),
        "double" => Value::Double(text.parse().map_err(|_| format!("bad double `{text}`"))?),
        "base64" => Value::Base64(decode_base64(&inner.text)?),
        "nil" => Value::Nil,
        "dateTime.iso8601" => Value::Str(text.to_owned()),
        "array" => {
            let data = child(inner, "data").ok_or("array without data")?;
            Value::Array(
                data.children
                    .iter()
                    .filter(|c| c.name == "value")
                    .map(parse_value)
                    .collect::<Result<_, _>>()?,
            )
        }
        "struct" => Value::Struct(
            inner
                .children
                .iter()
                .filter(|c| c.name == "member")
                .map(|m| {
                    let name = child(m, "name").map(|n| n.text.clone()).unwrap_or_default();
                    let value = child(m, "value").ok_or("member without value")?;
                    Ok((name, parse_value(value)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unknown value type `{other}`")),
    })
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| "the base64 payload is not valid base64".to_owned())
}

/// Parses a `methodCall` into its method name and parameters.
pub(crate) fn parse_call(body: &[u8]) -> Result<(String, Vec<Value>), String> {
    let root = parse_dom(body)?;
    if root.name != "methodCall" {
        return Err("the document is not an XML-RPC methodCall".into());
    }
    let name = child(&root, "methodName").ok_or("methodCall without methodName")?.text.trim();
    let params = match child(&root, "params") {
        Some(p) => p
            .children
            .iter()
            .filter(|c| c.name == "param")
            .map(|p| parse_value(child(p, "value").ok_or("param without value")?))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok((name.to_owned(), params))
}

fn write_value(out: &mut String, v: &Value) {
    use quick_xml::escape::escape;
    out.push_str("<value>");
    match v {
        Value::Int(i) => out.push_str(&format!("<int>{i}</int>")),
        Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        Value::Str(s) => out.push_str(&format!("<string>{}</string>", escape(s.as_str()))),
        Value::Double(d) => out.push_str(&format!("<double>{d}</double>")),
        Value::Base64(b) => out.push_str(&format!(
            "<base64>{}</base64>",
            base64::engine::general_purpose::STANDARD.encode(b)
        )),
        Value::Nil => out.push_str("<nil/>"),
        Value::Array(items) => {
            out.push_str("<array><data>");
            for i in items {
                write_value(out, i);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, value) in members {
                out.push_str(&format!("<member><name>{}</name>", escape(name.as_str())));
                write_value(out, value);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

fn xml_response(body: String) -> HttpResponse {
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(body)));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    resp
}

/// A `methodResponse` with one value.
pub(crate) fn success(v: &Value) -> HttpResponse {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><params><param>");
    write_value(&mut out, v);
    out.push_str("</param></params></methodResponse>\n");
    xml_response(out)
}

/// A fault (code 1 for every method failure, as the reference).
pub(crate) fn fault(code: i64, message: &str) -> HttpResponse {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><fault>");
    write_value(
        &mut out,
        &Value::Struct(vec![
            ("faultCode".into(), Value::Int(code)),
            ("faultString".into(), Value::Str(message.to_owned())),
        ]),
    );
    out.push_str("</fault></methodResponse>\n");
    xml_response(out)
}

const METHODS: &[&str] = &["plugin.upload", "plugin.tags", "system.listMethods"];

/// Largest body read from a caller without credentials (`plugin.tags`,
/// `system.listMethods`); anything larger is an upload, which needs HTTP Basic.
pub(crate) const ANONYMOUS_BODY_BYTES: u64 = 64 * 1024;

/// The caller authenticated before the body was read (a request extension set by `server`).
#[derive(Clone)]
pub(crate) struct Caller(pub catalog::accounts::User);

fn unauthorized() -> ApiError {
    ApiError::BasicUnauthorized(
        "Authentication required: send HTTP Basic credentials (https://user:password@host/plugins/RPC2/)."
            .into(),
    )
}

/// The caller named by HTTP Basic, checked before anything reads the body: `None` without
/// credentials, 401 for wrong or unusable ones, 403 for a blocked account.
pub(crate) async fn authenticate(
    app: &App,
    headers: &hyper::HeaderMap,
) -> Result<Option<catalog::accounts::User>, ApiError> {
    match auth::credentials(headers) {
        Credentials::None => Ok(None),
        Credentials::Basic { .. } => match basic_user(app, headers).await? {
            BasicAuth::Ok(user) => Ok(Some(user)),
            BasicAuth::Blocked => Err(ApiError::Forbidden("This account is blocked.".into())),
            BasicAuth::Missing | BasicAuth::Wrong => Err(unauthorized()),
        },
        Credentials::Bearer(_) | Credentials::Malformed => Err(unauthorized()),
    }
}

/// The 401 of a caller without credentials whose body is larger than a method call.
pub(crate) fn anonymous_too_large() -> ApiError {
    unauthorized()
}

/// `POST /plugins/RPC2/`.
pub(crate) async fn handle(app: &App, req: &Request<Bytes>) -> ApiResult {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let caller = match req.extensions().get::<Caller>() {
        Some(Caller(user)) => Some(user.clone()),
        None => authenticate(app, req.headers()).await?,
    };
    if caller.is_none() && req.body().len() as u64 > ANONYMOUS_BODY_BYTES {
        return Err(anonymous_too_large());
    }
    let (method, params) = match parse_call(req.body()) {
        Ok(call) => call,
        Err(e) => return Ok(fault(1, &format!("Malformed XML-RPC request: {e}"))),
    };
    match method.as_str() {
        "plugin.upload" => upload_method(app, caller, params).await,
        "plugin.tags" => {
            let tags = app
                .db(|conn| catalog::tags::all_tag_names(conn).map_err(ServiceError::from))
                .await?;
            Ok(success(&Value::Array(tags.into_iter().map(Value::Str).collect())))
        }
        "system.listMethods" => Ok(success(&Value::Array(
            METHODS.iter().map(|m| Value::Str((*m).to_owned())).collect(),
        ))),
        other => Ok(fault(1, &format!("Method `{other}` is not supported."))),
    }
}

async fn upload_method(
    app: &App,
    caller: Option<catalog::accounts::User>,
    params: Vec<Value>,
) -> ApiResult {
    let Some(user) = caller else { return Err(unauthorized()) };
    if params.len() > 2 {
        return Ok(fault(1, "plugin.upload takes one or two parameters."));
    }
    let zip = match params.into_iter().next() {
        Some(Value::Base64(bytes)) => Bytes::from(bytes),
        Some(Value::Str(s)) => match decode_base64(&s) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => return Ok(fault(1, &e)),
        },
        _ => {
            return Ok(fault(
                1,
                "plugin.upload expects the plugin zip as its first parameter (base64).",
            ));
        }
    };
    let request = UploadRequest {
        zip,
        actor: user,
        target: Target::AddOrCreate,
        token_id: None,
        changelog: None,
        via: UploadVia::XmlRpc,
    };
    match uploads::perform(app, request).await {
        Ok(o) => Ok(success(&Value::Array(vec![
            Value::Int(o.plugin_id.get()),
            Value::Int(o.version_id.get()),
        ]))),
        Err(UploadError::Invalid(r)) => {
            let messages: Vec<String> = r.errors.iter().map(problem_text).collect();
            Ok(fault(
                1,
                &format!(
                    "File upload must be a valid QGIS Python plugin compressed archive. {}",
                    messages.join(",")
                ),
            ))
        }
        // An HTTP 429 with `Retry-After` rather than a fault: clients back off on it.
        Err(UploadError::Service(e @ ServiceError::Throttled(_))) => Err(e.into()),
        Err(UploadError::Service(e)) if e.is_server_error() => {
            let e = ApiError::from(e);
            let text = e.detail();
            drop(e.into_response());
            Ok(fault(1, &text))
        }
        Err(e) => Ok(fault(1, &error_messages(e).join(" "))),
    }
}
