//! Download statistics: per plugin, downloads per day (last `STATS_DAYS` days) and per
//! version as inline SVG charts (no JavaScript) and as JSON; a site-wide top list.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use tera::Context as TeraContext;

use super::input::{RenderInput, render};
use super::links::{plugin_page, version_page};
use crate::escape::esc;
use crate::urls;
use catalog::model::{Plugin, STATS_DAYS};

/// Every day of the window with its count (zero where nothing was downloaded).
fn window(p: &Plugin, now: DateTime<Utc>) -> Vec<(String, i64)> {
    let counts: HashMap<&str, i64> =
        p.daily_downloads.iter().map(|(d, c)| (d.as_str(), *c)).collect();
    (0..STATS_DAYS)
        .rev()
        .map(|back| {
            let day = (now - Duration::days(back)).format("%Y-%m-%d").to_string();
            let c = counts.get(day.as_str()).copied().unwrap_or(0);
            (day, c)
        })
        .collect()
}

/// A bar chart: one bar per (label, value), with an accessible title and a text summary.
fn bar_chart(title: &str, bars: &[(String, i64)], width: u32, height: u32) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = bars.len().max(1) as f64;
    let slot = f64::from(width) / n;
    let bar_w = (slot * 0.8).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {h}\" width=\"100%\" role=\"img\" aria-label=\"{t}\" class=\"chart\"><title>{t}</title>",
        h = height + 20,
        t = esc(title)
    );
    let _ =
        write!(s, "<line x1=\"0\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" class=\"axis\"/>");
    for (i, (label, value)) in bars.iter().enumerate() {
        let h = (*value as f64 / max as f64) * f64::from(height - 4);
        let x = i as f64 * slot + (slot - bar_w) / 2.0;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"><title>{l}: {value}</title></rect>",
            y = f64::from(height) - h,
            l = esc(label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"0\" y=\"{}\">{}</text>",
        height + 16,
        esc(bars.first().map(|b| b.0.as_str()).unwrap_or(""))
    );
    let _ = write!(
        s,
        "<text x=\"{width}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        height + 16,
        esc(bars.last().map(|b| b.0.as_str()).unwrap_or(""))
    );
    let _ = write!(s, "<text x=\"2\" y=\"12\">max {max}</text></svg>");
    s
}

#[derive(Serialize)]
struct VersionRow<'a> {
    version: &'a str,
    downloads: i64,
    url: String,
}

/// `stats.html` and `stats.json` of a plugin's tree (`/plugins/<pkg>/stats/`, `.../json`).
pub(super) fn plugin_stats(input: &RenderInput<'_>, p: &Plugin) -> Result<Vec<(String, Vec<u8>)>> {
    let days = window(p, input.now);
    let last_30: i64 = days.iter().rev().take(30).map(|d| d.1).sum();
    let versions: Vec<VersionRow<'_>> = p
        .versions
        .iter()
        .map(|v| VersionRow {
            version: v.version.as_str(),
            downloads: v.downloads,
            url: version_page(p, v),
        })
        .collect();
    let by_version: Vec<(String, i64)> =
        p.versions.iter().rev().map(|v| (v.version.as_str().to_owned(), v.downloads)).collect();
    let mut ctx = TeraContext::new();
    ctx.insert("name", &p.name);
    ctx.insert("url", &plugin_page(p));
    ctx.insert("total", &p.downloads);
    ctx.insert("last_30", &last_30);
    ctx.insert("days", &STATS_DAYS);
    ctx.insert(
        "daily_svg",
        &bar_chart(&format!("Downloads per day, last {STATS_DAYS} days"), &days, 720, 160),
    );
    ctx.insert("versions_svg", &bar_chart("Downloads per version", &by_version, 720, 160));
    ctx.insert("versions", &versions);
    ctx.insert("json_url", &urls::plugin_stats_json(p.package.as_str()));
    let html = render(input, "stats.html", &ctx)?;
    let doc = json!({
        "package_name": p.package.as_str(),
        "downloads": p.downloads,
        "per_day": days.iter().map(|(d, c)| json!({"day": d, "downloads": c})).collect::<Vec<_>>(),
        "per_version": p.versions.iter().map(|v| json!({"version": v.version.as_str(), "downloads": v.downloads})).collect::<Vec<_>>(),
    });
    let mut json = serde_json::to_vec_pretty(&doc)?;
    json.push(b'\n');
    Ok(vec![(urls::TREE_STATS_HTML.into(), html), (urls::TREE_STATS_JSON.into(), json)])
}

#[derive(Serialize)]
struct TopRow<'a> {
    rank: usize,
    name: &'a str,
    url: String,
    downloads: i64,
    recent: i64,
}

/// `plugins/stats/index.html` and `plugins/stats/json`: the most downloaded plugins, in total
/// and over the last 30 days.
pub(super) fn site_stats(input: &RenderInput<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    let since = (input.now - Duration::days(30)).format("%Y-%m-%d").to_string();
    let recent = |p: &Plugin| -> i64 {
        p.daily_downloads.iter().filter(|(d, _)| *d >= since).map(|d| d.1).sum()
    };
    let mut plugins: Vec<&Plugin> = input.catalog.plugins.iter().collect();
    fn row<'a>(i: usize, p: &'a Plugin, recent: i64) -> TopRow<'a> {
        TopRow {
            rank: i + 1,
            name: p.name.as_str(),
            url: plugin_page(p),
            downloads: p.downloads,
            recent,
        }
    }
    plugins.sort_by_key(|p| (std::cmp::Reverse(p.downloads), p.id));
    let total: Vec<TopRow<'_>> =
        plugins.iter().take(50).enumerate().map(|(i, p)| row(i, p, recent(p))).collect();
    plugins.sort_by_key(|p| (std::cmp::Reverse(recent(p)), p.id));
    let month: Vec<TopRow<'_>> =
        plugins.iter().take(50).enumerate().map(|(i, p)| row(i, p, recent(p))).collect();
    let mut ctx = TeraContext::new();
    ctx.insert("total", &total);
    ctx.insert("month", &month);
    let html = render(input, "top.html", &ctx)?;
    let doc = json!({
        "total": total.iter().map(|r| json!({"name": r.name, "url": r.url, "downloads": r.downloads})).collect::<Vec<_>>(),
        "last_30_days": month.iter().map(|r| json!({"name": r.name, "url": r.url, "downloads": r.recent})).collect::<Vec<_>>(),
    });
    let mut json = serde_json::to_vec_pretty(&doc)?;
    json.push(b'\n');
    Ok(vec![(urls::SITE_STATS_PAGE.into(), html), (urls::SITE_STATS_JSON.into(), json)])
}
