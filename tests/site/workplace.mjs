// Drives Debian's headless Chromium (playwright-core) through the web workplace served by
// nginx and the real upload service, as an author, a reviewer and an outsider would:
//
// - author: signs in through the form, uploads a broken zip (every problem listed), a good
//   one, sees it awaiting review on /plugins/my, creates a token (shown once), uploads with
//   it through curl, revokes it, and the next curl is refused;
// - reviewer: opens the queue, approves the first version, then reviews the next one (diff
//   of a changed .py file, changed homepage row), approves it and times how soon the public
//   plugin page lists it;
// - the outsider fails to sign in, signs in, sees the account pages; the session cookie is
//   HttpOnly and dies at sign-out; later the outsider gets 403 on every author page of the
//   plugin; a POST without the CSRF field is refused.
//
// Every page is checked with axe-core (violations of impact serious or critical are listed)
// and saved as full-page screenshots at 1280 and 390 px. Prints one JSON summary on stdout
// that tests/it/workplace_browser.rs asserts on; a broken step stops the session, names the
// step and makes the process exit 1.
//
//   node workplace.mjs <config.json>
// config: { base, artifacts, password, author, reviewer, outsider, pkg,
//           zips: { broken, first, next, refused }, versions: { first, next, refused },
//           next_line, old_homepage, new_homepage }
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8"));
const { base, pkg } = cfg;
mkdirSync(cfg.artifacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const summary = {
  console_errors: [], page_errors: [], http_errors: [], audit_console: [], provoked: [],
  pages: [], steps: {},
  step: null,
};
const TIMEOUT = 30000; // per action or navigation; generous for a busy machine

class StepFailed extends Error {}
/** Fails the current step loudly when `cond` is false. */
function check(cond, message) {
  if (!cond) throw new StepFailed(message);
}

// Documents answered with an error status on purpose (a 400 form, a 403 page): Chromium logs
// "Failed to load resource" for them, which is not a fault of the page.
const errorDocuments = new Set();
// axe-core applies an inline style while it runs, which the pages' CSP refuses and Chromium
// logs; messages logged while axe runs are kept apart (the page itself loaded before).
let auditing = false;
// Steps that provoke refusals on purpose (403s of an outsider, CSRF): the error answers and
// Chromium's "Failed to load resource" lines they cause are kept apart from the session's.
let provoking = false;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

/** A fresh browser profile (cookie jar) with the session's error collectors. */
async function newPage(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const at = m.location().url;
    if (errorDocuments.has(at) && m.text().startsWith("Failed to load resource")) return;
    if (auditing) return void summary.audit_console.push(`${who} ${at}: ${m.text()}`);
    if (provoking && m.text().startsWith("Failed to load resource")) return;
    summary.console_errors.push(`${who} ${at}: ${m.text()}`);
  });
  page.on("pageerror", (e) => summary.page_errors.push(`${who}: ${e}`));
  page.on("response", (r) => {
    if (r.status() < 400) return;
    if (r.request().resourceType() === "document") errorDocuments.add(r.url());
    else if (provoking) summary.provoked.push(`${who} ${r.status()} ${r.url()}`);
    else summary.http_errors.push(`${who} ${r.status()} ${r.url()}`);
  });
  return page;
}

