// Following a booking until it settles: long polls of GET /bookings/{id}
// (?wait=25 answers as soon as the status moves on), showing each status
// in plain words.
import { ApiError, call, get, type Booking } from "../api";
import { announce, h } from "../dom";
import { money, reasonText, seatName, settled, statusText } from "../format";

// testCards is the choice of paysim's test tokens a buyer pays with.
export function testCards(id: string): HTMLSelectElement {
  return h("select", { id },
    h("option", { value: "tok_visa" }, "Test Visa card (approved)"),
    h("option", { value: "tok_decline" }, "Test card that is declined"));
}

// bookHold books a hold (a buyer's own, or a waitlist offer) with the card
// chosen. The caller keeps one key per hold, so pressing again after a
// lost answer books once.
export async function bookHold(holdId: string, card: string, key: string): Promise<Booking> {
  return (await call<Booking>("POST", "/bookings", { hold_id: holdId, payment: { token: card } }, { "Idempotency-Key": key })).body;
}

// done says when to stop: by default once the booking settled; a cancel
// waits for cancelled.
export async function followBooking(b: Booking, out: HTMLElement, signal: AbortSignal,
  done: (b: Booking) => boolean = (x) => settled.has(x.status)): Promise<Booking | null> {
  const status = h("p", { class: "status booking-status", role: "status" });
  const detail = h("p", { class: "meta booking-reason" });
  out.replaceChildren(h("h3", {}, "Booking"), status, detail);
  let shown = "";
  const show = (x: Booking) => {
    if (x.status === shown) return;
    shown = x.status;
    status.setAttribute("data-status", x.status);
    status.className = `status booking-status ${x.status}`;
    status.textContent = statusText(x.status);
    const parts: string[] = [];
    if (x.reason) parts.push(reasonText(x.reason));
    if (x.status === "confirmed" && x.amount_cents !== undefined && x.currency) parts.push(`Paid ${money(x.amount_cents, x.currency)} for ${x.seat_ids?.map(seatName).join(", ")}.`);
    detail.textContent = parts.join(" ");
    announce(`${status.textContent} ${detail.textContent}`);
  };
  show(b);
  let failures = 0;
  while (!done(b) && !signal.aborted) {
    try {
      const was = b.status;
      b = await get<Booking>(`/bookings/${b.id}?wait=25`, { signal, cache: "no-store" });
      failures = 0;
      show(b);
      // A settled booking answers a long poll at once: pause between reads.
      if (b.status === was && !done(b)) await new Promise((r) => window.setTimeout(r, 1000));
    } catch (x) {
      if (signal.aborted) return null;
      failures++;
      detail.textContent = x instanceof ApiError ? `${x.message} Still checking…` : "Lost the connection; still checking…";
      // Back off a little, more after each failure, at most 10 s.
      await new Promise((r) => window.setTimeout(r, Math.min(10_000, 500 * 2 ** failures)));
    }
  }
  return b;
}
