//! End-to-end tests: the generated site served by the real nginx with our configuration,
//! and QGIS's own plugin installer (Debian `python3-qgis`) fetching and installing from it.
//! Missing nginx or QGIS make these tests fail with the command that installs them.

mod abuse;
mod check_scan;
mod downloads;
mod feedback;
mod icons;
mod mail;
mod nginx_conf;
mod qgis;
mod review_gate;
mod review_metadata;
mod scan_service;
mod scan_web;
mod serve;
mod site;
mod support;
mod upload_e2e;
mod url_map;
mod versions;
mod workplace_accounts;
mod workplace_author;
mod workplace_browser;
mod workplace_review;
mod workplace_routes;
mod workplace_tokens;
