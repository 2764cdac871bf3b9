// The API client: the session in localStorage, quiet token refresh, and
// problem+json errors turned into messages in plain words.

export interface Session {
  access_token: string;
  refresh_token: string;
  // Milliseconds since the epoch when the access token stops working.
  expires_at: number;
  email: string;
}

// What localStorage holds, under this one key: the token pair (so a reload
// or a new tab stays signed in, and the refresh token can renew the
// 15-minute access token quietly), its expiry and the email to show in the
// header. Nothing else is stored. See docs/web.md.
const sessionKey = "evently.session";

export function session(): Session | null {
  try {
    const raw = localStorage.getItem(sessionKey);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(sessionKey, JSON.stringify(s));
  else localStorage.removeItem(sessionKey);
  window.dispatchEvent(new Event("evently:session"));
}

interface TokenPair { access_token: string; refresh_token: string; expires_in: number }

function fromPair(p: TokenPair, email: string): Session {
  return { access_token: p.access_token, refresh_token: p.refresh_token, expires_at: Date.now() + p.expires_in * 1000, email };
}

// ApiError is a refused request: status, the problem's code and its detail
// (the API writes details in plain words), and the seats in conflict.
export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public conflicts: string[] = [], public retryAfter = 0) {
    super(message);
  }
}

const fallbackMessages: Record<number, string> = {
  401: "Please sign in again.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  409: "That conflicts with the current state; reload and try again.",
  429: "Too many requests; wait a moment and try again.",
  503: "The service is busy or unavailable; try again in a moment.",
};

async function problem(res: Response): Promise<ApiError> {
  let body: { code?: string; detail?: string; title?: string; conflicts?: string[]; errors?: Record<string, string> } = {};
  try { body = await res.json(); } catch { /* not JSON: keep the fallback */ }
  let msg = body.detail || fallbackMessages[res.status] || body.title || `Request failed (${res.status}).`;
  if (body.errors) msg += " " + Object.values(body.errors).join(" ");
  return new ApiError(res.status, body.code ?? "", msg, body.conflicts ?? [], Number(res.headers.get("Retry-After") ?? 0));
}

// One refresh at a time per tab: a refresh token is single use, and
// presenting a spent one revokes the whole session.
let refreshing: Promise<Session | null> | null = null;

function refresh(old: Session): Promise<Session | null> {
  refreshing ??= (async () => {
    // Another tab may have refreshed already: use its pair.
    const now = session();
    if (now && now.refresh_token !== old.refresh_token) return now;
    const res = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: old.refresh_token }),
    });
    if (!res.ok) {
      if (res.status === 401 || res.status === 403) saveSession(null);
      return null;
    }
    const s = fromPair(await res.json(), old.email);
    saveSession(s);
    return s;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

// A token this close to its expiry is renewed before use.
const refreshMargin = 30_000;

// problemText is what to tell the user of a failed call: the API's own
// words when it answered, else that it could not be reached.
export function problemText(x: unknown, unreachable = "Could not reach Evently."): string {
  return x instanceof ApiError ? x.message : unreachable;
}

export interface Answer<T> { status: number; body: T; headers: Headers }

// authed sends a request with the session's token (renewed first when it
// is about to expire, and once more after a 401) and returns the answer as
// it came, or throws an ApiError for anything but 2xx.
export async function authed(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  const send = (s: Session | null) => {
    const hs: Record<string, string> = { Accept: "application/json", ...headers };
    if (body !== undefined) hs["Content-Type"] = "application/json";
    if (s) hs.Authorization = `Bearer ${s.access_token}`;
    return fetch("/api/v1" + path, { method, headers: hs, body: body === undefined ? undefined : JSON.stringify(body), ...init });
  };
  let s = session();
  // A refresh the server did not decide (a 5xx) keeps the old pair, which
  // may still work; one refused dropped the session, and session() is null.
  if (s && s.expires_at - Date.now() < refreshMargin) s = (await refresh(s)) ?? session();
  let res = await send(s);
  if (res.status === 401 && s) {
    s = await refresh(s);
    if (s) res = await send(s);
  }
  if (!res.ok) throw await problem(res);
  return res;
}

