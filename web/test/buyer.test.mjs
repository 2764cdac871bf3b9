// The browser test (make web-test, from deploy/web-test.sh): Debian's
// headless Chromium driven by playwright-core against a running Evently.
//   EVENTLY_WEB_URL   the API's base URL (http://127.0.0.1:58080)
//   WEB_SCREENSHOTS   folder for the screenshots (web/screenshots)
// A buyer signs in, finds an event, picks two seats on the map (mouse and
// keyboard), holds, pays with tok_visa, sees confirmed, finds the booking
// in "My bookings" and cancels it. Two buyers then race for one seat: one
// holds it, the other is told and sees it turn unavailable. axe-core checks
// every page for serious accessibility violations. The 20,000-seat arena
// opens on its sections and draws one section's seats. A sold-out event
// offers its waitlist; seats coming back are offered to the first party in
// line, who books them; the inbox shows the news with a live unread count.
// An organizer creates a venue and an event, publishes it, and watches a
// sale appear on its dashboard; an admin reads the pipeline. Waits are for
// conditions, each with a deadline; no fixed sleeps.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const base = process.env.EVENTLY_WEB_URL || "http://127.0.0.1:58080";
const shots = process.env.WEB_SCREENSHOTS || join(dirname(fileURLToPath(import.meta.url)), "..", "screenshots");
const eventTitle = "Late Night Jazz Trio"; // seeded: the club, 120 seats, on sale
const password = "evently-user-demo";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(shots, { recursive: true });

const desktop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Playwright gives every launch a fresh, temporary user-data-dir.
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const problems = [];
// Statuses a step expects the browser to log as failed loads: the race's
// refused hold (409); the refresh step adds 401.
const expected = new Set([409]);
const started = Date.now();
let failed = false;

