//! The authors' pages: `/plugins/my`, the upload forms (`/plugins/add/`, a plugin's
//! `version/add/` and `version/<v>/update/`), version deletion, and the plugin's settings,
//! deletion and restoration.

use bytes::Bytes;
use hyper::Request;

use super::{PageError, PageResult, Visitor};
use crate::app::App;

fn unbuilt() -> PageError {
    PageError::not_found("This page is not built yet.")
}

pub(crate) async fn my_plugins(_app: &App, _v: &Visitor, _req: &Request<Bytes>) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn add_plugin(_app: &App, _v: &Visitor, _req: &Request<Bytes>) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn plugin_update(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn plugin_delete(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn plugin_restore(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn version_add(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn version_update(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _version: &str,
) -> PageResult {
    Err(unbuilt())
}

pub(crate) async fn version_delete(
    _app: &App,
    _v: &Visitor,
    _req: &Request<Bytes>,
    _package: &str,
    _version: &str,
) -> PageResult {
    Err(unbuilt())
}
