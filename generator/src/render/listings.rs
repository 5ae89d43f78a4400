//! Site-wide HTML: the home page, every list page of reference §5.1 (pre-rendered in pages of
//! 20, in the default order and in each alternative order), tags with a tag cloud, authors,
//! users, the search page and the docs pages.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use anyhow::{Context as _, Result};
use chrono::Duration;
use rayon::prelude::*;
use serde::Serialize;
use tera::Context as TeraContext;

use super::input::{RenderInput, memo, render, render_memo};
use super::links::{icon_url, plugin_page, version_download};
use crate::plan::Content;
use crate::urls::{self, ListFiles, NamedKind};
use catalog::ids::PluginId;
use catalog::model::Plugin;

/// Plugins per list page (the reference's default `per_page`).
pub const PAGE_SIZE: usize = 20;
/// "New" and "Updated" lists cover this many days (reference `PLUGINS_FRESH_DAYS`).
pub const FRESH_DAYS: i64 = 30;
/// Tags used by fewer plugins are left out of the cloud (reference `TAGCLOUD_COUNT_GTE`).
pub const TAGCLOUD_MIN: usize = 3;

/// Pages as (site path, content).
type Pages = Vec<(String, Content)>;

/// A plugin as list pages show it.
#[derive(Serialize)]
pub(super) struct Card<'a> {
    package: &'a str,
    name: &'a str,
    url: String,
    description: &'a str,
    author: &'a str,
    author_url: Option<String>,
    downloads: i64,
    deprecated: bool,
    server: bool,
    qgis4_ready: bool,
    icon: Option<String>,
    latest_date: String,
    created_on: String,
    stable: Option<&'a str>,
    experimental: Option<&'a str>,
    download_url: Option<String>,
    rating_votes: i64,
}

pub(super) fn card(p: &Plugin) -> Card<'_> {
    let latest = p.stable().or(p.latest());
    Card {
        package: p.package.as_str(),
        name: &p.name,
        url: plugin_page(p),
        description: &p.description,
        author: &p.author,
        author_url: urls::author_page(&p.author),
        downloads: p.downloads,
        deprecated: p.deprecated,
        server: p.server,
        qgis4_ready: p.qgis4_ready(),
        icon: p.icon.as_ref().map(|i| icon_url(p, i)),
        latest_date: p
            .latest_version_date()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        created_on: p.created_on.format("%Y-%m-%d").to_string(),
        stable: p.stable().map(|v| v.version.as_str()),
        experimental: p.experimental().map(|v| v.version.as_str()),
        download_url: latest.map(|v| version_download(p, v)),
        rating_votes: p.rating_votes,
    }
}

/// Orders a list can be shown in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Order {
    Name,
    Created,
    Updated,
    Popularity,
    Downloads,
    Votes,
    Rating,
}

impl Order {
    fn sort(self, list: &mut [&Plugin]) {
        match self {
            Order::Name => list.sort_by_cached_key(|p| (p.name.to_lowercase(), p.id)),
            Order::Created => list.sort_by_key(|p| (Reverse(p.created_on), p.id)),
            Order::Updated => list.sort_by_key(|p| (Reverse(p.latest_version_date()), p.id)),
            Order::Popularity => {
                list.sort_by(|a, b| b.popularity().total_cmp(&a.popularity()).then(a.id.cmp(&b.id)))
            }
            Order::Downloads => list.sort_by_key(|p| (Reverse(p.downloads), p.id)),
            Order::Votes => list.sort_by_key(|p| (Reverse(p.rating_votes), p.id)),
            Order::Rating => list.sort_by(|a, b| {
                b.weighted_rating().total_cmp(&a.weighted_rating()).then(a.id.cmp(&b.id))
            }),
        }
    }
}

