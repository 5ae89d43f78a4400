-- Public metadata belongs to versions (issue: metadata bypasses review). Every version keeps
-- its own copy of each metadata.txt field that reaches public output; the public plugin is
-- derived from its newest approved version, so an unapproved upload changes nothing public.
-- The `plugins` row keeps the editors' settings (owners, maintainer, deprecated) and a
-- mirror of the public metadata (its UNIQUE `name` is the public display name), rewritten
-- only when the set of approved versions changes.

ALTER TABLE plugin_versions ADD COLUMN name TEXT NOT NULL DEFAULT '' COLLATE NOCASE;
ALTER TABLE plugin_versions ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_versions ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_versions ADD COLUMN homepage TEXT;
ALTER TABLE plugin_versions ADD COLUMN repository TEXT;
ALTER TABLE plugin_versions ADD COLUMN tracker TEXT;
ALTER TABLE plugin_versions ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_versions ADD COLUMN about TEXT NOT NULL DEFAULT '';
-- `deprecated=True` in this version's metadata.txt (the public flag is this OR the
-- editors' `plugins.deprecated`).
ALTER TABLE plugin_versions ADD COLUMN meta_deprecated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_versions ADD COLUMN server INTEGER NOT NULL DEFAULT 0;

-- Display names are reserved across plugins by every version that carries them.
CREATE INDEX plugin_versions_name ON plugin_versions(name);

-- A version's tags, in metadata order.
CREATE TABLE version_tags (
    version_id INTEGER NOT NULL REFERENCES plugin_versions(id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (version_id, tag_id)
) STRICT;
CREATE INDEX version_tags_tag ON version_tags(tag_id);

-- Backfill: every existing version gets its plugin's current values and tags. The metadata
-- flag starts false: `plugins.deprecated` already holds the merged flag, so the public value
-- (plugin flag OR version flag) is unchanged.
UPDATE plugin_versions SET
    name        = (SELECT p.name FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    author      = (SELECT p.author FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    email       = (SELECT p.email FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    homepage    = (SELECT p.homepage FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    repository  = (SELECT p.repository FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    tracker     = (SELECT p.tracker FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    description = (SELECT p.description FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    about       = (SELECT p.about FROM plugins p WHERE p.id = plugin_versions.plugin_id),
    server      = (SELECT p.server FROM plugins p WHERE p.id = plugin_versions.plugin_id);

INSERT INTO version_tags (version_id, tag_id, position)
    SELECT v.id, pt.tag_id, pt.position
    FROM plugin_versions v JOIN plugin_tags pt ON pt.plugin_id = v.plugin_id;
