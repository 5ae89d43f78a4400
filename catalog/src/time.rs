//! Timestamps as the catalog stores them: RFC 3339 UTC text with microseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// The current time as stored in the catalog.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_time(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}
