//! Library of the uploader.
pub mod app;
pub mod auth;
pub mod change_throttle;
pub mod check;
pub mod cli;
pub mod config;
pub mod downloads;
pub mod error;
pub mod login_throttle;
pub mod rebuild;
pub mod routes;
pub mod server;
pub mod validate;
