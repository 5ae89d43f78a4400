-- The whole data model of reference.md §1. Append-only: later changes go in new files.
-- Times are UTC text, RFC 3339 with microseconds ("2024-02-20T10:27:30.123456Z").

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    password_hash TEXT,                                 -- argon2id PHC string; NULL: cannot log in
    is_active     INTEGER NOT NULL DEFAULT 1,           -- 0 = blocked
    is_staff      INTEGER NOT NULL DEFAULT 0,
    is_superuser  INTEGER NOT NULL DEFAULT 0,
    can_approve   INTEGER NOT NULL DEFAULT 0,           -- "trusted"
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE plugins (
    id                 INTEGER PRIMARY KEY,
    package_name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name               TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_on         TEXT NOT NULL,
    modified_on        TEXT NOT NULL,
    created_by         INTEGER NOT NULL REFERENCES users(id),
    maintainer         INTEGER REFERENCES users(id),
    display_created_by INTEGER NOT NULL DEFAULT 0,
    author             TEXT NOT NULL,
    email              TEXT NOT NULL,
    homepage           TEXT,
    repository         TEXT,
    tracker            TEXT,
    description        TEXT NOT NULL,
    about              TEXT NOT NULL DEFAULT '',
    allow_update_name  INTEGER NOT NULL DEFAULT 0,
    downloads          INTEGER NOT NULL DEFAULT 0,
    featured           INTEGER NOT NULL DEFAULT 0,
    deprecated         INTEGER NOT NULL DEFAULT 0,
    server             INTEGER NOT NULL DEFAULT 0,
    is_deleted         INTEGER NOT NULL DEFAULT 0,
    deleted_on         TEXT,
    rating_votes       INTEGER NOT NULL DEFAULT 0,
    rating_score       INTEGER NOT NULL DEFAULT 0,
    -- Bumped by every write that changes what the plugin's pages show; incremental builds
    -- compare it with the revision they last rendered.
    revision           INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE plugin_owners (
    plugin_id INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (plugin_id, user_id)
) STRICT;
CREATE INDEX plugin_owners_user ON plugin_owners(user_id);

CREATE TABLE tags (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE plugin_tags (
    plugin_id INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    tag_id    INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (plugin_id, tag_id)
) STRICT;
CREATE INDEX plugin_tags_tag ON plugin_tags(tag_id);

-- Per-plugin upload tokens (decisions §6): only a hash of the token is kept.
CREATE TABLE upload_tokens (
    id           INTEGER PRIMARY KEY,
    jti          TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL,
    plugin_id    INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX upload_tokens_plugin ON upload_tokens(plugin_id);

CREATE TABLE plugin_versions (
    id                INTEGER PRIMARY KEY,
    plugin_id         INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    version           TEXT NOT NULL,                    -- as written by the author (cleaned)
    version_key       TEXT NOT NULL,                    -- reference §1.4 padded key
    created_on        TEXT NOT NULL,
    created_by        INTEGER REFERENCES users(id),     -- uploader (token uploads: token's user)
    min_qgis          TEXT NOT NULL,                    -- QGIS key, e.g. 003.016.000
    max_qgis          TEXT NOT NULL,
    changelog         TEXT NOT NULL DEFAULT '',
    experimental      INTEGER NOT NULL DEFAULT 0,
    approved          INTEGER NOT NULL DEFAULT 0,
    approved_by       INTEGER REFERENCES users(id),
    approved_on       TEXT,
    external_deps     TEXT NOT NULL DEFAULT '',
    is_from_token     INTEGER NOT NULL DEFAULT 0,
    token_id          INTEGER REFERENCES upload_tokens(id) ON DELETE SET NULL,
    validation_status TEXT NOT NULL DEFAULT 'validated',
    package_path      TEXT NOT NULL UNIQUE,             -- relative to the data dir
    package_sha256    TEXT NOT NULL,
    package_size      INTEGER NOT NULL,
    icon              BLOB,                             -- icon bytes from the zip, if any
    icon_ext          TEXT,                             -- png, svg, jpg, gif, webp
    downloads         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (plugin_id, version_key)
) STRICT;
CREATE INDEX plugin_versions_approved ON plugin_versions(plugin_id, approved);

-- Downloads per version and UTC day (reference §1.7, without the country split).
CREATE TABLE version_downloads (
    version_id INTEGER NOT NULL REFERENCES plugin_versions(id) ON DELETE CASCADE,
    day        TEXT NOT NULL,                           -- YYYY-MM-DD
    count      INTEGER NOT NULL,
    PRIMARY KEY (version_id, day)
) STRICT;

-- Individual votes behind plugins.rating_votes / rating_score (reference §1.8).
CREATE TABLE plugin_votes (
    plugin_id INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    voter     TEXT NOT NULL,                            -- user id or anonymous cookie hash
    score     INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    voted_at  TEXT NOT NULL,
    PRIMARY KEY (plugin_id, voter)
) STRICT;

-- Who did what: approvals, trust changes, deletions (kept for audits).
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action    TEXT NOT NULL,
    plugin_id INTEGER,
    detail    TEXT NOT NULL DEFAULT ''
) STRICT;

-- The QGIS versions plugins.xml is generated for (reference §4.7) and the labels.
INSERT INTO settings (key, value) VALUES
    ('qgis_versions', '1.8,2.18,2.99,3.44,4.0'),
    ('qgis_latest', '3.44'),
    ('qgis_stable', '3.44'),
    ('qgis_ltr', '3.40');
