//! The automated checks on the review page (`_checks.html`, context key `checks`) and their
//! forms: rescan (editors and staff), override a block (staff, with a reason), add or remove
//! a waiver (editors). Each is a CSRF-checked POST calling `services::scans` that redirects
//! back to the review page with a flash; a GET goes to the review page.

use bytes::Bytes;
use hyper::Request;
use serde::Serialize;

use catalog::accounts::User;
use catalog::versions::VersionRow;
use generator::urls;

use super::{PageResult, Visitor, checked_form, is_post, redirect, redirect_with, review_path};
use crate::app::App;
use crate::services::ServiceResult;
use crate::services::scans::{self, ChecksView, WaiverInput, WaiverKey};

/// The review page's `checks`: the scan's view plus the forms' targets.
#[derive(Serialize)]
pub(crate) struct ChecksPage {
    #[serde(flatten)]
    view: ChecksView,
    /// The version the forms come back to.
    version: String,
    rescan_url: String,
    override_url: String,
    waivers_url: String,
}

/// `/plugins/<pkg>/waivers/`.
fn waivers_path(package: &str) -> String {
    format!("{}waivers/", urls::plugin_page(package))
}

/// Where a checks form returns: the checks section of the review page.
fn back(package: &str, version: &str) -> String {
    format!("{}#checks", review_path(package, version))
}

/// The review page's `checks` for `user`.
pub(crate) async fn context(
    app: &App,
    user: User,
    package: &str,
    row: &VersionRow,
) -> ServiceResult<ChecksPage> {
    let view = scans::checks_view(app, user, row).await?;
    let page = urls::version_page(package, &row.version);
    Ok(ChecksPage {
        view,
        version: row.version.clone(),
        rescan_url: format!("{page}rescan/"),
        override_url: format!("{page}override/"),
        waivers_url: waivers_path(package),
    })
}

/// `/plugins/<pkg>/version/<v>/rescan/` (POST, editors and staff).
pub(crate) async fn rescan(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        return Ok(redirect(&back(package, version)));
    }
    checked_form(app, v, req)?;
    scans::rescan(app, user, package, version).await?;
    let text =
        "A new scan of this version is queued: refresh the page in a minute for its results.";
    Ok(redirect_with(app, &back(package, version), text))
}

/// `/plugins/<pkg>/version/<v>/override/` (POST `reason`, staff).
pub(crate) async fn override_block(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        return Ok(redirect(&back(package, version)));
    }
    let form = checked_form(app, v, req)?;
    scans::override_block(app, user, package, version, form.text("reason")).await?;
    let text = "The block is lifted: the version counts as checked and may be approved. \
                Its findings stay listed with your reason.";
    Ok(redirect_with(app, &back(package, version), text))
}

/// What a waiver form asks.
enum WaiverAction {
    Add,
    Remove,
}

/// `/plugins/<pkg>/waivers/` (POST `action` add|remove, `rule`, `file`, `reason`, and the
/// `version` whose review page the form sits on).
pub(crate) async fn waivers(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        return Ok(redirect(&urls::plugin_page(package)));
    }
    let form = checked_form(app, v, req)?;
    let action = match form.text("action") {
        "remove" => WaiverAction::Remove,
        _ => WaiverAction::Add,
    };
    let (rule, file) = (form.text("rule").to_owned(), Some(form.text("file").to_owned()));
    let text = match action {
        WaiverAction::Add => {
            let input = WaiverInput { rule, file, reason: form.text("reason").to_owned() };
            let w = scans::add_waiver(app, user, package, input).await?;
            format!("Rule {} is waived with your reason; later scans list it as waived.", w.rule)
        }
        WaiverAction::Remove => {
            scans::remove_waiver(app, user, package, WaiverKey { rule: rule.clone(), file })
                .await?;
            format!("The waiver of rule {rule} is removed.")
        }
    };
    let to = match form.text("version") {
        "" => urls::plugin_page(package),
        version => back(package, version),
    };
    Ok(redirect_with(app, &to, &text))
}

#[cfg(test)]
#[path = "tests_checks.rs"]
mod tests_checks;
