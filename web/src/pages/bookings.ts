// My bookings, newest first, with cancel.
import { ApiError, call, get, problemText, session, type Booking, type EventInfo, type Page } from "../api";
import { h, signInFirst } from "../dom";
import { money, reasonText, seatName, settled, statusText, when } from "../format";
import { followBooking } from "./follow";

export function bookingsPage(main: HTMLElement): (() => void) | void {
  if (!session()) { signInFirst(); return; }
  const aborts = new AbortController();
  const status = h("p", { class: "meta" }, "Loading…");
  const list = h("ul", { class: "bookings" });
  main.append(h("h1", {}, "My bookings"), status, list);
  void (async () => {
    let page: Page<Booking>;
    try {
      page = await get<Page<Booking>>("/bookings?limit=50", { signal: aborts.signal });
    } catch (x) {
      if (x instanceof ApiError && x.status === 401) { signInFirst(); return; }
      status.textContent = problemText(x);
      return;
    }
    const events = new Map<string, EventInfo | null>();
    await Promise.all([...new Set(page.items.map((b) => b.event_id))].map(async (id) => {
      try { events.set(id, await get<EventInfo>(`/events/${id}`)); } catch { events.set(id, null); }
    }));
    status.textContent = page.items.length ? "" : "No bookings yet.";
    for (const b of page.items) list.append(row(b, events.get(b.event_id) ?? null, aborts.signal));
  })();
  return () => aborts.abort();
}

function row(b: Booking, ev: EventInfo | null, signal: AbortSignal): HTMLElement {
  const title = ev ? h("a", { href: `#/events/${ev.id}` }, ev.title) : "An event";
  const st = h("p", { class: `status ${b.status}`, "data-status": b.status }, statusText(b.status));
  const parts: string[] = [];
  if (b.seat_ids?.length) parts.push(b.seat_ids.map(seatName).join(", "));
  if (b.amount_cents !== undefined && b.currency) parts.push(money(b.amount_cents, b.currency));
  const li = h("li", { class: "card booking", "data-booking": b.id },
    h("h2", {}, title),
    ev ? h("p", { class: "meta" }, `${when(ev.starts_at, ev.time_zone)} · ${ev.venue.name}`) : null,
    st,
    b.reason ? h("p", { class: "meta" }, reasonText(b.reason)) : null,
    parts.length ? h("p", { class: "meta" }, parts.join(" · ")) : null,
  );
  if (b.status === "confirmed" || b.status === "reserved") {
    const err = h("p", { class: "error", role: "alert" });
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel booking");
    cancel.addEventListener("click", async () => {
      if (!window.confirm("Cancel this booking? The seats are released and the payment refunded.")) return;
      cancel.disabled = true;
      err.textContent = "";
      try {
        await call("POST", `/bookings/${b.id}/cancel`, {});
      } catch (x) {
        err.textContent = problemText(x);
        cancel.disabled = false;
        return;
      }
      cancel.remove();
      const out = h("div", {});
      st.replaceWith(out);
      await followBooking(b, out, signal, (x) => x.status === "cancelled" || x.status === "failed");
    });
    li.append(cancel, err);
  } else if (!settled.has(b.status)) {
    const out = h("div", {});
    st.replaceWith(out);
    void followBooking(b, out, signal);
  }
  return li;
}
