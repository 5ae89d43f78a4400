//! The reviewers' pages: the queue (`/plugins/unapproved/`), a pending version's review page
//! with the diff against the newest approved version, and approve / unapprove.

use bytes::Bytes;
use hyper::Request;

use super::{PageError, PageResult, Visitor};
use crate::app::App;

fn unbuilt() -> PageError {
    PageError::not_found("This page is not built yet.")
}

pub(crate) async fn queue(_app: &App, _v: &Visitor, _req: &Request<Bytes>) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn review(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _version: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn set_approval(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _version: &str,
    _approve: bool,
) -> PageResult {
    Err(unbuilt())
}
