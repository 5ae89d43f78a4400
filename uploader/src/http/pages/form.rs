//! Submitted forms: `application/x-www-form-urlencoded` bodies parsed into name/value pairs.

use bytes::Bytes;
use hyper::Request;
use hyper::header::CONTENT_TYPE;

/// A submitted form's fields, in order (a name may repeat).
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Parses an urlencoded body; `None` when the body is another type.
    pub(crate) fn parse(req: &Request<Bytes>) -> Option<Self> {
        let ctype = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ctype.split(';').next().unwrap_or("").trim();
        if !(mime.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || (mime.is_empty() && req.body().is_empty()))
        {
            return None;
        }
        Some(Self::from_urlencoded(req.body()))
    }

    fn from_urlencoded(body: &[u8]) -> Self {
        Form { fields: form_urlencoded::parse(body).into_owned().collect() }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "".
    pub(crate) fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }

    /// Whether `name` was sent (a ticked checkbox, a named button).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_and_keeps_the_first_of_repeats() {
        let f = Form::from_urlencoded(b"a=x+y&b=%C3%A9%26&a=2&flag=");
        assert_eq!(f.get("a"), Some("x y"));
        assert_eq!(f.get("b"), Some("é&"));
        assert!(f.has("flag") && !f.has("c"));
    }
}
