import { get, problemText, type EventInfo, type Page } from "../api";
import { h } from "../dom";
import { money, when } from "../format";

function card(ev: EventInfo): HTMLElement {
  const price = ev.price_range
    ? ev.price_range.min_cents === ev.price_range.max_cents
      ? money(ev.price_range.min_cents, ev.currency)
      : `${money(ev.price_range.min_cents, ev.currency)} – ${money(ev.price_range.max_cents, ev.currency)}`
    : "";
  const seats = ev.available_seats > 0 ? `${ev.available_seats} of ${ev.capacity} seats left` : "Sold out";
  return h("li", { class: "card event" },
    h("h2", {}, h("a", { href: `#/events/${ev.id}` }, ev.title)),
    h("p", { class: "meta" }, `${when(ev.starts_at, ev.time_zone)} · ${ev.venue.name}, ${ev.venue.city}`),
    h("p", { class: "meta" }, [price, seats, ev.category].filter(Boolean).join(" · ")),
  );
}

export function eventsPage(main: HTMLElement, params: URLSearchParams): () => void {
  const q = params.get("q") ?? "";
  const input = h("input", { id: "q", type: "search", name: "q", value: q, placeholder: "jazz, Hamlet, Lisbon…" });
  const form = h("form", { class: "search", role: "search" },
    h("label", { for: "q" }, "Search events"), input, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = input.value.trim();
    location.hash = v ? `#/?q=${encodeURIComponent(v)}` : "#/";
  });
  const list = h("ul", { class: "events" });
  const status = h("p", { class: "meta" }, "Loading…");
  const more = h("button", { type: "button", hidden: true }, "More events");
  main.append(h("h1", {}, q ? `Events matching “${q}”` : "Upcoming events"), form, status, list, more);
  let cursor = "";
  let alive = true;
  const load = async () => {
    const qs = new URLSearchParams({ limit: "20" });
    if (q) { qs.set("q", q); qs.set("sort", "relevance"); }
    if (cursor) qs.set("cursor", cursor);
    try {
      const page = await get<Page<EventInfo>>(`/events?${qs}`);
      if (!alive) return;
      list.append(...page.items.map(card));
      cursor = page.next_cursor ?? "";
      more.hidden = !cursor;
      status.textContent = list.children.length ? "" : q ? "No events match that search." : "No upcoming events.";
    } catch (x) {
      status.textContent = problemText(x);
    }
  };
  more.addEventListener("click", load);
  void load();
  return () => { alive = false; };
}
