// The event page: the seat map, the selection, the hold with its countdown,
// the payment and the booking's status until it settles.
import { ApiError, call, get, problemText, session, type Booking, type EventInfo, type Hold, type Seat, type SeatMap } from "../api";
import { announce, h, signInFirst } from "../dom";
import { clock, money, seatName, when } from "../format";
import { bigMap, seatMap, sectionOverview, type OverviewView, type SeatMapView } from "../seatmap";
import { bookHold, followBooking, testCards } from "./follow";
import { waitlistPanel, type WaitlistView } from "./waitlist";

const maxSeats = 10;
// The map is re-read this often while the page is visible; the API caches it
// for 1 s and answers 304 to an unchanged ETag, so this is cheap for both.
const mapEvery = 3000;

export function eventPage(id: string) {
  return (main: HTMLElement): () => void => {
    let alive = true;
    const timers: number[] = [];
    const aborts = new AbortController();
    let waitlist: WaitlistView | null = null;
    const status = h("p", { class: "meta" }, "Loading…");
    main.append(status);

    void (async () => {
      let ev: EventInfo, map: SeatMap;
      try {
        [ev, map] = await Promise.all([get<EventInfo>(`/events/${id}`), get<SeatMap>(`/events/${id}/seats`)]);
      } catch (x) {
        status.textContent = problemText(x);
        return;
      }
      if (!alive) return;
      status.remove();
      const message = h("p", { class: "message", role: "status", id: "message" });
      const say = (text: string, kind: "info" | "error" = "info") => {
        message.textContent = text;
        message.className = `message ${kind}`;
      };

      // The selection panel.
      const picks = h("ul", { class: "picks", id: "picks" });
      const total = h("p", { class: "total", id: "total" });
      const holdBtn = h("button", { type: "button", id: "hold", disabled: true }, "Hold seats");
      const panel = h("section", { class: "card panel", "aria-labelledby": "panel-title" },
        h("h2", { id: "panel-title" }, "Your seats"), picks, total, holdBtn, message);

      const showPicks = (seats: Seat[]) => {
        picks.replaceChildren(...seats.map((s) => h("li", {}, `${s.section} row ${s.row} seat ${s.number} · ${s.tier} · ${money(s.price_cents, ev.currency)}`)));
        if (!seats.length) picks.append(h("li", { class: "meta" }, "Pick seats on the map (click, or arrow keys and Space)."));
        const sum = seats.reduce((a, s) => a + s.price_cents, 0);
        total.textContent = seats.length ? `${seats.length} seat${seats.length > 1 ? "s" : ""}, ${money(sum, ev.currency)}` : "";
        holdBtn.disabled = !seats.length || !ev.sales_open;
      };
      const refused = (m: string) => { say(m, "error"); announce(m); };
      let hold: Hold | null = null;
      // A big map opens on its sections; section is the one drawn, if any.
      const big = map.seats.length > bigMap;
      let all = map.seats;
      let section: string | null = null;
      let view: SeatMapView = seatMap(big ? [] : all, ev.currency, maxSeats, showPicks, refused);
      let overview: OverviewView | null = null;
      const mapBox = h("div", { class: "mapscroll" });
      const sectionBar = h("div", { class: "sectionbar", hidden: true });
      const counts = h("p", { class: "meta", id: "counts" });
      const showCounts = (m: SeatMap) => {
        counts.textContent = `${section ? `Section ${section}: ` : ""}${m.counts.available ?? 0} available · ${m.counts.held ?? 0} held · ${m.counts.sold ?? 0} sold`;
      };
      const showOverview = () => {
        if (hold) { refused("Your seats are held: pay for them, or release them to pick others."); return; }
        section = null;
        view = seatMap([], ev.currency, maxSeats, showPicks, refused);
        showPicks([]);
        overview!.update(all);
        mapBox.replaceChildren(overview!.el);
        sectionBar.hidden = true;
        void refreshMap();
      };
      const showSection = (name: string) => {
        section = name;
        view = seatMap(all.filter((s) => s.section === name), ev.currency, maxSeats, showPicks, refused);
        showPicks([]);
        mapBox.replaceChildren(view.el);
        sectionBar.replaceChildren(h("strong", {}, `Section ${name}`),
          h("button", { type: "button", class: "secondary", id: "all-sections", onclick: showOverview }, "All sections"));
        sectionBar.hidden = false;
        view.el.querySelector<SVGElement>('[tabindex="0"]')?.focus();
        void refreshMap();
      };
      if (big) {
        overview = sectionOverview(all, ev.currency, showSection);
        mapBox.append(overview.el);
      } else {
        mapBox.append(view.el);
      }
      showPicks([]);
      showCounts(map);
      // Sold out: the waitlist offers a place in line (and shows the
      // caller's entry, and its offer, whenever they have one).
      const soldOut = ev.sales_open && (map.counts.available ?? 0) === 0;
      waitlist = waitlistPanel(ev, soldOut, () => void refreshMap(), () => void refreshMap());

      main.append(
        h("h1", {}, ev.title),
        h("p", { class: "meta" }, `${when(ev.starts_at, ev.time_zone)} · ${ev.venue.name}, ${ev.venue.address}, ${ev.venue.city}`),
        ev.description ? h("p", {}, ev.description) : "",
        ev.sales_open ? "" : h("p", { class: "message error" }, ev.status === "cancelled" ? "This event was cancelled." : "Tickets are not on sale right now."),
        soldOut ? h("p", { class: "message soldout", id: "soldout" }, "Sold out. Join the waitlist for seats that come back.") : "",
        h("div", { class: "layout" },
          h("section", { class: "card mapcard", "aria-labelledby": "map-title" },
            h("h2", { id: "map-title" }, "Seat map"), counts, legend(), sectionBar, mapBox),
          h("div", { class: "side" }, waitlist.el, panel)),
      );

      async function refreshMap() {
        const drawn = section;
        try {
          // no-cache: revalidate with the stored ETag (a 304 costs no body).
          const q = drawn ? `?section=${encodeURIComponent(drawn)}` : "";
          const m = await get<SeatMap>(`/events/${id}/seats${q}`, { cache: "no-cache", signal: aborts.signal });
          if (!alive || drawn !== section) return;
          // The drawn seats share their objects with all: updating the view
          // updates all too.
          view.update(m.seats);
          if (big && !drawn) {
            all = m.seats;
            overview!.update(all);
          }
          showCounts(m);
        } catch { /* the next round tries again */ }
      }
      // A big map's overview reads every seat: every third round only.
      let round = 0;
      const tick = () => {
        if (!alive) return;
        round++;
        if (!document.hidden && (!big || section || round % 3 === 0)) void refreshMap();
        timers.push(window.setTimeout(tick, mapEvery));
      };
      timers.push(window.setTimeout(tick, mapEvery));

      // The hold, then the payment.
      let countdown = 0;
      const holdBox = h("div", { class: "hold", id: "holdbox" });
      panel.insertBefore(holdBox, message);
      const endHold = () => {
        hold = null;
        window.clearInterval(countdown);
        holdBox.replaceChildren();
        holdBtn.hidden = false;
        view.lock(false);
      };

      holdBtn.addEventListener("click", async () => {
        if (!session()) { signInFirst(); return; }
        const seats = view.selected();
        holdBtn.disabled = true;
        say("Holding your seats…");
        try {
          hold = (await call<Hold>("POST", `/events/${id}/holds`, { seat_ids: seats.map((s) => s.id) })).body;
        } catch (x) {
          if (x instanceof ApiError && x.status === 401) { signInFirst(); return; }
          if (x instanceof ApiError && x.conflicts.length) {
            view.markTaken(x.conflicts);
            const names = x.conflicts.map(seatName).join(", ");
            const m = `Sorry, someone else just took ${names}. ${x.conflicts.length > 1 ? "Those seats are" : "That seat is"} no longer available; pick another.`;
            say(m, "error");
            announce(m);
          } else {
            say(problemText(x, "Could not reach Evently; nothing was held."), "error");
          }
          holdBtn.disabled = !view.selected().length;
          return;
        }
        view.lock(true);
        holdBtn.hidden = true;
        say("");
        showHold(hold, seats);
      });

      const showHold = (held: Hold, seats: Seat[]) => {
        const left = h("strong", { id: "countdown" });
        const timer = h("p", { role: "timer", "aria-live": "off" }, "Held for you for ", left);
        const tickDown = () => {
          const ms = Date.parse(held.expires_at) - Date.now();
          if (ms <= 0) {
            endHold();
            view.clear();
            const m = "Your hold expired and the seats were released. Pick seats again.";
            say(m, "error");
            announce(m);
            void refreshMap();
            return;
          }
          left.textContent = clock(ms);
        };
        tickDown();
        countdown = window.setInterval(tickDown, 1000);
        const card = testCards("card");
        const pay = h("button", { type: "button", id: "pay" }, `Pay ${money(seats.reduce((a, s) => a + s.price_cents, 0), ev.currency)}`);
        const release = h("button", { type: "button", class: "secondary", id: "release" }, "Release seats");
        // One key per hold: a retry after a lost answer books once.
        const key = crypto.randomUUID();
        pay.addEventListener("click", async () => {
          pay.disabled = release.disabled = card.disabled = true;
          say("Sending your booking…");
          let b: Booking;
          try {
            b = await bookHold(held.id, card.value, key);
          } catch (x) {
            say(problemText(x, "Could not reach Evently; press Pay again (you will not be charged twice)."), "error");
            pay.disabled = release.disabled = card.disabled = false;
            return;
          }
          window.clearInterval(countdown);
          timer.remove();
          say("");
          const out = h("div", { id: "booking" });
          holdBox.replaceChildren(out);
          const final = await followBooking(b, out, aborts.signal);
          if (!alive) return;
          hold = null;
          view.lock(false);
          view.clear();
          holdBtn.hidden = false;
          void refreshMap();
          if (final && final.status === "confirmed") {
            out.append(h("p", {}, h("a", { href: "#/bookings" }, "See my bookings")));
          }
        });
        release.addEventListener("click", async () => {
          release.disabled = true;
          try {
            await call("DELETE", `/holds/${held.id}`);
          } catch (x) {
            if (!(x instanceof ApiError && x.status === 404)) {
              say(problemText(x), "error");
              release.disabled = false;
              return;
            }
          }
          endHold();
          view.clear();
          say("Seats released.");
          void refreshMap();
        });
        holdBox.replaceChildren(timer, h("label", { for: "card" }, "Payment (test cards, nothing is charged)"), card, h("div", { class: "row" }, pay, release));
      };
    })();

    return () => {
      alive = false;
      aborts.abort();
      waitlist?.stop();
      for (const t of timers) window.clearTimeout(t);
    };
  };
}

function legend(): HTMLElement {
  const item = (cls: string, text: string) => h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("available", "Available"), item("picked", "Your pick"), item("held", "Held"), item("sold", "Sold"), item("accessible", "Wheelchair accessible"));
}