/** axe-core on the page, then full-page screenshots at both widths. */
async function audit(page, name) {
  auditing = true;
  await page.evaluate(axeSource); // evaluated by DevTools: the page's CSP does not apply
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }));
  auditing = false;
  const violations = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
    }));
  const minor = result.violations.filter((v) => !violations.some((s) => s.id === v.id))
    .map((v) => `${v.impact} ${v.id}`);
  summary.pages.push({ name, url: page.url(), violations, minor });
  for (const [suffix, width, height] of [["desktop", 1280, 800], ["phone", 390, 844]]) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(cfg.artifacts, `${name}-${suffix}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** GET `path`, expecting `status` for the final document; audited as `name`. */
async function visit(page, path, status, name) {
  const r = await page.goto(`${base}${path}`);
  check(r.status() === status, `GET ${path}: ${r.status()}, expected ${status}: ${(await page.textContent("main").catch(() => "")).trim().slice(0, 400)}`);
  if (name) await audit(page, name);
  return r;
}

/** Clicks `button` (a form's submit) and waits for the resulting document. */
async function submit(page, button, status) {
  const [r] = await Promise.all([page.waitForNavigation(), button.click()]);
  check(r !== null, "the form did not navigate");
  const text = (await page.textContent("main").catch(() => "")).trim().slice(0, 600);
  check(r.status() === status, `${page.url()}: ${r.status()}, expected ${status}: ${text}`);
  return r;
}

/** The submit button of the form whose action ends with `action` (the page's first). */
function formButton(page, action) {
  return page.locator(`main form[action$="${action}"] button[type="submit"]`).first();
}

async function signIn(page, user, from, name) {
  await visit(page, from, 200);
  check(page.url().startsWith(`${base}/accounts/login/?next=`),
    `${from} while signed out did not lead to the login form: ${page.url()}`);
  if (name) await audit(page, name);
  await page.fill("#id_username", user);
  await page.fill("#id_password", cfg.password);
  await submit(page, page.locator("#login-form button[type=submit]"), 200);
  check(page.url() === `${base}${from}`, `sign-in did not come back to ${from}: ${page.url()}`);
}

/** `curl` (a CI tool's upload with a token): status and body. */
function curlUpload(token, zip) {
  const out = execFileSync("curl", [
    "-sS", "-w", "\n%{http_code}", "-F", `package=@${zip}`,
    "-H", `Authorization: Bearer ${token}`, `${base}/plugins/api/${pkg}/version/add/`,
  ], { encoding: "utf8" });
  const at = out.lastIndexOf("\n");
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

/** `curl` GET with a raw `Cookie` header: status and Location. */
function curlWithCookie(path, cookie) {
  const out = execFileSync("curl", [
    "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
    "-H", `Cookie: ${cookie}`, `${base}${path}`,
  ], { encoding: "utf8" });
  const [status, location] = out.split(" ");
  return { status: Number(status), location };
}

/** Runs one named step; its result lands in `summary.steps[name]`. */
async function step(name, fn) {
  summary.step = name;
  const t0 = Date.now();
  const result = (await fn()) ?? {};
  summary.steps[name] = { ...result, ms: Date.now() - t0 };
}

/** A step whose error answers are wanted (see `provoking`). */
async function refusals(name, fn) {
  provoking = true;
  try {
    await step(name, fn);
  } finally {
    provoking = false;
  }
}

// ---- Author ----------------------------------------------------------------------------

async function authorUploads(page) {
  await step("author_sign_in", async () => {
    await signIn(page, cfg.author, "/plugins/add/", "login");
    await audit(page, "add-form");
  });
  await step("broken_upload", async () => {
    await page.setInputFiles('input[type="file"][name="package"]', cfg.zips.broken);
    await submit(page, formButton(page, "/plugins/add/"), 400);
    const problems = await page.locator("ul.problems > li").evaluateAll((lis) => lis.map((li) => ({
      text: li.textContent.replace(/\s+/g, " ").trim(),
      hint: (li.querySelector(".hint")?.textContent ?? "").trim(),
    })));
    check(problems.length >= 2, `the broken zip listed ${problems.length} problems`);
    check(problems.every((p) => p.hint), "a problem without its hint");
    await audit(page, "add-problems");
    return { problems };
  });
  await step("good_upload", async () => {
    await page.setInputFiles('input[type="file"][name="package"]', cfg.zips.first);
    await submit(page, formButton(page, "/plugins/add/"), 200);
    const review = `${base}/plugins/${pkg}/version/${cfg.versions.first}/review/`;
    check(page.url() === review, `the pending upload led to ${page.url()}, not ${review}`);
    await audit(page, "author-review");
    return { url: page.url() };
  });
  await step("my_plugins", async () => {
    await visit(page, "/plugins/my", 200, "my-plugins");
    const row = page.locator(`:is(tr, li, section, article):has(a[href*="/plugins/${pkg}/"])`).last();
    check(await row.count() > 0, `/plugins/my does not list ${pkg}`);
    const text = (await page.textContent("main")).replace(/\s+/g, " ");
    check(/awaiting review/i.test(text), `/plugins/my does not say "awaiting review": ${text.slice(0, 600)}`);
    return { awaiting: true };
  });
}

/** Creates a token described `description` on the tokens page: its value and id. */
async function createToken(page, description, name) {
  await visit(page, `/plugins/${pkg}/tokens/`, 200, name && "tokens");
  await page.fill('form[action$="/tokens/create/"] [name="description"]', description);
  await submit(page, formButton(page, "/tokens/create/"), 200);
  const shown = (await page.textContent("#new-token").catch(() => null))?.trim();
  const jwt = (await page.content()).match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
  check(jwt, "the new token's page does not show the token");
  check(!shown || shown === jwt[0], "#new-token is not the token of the page's commands");
  if (name) await audit(page, name);
  await visit(page, `/plugins/${pkg}/tokens/`, 200);
  const link = page.locator(`a[href*="/plugins/${pkg}/tokens/"]`, { hasText: description }).first();
  check(await link.count() > 0, `the tokens list has no token "${description}"`);
  const id = (await link.getAttribute("href")).match(/\/tokens\/(\d+)\/$/)?.[1];
  check(id, `the token's link ${await link.getAttribute("href")} names no id`);
  return { token: jwt[0], id };
}