/// The alternative orders offered on every list: (URL key, label, order).
const SORTS: &[(&str, &str, Order)] = &[
    ("name", "Name", Order::Name),
    ("downloads", "Downloads", Order::Downloads),
    ("date", "Last update", Order::Updated),
    ("rating", "Rating", Order::Rating),
];

struct ListSpec {
    /// Directory under `plugins/` ("" for "All plugins").
    slug: &'static str,
    title: &'static str,
    intro: &'static str,
    order: Order,
    keep: fn(&Plugin, &Ctx) -> bool,
}

struct Ctx {
    fresh_since: chrono::DateTime<chrono::Utc>,
}

const LISTS: &[ListSpec] = &[
    ListSpec {
        slug: "",
        title: "All plugins",
        intro: "Every plugin with at least one approved version.",
        order: Order::Name,
        keep: |_, _| true,
    },
    ListSpec {
        slug: "stable",
        title: "Stable plugins",
        intro: "Plugins with an approved stable version.",
        order: Order::Name,
        keep: |p, _| p.stable().is_some(),
    },
    ListSpec {
        slug: "experimental",
        title: "Experimental plugins",
        intro: "Plugins with an approved experimental version.",
        order: Order::Name,
        keep: |p, _| p.experimental().is_some(),
    },
    ListSpec {
        slug: "server",
        title: "Server plugins",
        intro: "Plugins with a QGIS Server interface.",
        order: Order::Name,
        keep: |p, _| p.server,
    },
    ListSpec {
        slug: "deprecated",
        title: "Deprecated plugins",
        intro: "Plugins their authors no longer recommend.",
        order: Order::Name,
        keep: |p, _| p.deprecated,
    },
    ListSpec {
        slug: "fresh",
        title: "New plugins",
        intro: "Plugins published in the last 30 days.",
        order: Order::Created,
        keep: |p, c| !p.deprecated && p.created_on >= c.fresh_since,
    },
    ListSpec {
        slug: "latest",
        title: "Updated plugins",
        intro: "Plugins with a version approved in the last 30 days.",
        order: Order::Updated,
        keep: |p, c| !p.deprecated && p.latest_version_date().is_some_and(|d| d >= c.fresh_since),
    },
    ListSpec {
        slug: "popular",
        title: "Popular plugins",
        intro: "Ranked by downloads weighted by rating.",
        order: Order::Popularity,
        keep: |p, _| !p.deprecated,
    },
    ListSpec {
        slug: "most_downloaded",
        title: "Most downloaded plugins",
        intro: "Ranked by total downloads.",
        order: Order::Downloads,
        keep: |p, _| !p.deprecated,
    },
    ListSpec {
        slug: "most_voted",
        title: "Most voted plugins",
        intro: "Ranked by number of votes.",
        order: Order::Votes,
        keep: |p, _| !p.deprecated,
    },
    ListSpec {
        slug: "best_rated",
        title: "Best rated plugins",
        intro: "Ranked by a weighted average of votes.",
        order: Order::Rating,
        keep: |p, _| !p.deprecated,
    },
    ListSpec {
        slug: "new_qgis_ready",
        title: "QGIS 4 ready plugins",
        intro: "Plugins with an approved version that declares QGIS 4 (qgisMaximumVersion 4.0 or later) and in which the scan found no Qt5-only code.",
        order: Order::Created,
        keep: |p, _| p.qgis4_ready(),
    },
];

#[derive(Serialize)]
struct PageLink {
    number: usize,
    url: String,
    current: bool,
}

#[derive(Serialize)]
struct SortLink {
    label: &'static str,
    url: String,
    current: bool,
}

/// What a list shows besides its plugins.
struct ListArgs<'a> {
    /// The list's URL (`/plugins/stable/`, `/plugins/tags/<slug>/`).
    url: String,
    /// Where its pages are published.
    files: ListFiles<'a>,
    title: &'a str,
    intro: &'a str,
    default: Order,
    feed_url: Option<&'a str>,
    /// Whether the alternative orders are offered (main lists only).
    with_sorts: bool,
}

