-- The web workplace (issue 14): browser sessions and staff invitations. Neither table holds
-- a secret: only the SHA-256 of the random value the browser or the invitee holds.

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,                  -- sha256 hex of the cookie value
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_on   TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    last_seen_on TEXT NOT NULL,
    revoked_on   TEXT                                   -- NULL: live (until expires_on)
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,                  -- sha256 hex of the link's token
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by   INTEGER NOT NULL REFERENCES users(id),
    created_on   TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    used_on      TEXT                                   -- NULL: not used yet
) STRICT;