async function authorTokens(page) {
  let token;
  let id;
  await step("token_create", async () => {
    ({ token, id } = await createToken(page, "CI of the browser journey", "token-created"));
    return { id };
  });
  await step("token_shown_once", async () => {
    check(!(await page.content()).includes(token), "the tokens list shows the token");
    const again = await visit(page, `/plugins/${pkg}/tokens/${id}/`, 200, "token-details");
    check(!(await page.content()).includes(token), "the token's page shows it a second time");
    return { second_view_status: again.status() };
  });
  await step("curl_with_token", async () => {
    const r = curlUpload(token, cfg.zips.next);
    check(r.status === 201, `curl upload with the token: ${r.status} ${r.body}`);
    return { status: r.status, body: JSON.parse(r.body) };
  });
  await step("token_revoke", async () => {
    await visit(page, `/plugins/${pkg}/tokens/`, 200);
    const link = page.locator(`a[href$="/tokens/${id}/delete/"]`).first();
    check(await link.count() > 0, `the tokens list has no revoke link for token ${id}`);
    await Promise.all([page.waitForNavigation(), link.click()]);
    await audit(page, "token-revoke");
    await submit(page, formButton(page, `/tokens/${id}/delete/`), 200);
    check(await page.locator(`a[href$="/tokens/${id}/delete/"]`).count() === 0,
      `token ${id} is still listed after its revocation (${page.url()})`);
    await audit(page, "tokens-after-revoke");
  });
  await step("curl_after_revoke", async () => {
    const r = curlUpload(token, cfg.zips.refused);
    check(r.status === 403, `curl upload with a revoked token: ${r.status} ${r.body}`);
    return r;
  });
  // A live token of the author for the outsider's checks.
  await step("token_kept", async () => {
    const { id: kept } = await createToken(page, "kept for the outsider", null);
    return { id: kept };
  });
}

/** POSTs without the CSRF field, or with a wrong one, are refused and change nothing. */
async function csrfRefused(page) {
  await refusals("csrf", async () => {
    const rows = async () => {
      await visit(page, `/plugins/${pkg}/tokens/`, 200);
      return page.locator("tbody tr").count();
    };
    const before = await rows();
    const post = (body) => page.evaluate(async ([url, fields]) => {
      const r = await fetch(url, { method: "POST", body: new URLSearchParams(fields), redirect: "manual" });
      return { status: r.status, text: await r.text() };
    }, [`/plugins/${pkg}/tokens/create/`, body]);
    const missing = await post({ description: "forged" });
    const wrong = await post({ description: "forged", csrfmiddlewaretoken: "00".repeat(32) });
    check(missing.status === 403, `a POST without the CSRF field: ${missing.status}`);
    check(wrong.status === 403, `a POST with a wrong CSRF token: ${wrong.status}`);
    check(missing.text.includes("The form has expired or did not come from this site"),
      "the CSRF 403 page does not say why");
    const after = await rows();
    check(after === before, `a refused POST changed the tokens list (${before} → ${after} rows)`);
    return { missing: missing.status, wrong: wrong.status, rows: after };
  });
}