impl<'a> ListArgs<'a> {
    /// A list by name only, without alternative orders (tags, authors, users).
    fn by_name(kind: NamedKind, name: &'a str, title: &'a str) -> Self {
        Self {
            url: urls::named_list(kind, name),
            files: ListFiles::Named(kind, name),
            title,
            intro: "",
            default: Order::Name,
            feed_url: None,
            with_sorts: false,
        }
    }
}

/// Each plugin's card (by plugin id): its digest, which a list page's digest combines with
/// the others (an unchanged page is recognised without building its context), and its HTML,
/// rendered at most once per build and heading level: thousands of list pages show 20
/// cards each, only 2,500 of them distinct.
struct Cards<'a> {
    input: &'a RenderInput<'a>,
    by_id: HashMap<PluginId, (String, [OnceLock<String>; 2])>,
}

impl Cards<'_> {
    fn get(&self, id: PluginId) -> Option<&String> {
        self.by_id.get(&id).map(|(key, _)| key)
    }

    /// The card's HTML with an `<h2>` (lists) or `<h3>` (the home page).
    fn html(&self, p: &Plugin, level: u8) -> Result<String> {
        let slot = self.by_id.get(&p.id).map(|(_, html)| &html[usize::from(level == 3)]);
        if let Some(done) = slot.and_then(OnceLock::get) {
            return Ok(done.clone());
        }
        let mut ctx = TeraContext::new();
        ctx.insert("p", &card(p));
        ctx.insert("card_level", &level);
        let html = String::from_utf8(render(self.input, "_card.html", &ctx)?)
            .context("a card is not UTF-8")?;
        Ok(slot.map(|s| s.get_or_init(|| html.clone()).clone()).unwrap_or(html))
    }
}

fn all_cards<'a>(input: &'a RenderInput<'a>, plugins: &[Plugin]) -> Cards<'a> {
    let by_id = plugins
        .par_iter()
        .map(|p| (p.id, (catalog::hash::fingerprint(&card(p)), Default::default())))
        .collect();
    Cards { input, by_id }
}

/// Renders one list in all its orders and pages.
fn render_list(
    input: &RenderInput<'_>,
    cards: &Cards<'_>,
    out: &mut Pages,
    args: &ListArgs<'_>,
    plugins: &[&Plugin],
) -> Result<()> {
    let mut variants: Vec<(Option<&str>, Order)> = vec![(None, args.default)];
    if args.with_sorts {
        variants.extend(SORTS.iter().map(|(key, _, order)| (Some(*key), *order)));
    }
    for (key, order) in variants {
        let mut list: Vec<&Plugin> = plugins.to_vec();
        order.sort(&mut list);
        let prefix = match key {
            None => args.url.clone(),
            Some(k) => urls::list_sorted(&args.url, k),
        };
        let pages = list.len().div_ceil(PAGE_SIZE).max(1);
        for page in 1..=pages {
            let at = ListPage { key, prefix: &prefix, page, pages, list: &list };
            out.push(render_list_page(input, cards, args, &at)?);
        }
    }
    Ok(())
}

/// One page of a list in one order.
struct ListPage<'a> {
    /// The order's key (None: the default order).
    key: Option<&'a str>,
    /// The URL of the list in this order.
    prefix: &'a str,
    page: usize,
    pages: usize,
    /// The whole list, sorted.
    list: &'a [&'a Plugin],
}

impl ListPage<'_> {
    fn chunk(&self) -> &[&Plugin] {
        let len = self.list.len();
        &self.list[((self.page - 1) * PAGE_SIZE).min(len)..(self.page * PAGE_SIZE).min(len)]
    }

    fn url(&self, n: usize) -> String {
        urls::list_page(self.prefix, n)
    }
}

