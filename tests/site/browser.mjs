// Drives Debian's headless Chromium (playwright-core) through the site served by nginx, as a
// visitor would: home page, search by a word of a description, the plugin page, a tag, two
// pages of a listing, a zip download. Prints one JSON summary on stdout that
// tests/it/site.rs asserts on; console errors, page errors, failed requests and HTTP errors
// are collected over the whole session.
//
//   node browser.mjs <base-url> <word> <package> <artifacts-dir>
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, word, pkg, artifacts] = process.argv.slice(2);
if (!base || !word || !pkg || !artifacts) {
  console.error("usage: node browser.mjs <base-url> <word> <package> <artifacts-dir>");
  process.exit(2);
}

const summary = {
  console_errors: [], page_errors: [], failed_requests: [], http_errors: [], cancelled_requests: [], steps: {},
};
const profile = mkdtempSync(join(tmpdir(), "plugins-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 800 },
  acceptDownloads: true,
});
const TIMEOUT = 30000; // per action or navigation; generous for a busy machine
context.setDefaultTimeout(TIMEOUT);
context.setDefaultNavigationTimeout(TIMEOUT);

try {
  context.on("console", (m) => {
    if (m.type() === "error") summary.console_errors.push(`${m.location().url}: ${m.text()}`);
  });
  context.on("weberror", (e) => summary.page_errors.push(String(e.error())));
  // net::ERR_ABORTED is the browser cancelling a request it no longer needs: the navigation
  // that turns into a download, a lazy icon still loading when the session leaves a page.
  // Those are listed apart; any other failure (refused, reset, truncated, ...) is a failed
  // request, and answers of 400 and above are HTTP errors.
  context.on("requestfailed", (r) => {
    const error = r.failure()?.errorText;
    const line = `${r.url()}: ${error} (on ${r.frame()?.url()})`;
    (error === "net::ERR_ABORTED" ? summary.cancelled_requests : summary.failed_requests).push(line);
  });
  context.on("response", (r) => {
    if (r.status() >= 400) summary.http_errors.push(`${r.status()} ${r.url()}`);
  });

  // Requests in flight, so that every request of a page completes before the session
  // leaves it (a navigation would cancel lazy icons the screenshots' resizes started).
  let inflight = 0;
  let idle = [];
  const done = () => {
    inflight -= 1;
    if (inflight === 0) idle.splice(0).forEach((resolve) => resolve());
  };
  context.on("request", () => { inflight += 1; });
  context.on("requestfinished", done);
  context.on("requestfailed", done);
  const page = context.pages()[0] ?? (await context.newPage());
  const settle = async () => {
    // Two animation frames: lazy images entering the viewport have issued their requests.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    if (inflight > 0) await new Promise((resolve) => idle.push(resolve));
  };
  const shot = async (name) => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(artifacts, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(artifacts, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await settle();
  };

  // Home page.
  const home = await page.goto(`${base}/`);
  summary.steps.home = { status: home.status(), title: await page.title() };
  await shot("home");

  await settle();
  // Search from the header's box: Enter leads to /search/?q=..., whose results appear.
  await page.fill("#q-top", word);
  await Promise.all([page.waitForURL(/\/search\/\?q=/), page.press("#q-top", "Enter")]);
  const hit = page.locator(`#search-results a[href="/plugins/${pkg}/"]`);
  await hit.waitFor();
  // Then as the user types on the search page itself: results follow each key stroke.
  await page.fill("#q", "");
  await page.locator("#search-results li").first().waitFor({ state: "detached" });
  await page.locator("#q").pressSequentially(word);
  await hit.waitFor();
  summary.steps.search = {
    url: page.url(),
    results: await page.locator("#search-results li").count(),
    status: await page.textContent("#search-status"),
  };

  await settle();

  // Open the result.
  await Promise.all([page.waitForURL(`${base}/plugins/${pkg}/`), hit.click()]);
  // The links into the upload service's workplace: visible, with their text and target.
  const linksOf = (selector) =>
    page.locator(selector).evaluateAll((as) =>
      as.filter((a) => a.getClientRects().length > 0).map((a) => [a.textContent.trim(), a.getAttribute("href")]));
  summary.steps.plugin = {
    url: page.url(),
    h1: (await page.textContent("h1")).trim(),
    account_links: await linksOf("header nav.account a"),
    manage_links: await linksOf(".plugin-head .manage a"),
  };
  await shot("plugin");

  // Download the latest stable zip: the response, and the browser's own download.
  const button = page.locator(".downloads a.button").first();
  const href = await button.getAttribute("href");
  const zip = await page.request.get(new URL(href, page.url()).href);
  const body = await zip.body();
  const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
  summary.steps.download = {
    url: zip.url(),
    status: zip.status(),
    content_type: zip.headers()["content-type"],
    zip_magic: body.subarray(0, 4).toString("hex"),
    bytes: body.length,
    suggested_filename: download.suggestedFilename(),
    failure: await download.failure(),
  };

  await settle();
  // Follow a tag: its page lists the plugin.
  const tag = page.locator('a.tag[href^="/plugins/tags/"]').first();
  const tagHref = await tag.getAttribute("href");
  await Promise.all([page.waitForURL(`${base}${tagHref}`), tag.click()]);
  summary.steps.tag = {
    url: page.url(),
    h1: (await page.textContent("h1")).trim(),
    lists_plugin: (await page.locator(`li.card a[href="/plugins/${pkg}/"]`).count()) > 0,
  };

  await settle();
  // Page through All plugins.
  await page.click('nav.menu a[href="/plugins/"]');
  await page.waitForURL(`${base}/plugins/`);
  const count = (await page.textContent(".list-tools .count")).trim();
  const first = await page.locator("li.card").count();
  await settle();
  await Promise.all([page.waitForURL(`${base}/plugins/page/2/`), page.click('nav.pager a[rel="next"]')]);
  const second = await page.locator("li.card").count();
  summary.steps.listing = { count_text: count, page1: first, page2: second, page2_url: page.url() };
} catch (e) {
  summary.error = String(e && e.stack ? e.stack : e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
