// Plain-words formatting of what the API returns.

export function money(cents: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
}

// clock shows what is left of a hold or an offer as m:ss.
export function clock(ms: number): string {
  const sec = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(sec / 60)}:${String(sec % 60).padStart(2, "0")}`;
}

export function when(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short",
  }).format(new Date(iso));
}

// The booking reasons in plain words: the same sentences as
// evently.ReasonText (notify.go); api/web_test.go checks they agree.
const reasonTexts: Record<string, string> = {
  seats_taken: "Someone else booked these seats a moment before you.",
  payment_declined: "Your payment was declined.",
  payment_unavailable: "The payment could not be completed before the booking's deadline; anything charged is refunded.",
  hold_expired: "Your hold on the seats expired before the booking was made.",
  invalid: "The booking request could not be processed.",
  event_cancelled: "The event was cancelled.",
  not_accepted: "The booking was not accepted; nothing was charged.",
};

// reasonText says a reason code in plain words; anything else is a
// canceller's own words, shown as given.
export function reasonText(reason: string | undefined): string {
  if (!reason) return "";
  return reasonTexts[reason] ?? reason;
}

const statusTexts: Record<string, string> = {
  pending: "Pending: we are booking your seats…",
  reserved: "Reserved: your seats are yours, the payment comes next…",
  paying: "Paying: waiting for the card payment…",
  confirmed: "Confirmed: enjoy the show!",
  failed: "Failed",
  expired: "Expired: the payment did not arrive in time.",
  cancelled: "Cancelled",
};

export function statusText(status: string): string {
  return statusTexts[status] ?? status;
}

export const settled = new Set(["confirmed", "failed", "expired", "cancelled"]);

// seatName says a seat id (<section>-<row>-<number>) in words.
export function seatName(id: string): string {
  const [section, row, number] = id.split("-");
  return number ? `${section} row ${row} seat ${number}` : id;
}