// ---- Accounts (the outsider) -----------------------------------------------------------

async function accounts(page) {
  await step("login_failure", async () => {
    await visit(page, "/accounts/password/change/", 200);
    await page.fill("#id_username", cfg.outsider);
    await page.fill("#id_password", "not the password");
    await submit(page, page.locator("#login-form button[type=submit]"), 200);
    const error = (await page.textContent(".error-box")).trim();
    check(error.includes("didn't match"), `the failed sign-in says: ${error}`);
    await audit(page, "login-failed");
    return { error };
  });
  await step("account_pages", async () => {
    await signIn(page, cfg.outsider, "/accounts/password/change/", "login");
    await audit(page, "password-change");
    await visit(page, "/accounts/sessions/end/", 200, "sessions-end");
  });
}

async function cookieAndSignOut(page) {
  await step("session_cookie", async () => {
    const cookies = await page.context().cookies(base);
    const session = cookies.find((c) => c.name === "qgis_session");
    check(session, "no qgis_session cookie");
    check(session.httpOnly, "qgis_session is not HttpOnly");
    const visible = await page.evaluate(() => document.cookie);
    check(!visible.includes("qgis_session"), `document.cookie shows the session: ${visible}`);
    await visit(page, "/accounts/logout/", 200, "logout");
    await submit(page, page.locator('main form[action$="/accounts/logout/"] button[type="submit"]'), 200);
    const left = (await page.context().cookies(base)).find((c) => c.name === "qgis_session");
    check(!left, "the session cookie survived sign-out");
    const replay = curlWithCookie("/accounts/password/change/", `qgis_session=${session.value}`);
    check(replay.status === 303 && replay.location.includes("/accounts/login/"),
      `the old session cookie after sign-out: ${replay.status} ${replay.location}`);
    return {
      http_only: session.httpOnly, same_site: session.sameSite, secure: session.secure,
      document_cookie_has_session: visible.includes("qgis_session"), replay,
    };
  });
}

// ---- Reviewer --------------------------------------------------------------------------

/** Opens `version` from the queue, approves it and times the public page. */
async function approveFromQueue(page, version, name) {
  await visit(page, "/plugins/unapproved/", 200, `queue-${name}`);
  const review = `/plugins/${pkg}/version/${version}/review/`;
  const link = page.locator(`a[href$="${review}"]`).first();
  check(await link.count() > 0, `the queue has no link to ${review}`);
  await Promise.all([page.waitForNavigation(), link.click()]);
  check(page.url() === `${base}${review}`, `the queue's link led to ${page.url()}`);
  await audit(page, `review-${name}`);
  const details = await reviewDetails(page);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => /\/approve\/?$/.test(r.url()) && r.request().method() === "POST"),
    formButton(page, "/approve/").click(),
  ]);
  const answered = Date.now();
  check(answer.status() === 303, `approve: ${answer.status()}`);
  const live = await publicPageShows(page, version, answered);
  await page.waitForURL(`${base}${review}`);
  const flash = (await page.textContent(".flash").catch(() => "")) ?? "";
  await audit(page, `approved-${name}`);
  return { ...details, flash: flash.trim(), ...live };
}

/** What the review page shows of the changes: diff lines and the homepage row. */
async function reviewDetails(page) {
  const text = (await page.textContent("main")).replace(/\s+/g, " ");
  const homepageRow = page.locator("tr", { hasText: "homepage" }).first();
  const row = (await homepageRow.count())
    ? { text: (await homepageRow.textContent()).replace(/\s+/g, " ").trim(),
      class: await homepageRow.getAttribute("class") }
    : null;
  return {
    shows_next_line: text.includes(cfg.next_line.replace(/\s+/g, " ").trim()),
    homepage_row: row,
    has_sha256: /[0-9a-f]{64}/.test(text),
  };
}

