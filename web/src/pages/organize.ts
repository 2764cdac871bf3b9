// Organizers: the sales dashboard of their events, a new venue from the
// compact layout (with a preview), a new event, publishing drafts, and one
// event's live figures with its bookings as CSV.
import { call, download, get, problemText, role, session, type Dashboard, type EventAnalytics, type EventInfo, type Page, type SeatMap, type Venue } from "../api";
import { announce, h, refill, s, signInFirst } from "../dom";
import { barChart, everyDay, funnel, heatMap } from "../charts";
import { money, when } from "../format";

// The figures are re-read this often while the page is visible: the
// workers count sales in the transactions that make them, so a sale shows
// at the next read.
const figuresEvery = 4000;

function organizerOnly(main: HTMLElement): boolean {
  if (!session()) { signInFirst(); return false; }
  const r = role();
  if (r !== "organizer" && r !== "admin") {
    main.append(h("h1", {}, "Organize"), h("p", {}, "These pages are for organizers. Ask an admin to make your account an organizer's."));
    return false;
  }
  return true;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function figure(label: string, value: string, id: string): HTMLElement {
  return h("div", { class: "figure", id }, h("span", { class: "meta" }, label), h("strong", {}, value));
}

// repeat runs fn now and then every figuresEvery while visible, until the
// returned stop is called.
function repeat(fn: () => Promise<void>): () => void {
  let alive = true, timer = 0;
  const round = async () => {
    if (!alive) return;
    if (!document.hidden) await fn();
    if (alive) timer = window.setTimeout(round, figuresEvery);
  };
  void round();
  return () => { alive = false; window.clearTimeout(timer); };
}

export function organizePage(main: HTMLElement): (() => void) | void {
  if (!organizerOnly(main)) return;
  const aborts = new AbortController();
  const dash = h("section", { class: "card", id: "dashboard", "aria-labelledby": "dash-title" },
    h("h2", { id: "dash-title" }, "Sales, last 30 days"), h("p", { class: "meta" }, "Loading…"));
  const drafts = h("section", { class: "card", id: "drafts", "aria-labelledby": "drafts-title" },
    h("h2", { id: "drafts-title" }, "Drafts"), h("p", { class: "meta" }, "Loading…"));
  const events = eventForm(() => void loadDrafts());
  main.append(h("h1", {}, "Organize"), dash, h("div", { class: "two" }, events.el, venueForm(events.reloadVenues)), drafts);

  const loadDrafts = async () => {
    try {
      const page = await get<Page<EventInfo>>("/events?status=draft&limit=50", { signal: aborts.signal, cache: "no-store" });
      const list = h("ul", { class: "plain" }, ...page.items.map((e) => draftRow(e, () => void loadDrafts())));
      drafts.replaceChildren(drafts.firstChild!, page.items.length ? list : h("p", { class: "meta" }, "No drafts."));
    } catch (x) {
      if (!aborts.signal.aborted) drafts.replaceChildren(drafts.firstChild!, h("p", { class: "error" }, problemText(x)));
    }
  };
  void loadDrafts();

  let shown = "";
  const stop = repeat(async () => {
    let d: Dashboard;
    try {
      d = await get<Dashboard>("/analytics/dashboard", { signal: aborts.signal, cache: "no-store" });
    } catch (x) {
      if (!aborts.signal.aborted) dash.replaceChildren(dash.firstChild!, h("p", { class: "error" }, problemText(x)));
      shown = "";
      return;
    }
    // Redrawn only when the figures changed.
    const key = JSON.stringify(d);
    if (key === shown) return;
    shown = key;
    const revenue = (d.revenue ?? []).map((m) => money(m.net_cents, m.currency)).join(" + ") || "none";
    const top = d.top_events ?? [];
    refill(dash, dash.firstChild,
      h("div", { class: "figures" },
        figure("Bookings", String(d.total_bookings), "f-bookings"),
        figure("Confirmed", String(d.confirmed_bookings), "f-confirmed"),
        figure("Seats sold", `${d.seats_sold} of ${d.capacity}`, "f-seats"),
        figure("Revenue (net)", revenue, "f-revenue"),
        figure("Cancelled", pct(d.cancellation_rate), "f-cancel")),
      h("h3", {}, "Seats sold per day"),
      barChart(everyDay(d.from, d.to, d.daily, (x) => x.seats_sold), "Seats sold"),
      h("h3", {}, "Top events"),
      top.length
        ? h("div", { class: "scroll", role: "region", tabindex: 0, "aria-label": "Top events", id: "top-events-region" }, h("table", { class: "table", id: "top-events" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "Seats sold"), h("th", { scope: "col" }, "Confirmed"), h("th", { scope: "col" }, "Revenue"))),
          h("tbody", {}, ...top.map((e) => h("tr", { "data-event": e.event_id },
            h("td", {}, h("a", { href: `#/organize/events/${e.event_id}`, id: `top-${e.event_id}` }, e.title)),
            h("td", {}, `${e.seats_sold} of ${e.capacity}`), h("td", {}, String(e.confirmed)), h("td", {}, money(e.revenue_cents, e.currency)))))))
        : h("p", { class: "meta" }, "No sales in these days yet."));
  });
  return () => { stop(); aborts.abort(); };
}

