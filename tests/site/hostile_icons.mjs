// Opens plugin icons and the pages that show them in Debian's headless Chromium
// (playwright-core), and records everything they could make the browser do: dialogs,
// console messages, page errors, and every request (the test's recording listener must see
// none). Also screenshots one plugin page at desktop and phone widths. Prints one JSON
// summary on stdout that tests/it/icons.rs asserts on.
//
//   node hostile_icons.mjs <base-url> <screenshot-page-path> <artifacts-dir> <path>...
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shotPath, artifacts, ...paths] = process.argv.slice(2);
if (!base || !shotPath || !artifacts || paths.length === 0) {
  console.error("usage: node hostile_icons.mjs <base-url> <screenshot-page-path> <artifacts-dir> <path>...");
  process.exit(2);
}

const summary = {
  opened: [], dialogs: [], console: [], page_errors: [], foreign_requests: [], screenshots: [], xsl: null, xsl_console: [],
};
// While plugins.xml is open, Chromium's own XSLT deprecation banner (inline style and
// handler, refused by our CSP) logs errors that are not the page's: kept apart.
let phase = "icons";
const profile = mkdtempSync(join(tmpdir(), "plugins-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 800 },
});
context.setDefaultTimeout(30000);
context.setDefaultNavigationTimeout(30000);

try {
  const origin = new URL(base).origin;
  context.on("console", (m) => {
    const line = `${m.type()} ${m.location().url}: ${m.text()}`;
    (phase === "xsl" ? summary.xsl_console : summary.console).push(line);
  });
  context.on("weberror", (e) => summary.page_errors.push(String(e.error())));
  context.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) summary.foreign_requests.push(url);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("dialog", async (d) => {
    summary.dialogs.push(`${d.type()}: ${d.message()} (on ${page.url()})`);
    await d.dismiss().catch(() => {});
  });

  for (const path of paths) {
    const response = await page.goto(`${base}${path}`, { waitUntil: "load" });
    // Whatever an icon could start (fetches, sub-resources) runs before the network is idle.
    await page.waitForLoadState("networkidle");
    summary.opened.push({
      path,
      status: response.status(),
      content_type: response.headers()["content-type"],
      csp: response.headers()["content-security-policy"] ?? null,
      // Images of the page that rendered (an icon that failed to load has no width).
      images: await page.evaluate(() =>
        Array.from(document.images ?? [], (i) => ({ src: i.getAttribute("src"), width: i.naturalWidth }))),
    });
  }

  // plugins.xml in a browser: the XSL and its stylesheet still apply under the page CSP.
  phase = "xsl";
  await page.goto(`${base}/plugins/plugins.xml?qgis=3.34`, { waitUntil: "load" });
  await page.locator("h1").waitFor();
  summary.xsl = {
    h1: (await page.textContent("h1")).trim(),
    body_display: await page.evaluate(() => getComputedStyle(document.body).display),
    plugins: await page.locator("div.plugin").count(),
  };
  phase = "screenshots";

  await page.goto(`${base}${shotPath}`, { waitUntil: "networkidle" });
  for (const [name, width, height] of [["desktop", 1280, 800], ["phone", 390, 844]]) {
    await page.setViewportSize({ width, height });
    await page.waitForLoadState("networkidle");
    const file = join(artifacts, `icon-plugin-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    summary.screenshots.push(file);
  }
} catch (e) {
  summary.error = String(e && e.stack || e);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