let current = "";
async function step(name, fn) {
  const t = Date.now();
  current = name;
  try {
    await fn();
    console.log(`ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// page opens a tab in a fresh context (its own localStorage) and records
// script errors and console errors (CSP violations among them).
async function page(viewport) {
  const ctx = await browser.newContext({ viewport });
  const p = await ctx.newPage();
  p.setDefaultTimeout(15_000);
  p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Refused requests are judged by their responses, which arrive in order
  // with the page's other traffic; the console's "Failed to load resource"
  // lines for them may come later, after a step has stopped expecting them.
  p.on("response", (r) => {
    if (r.status() >= 400 && !expected.has(r.status())) {
      const tok = (r.request().headers().authorization || "").split(".")[1];
      const who = tok ? Buffer.from(tok, "base64url").toString() : "no token";
      problems.push(`${r.status()} from ${r.request().method()} ${r.url()} (step ${current}; ${who}; page ${p.url()})`);
    }
  });
  p.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of \d+/.test(m.text())) {
      problems.push(`console error: ${m.text()} at ${m.location().url}`);
    }
  });
  return p;
}

async function signIn(p, email, pass = password) {
  await p.goto(`${base}/#/login`);
  await p.getByLabel("Email").fill(email);
  await p.getByLabel("Password").fill(pass);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.locator("#account .who", { hasText: email }).waitFor();
}

async function openEvent(p, title = eventTitle) {
  await p.goto(`${base}/#/?q=${encodeURIComponent(title)}`);
  await p.getByRole("link", { name: title }).click();
  await p.locator("svg.seatmap rect[data-seat]").first().waitFor();
}

// axe reports the page's serious and critical violations.
async function axe(p, where) {
  await p.evaluate(axeSource);
  const res = await p.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(!bad.length, `${where}: accessibility violations: ` +
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`).join(" | "));
}

const shot = (p, name) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: false });

// bothWidths takes the page's screenshot at desktop and at phone width,
// checks it is no wider than a phone and has no serious accessibility
// violations at either, and goes back to desktop width.
async function bothWidths(p, name, where) {
  const resize = async (size) => {
    await p.setViewportSize(size);
    await p.waitForFunction((w) => window.innerWidth === w, size.width);
  };
  await resize(desktop);
  await shot(p, `desktop-${name}`);
  await axe(p, where);
  await resize(phone);
  await shot(p, `phone-${name}`);
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${where}: the page is ${overflow}px wider than a phone`);
  await axe(p, `${where} (phone)`);
  await resize(desktop);
}

// cancelBooking cancels, on "My bookings", the user's confirmed booking
// of the event with this title.
async function cancelBooking(p, title) {
  await p.goto(`${base}/#/bookings`);
  const row = p.locator("li.booking").filter({ hasText: title }).filter({ has: p.locator('[data-status="confirmed"]') }).first();
  await row.waitFor();
  const booking = p.locator(`li.booking[data-booking="${await row.getAttribute("data-booking")}"]`);
  p.once("dialog", (d) => d.accept());
  await booking.getByRole("button", { name: "Cancel booking" }).click();
  await booking.locator('.booking-status[data-status="cancelled"]').waitFor({ timeout: 30_000 });
}

try {
  const p = await page(desktop);

  await step("events list and search", async () => {
    await p.goto(`${base}/`);
    await p.locator("ul.events li").first().waitFor();
    await shot(p, "desktop-events");
    await axe(p, "events list");
    await p.getByLabel("Search events").fill(eventTitle);
    await p.getByRole("button", { name: "Search" }).click();
    await p.getByRole("link", { name: eventTitle }).waitFor();
  });

  await step("sign in", async () => {
    await p.goto(`${base}/#/login`);
    await axe(p, "sign in");
    await signIn(p, "alice@evently.test");
    const stored = await p.evaluate(() => JSON.parse(localStorage.getItem("evently.session") || "null"));
    check(stored && stored.access_token && stored.refresh_token && stored.email === "alice@evently.test", "no session in localStorage");
  });

  let picked = [];
  await step("pick two seats: one by mouse, one by keyboard", async () => {
    await openEvent(p);
    const first = p.locator('rect[data-seat][data-status="available"]').first();
    const firstId = await first.getAttribute("data-seat");
    await first.click();
    await p.keyboard.press("ArrowRight");
    await p.keyboard.press("Space");
    const sel = p.locator('rect[data-seat][data-status="selected"]');
    await p.waitForFunction(() => document.querySelectorAll('rect[data-status="selected"]').length === 2);
    picked = await sel.evaluateAll((els) => els.map((e) => e.getAttribute("data-seat")));
    check(picked[0] === firstId, `first pick ${picked[0]}, want ${firstId}`);
    const label = await sel.first().getAttribute("aria-label");
    check(/^Section \w+, row \w+, seat \d+, .+ \$\d+\.\d\d, selected/.test(label), `seat label ${label}`);
    check((await sel.first().getAttribute("role")) === "checkbox" && (await sel.first().getAttribute("aria-checked")) === "true", "picked seat is not a checked checkbox");
    await p.locator("#picks li").nth(1).waitFor();
    await shot(p, "desktop-event-picked");
    await axe(p, "event page");
  });

  await step("hold with a countdown, pay with tok_visa, see confirmed", async () => {
    await p.getByRole("button", { name: "Hold seats" }).click();
    await p.locator("#countdown").filter({ hasText: /^\d+:\d\d$/ }).waitFor();
    await shot(p, "desktop-event-held");
    check((await p.locator("#card").inputValue()) === "tok_visa", "the default test card is not tok_visa");
    await p.locator("#pay").click();
    await p.locator('#booking .booking-status[data-status="confirmed"]').waitFor({ timeout: 30_000 });
    await shot(p, "desktop-event-confirmed");
    // The map catches up: the seats are sold now.
    await p.waitForFunction((ids) => ids.every((id) => document.querySelector(`rect[data-seat="${id}"]`)?.getAttribute("data-status") === "sold"), picked, { timeout: 15_000 });
  });

  await step("my bookings: confirmed, then cancelled", async () => {
    await p.getByRole("link", { name: "My bookings" }).first().click();
    const row = p.locator("li.booking").filter({ hasText: eventTitle }).filter({ has: p.locator('[data-status="confirmed"]') }).first();
    await row.waitFor();
    await shot(p, "desktop-bookings");
    await axe(p, "my bookings");
    const booking = p.locator(`li.booking[data-booking="${await row.getAttribute("data-booking")}"]`);
    p.once("dialog", (d) => d.accept());
    await booking.getByRole("button", { name: "Cancel booking" }).click();
    await booking.locator('.booking-status[data-status="cancelled"]').waitFor({ timeout: 30_000 });
    await shot(p, "desktop-bookings-cancelled");
  });

  await step("quiet refresh: an expiring and a refused access token are renewed", async () => {
    expected.add(401);
    for (const spoil of [
      (s) => ({ ...s, expires_at: Date.now() }), // about to expire: renewed first
      (s) => ({ ...s, access_token: "not-a-token" }), // refused with 401: renewed, retried
    ]) {
      const before = await p.evaluate(() => JSON.parse(localStorage.getItem("evently.session")));
      await p.evaluate((s) => localStorage.setItem("evently.session", JSON.stringify(s)), spoil(before));
      await p.goto(`${base}/#/`);
      await p.goto(`${base}/#/bookings`);
      await p.locator("li.booking").first().waitFor();
      const after = await p.evaluate(() => JSON.parse(localStorage.getItem("evently.session")));
      check(after.refresh_token !== before.refresh_token && after.access_token !== before.access_token && after.expires_at > Date.now() + 60_000,
        "the session was not renewed");
    }
    expected.delete(401);
  });

  await step("sign out", async () => {
    await p.getByRole("button", { name: "Sign out" }).click();
    await p.locator("#account").getByRole("link", { name: "Sign in" }).waitFor();
    check(await p.evaluate(() => localStorage.getItem("evently.session") === null), "the session is still in localStorage");
  });

  await step("the 20,000-seat arena: sections first, then one section's seats", async () => {
    const t = Date.now();
    await p.goto(`${base}/#/?q=${encodeURIComponent("Pop Arena Spectacular")}`);
    await p.getByRole("link", { name: "Pop Arena Spectacular" }).click();
    await p.locator("button.section").first().waitFor({ timeout: 30_000 });
    const loaded = Date.now() - t;
    check((await p.locator("button.section").count()) === 20, "want 20 sections");
    check((await p.locator("rect[data-seat]").count()) === 0, "the overview draws no seats");
    await shot(p, "desktop-arena-sections");
    await axe(p, "arena sections");
    await p.locator('button[data-section="S107"]').click();
    await p.locator('rect[data-seat="S107-A-1"]').waitFor();
    check((await p.locator("rect[data-seat]").count()) === 1000, "want the section's 1,000 seats drawn");
    await p.keyboard.press("ArrowRight");
    await p.keyboard.press("Space");
    await p.locator('rect[data-seat="S107-A-2"][data-status="selected"]').waitFor();
    await p.locator("#picks li", { hasText: "S107 row A seat 2" }).waitFor();
    await shot(p, "desktop-arena-section");
    await p.getByRole("button", { name: "All sections" }).click();
    await p.locator("button.section").first().waitFor();
    console.log(`     (arena overview shown ${loaded} ms after the click)`);
  });

  await step("phone width", async () => {
    const m = await page(phone);
    await m.goto(`${base}/`);
    await m.locator("ul.events li").first().waitFor();
    await shot(m, "phone-events");
    await signIn(m, "bob@evently.test");
    await openEvent(m);
    await m.locator('rect[data-seat][data-status="available"]').nth(5).click();
    await m.locator("#picks li").first().waitFor();
    await shot(m, "phone-event-picked");
    const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await axe(m, "event page (phone)");
  });

  await step("two buyers race for one seat", async () => {
    const [a, b] = [await page(desktop), await page(desktop)];
    await Promise.all([signIn(a, "carol@evently.test"), signIn(b, "dave@evently.test")]);
    await Promise.all([openEvent(a), openEvent(b)]);
    const seat = await a.locator('rect[data-seat][data-status="available"]').last().getAttribute("data-seat");
    for (const x of [a, b]) await x.locator(`rect[data-seat="${seat}"]`).click();
    await Promise.all([a, b].map((x) => x.getByRole("button", { name: "Hold seats" }).click()));
    const outcome = async (x) => {
      const won = x.locator("#countdown").filter({ hasText: /\d:\d\d/ });
      const lost = x.locator("#message").filter({ hasText: "someone else just took" });
      await won.or(lost).waitFor();
      return (await won.count()) > 0 ? "won" : "lost";
    };
    const results = await Promise.all([outcome(a), outcome(b)]);
    check(results.filter((r) => r === "won").length === 1, `outcomes ${results}: want exactly one winner`);
    const loser = results[0] === "lost" ? a : b;
    await loser.locator(`rect[data-seat="${seat}"][data-status="held"][aria-disabled="true"]`).waitFor();
    const label = await loser.locator(`rect[data-seat="${seat}"]`).getAttribute("aria-label");
    check(label.endsWith("held") || label.includes("held,"), `the lost seat's label ${label} does not say held`);
    await shot(loser, "desktop-race-lost");
  });

  // The seeded sold-out event: alice (2 seats), dave and erin hold every
  // seat; bob (party of 2), carol (1) and frank (4) wait, in that order.
  const soldOut = "Songwriters in the Round";
  let erin;
  await step("a sold-out event offers to join the waitlist", async () => {
    erin = await page(desktop);
    await signIn(erin, "erin@evently.test");
    await erin.goto(`${base}/#/?q=${encodeURIComponent(soldOut)}`);
    await erin.locator("ul.events li", { hasText: soldOut }).filter({ hasText: "Sold out" }).waitFor();
    await erin.getByRole("link", { name: soldOut }).click();
    await erin.locator("#soldout").waitFor();
    await erin.getByRole("button", { name: "Join the waitlist" }).waitFor();
    check((await erin.locator('rect[data-seat][data-status="available"]').count()) === 0, "a sold-out map shows available seats");
    await bothWidths(erin, "waitlist-join", "sold-out event");
    await erin.getByLabel("Seats for your party").selectOption("1");
    await erin.getByRole("button", { name: "Join the waitlist" }).click();
    await erin.locator("#waitlist-place", { hasText: "You are number 4 in line, with 7 people ahead of you." }).waitFor();
    await bothWidths(erin, "waitlist-joined", "waitlist, in line");
  });

  let bob;
  await step("seats come back: the first party in line gets an offer and books it", async () => {
    const alice = await page(desktop);
    await signIn(alice, "alice@evently.test");
    await cancelBooking(alice, soldOut);
    bob = await page(desktop);
    await signIn(bob, "bob@evently.test");
    await bob.goto(`${base}/#/?q=${encodeURIComponent(soldOut)}`);
    await bob.getByRole("link", { name: soldOut }).click();
    // Bob waits first in line; alice's two seats are offered to him.
    await bob.locator('#waitlist[data-status="offered"]').waitFor({ timeout: 30_000 });
    check((await bob.locator("#offer-seats li").count()) === 2, "want an offer of two seats");
    await bob.locator("#offer-countdown").filter({ hasText: /^\d+:\d\d$/ }).waitFor();
    await bothWidths(bob, "waitlist-offered", "waitlist offer");
    await bob.getByRole("button", { name: "Book these seats" }).click();
    await bob.locator('#offer-booking .booking-status[data-status="confirmed"]').waitFor({ timeout: 30_000 });
    await shot(bob, "desktop-waitlist-booked");
    // Erin moved up without a reload: carol (1) and frank (4) are ahead.
    await erin.locator("#waitlist-place", { hasText: "You are number 3 in line, with 5 people ahead of you." }).waitFor({ timeout: 20_000 });
  });

  await step("notifications: a live unread count, the inbox, mark all read", async () => {
    // The badge counts the offer and then, while bob stays on the page, his
    // booking's confirmation: the stream brings it (the fallback read is
    // every 30 s, longer than this wait).
    await bob.locator("#unread").filter({ hasText: /^([2-9]|\d\d+) unread$/ }).waitFor({ timeout: 20_000 });
    await bob.locator("#notifications-link").click();
    await bob.locator('#inbox li.note.unread[data-type="waitlist.offered"]').waitFor();
    await bob.locator('#inbox li.note[data-type="booking.confirmed"]').waitFor({ timeout: 20_000 });
    await bothWidths(bob, "notifications", "notifications");
    await bob.getByRole("button", { name: "Mark all read" }).click();
    await bob.locator("#unread").waitFor({ state: "hidden" });
    await bob.locator("#inbox li.note").first().waitFor();
    check((await bob.locator("#inbox li.note.unread").count()) === 0, "notifications still unread after Mark all read");
  });

  await step("an organizer creates and publishes an event and sees a sale appear on the dashboard", async () => {
    const o = await page(desktop);
    await signIn(o, "organizer1@evently.test", "evently-organizer-demo");
    await o.getByRole("link", { name: "Organize" }).click();
    await o.locator("#dashboard .figures").waitFor();
    // A venue from the compact layout, previewed before it is created.
    const venue = `Web Test Hall ${Date.now()}`;
    await o.locator("#v-name").fill(venue);
    await o.locator("#v-layout").fill('{"sections": [{"name": "MAIN", "row_count": 3, "seats_per_row": 8}]}');
    await o.locator('#v-preview svg[aria-label="Preview: 1 section, 24 seats"]').waitFor();
    await o.getByRole("button", { name: "Create venue" }).click();
    await o.locator("#v-created", { hasText: venue }).waitFor();
    await o.locator("#ev-venue option", { hasText: venue }).waitFor({ state: "attached" });
    await o.locator("#ev-venue").selectOption({ label: `${venue}, Lisbon` });
    const title = `Web Test Premiere ${Date.now()}`;
    await o.locator("#ev-title").fill(title);
    await o.locator("#ev-price").fill("25.00");
    await bothWidths(o, "organize", "organize");
    await o.getByRole("button", { name: "Create draft" }).click();
    await o.getByRole("button", { name: "Publish now" }).click();
    await o.locator("#ev-published").waitFor();
    await o.getByRole("link", { name: "Its sales dashboard" }).click();
    await o.locator('#event-dashboard[data-confirmed="0"]').waitFor();
    const eventId = /organize\/events\/([0-9a-f-]{36})/.exec(o.url())[1];

    const buyer = await page(desktop);
    await signIn(buyer, "frank@evently.test");
    await buyer.goto(`${base}/#/events/${eventId}`);
    await buyer.locator('rect[data-seat][data-status="available"]').first().click();
    await buyer.getByRole("button", { name: "Hold seats" }).click();
    await buyer.locator("#pay").click();
    await buyer.locator('#booking .booking-status[data-status="confirmed"]').waitFor({ timeout: 30_000 });

    // The dashboard, left open, shows the sale at its next read.
    await o.locator('#event-dashboard[data-confirmed="1"]').waitFor({ timeout: 20_000 });
    check((await o.locator("#e-seats strong").textContent()) === "1 of 24", "the dashboard does not show 1 of 24 seats sold");
    check((await o.locator("#e-gross strong").textContent()).includes("25.00"), "the dashboard does not show $25.00 of revenue");
    await o.locator('svg.chart rect.bar[data-value="1"]').first().waitFor();
    await o.locator('svg.heat[aria-label^="Capacity: 1 sold, 0 held, 23 available"]').waitFor({ timeout: 20_000 });
    await bothWidths(o, "dashboard", "sales dashboard");
    const [dl] = await Promise.all([o.waitForEvent("download"), o.getByRole("button", { name: "Export bookings (CSV)" }).click()]);
    const csv = readFileSync(await dl.path(), "utf8");
    check(csv.startsWith("booking_id,") && csv.includes("frank@evently.test") && csv.includes("confirmed"), `the CSV export: ${csv.slice(0, 300)}`);
    await o.goto(`${base}/#/organize`);
    await o.locator("#top-events tr", { hasText: title }).waitFor({ timeout: 20_000 });
    await shot(o, "desktop-organize-top-events");
  });

  await step("operators: the pipeline view", async () => {
    const ad = await page(desktop);
    await signIn(ad, "admin@evently.test", "evently-admin-demo");
    await ad.getByRole("link", { name: "Pipeline" }).click();
    await ad.locator("#partitions tbody tr").first().waitFor({ timeout: 20_000 });
    await ad.locator("#workers tbody tr").first().waitFor({ timeout: 20_000 });
    await ad.locator("#dlq").waitFor();
    await bothWidths(ad, "pipeline", "pipeline");
  });

  check(!problems.length, `the pages reported errors:\n  ${problems.join("\n  ")}`);
} catch (e) {
  if (!failed) console.log(`FAIL ${e.stack || e}`);
  failed = true;
} finally {
  await browser.close();
}
console.log(`${failed ? "FAIL" : "PASS"} web test in ${((Date.now() - started) / 1000).toFixed(1)}s; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