function draftRow(e: EventInfo, changed: () => void): HTMLElement {
  const err = h("p", { class: "error", role: "alert" });
  const publish = h("button", { type: "button", class: "secondary", "data-publish": e.id }, "Publish");
  publish.addEventListener("click", async () => {
    publish.disabled = true;
    try {
      await call("POST", `/events/${e.id}/publish`);
    } catch (x) {
      publish.disabled = false;
      err.textContent = problemText(x);
      return;
    }
    announce(`${e.title} is published and on sale.`);
    changed();
  });
  return h("li", {}, h("strong", {}, e.title), ` · ${when(e.starts_at, e.time_zone)} · ${e.venue.name} `, publish, err);
}

// A datetime-local value a week from now at 20:00, the form's default.
function nextWeek(): string {
  const d = new Date(Date.now() + 7 * 86_400_000);
  d.setHours(20, 0, 0, 0);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T20:00`;
}

function myVenues(): Promise<Page<Venue>> {
  // Events go only on venues the organizer owns; admins may use any.
  return get<Page<Venue>>(role() === "admin" ? "/venues?limit=100" : "/venues?owner=me&limit=100", { cache: "no-store" });
}

function eventForm(created: () => void): { el: HTMLElement; reloadVenues: () => void } {
  const venue = h("select", { id: "ev-venue", required: true });
  const title = h("input", { id: "ev-title", required: true, maxlength: 200 });
  const category = h("input", { id: "ev-category", value: "music" });
  const description = h("textarea", { id: "ev-description", rows: 2 });
  const starts = h("input", { id: "ev-starts", type: "datetime-local", required: true, value: nextWeek() });
  const hours = h("input", { id: "ev-hours", type: "number", min: 0.5, step: 0.5, value: 2, required: true });
  const currency = h("select", { id: "ev-currency" }, ...["USD", "EUR", "GBP"].map((c) => h("option", { value: c }, c)));
  const price = h("input", { id: "ev-price", type: "number", min: 0, step: 0.01, value: "25.00", required: true });
  const err = h("p", { class: "error", role: "alert" });
  const out = h("div", { id: "ev-created", role: "status" });
  const submit = h("button", { type: "submit" }, "Create draft");
  const loadVenues = async () => {
    try {
      const page = await myVenues();
      venue.replaceChildren(...page.items.map((v) => h("option", { value: v.id }, `${v.name}, ${v.city}`)));
      if (!page.items.length) err.textContent = "You have no venues yet: create one first.";
    } catch (x) {
      err.textContent = problemText(x);
    }
  };
  void loadVenues();
  const form = h("form", { class: "card narrow", id: "event-form", "aria-labelledby": "ev-form-title" },
    h("h2", { id: "ev-form-title" }, "New event"),
    h("label", { for: "ev-venue" }, "Venue"), venue,
    h("label", { for: "ev-title" }, "Title"), title,
    h("label", { for: "ev-category" }, "Category"), category,
    h("label", { for: "ev-description" }, "Description"), description,
    h("label", { for: "ev-starts" }, "Starts (your time)"), starts,
    h("label", { for: "ev-hours" }, "Length in hours"), hours,
    h("label", { for: "ev-currency" }, "Currency"), currency,
    h("label", { for: "ev-price" }, "Price of every seat"), price,
    submit, err, out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    submit.disabled = true;
    try {
      // One tier for the whole venue: a tier must cover every section.
      const v = await get<Venue>(`/venues/${venue.value}`);
      const start = new Date(starts.value);
      const end = new Date(start.getTime() + Number(hours.value) * 3_600_000);
      const ev = (await call<EventInfo>("POST", "/events", {
        venue_id: venue.value, title: title.value.trim(), category: category.value.trim() || undefined,
        description: description.value.trim() || undefined, starts_at: start.toISOString(), ends_at: end.toISOString(),
        currency: currency.value,
        tiers: [{ name: "Standard", price_cents: Math.round(Number(price.value) * 100), sections: (v.sections ?? []).map((x) => x.name) }],
      })).body;
      const publish = h("button", { type: "button", id: "ev-publish" }, "Publish now");
      out.replaceChildren(h("p", {}, `Draft “${ev.title}” created. Publishing puts every seat on sale.`), publish);
      publish.addEventListener("click", async () => {
        publish.disabled = true;
        try {
          await call("POST", `/events/${ev.id}/publish`);
        } catch (x) {
          publish.disabled = false;
          err.textContent = problemText(x);
          return;
        }
        out.replaceChildren(h("p", { class: "status confirmed", id: "ev-published" }, `“${ev.title}” is published and on sale.`),
          h("p", { class: "row" }, h("a", { href: `#/organize/events/${ev.id}` }, "Its sales dashboard"), h("a", { href: `#/events/${ev.id}` }, "Its page for buyers")));
        announce(`${ev.title} is published and on sale.`);
        created();
      });
      created();
    } catch (x) {
      err.textContent = problemText(x);
    } finally {
      submit.disabled = false;
    }
  });
  return { el: form, reloadVenues: () => void loadVenues() };
}