/** Polls the public plugin page (no pause) until it lists `version`; ms since `since`. */
async function publicPageShows(page, version, since) {
  const url = `${base}/plugins/${pkg}/`;
  let status = 0;
  for (;;) {
    const r = await page.request.get(url, { headers: { "Cache-Control": "no-cache" } });
    status = r.status();
    const listed = status === 200 && (await r.text()).includes(`/plugins/${pkg}/version/${version}/`);
    const ms = Date.now() - since;
    if (listed) return { live_after_ms: ms, public_status: status };
    check(ms < 5000, `the public page ${url} did not list ${version} within 5 s (${status})`);
  }
}

async function reviewer(page) {
  await step("reviewer_sign_in", async () => {
    await signIn(page, cfg.reviewer, "/accounts/invite/");
    await audit(page, "invite");
  });
}

async function approveFirst(page) {
  await step("approve_first", () => approveFromQueue(page, cfg.versions.first, "first"));
}

async function reviewerDiff(page) {
  await step("approve_next", async () => {
    const r = await approveFromQueue(page, cfg.versions.next, "next");
    check(r.shows_next_line, `the review page does not show the changed line ${cfg.next_line}`);
    check(r.homepage_row && r.homepage_row.text.includes(cfg.new_homepage)
      && r.homepage_row.text.includes(cfg.old_homepage),
    `the homepage row does not show both homepages: ${JSON.stringify(r.homepage_row)}`);
    await visit(page, `/plugins/${pkg}/`, 200, "public-plugin");
    return r;
  });
}

// ---- Outsider --------------------------------------------------------------------------

async function outsider(page, tokenId) {
  await step("outsider_sign_in", () => signIn(page, cfg.outsider, "/plugins/my", null));
  await refusals("outsider_forbidden", async () => {
    const v = cfg.versions.next;
    const p = `/plugins/${pkg}`;
    const gets = [`${p}/update/`, `${p}/delete/`, `${p}/version/add/`, `${p}/version/${v}/update/`,
      `${p}/version/${v}/delete/`, `${p}/tokens/`, `${p}/tokens/${tokenId}/`,
      `${p}/tokens/${tokenId}/update`, `${p}/tokens/${tokenId}/delete/`];
    const posts = [...gets, `${p}/restore/`, `${p}/tokens/create/`];
    const statuses = {};
    for (const path of gets) {
      const r = await page.goto(`${base}${path}`);
      statuses[`GET ${path}`] = r.status();
    }
    await audit(page, "forbidden");
    const csrf = await page.locator('input[name="csrfmiddlewaretoken"]').first().getAttribute("value");
    for (const path of posts) {
      const r = await page.evaluate(async ([url, token]) => {
        const body = new URLSearchParams({ csrfmiddlewaretoken: token, delete_confirm: "1",
          restore_confirm: "1", description: "x", owners: "otto", maintainer: "otto" });
        return (await fetch(url, { method: "POST", body, redirect: "manual" })).status;
      }, [path, csrf]);
      statuses[`POST ${path}`] = r;
    }
    const wrong = Object.entries(statuses).filter(([, s]) => s !== 403);
    check(wrong.length === 0, `an outsider was not refused: ${JSON.stringify(wrong)}`);
    return { statuses };
  });
}

// ---- Pages of both journeys not visited above (each audited and screenshotted) ----------

async function managementPages(author, reviewerPage, tokenId) {
  await step("management_pages", async () => {
    const p = `/plugins/${pkg}`;
    await visit(author, `${p}/update/`, 200, "plugin-update");
    await visit(author, `${p}/version/add/`, 200, "version-add");
    await visit(author, `${p}/version/${cfg.versions.first}/delete/`, 200, "version-delete");
    await visit(author, `${p}/delete/`, 200, "plugin-delete");
    await visit(author, `${p}/tokens/${tokenId}/update`, 200, "token-edit");
    await visit(reviewerPage, `/plugins/user/${cfg.author}/admin`, 200, "user-admin");
    check((await reviewerPage.textContent("main")).includes(cfg.author),
      "the user admin page names the user");
  });
}

