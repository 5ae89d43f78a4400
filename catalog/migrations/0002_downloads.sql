-- Download counting from nginx's downloads log (issue 7): how far each log file has been
-- counted. Committed in the same transaction as the counts it covers (exactly once).
CREATE TABLE download_log_state (
    path       TEXT PRIMARY KEY,                        -- the log path as configured
    inode      INTEGER NOT NULL,                        -- file the offset belongs to
    offset     INTEGER NOT NULL,                        -- bytes counted (always after a '\n')
    updated_at TEXT NOT NULL
) STRICT;
