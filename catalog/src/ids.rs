//! Row identifiers: one newtype per table key, so a plugin id cannot be passed where a user
//! id is expected. Each stays a plain integer in SQL, in JSON and in URLs.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Defines an `i64` row-id newtype with SQL, serde (a bare number) and `Display` support.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The integer the database stores.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }

        impl From<$name> for rusqlite::types::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }
    };
}

row_id!(
    /// `users.id`.
    UserId
);
row_id!(
    /// `plugins.id`.
    PluginId
);
row_id!(
    /// `plugin_versions.id`.
    VersionId
);
row_id!(
    /// `upload_tokens.id`.
    TokenId
);
row_id!(
    /// `sessions.id`.
    SessionId
);
row_id!(
    /// `feedback_tasks.id`.
    TaskId
);
row_id!(
    /// `outbox.id`.
    MailId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_a_bare_number() {
        assert_eq!(serde_json::to_string(&PluginId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<TokenId>("12").unwrap(), TokenId(12));
    }

    #[test]
    fn sql_round_trip() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let id: UserId = conn.query_row("SELECT ?1", [UserId(42)], |r| r.get(0)).unwrap();
        assert_eq!(id, UserId(42));
    }

    #[test]
    fn displays_as_the_number() {
        assert_eq!(VersionId(3).to_string(), "3");
    }
}