// The compact layout format (docs/catalog.md), for the preview.
interface LayoutRow { label?: string; seats?: number; offset?: number }
interface LayoutSection { name?: string; x?: number; y?: number; row_count?: number; seats_per_row?: number; rows?: LayoutRow[] }

// expand places the layout's seats as the API will (catalog.go Expand):
// seat n of row r at x = section.x + offset + (n-1), y = section.y + r; a
// section without y goes 2 below the previous ones.
function expand(sections: LayoutSection[]): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  let nextY = 0;
  for (const sec of sections) {
    const rows: LayoutRow[] = sec.rows?.length ? sec.rows
      : Array.from({ length: Math.min(500, sec.row_count ?? 0) }, () => ({ seats: sec.seats_per_row ?? 0 }));
    const x0 = sec.x ?? 0, y0 = sec.y ?? nextY;
    rows.forEach((r, ri) => {
      for (let n = 1; n <= Math.min(1000, r.seats ?? 0) && out.length < 100_000; n++) out.push({ x: x0 + (r.offset ?? 0) + n - 1, y: y0 + ri });
    });
    nextY = Math.max(nextY, y0 + rows.length + 2);
  }
  return out;
}

function preview(seats: { x: number; y: number }[], sections: number): SVGElement {
  let minX = 0, minY = 0, maxX = 0, maxY = 0;
  if (seats.length) {
    minX = Math.min(...seats.map((p) => p.x)); maxX = Math.max(...seats.map((p) => p.x));
    minY = Math.min(...seats.map((p) => p.y)); maxY = Math.max(...seats.map((p) => p.y));
  }
  const label = `Preview: ${sections} section${sections === 1 ? "" : "s"}, ${seats.length} seats`;
  const svg = s("svg", { class: "preview", viewBox: `${minX - 1} ${minY - 1} ${maxX - minX + 3} ${maxY - minY + 3}`, role: "img", "aria-label": label },
    s("title", {}, label));
  // A path of unit squares draws thousands of seats as one element.
  svg.append(s("path", { d: seats.map((p) => `M${p.x} ${p.y}h0.8v0.8h-0.8z`).join(""), class: "preview-seats" }));
  return svg;
}

