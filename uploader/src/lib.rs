//! Library of the uploader: the HTTP edge (`http`) over the domain services (`services`)
//! over the catalog crate; `app` is the state both share, `cli` the subcommands;
//! `validate` and `review_diff` are pure (bytes in, typed results out).
pub mod app;
pub mod auth;
mod change_throttle;
pub mod check;
pub mod cli;
pub mod config;
pub mod downloads;
pub mod http;
mod login_throttle;
pub mod mail;
mod memory;
pub mod rebuild;
pub mod review_diff;
pub mod scan;
pub mod scan_worker;
pub mod services;
pub mod validate;