/// A list page, memoised on everything its context is made of.
fn render_list_page(
    input: &RenderInput<'_>,
    cards: &Cards<'_>,
    args: &ListArgs<'_>,
    at: &ListPage<'_>,
) -> Result<(String, Content)> {
    let path = args.files.file(at.key, at.page);
    let digest = catalog::hash::fingerprint(&(
        "list.html",
        &input.templates.fingerprint,
        input.base_url,
        (args.title, args.intro, args.feed_url, args.with_sorts),
        (at.prefix, at.key, at.page, at.pages, at.list.len()),
        at.chunk().iter().map(|p| cards.get(p.id)).collect::<Vec<_>>(),
    ));
    memo(input, path, digest, || {
        let ctx = list_page_context(cards, args, at)?;
        render(input, "list.html", &ctx)
    })
}

/// The template context of a list page.
fn list_page_context(
    cards: &Cards<'_>,
    args: &ListArgs<'_>,
    at: &ListPage<'_>,
) -> Result<TeraContext> {
    let page = at.page;
    let links: Vec<PageLink> = (1..=at.pages)
        .map(|n| PageLink { number: n, url: at.url(n), current: n == page })
        .collect();
    let sorts: Vec<SortLink> = SORTS
        .iter()
        .filter(|_| args.with_sorts)
        .map(|(k, label, _)| SortLink {
            label,
            url: urls::list_sorted(&args.url, k),
            current: at.key == Some(*k),
        })
        .collect();
    let mut ctx = TeraContext::new();
    ctx.insert("title", args.title);
    ctx.insert("intro", args.intro);
    let html: Vec<String> = at.chunk().iter().map(|p| cards.html(p, 2)).collect::<Result<_>>()?;
    ctx.insert("plugins", &html);
    ctx.insert("count", &at.list.len());
    ctx.insert("page", &page);
    ctx.insert("pages", &links);
    ctx.insert("prev_url", &(page > 1).then(|| at.url(page - 1)));
    ctx.insert("next_url", &(page < at.pages).then(|| at.url(page + 1)));
    ctx.insert("sorts", &sorts);
    ctx.insert("default_url", &args.url);
    ctx.insert("sorted", &at.key.is_some());
    ctx.insert("feed_url", &args.feed_url);
    Ok(ctx)
}

#[derive(Serialize)]
struct CloudTag<'a> {
    name: &'a str,
    url: String,
    count: usize,
    weight: usize,
}

#[derive(Serialize)]
struct Person {
    name: String,
    url: String,
    count: usize,
}

/// Every site-wide page.
pub fn render_site_pages(input: &RenderInput<'_>) -> Result<Pages> {
    let all: Vec<&Plugin> = input.catalog.plugins.iter().collect();
    let cards = all_cards(input, &input.catalog.plugins);
    let mut out = main_lists(input, &cards, &all)?;
    let by_tag = plugins_by_tag(&all);
    out.extend(tag_lists(input, &cards, &by_tag)?);
    let cloud = tag_cloud(&by_tag);
    out.push(tags_index(input, &by_tag, &cloud)?);
    out.extend(people_lists(input, &cards, &all)?);
    out.push(home_page(input, &cards, &all, &cloud)?);
    out.extend(fixed_pages(input)?);
    Ok(out)
}

/// The lists of `LISTS`, each in all its orders and pages.
fn main_lists(input: &RenderInput<'_>, cards: &Cards<'_>, all: &[&Plugin]) -> Result<Pages> {
    let ctx = Ctx { fresh_since: input.now - Duration::days(FRESH_DAYS) };
    let lists: Vec<Pages> = LISTS
        .par_iter()
        .map(|spec| {
            let list: Vec<&Plugin> = all.iter().copied().filter(|p| (spec.keep)(p, &ctx)).collect();
            let dir = urls::main_list_dir(spec.slug);
            let feed_url = match spec.slug {
                "fresh" => Some(urls::NEW_FEED),
                "latest" => Some(urls::UPDATED_FEED),
                _ => None,
            };
            let args = ListArgs {
                url: urls::list(&dir),
                files: ListFiles::Dir(&dir),
                title: spec.title,
                intro: spec.intro,
                default: spec.order,
                feed_url,
                with_sorts: true,
            };
            let mut pages = Vec::new();
            render_list(input, cards, &mut pages, &args, &list)?;
            Ok(pages)
        })
        .collect::<Result<_>>()?;
    Ok(lists.into_iter().flatten().collect())
}