const sampleLayout = `{"sections": [
  {"name": "FLOOR", "row_count": 4, "seats_per_row": 12, "accessible": ["A-1", "A-12"]},
  {"name": "BALCONY", "rows": [
    {"label": "A", "seats": 10, "offset": 1},
    {"label": "B", "seats": 12}
  ]}
]}`;

function venueForm(created: () => void): HTMLElement {
  const name = h("input", { id: "v-name", required: true });
  const city = h("input", { id: "v-city", value: "Lisbon" });
  const address = h("input", { id: "v-address" });
  const tz = h("input", { id: "v-tz", value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", required: true });
  const layout = h("textarea", { id: "v-layout", rows: 9, spellcheck: "false", class: "code" });
  layout.value = sampleLayout;
  const pv = h("div", { class: "previewbox", id: "v-preview" });
  const err = h("p", { class: "error", role: "alert" });
  const out = h("p", { role: "status", id: "v-created" });
  const submit = h("button", { type: "submit" }, "Create venue");
  const draw = () => {
    try {
      const l = JSON.parse(layout.value) as { sections?: LayoutSection[] };
      const secs = Array.isArray(l.sections) ? l.sections : [];
      pv.replaceChildren(preview(expand(secs), secs.length));
      err.textContent = "";
    } catch {
      pv.replaceChildren(h("p", { class: "meta" }, "The layout is not valid JSON yet."));
    }
  };
  layout.addEventListener("input", draw);
  draw();
  const form = h("form", { class: "card narrow", id: "venue-form", "aria-labelledby": "v-form-title" },
    h("h2", { id: "v-form-title" }, "New venue"),
    h("label", { for: "v-name" }, "Name"), name,
    h("label", { for: "v-city" }, "City"), city,
    h("label", { for: "v-address" }, "Address"), address,
    h("label", { for: "v-tz" }, "Time zone (IANA)"), tz,
    h("label", { for: "v-layout" }, "Layout (compact format: sections of rows, docs/catalog.md)"), layout,
    pv, submit, err, out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    let l: unknown;
    try { l = JSON.parse(layout.value); } catch { err.textContent = "The layout is not valid JSON."; return; }
    submit.disabled = true;
    try {
      const v = (await call<Venue>("POST", "/venues", { name: name.value.trim(), city: city.value.trim(), address: address.value.trim(), time_zone: tz.value.trim(), layout: l })).body;
      out.textContent = `Venue “${v.name}” created; it is in the event form's list.`;
      created();
    } catch (x) {
      err.textContent = problemText(x);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function organizeEventPage(id: string) {
  return (main: HTMLElement): (() => void) | void => {
    if (!organizerOnly(main)) return;
    const aborts = new AbortController();
    const head = h("h1", {}, "Sales");
    const body = h("div", { id: "event-dashboard" }, h("p", { class: "meta" }, "Loading…"));
    const err = h("p", { class: "error", role: "alert" });
    const csv = h("button", { type: "button", class: "secondary", id: "csv" }, "Export bookings (CSV)");
    csv.addEventListener("click", async () => {
      csv.disabled = true;
      err.textContent = "";
      try {
        await download(`/analytics/events/${id}/bookings.csv`, `event-${id}-bookings.csv`);
      } catch (x) {
        err.textContent = problemText(x);
      } finally {
        csv.disabled = false;
      }
    });
    main.append(h("p", {}, h("a", { href: "#/organize" }, "← All my events")), head,
      h("p", { class: "row" }, h("a", { href: `#/events/${id}` }, "The event's page for buyers"), csv), err, body);
    let shown = "";
    const stop = repeat(async () => {
      let a: EventAnalytics, m: SeatMap;
      try {
        // The seat map revalidates with its ETag: unchanged, it is a 304.
        [a, m] = await Promise.all([get<EventAnalytics>(`/analytics/events/${id}`, { signal: aborts.signal, cache: "no-store" }),
          get<SeatMap>(`/events/${id}/seats`, { signal: aborts.signal, cache: "no-cache" })]);
      } catch (x) {
        if (!aborts.signal.aborted) err.textContent = problemText(x);
        return;
      }
      err.textContent = "";
      // Redrawn only when the figures or a seat's status changed.
      const key = JSON.stringify(a) + m.seats.map((x) => x.status[0]).join("");
      if (key === shown) return;
      shown = key;
      head.textContent = `Sales: ${a.title}`;
      const f = a.funnel;
      const days = a.daily ?? [];
      const from = days.length ? days[0].day : new Date().toISOString().slice(0, 10);
      const to = days.length ? days[days.length - 1].day : from;
      const failed = Object.entries(f.failed_by_reason ?? {}).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ");
      refill(body,
        h("div", { class: "figures" },
          figure("Seats sold", `${a.seats_sold} of ${a.capacity}`, "e-seats"),
          figure("Sold", pct(a.capacity_utilization), "e-util"),
          figure("Revenue", money(a.revenue.gross_cents, a.currency), "e-gross"),
          figure("Refunded", money(a.revenue.refunded_cents, a.currency), "e-refunded"),
          figure("Net", money(a.revenue.net_cents, a.currency), "e-net"),
          figure("Cancelled", pct(a.cancellation_rate), "e-cancel")),
        h("section", { class: "card", "aria-labelledby": "funnel-title" }, h("h2", { id: "funnel-title" }, "Funnel"),
          funnel([
            ...(f.holds_taken === null ? [] : [{ label: "Holds taken", value: f.holds_taken }]),
            { label: "Bookings submitted", value: f.bookings_submitted },
            { label: "Seats won (reserved)", value: f.reserved },
            { label: "Confirmed", value: f.confirmed },
          ]),
          h("p", { class: "meta" }, `Failed ${f.failed}${failed ? ` (${failed})` : ""} · expired ${f.expired} · cancelled ${f.cancelled} · refunded ${f.refunded}`),
          h("p", { class: "meta" }, `Waitlist: ${f.waitlist_joins} joined, ${f.waitlist_offers} offers, ${f.waitlist_conversions} booked`)),
        h("section", { class: "card", "aria-labelledby": "heat-title" }, h("h2", { id: "heat-title" }, "Capacity"),
          h("p", { class: "meta" }, "Sold seats dark, held grey, available outlined."), heatMap(m.seats)),
        h("section", { class: "card", "aria-labelledby": "daily-title" }, h("h2", { id: "daily-title" }, "Sales over time"),
          barChart(everyDay(from, to, days, (x) => x.seats_sold), "Seats sold"),
          barChart(everyDay(from, to, days, (x) => x.revenue_cents?.[a.currency] ?? 0), "Revenue", (c) => money(c, a.currency))),
      );
      body.setAttribute("data-confirmed", String(f.confirmed));
    });
    return () => { stop(); aborts.abort(); };
  };
}
