// The notifications inbox, and the unread count in the header.
import { ApiError, authed, call, get, problemText, session, type Notification, type NotificationPage } from "../api";
import { announce, h, signInFirst } from "../dom";

// The count is read (a one-item page says `unread`) whenever the
// notification stream brings news, and every 30 s besides, in case the
// stream is down or another tab marked some read.
const countEvery = 30_000;

let timer = 0;
let last = -1;
let stream: AbortController | null = null;

// watchUnread keeps the header's badge (#unread) up to date while signed
// in; call it again to read the count at once (after marking read).
export function watchUnread(): void {
  window.clearTimeout(timer);
  if (!session()) {
    stream?.abort();
    stream = null;
    last = -1;
    return;
  }
  openStream();
  const round = async () => {
    if (!session()) return;
    await readCount();
    if (session()) timer = window.setTimeout(round, countEvery);
  };
  void round();
}

async function readCount(): Promise<void> {
  if (!session()) return;
  try {
    showUnread((await get<NotificationPage>("/notifications?limit=1", { cache: "no-store" })).unread);
  } catch { /* the next read tries again */ }
}

// openStream follows GET /notifications/stream (server-sent events) with
// fetch, since EventSource cannot send the bearer token; each
// `event: notification` has the count read again. A dropped stream is
// opened again after a pause that grows with each failure (at most 30 s).
function openStream(): void {
  if (stream) return;
  const ctl = new AbortController();
  stream = ctl;
  void (async () => {
    let failures = 0;
    while (!ctl.signal.aborted && session()) {
      try {
        const res = await authed("GET", "/notifications/stream", undefined, { Accept: "text/event-stream" }, { signal: ctl.signal, cache: "no-store" });
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          failures = 0;
          buf += value.replace(/\r\n?/g, "\n");
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            if (/^event: ?notification$/m.test(buf.slice(0, i))) void readCount();
            buf = buf.slice(i + 2);
          }
        }
      } catch {
        if (ctl.signal.aborted) return;
      }
      failures++;
      await new Promise((r) => window.setTimeout(r, Math.min(30_000, 1000 * 2 ** failures)));
    }
    if (stream === ctl) stream = null;
  })();
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
          status.textContent = problemText(x);
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
      status.textContent = problemText(x);
    }
  };
  more.addEventListener("click", () => void load());
  readAll.addEventListener("click", async () => {
    readAll.disabled = true;
    try {
      await call("POST", "/notifications/read-all");
    } catch (x) {
      readAll.disabled = false;
      status.textContent = problemText(x);
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
