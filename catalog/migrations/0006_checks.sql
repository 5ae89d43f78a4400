-- Automated checks, reviewer feedback and mail (issue 15).
-- plugin_versions.validation_status (0001) is the scan's state: validating, validated,
-- incomplete, blocked. New uploads start as 'validating'; the scan worker finishes them.

-- The latest scan of a version's current bytes (a replacement of the zip queues a new one).
CREATE TABLE scans (
    version_id      INTEGER PRIMARY KEY REFERENCES plugin_versions(id) ON DELETE CASCADE,
    sha256          TEXT NOT NULL,                   -- the bytes this scan is about
    queued_on       TEXT NOT NULL,
    started_on      TEXT,
    finished_on     TEXT,                            -- NULL: queued or running
    attempts        INTEGER NOT NULL DEFAULT 0,      -- runs that ended incomplete, retried
    tools           TEXT NOT NULL DEFAULT '[]',      -- JSON: each tool's version and outcome
    qgis4_ready     INTEGER,                         -- NULL until finished
    override_by     INTEGER REFERENCES users(id),    -- staff who lifted a block, and why
    override_on     TEXT,
    override_reason TEXT
) STRICT;
CREATE INDEX scans_pending ON scans(finished_on, queued_on);

-- What the last finished scan found. Severity and waivability are copied from the rule
-- table at scan time, so history does not change when the table does.
CREATE TABLE scan_findings (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES plugin_versions(id) ON DELETE CASCADE,
    rule       TEXT NOT NULL,                        -- e.g. B602, AWSKeyDetector, FILE_BINARY
    tool       TEXT NOT NULL,                        -- bandit, detect-secrets, files, qt6
    severity   TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    waivable   INTEGER NOT NULL,
    file       TEXT NOT NULL,                        -- path inside the zip ('' for the package)
    line       INTEGER,
    message    TEXT NOT NULL,
    vendored   INTEGER NOT NULL DEFAULT 0            -- under a folder the authors declared
) STRICT;
CREATE INDEX scan_findings_version ON scan_findings(version_id);

-- An author's waiver of a waivable rule, for one file or ('' ) the whole plugin; it lasts
-- across versions and is shown to reviewers with its reason.
CREATE TABLE scan_waivers (
    plugin_id  INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    rule       TEXT NOT NULL,
    file       TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_on TEXT NOT NULL,
    PRIMARY KEY (plugin_id, rule, file)
) STRICT;

-- Folders of third-party code the authors bundle (e.g. `ext_libs`): findings there are
-- listed apart.
CREATE TABLE vendored_dirs (
    plugin_id INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,                         -- relative to the plugin folder, no slashes at the ends
    PRIMARY KEY (plugin_id, path)
) STRICT;

-- Reviewer feedback (reference §5.4): one row per task.
CREATE TABLE feedback_tasks (
    id           INTEGER PRIMARY KEY,
    version_id   INTEGER NOT NULL REFERENCES plugin_versions(id) ON DELETE CASCADE,
    reviewer_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    task         TEXT NOT NULL,
    created_on   TEXT NOT NULL,
    modified_on  TEXT NOT NULL,
    completed_on TEXT,
    completed_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    answer       TEXT NOT NULL DEFAULT '',           -- the author's reply
    answered_on  TEXT
) STRICT;
CREATE INDEX feedback_tasks_version ON feedback_tasks(version_id);

-- Mail to send, written in the same transaction as the event it tells of. The message is
-- composed at that moment (its Message-ID too), so a resend after a crash is the same mail.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,            -- without the angle brackets
    event           TEXT NOT NULL,                   -- MailKind code
    recipients      TEXT NOT NULL,                   -- JSON array of addresses
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_on      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_on TEXT NOT NULL,
    last_error      TEXT,
    sent_on         TEXT                             -- NULL: still to send
) STRICT;
CREATE INDEX outbox_due ON outbox(sent_on, next_attempt_on);

-- Staff in the review notification group (reference §3.8) get "new plugin" and "ready for
-- review" mails.
ALTER TABLE users ADD COLUMN review_mail INTEGER NOT NULL DEFAULT 0;
-- Where an invitation was mailed ('' : the link was only shown to the inviting staff).
ALTER TABLE invitations ADD COLUMN email TEXT NOT NULL DEFAULT '';
