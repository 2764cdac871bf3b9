// The notifications inbox, and the unread count in the header.
import { ApiError, call, get, session, type Notification, type NotificationPage } from "../api";
import { announce, h, signInFirst } from "../dom";

// The count is re-read this often while the page is visible. (The API's
// notification stream is server-sent events, which EventSource cannot
// open with a bearer token; a one-item page read is cheap.)
const countEvery = 5000;

let timer = 0;
let last = -1;

// watchUnread keeps the header's badge (#unread) up to date while signed
// in; call it again to read the count at once (after marking read).
export function watchUnread(): void {
  window.clearTimeout(timer);
  const round = async () => {
    if (!session()) { last = -1; return; }
    if (!document.hidden) {
      try {
        showUnread((await get<NotificationPage>("/notifications?limit=1", { cache: "no-store" })).unread);
      } catch { /* the next round tries again */ }
    }
    if (session()) timer = window.setTimeout(round, countEvery);
  };
  void round();
}

function showUnread(n: number): void {
  const badge = document.getElementById("unread");
  if (!badge) return;
  // The link reads "Notifications 3 unread"; "unread" is for screen readers.
  badge.replaceChildren(String(n), h("span", { class: "visually-hidden" }, " unread"));
  badge.hidden = n === 0;
  if (last >= 0 && n > last) announce(`${n - last} new notification${n - last > 1 ? "s" : ""}.`);
  last = n;
}

export function notificationsPage(main: HTMLElement): (() => void) | void {
  if (!session()) { signInFirst(); return; }
  const aborts = new AbortController();
  const status = h("p", { class: "meta", role: "status" }, "Loading…");
  const list = h("ul", { class: "inbox", id: "inbox" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older notifications");
  const readAll = h("button", { type: "button", id: "read-all", hidden: true }, "Mark all read");
  main.append(h("h1", {}, "Notifications"), h("div", { class: "row" }, readAll), status, list, more);
  let cursor = "";

  const item = (n: Notification): HTMLElement => {
    const li = h("li", { class: `card note${n.read_at ? "" : " unread"}`, "data-type": n.type, "data-read": n.read_at ? "true" : "false" },
      h("p", { class: "note-text" }, n.read_at ? "" : h("strong", { class: "new" }, "New: "), n.data.message ?? n.type),
      h("p", { class: "meta" }, new Date(n.created_at).toLocaleString(),
        n.data.event_id ? " · " : "", n.data.event_id ? h("a", { href: `#/events/${n.data.event_id}` }, "the event") : ""),
    );
    if (!n.read_at) {
      const read = h("button", { type: "button", class: "link" }, "Mark read");
      read.addEventListener("click", async () => {
        read.disabled = true;
        try {
          await call("POST", `/notifications/${n.id}/read`);
        } catch (x) {
          read.disabled = false;
          status.textContent = x instanceof ApiError ? x.message : "Could not reach Evently.";
          return;
        }
        n.read_at = new Date().toISOString();
        li.replaceWith(item(n));
        watchUnread();
      });
      li.append(read);
    }
    return li;
  };

  const load = async () => {
    const qs = new URLSearchParams({ limit: "20" });
    if (cursor) qs.set("cursor", cursor);
    try {
      const page = await get<NotificationPage>(`/notifications?${qs}`, { signal: aborts.signal, cache: "no-store" });
      list.append(...page.items.map(item));
      cursor = page.next_cursor ?? "";
      more.hidden = !cursor;
      readAll.hidden = page.unread === 0;
      status.textContent = list.children.length ? `${page.unread} unread` : "Nothing yet: bookings, waitlist offers and event news appear here.";
      showUnread(page.unread);
    } catch (x) {
      if (aborts.signal.aborted) return;
      if (x instanceof ApiError && x.status === 401) { signInFirst(); return; }
      status.textContent = x instanceof ApiError ? x.message : "Could not reach Evently.";
    }
  };
  more.addEventListener("click", () => void load());
  readAll.addEventListener("click", async () => {
    readAll.disabled = true;
    try {
      await call("POST", "/notifications/read-all");
    } catch (x) {
      readAll.disabled = false;
      status.textContent = x instanceof ApiError ? x.message : "Could not reach Evently.";
      return;
    }
    readAll.disabled = false;
    list.replaceChildren();
    cursor = "";
    await load();
    announce("All notifications marked read.");
  });
  void load();
  return () => aborts.abort();
}