// ---- Feedback (issue 15) ----------------------------------------------------------------

/** The reviewer writes two tasks on the next version; the author ticks one and answers it. */
async function feedbackRound(reviewerPage, author) {
  await step("feedback_round", async () => {
    const review = `/plugins/${pkg}/version/${cfg.versions.next}/review/`;
    await visit(reviewerPage, review, 200);
    await reviewerPage.fill("#feedback-text", "Thanks!\n- [ ] Add a LICENSE file\n- [ ] Remove the <b>debug</b> print");
    await submit(reviewerPage, formButton(reviewerPage, "/feedback/"), 200);
    const tasks = await reviewerPage.locator("main .feedback li.task").count();
    check(tasks === 2, `the feedback made ${tasks} tasks, expected 2`);
    const escaped = await reviewerPage.locator("main .feedback .task-text b").count();
    check(escaped === 0, "task text was rendered as HTML");
    await audit(reviewerPage, "review-feedback");
    await visit(author, review, 200);
    await submit(author, formButton(author, "/complete/"), 200);
    await author.fill("main .feedback li.task textarea >> nth=0", "Added in 1.1.1.");
    await submit(author, formButton(author, "/answer/"), 200);
    const done = await author.locator("main .feedback li.task.done").count();
    const answer = (await author.textContent("main .feedback .task-answer").catch(() => "")) ?? "";
    check(done === 1, `${done} tasks done after ticking one`);
    check(answer.includes("Added in 1.1.1."), `the answer is not shown: ${answer}`);
    await audit(author, "author-feedback");
    await visit(author, "/plugins/my", 200);
    const my = (await author.textContent("main")) ?? "";
    check(/1 open task/.test(my), `/plugins/my does not count the open task: ${my.slice(0, 600)}`);
    return { tasks, done, answer: answer.trim() };
  });
}

// ---- Automated checks on the review page (issue 15) -------------------------------------

async function scanPages(author, reviewerPage) {
  await step("scan_pages", async () => {
    const sc = cfg.scan;
    const blocked = `/plugins/${sc.blocked}/version/${sc.version}/review/`;
    await visit(author, blocked, 200, "review-blocked");
    const text = await author.textContent("main");
    check(text.includes("Blocked by the security scan"), "the blocked version's page has no error box");
    check(await author.locator('a[href*="/api/v1/download/"]').count() === 0,
      "the blocked version's page links its download");
    await visit(reviewerPage, blocked, 200, "review-blocked-staff");
    check(await reviewerPage.locator('form[action$="/override/"]').count() === 1,
      "staff see no override form on a blocked version");
    await visit(author, `/plugins/${sc.warnings}/version/${sc.version}/review/`, 200);
    const waive = author.locator("details.waive summary").first();
    check(await waive.count() === 1, "no waive form beside the waivable warning");
    await waive.click();
    await audit(author, "review-warnings");
  });
}

// ---- The session -----------------------------------------------------------------------

let failed = false;
try {
  const author = await newPage("author");
  const reviewerPage = await newPage("reviewer");
  const outsiderPage = await newPage("outsider");
  await accounts(outsiderPage);
  await cookieAndSignOut(outsiderPage);
  await reviewer(reviewerPage);
  await authorUploads(author);
  await approveFirst(reviewerPage);
  await authorTokens(author);
  await outsider(outsiderPage, summary.steps.token_kept.id);
  await feedbackRound(reviewerPage, author);
  await reviewerDiff(reviewerPage);
  await csrfRefused(author);
  await managementPages(author, reviewerPage, summary.steps.token_kept.id);
  await scanPages(author, reviewerPage);
  summary.step = null;
} catch (e) {
  failed = true;
  summary.error = `step ${summary.step}: ${e instanceof StepFailed ? e.message : e.stack ?? e}`;
  console.error(summary.error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(failed ? 1 : 0);
