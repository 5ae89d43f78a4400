-- Approval binds to bytes (decisions §9): reviewers see whether a version's zip was replaced
-- since it was first uploaded. NULL: never replaced; else when the last replacement was
-- committed (`…/version/<v>/update/`).
ALTER TABLE plugin_versions ADD COLUMN replaced_on TEXT;