/// Tag slug → (tag name, its plugins).
type ByTag<'a> = BTreeMap<&'a str, (&'a str, Vec<&'a Plugin>)>;

fn plugins_by_tag<'a>(all: &[&'a Plugin]) -> ByTag<'a> {
    let mut by_tag: ByTag<'a> = BTreeMap::new();
    for p in all {
        for t in &p.tags {
            by_tag
                .entry(t.slug.as_str())
                .or_insert_with(|| (t.name.as_str(), Vec::new()))
                .1
                .push(p);
        }
    }
    by_tag
}

/// One list per tag: thousands of small lists, rendered on every core.
fn tag_lists(input: &RenderInput<'_>, cards: &Cards<'_>, by_tag: &ByTag<'_>) -> Result<Pages> {
    let tag_pages: Vec<Pages> = by_tag
        .par_iter()
        .map(|(slug, (name, list))| {
            let title = format!("Plugins tagged with: {name}");
            let feed_url = urls::tag_feed(slug);
            let args = ListArgs {
                feed_url: Some(&feed_url),
                ..ListArgs::by_name(NamedKind::Tag, slug, &title)
            };
            let mut pages = Vec::new();
            render_list(input, cards, &mut pages, &args, list)?;
            Ok(pages)
        })
        .collect::<Result<_>>()?;
    Ok(tag_pages.into_iter().flatten().collect())
}

/// The cloud of tags used by at least `TAGCLOUD_MIN` plugins that are not deprecated.
fn tag_cloud<'a>(by_tag: &ByTag<'a>) -> Vec<CloudTag<'a>> {
    let counts: Vec<usize> = by_tag
        .values()
        .map(|(_, l)| l.iter().filter(|p| !p.deprecated).count())
        .filter(|n| *n >= TAGCLOUD_MIN)
        .collect();
    let (lo, hi) =
        (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
    by_tag
        .iter()
        .filter_map(|(slug, (name, list))| {
            let count = list.iter().filter(|p| !p.deprecated).count();
            (count >= TAGCLOUD_MIN).then(|| CloudTag {
                name,
                url: urls::tag_page(slug),
                count,
                // Six font weights, scaled linearly between the least and most used tag.
                weight: if hi > lo { 1 + (count - lo) * 5 / (hi - lo) } else { 3 },
            })
        })
        .collect()
}

