// The waitlist of a sold-out event: join as a party, see the place in line
// move, and book the offer (a hold reserved for you) when seats come back.
import { ApiError, call, get, problemText, session, type Booking, type EventInfo, type WaitlistEntry } from "../api";
import { announce, h, signInFirst } from "../dom";
import { clock, money, seatName } from "../format";
import { bookHold, followBooking, testCards } from "./follow";

// An entry is re-read this often while it waits or is offered; offers are
// made within a second or two of seats coming back.
const entryEvery = 3000;

export interface WaitlistView { el: HTMLElement; stop(): void }

// waitlistPanel shows the caller's entry for the event if they have one,
// else, when soldOut, the form to join; otherwise nothing (el is hidden).
// onSeatsBack asks the page to re-read the map (a join refused because
// seats are on sale again); onBooked, after an offer was booked.
export function waitlistPanel(ev: EventInfo, soldOut: boolean, onSeatsBack: () => void, onBooked: () => void): WaitlistView {
  let alive = true;
  let timer = 0;
  let countdown = 0;
  const aborts = new AbortController();
  const body = h("div", { class: "waitlist-body" });
  const message = h("p", { class: "message", role: "status", id: "waitlist-message" });
  const el = h("section", { class: "card waitlist", id: "waitlist", "aria-labelledby": "waitlist-title", hidden: true },
    h("h2", { id: "waitlist-title" }, "Waitlist"), body, message);
  const say = (text: string, kind: "info" | "error" = "info") => {
    message.textContent = text;
    message.className = `message ${kind}`;
  };

  const joinForm = () => {
    el.hidden = false;
    el.setAttribute("data-status", "none");
    const party = h("select", { id: "party" }, ...Array.from({ length: 10 }, (_, i) => h("option", { value: String(i + 1) }, String(i + 1))));
    const tier = h("select", { id: "wl-tier" }, h("option", { value: "" }, "Any tier"),
      ...ev.tiers.map((t) => h("option", { value: t.name }, `${t.name} (${money(t.price_cents, ev.currency)})`)));
    const join = h("button", { type: "button", id: "join-waitlist" }, "Join the waitlist");
    join.addEventListener("click", async () => {
      if (!session()) { signInFirst(); return; }
      join.disabled = true;
      say("Joining the waitlist…");
      try {
        const e = (await call<WaitlistEntry>("POST", `/events/${ev.id}/waitlist`,
          { party_size: Number(party.value), ...(tier.value ? { tier: tier.value } : {}) })).body;
        say("");
        show(e);
        announce(`You joined the waitlist. ${placeText(e)}`);
      } catch (x) {
        join.disabled = false;
        if (x instanceof ApiError && x.status === 401) { signInFirst(); return; }
        if (x instanceof ApiError && x.code === "seats_available") {
          const m = "Seats are on sale again for a party that size: pick them on the map instead.";
          say(m, "error");
          announce(m);
          onSeatsBack();
          return;
        }
        say(problemText(x, "Could not reach Evently; you did not join."), "error");
      }
    });
    body.replaceChildren(
      h("p", {}, "Every seat is taken. Join the line: seats that come back are offered in order of joining, held for you to book."),
      h("div", { class: "fields" },
        h("label", { for: "party" }, "Seats for your party"), party,
        ev.tiers.length > 1 ? h("label", { for: "wl-tier" }, "Tier") : null, ev.tiers.length > 1 ? tier : null),
      join);
  };

  const placeText = (e: WaitlistEntry) =>
    e.position ? `You are number ${e.position} in line, with ${e.people_ahead} ${e.people_ahead === 1 ? "person" : "people"} ahead of you.` : "";

  let shown = "";
  const show = (e: WaitlistEntry) => {
    el.hidden = false;
    el.setAttribute("data-status", e.status);
    el.setAttribute("data-entry", e.id);
    const key = `${e.status}/${e.position}/${e.people_ahead}/${e.offer?.hold_id}`;
    if (key === shown) return;
    const was = shown.split("/")[0];
    shown = key;
    window.clearInterval(countdown);
    const party = `Party of ${e.party_size}${e.tier ? `, ${e.tier} only` : ""}.`;
    switch (e.status) {
      case "waiting": {
        const leave = h("button", { type: "button", class: "secondary", id: "leave-waitlist" }, "Leave the waitlist");
        leave.addEventListener("click", () => void leaveLine(e, leave));
        body.replaceChildren(h("p", { class: "status", id: "waitlist-place" }, placeText(e)), h("p", { class: "meta" }, party), leave);
        poll(e.id);
        break;
      }
      case "offered":
        offered(e);
        if (was !== "offered") announce("Seats came back for you: book them before the offer ends.");
        poll(e.id);
        break;
      case "booked":
        body.replaceChildren(h("p", { class: "status confirmed" }, "You booked the seats you were offered."), h("p", {}, h("a", { href: "#/bookings" }, "See my bookings")));
        break;
      case "expired":
      case "left":
        body.replaceChildren(h("p", { class: "status" }, e.status === "expired" ? "Your offer expired unbooked." : "You left the waitlist."));
        if (soldOut) {
          const again = h("button", { type: "button", class: "secondary" }, "Join again");
          again.addEventListener("click", joinForm);
          body.append(again);
        }
        break;
    }
  };

  const offered = (e: WaitlistEntry) => {
    const offer = e.offer!;
    const left = h("strong", { id: "offer-countdown" });
    const tick = () => {
      const ms = Date.parse(offer.expires_at) - Date.now();
      left.textContent = clock(ms);
      if (ms <= 0) window.clearInterval(countdown);
    };
    tick();
    countdown = window.setInterval(tick, 1000);
    const card = testCards("offer-card");
    const book = h("button", { type: "button", id: "book-offer" }, "Book these seats");
    const decline = h("button", { type: "button", class: "secondary", id: "decline-offer" }, "Decline");
    // One key per offer: a retry after a lost answer books once.
    const key = crypto.randomUUID();
    book.addEventListener("click", async () => {
      book.disabled = decline.disabled = card.disabled = true;
      say("Sending your booking…");
      let b: Booking;
      try {
        b = await bookHold(offer.hold_id, card.value, key);
      } catch (x) {
        say(problemText(x, "Could not reach Evently; press Book again (you will not be charged twice)."), "error");
        book.disabled = decline.disabled = card.disabled = false;
        return;
      }
      // The booking takes over: no more re-reads of the entry.
      stopPolling();
      window.clearInterval(countdown);
      say("");
      const out = h("div", { id: "offer-booking" });
      body.replaceChildren(out);
      const final = await followBooking(b, out, aborts.signal);
      if (!alive) return;
      onBooked();
      if (final?.status === "confirmed") out.append(h("p", {}, h("a", { href: "#/bookings" }, "See my bookings")));
    });
    decline.addEventListener("click", () => void leaveLine(e, decline));
    body.replaceChildren(
      h("p", { class: "status confirmed", id: "offer-title" }, "Seats came back for you!"),
      h("ul", { class: "picks", id: "offer-seats" }, ...offer.seat_ids.map((id) => h("li", {}, seatName(id)))),
      h("p", { role: "timer", "aria-live": "off" }, "Held for you for ", left),
      h("label", { for: "offer-card" }, "Payment (test cards, nothing is charged)"), card,
      h("div", { class: "row" }, book, decline));
  };

  const leaveLine = async (e: WaitlistEntry, btn: HTMLButtonElement) => {
    btn.disabled = true;
    try {
      await call("DELETE", `/waitlist/${e.id}`);
    } catch (x) {
      // 409: the entry is over already; the next read shows how.
      if (!(x instanceof ApiError && x.status === 409)) {
        say(problemText(x), "error");
        btn.disabled = false;
        return;
      }
    }
    stopPolling();
    show({ ...e, status: "left" });
  };

  const stopPolling = () => { window.clearTimeout(timer); timer = 0; };
  const poll = (id: string) => {
    if (timer) return;
    const round = async () => {
      timer = 0;
      if (!alive) return;
      if (!document.hidden) {
        try {
          const e = await get<WaitlistEntry>(`/waitlist/${id}`, { signal: aborts.signal, cache: "no-store" });
          if (!alive) return;
          show(e);
          if (e.status !== "waiting" && e.status !== "offered") return;
        } catch { /* the next round tries again */ }
      }
      if (alive && !timer) timer = window.setTimeout(round, entryEvery);
    };
    timer = window.setTimeout(round, entryEvery);
  };

  void (async () => {
    if (!session()) {
      if (soldOut) joinForm();
      return;
    }
    try {
      const mine = await get<{ items: WaitlistEntry[] }>("/waitlist", { signal: aborts.signal, cache: "no-store" });
      if (!alive) return;
      const e = mine.items.find((x) => x.event_id === ev.id && (x.status === "waiting" || x.status === "offered"));
      if (e) {
        // The list has no position: read the entry itself.
        show(await get<WaitlistEntry>(`/waitlist/${e.id}`, { signal: aborts.signal, cache: "no-store" }));
        return;
      }
    } catch { /* no entry shown; the form still works */ }
    if (alive && soldOut) joinForm();
  })();

  return {
    el,
    stop() {
      alive = false;
      aborts.abort();
      stopPolling();
      window.clearInterval(countdown);
    },
  };
}
