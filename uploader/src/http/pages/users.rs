//! Staff's page of a user (`/plugins/user/<u>/admin`) and its trust / block actions.

use bytes::Bytes;
use hyper::Request;

use super::{PageError, PageResult, Visitor};
use crate::app::App;
use crate::services::accounts::UserAction;

fn unbuilt() -> PageError {
    PageError::not_found("This page is not built yet.")
}

pub(crate) async fn admin(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _username: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn action(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _username: &str,
    _action: UserAction,
) -> PageResult {
    Err(unbuilt())
}