/// `plugins/tags/index.html`: the cloud and every tag.
fn tags_index(
    input: &RenderInput<'_>,
    by_tag: &ByTag<'_>,
    cloud: &[CloudTag<'_>],
) -> Result<(String, Content)> {
    let all_tags: Vec<CloudTag<'_>> = by_tag
        .iter()
        .map(|(slug, (name, list))| CloudTag {
            name,
            url: urls::tag_page(slug),
            count: list.len(),
            weight: 0,
        })
        .collect();
    let mut tctx = TeraContext::new();
    tctx.insert("cloud", cloud);
    tctx.insert("tags", &all_tags);
    render_memo(input, urls::TAGS_INDEX.into(), "tags.html", &tctx)
}

/// Authors (metadata `author`) and users (accounts that created or own plugins): a list
/// each, and an index of each kind.
fn people_lists(input: &RenderInput<'_>, cards: &Cards<'_>, all: &[&Plugin]) -> Result<Pages> {
    let mut authors: BTreeMap<String, Vec<&Plugin>> = BTreeMap::new();
    let mut users: BTreeMap<String, Vec<&Plugin>> = BTreeMap::new();
    for p in all {
        authors.entry(p.author.clone()).or_default().push(p);
        users.entry(p.creator.clone()).or_default().push(p);
        for o in &p.owners {
            if *o != p.creator {
                users.entry(o.clone()).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let author_index = people(input, cards, &mut out, NamedKind::Author, &authors, "Plugins by")?;
    let user_index = people(input, cards, &mut out, NamedKind::User, &users, "Plugins from")?;
    for (path, title, list) in
        [(urls::AUTHORS_INDEX, "Authors", author_index), (urls::USERS_INDEX, "Users", user_index)]
    {
        let mut c = TeraContext::new();
        c.insert("title", title);
        c.insert("people", &list);
        out.push(render_memo(input, path.into(), "people.html", &c)?);
    }
    Ok(out)
}

/// The list of each person of one kind (into `out`), and the kind's index, by name.
fn people(
    input: &RenderInput<'_>,
    cards: &Cards<'_>,
    out: &mut Pages,
    kind: NamedKind,
    map: &BTreeMap<String, Vec<&Plugin>>,
    title: &str,
) -> Result<Vec<Person>> {
    let rendered: Vec<(Person, Pages)> = map
        .par_iter()
        .filter_map(|(name, list)| urls::list_name(name).map(|seg| (name, seg, list)))
        .map(|(name, seg, list)| {
            let heading = format!("{title} {name}");
            let args = ListArgs::by_name(kind, seg, &heading);
            let url = args.url.clone();
            let mut pages = Vec::new();
            render_list(input, cards, &mut pages, &args, list)?;
            Ok((Person { name: name.clone(), url, count: list.len() }, pages))
        })
        .collect::<Result<_>>()?;
    let mut index = Vec::with_capacity(rendered.len());
    for (person, pages) in rendered {
        index.push(person);
        out.extend(pages);
    }
    index.sort_by_key(|p| p.name.to_lowercase());
    Ok(index)
}

/// The home page: top five of the updated, new, popular and QGIS 4 ready lists.
fn home_page(
    input: &RenderInput<'_>,
    cards: &Cards<'_>,
    all: &[&Plugin],
    cloud: &[CloudTag<'_>],
) -> Result<(String, Content)> {
    let top = |order: Order, keep: &dyn Fn(&Plugin) -> bool| {
        let mut list: Vec<&Plugin> = all.iter().copied().filter(|p| keep(p)).collect();
        order.sort(&mut list);
        list.into_iter().take(5).map(|p| cards.html(p, 3)).collect::<Result<Vec<_>>>()
    };
    let mut h = TeraContext::new();
    h.insert("updated", &top(Order::Updated, &|p| !p.deprecated)?);
    h.insert("fresh", &top(Order::Created, &|p| !p.deprecated)?);
    h.insert("popular", &top(Order::Popularity, &|p| !p.deprecated)?);
    h.insert("qgis4", &top(Order::Created, &|p| p.qgis4_ready())?);
    h.insert("count", &all.len());
    h.insert("cloud", cloud);
    render_memo(input, urls::HOME_PAGE.into(), "index.html", &h)
}

/// Pages rendered from their template alone: search, docs, the 404 page.
fn fixed_pages(input: &RenderInput<'_>) -> Result<Pages> {
    let empty = TeraContext::new();
    let mut out = vec![render_memo(input, urls::SEARCH_PAGE.into(), "search.html", &empty)?];
    for page in ["publish", "approval", "faq"] {
        let template = format!("docs/{page}.html");
        out.push(render_memo(input, urls::docs_page(page), &template, &empty)?);
    }
    out.push(render_memo(input, urls::DOCS_INDEX.into(), "docs/index.html", &empty)?);
    out.push(render_memo(input, urls::NOT_FOUND_PAGE.into(), "404.html", &empty)?);
    Ok(out)
}
