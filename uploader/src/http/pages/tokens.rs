//! A plugin's upload tokens in the browser (reference §5.7): list, create (shown once),
//! edit the description, revoke.

use bytes::Bytes;
use hyper::Request;

use catalog::ids::TokenId;

use super::{PageError, PageResult, Visitor};
use crate::app::App;

fn unbuilt() -> PageError {
    PageError::not_found("This page is not built yet.")
}

pub(crate) async fn list(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn create(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn show(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _id: Option<TokenId>,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn update(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _id: Option<TokenId>,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn delete(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _id: Option<TokenId>,
) -> PageResult {
    Err(unbuilt())
}