// call is authed with the body read as JSON.
export async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Answer<T>> {
  const res = await authed(method, path, body, headers, init);
  const text = res.status === 204 ? "" : await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

// download fetches a file the API gives only with the token (a plain link
// cannot send it) and hands it to the browser to save.
export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await authed("GET", path, undefined, { Accept: "*/*" });
  const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has read the blob once the click's download started.
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function get<T>(path: string, init: RequestInit = {}): Promise<T> {
  return (await call<T>("GET", path, undefined, {}, init)).body;
}

export async function login(email: string, password: string): Promise<void> {
  const res = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (res.status === 401) throw new ApiError(401, "unauthorized", "That email and password do not match an account.");
  if (!res.ok) throw await problem(res);
  saveSession(fromPair(await res.json(), email));
}

export async function logout(): Promise<void> {
  try {
    if (session()) await call("POST", "/auth/logout");
  } catch {
    // Signed out here whatever the server said: the tokens are dropped.
  } finally {
    saveSession(null);
  }
}

// Types of the answers the pages read (api/openapi.yaml).
export interface Tier { name: string; price_cents: number; sections: string[] }
export interface EventInfo {
  id: string; title: string; description?: string; category?: string; city: string; status: string;
  starts_at: string; ends_at: string; currency: string; tiers: Tier[]; capacity: number;
  available_seats: number; sales_open: boolean; time_zone: string;
  venue: { id: string; name: string; city: string; address: string };
  price_range?: { min_cents: number; max_cents: number };
}
export interface Page<T> { items: T[]; next_cursor?: string | null }
export interface Seat {
  id: string; section: string; row: string; number: number; x: number; y: number;
  accessible: boolean; tier: string; price_cents: number; status: "available" | "held" | "sold";
}
export interface SeatMap { event_id: string; event_status: string; counts: Record<string, number>; seats: Seat[] }
export interface Hold { id: string; event_id: string; seat_ids: string[]; expires_at: string }
export interface Booking {
  id: string; event_id: string; status: string; reason?: string; seat_ids: string[] | null;
  amount_cents?: number; currency?: string; expires_at?: string; accepted_at?: string; updated_at?: string;
}
export interface WaitlistEntry {
  id: string; event_id: string; party_size: number; tier?: string;
  status: "waiting" | "offered" | "booked" | "expired" | "left";
  position?: number; people_ahead: number;
  offer?: { hold_id: string; seat_ids: string[]; expires_at: string };
  created_at: string;
}
export interface Notification {
  id: string; type: string; created_at: string; read_at: string | null;
  data: { message?: string; event_id?: string; booking_id?: string; [k: string]: unknown };
}
export interface NotificationPage { items: Notification[]; next_cursor: string | null; unread: number }
export interface Money { currency: string; gross_cents: number; refunded_cents: number; net_cents: number }
export interface DayFigures {
  day: string; bookings_submitted: number; reserved: number; confirmed: number; failed: number; expired: number;
  cancelled: number; refunded: number; seats_sold: number; revenue_cents: Record<string, number> | null;
}
export interface Dashboard {
  from: string; to: string; events: number; total_bookings: number; confirmed_bookings: number; cancelled_bookings: number;
  seats_sold: number; capacity: number; revenue: Money[] | null; cancellation_rate: number; capacity_utilization: number;
  top_events: { event_id: string; title: string; currency: string; capacity: number; confirmed: number; seats_sold: number; revenue_cents: number }[] | null;
  daily: DayFigures[] | null;
}
export interface EventAnalytics {
  event_id: string; title: string; time_zone: string; currency: string; capacity: number; seats_sold: number;
  revenue: Money; cancellation_rate: number; capacity_utilization: number; daily: DayFigures[] | null;
  funnel: {
    holds_taken: number | null; bookings_submitted: number; reserved: number; confirmed: number; failed: number;
    failed_by_reason: Record<string, number> | null; expired: number; cancelled: number; refunded: number;
    waitlist_joins: number; waitlist_offers: number; waitlist_conversions: number;
  };
}
export interface Venue {
  id: string; name: string; city: string; address: string; time_zone: string;
  sections?: { name: string; seat_count: number }[];
}

// role reads the signed-in account's role from the access token's claims,
// only to choose which links to show: the API decides what is allowed.
export function role(): string {
  const s = session();
  if (!s) return "";
  try {
    const part = s.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(part)).role ?? "");
  } catch {
    return "";
  }
}
