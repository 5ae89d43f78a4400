//! The catalog: the SQLite schema and its migrations, **every** SQL statement of the
//! workspace (one module per resource), the identifier newtypes, the public model the
//! renderer sees, and the zip store's layout and hashing. `generator` and `uploader` both
//! build on it; it depends on neither.
//!
//! Dependency direction inside the crate (no module imports one that imports it back):
//! `public → settings`, `review → plugins, metadata, feedback`, `versions → plugins, metadata, tags`,
//! `tags → plugins, metadata`, `metadata → plugins`; every statement module → `time`,
//! `names`, `model`; `store → versions, fsutil, hash`.

pub mod accounts;
pub mod checks;
pub mod downloads;
pub mod events;
pub mod feedback;
pub mod fsutil;
pub mod hash;
pub mod ids;
pub mod metadata;
pub mod model;
pub mod names;
pub mod outbox;
pub mod plugins;
pub mod public;
pub mod review;
mod schema;
pub mod seed;
pub mod sessions;
mod settings;
pub mod store;
pub mod tags;
pub mod time;
pub mod tokens;
pub mod versions;

pub use schema::{DB_FILE, open};
