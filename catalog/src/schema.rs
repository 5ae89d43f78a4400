//! The schema: opening a catalog and bringing it up to date with the migrations.
//!
//! Connections run in WAL mode with `synchronous=FULL` and foreign keys on (decisions §7).
//! Migrations are append-only files in `catalog/migrations/`, applied in order inside one
//! exclusive transaction and counted in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// Every migration, in order. Never remove or reorder an entry; append new ones.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../migrations/0001_initial.sql")),
    ("0002_downloads", include_str!("../migrations/0002_downloads.sql")),
    ("0003_version_metadata", include_str!("../migrations/0003_version_metadata.sql")),
    ("0004_review_binding", include_str!("../migrations/0004_review_binding.sql")),
    ("0005_sessions", include_str!("../migrations/0005_sessions.sql")),
    ("0006_checks", include_str!("../migrations/0006_checks.sql")),
];

/// File name of the catalog inside the data dir.
pub const DB_FILE: &str = "catalog.sqlite3";

/// Opens (creating if needed) the catalog in `data_dir` and brings its schema up to date.
pub fn open(data_dir: &Path) -> Result<Connection> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("failed to create data dir `{}`", data_dir.display()))?;
    let path = data_dir.join(DB_FILE);
    let mut conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("failed to open catalog `{}`", path.display()))?;
    configure(&conn).with_context(|| format!("failed to configure `{}`", path.display()))?;
    migrate(&mut conn).with_context(|| format!("failed to migrate `{}`", path.display()))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let applied: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    anyhow::ensure!(
        applied <= MIGRATIONS.len(),
        "the catalog has schema version {applied}, newer than this program knows ({}); upgrade the program",
        MIGRATIONS.len()
    );
    for (name, sql) in &MIGRATIONS[applied..] {
        tx.execute_batch(sql).with_context(|| format!("migration {name} failed"))?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
