// Evently's single-page app. Routes live in the URL fragment (#/events/…)
// so the server serves index.html at / only and every other path stays the
// API's or a 404.
import { logout, role, session } from "./api";
import { h } from "./dom";
import { bookingsPage } from "./pages/bookings";
import { eventPage } from "./pages/event";
import { eventsPage } from "./pages/events";
import { loginPage } from "./pages/login";
import { notificationsPage, watchUnread } from "./pages/notifications";
import { organizeEventPage, organizePage } from "./pages/organize";
import { pipelinePage } from "./pages/pipeline";

// A page renders into main and returns what stops its timers and polls.
export type Page = (main: HTMLElement, params: URLSearchParams) => (() => void) | void;

const routes: [RegExp, (m: RegExpMatchArray) => Page][] = [
  [/^\/?$/, () => eventsPage],
  [/^\/events\/([0-9a-f-]{36})$/, (m) => eventPage(m[1])],
  [/^\/bookings$/, () => bookingsPage],
  [/^\/login$/, () => loginPage],
  [/^\/notifications$/, () => notificationsPage],
  [/^\/organize$/, () => organizePage],
  [/^\/organize\/events\/([0-9a-f-]{36})$/, (m) => organizeEventPage(m[1])],
  [/^\/pipeline$/, () => pipelinePage],
];

let stop: (() => void) | void;

function render(): void {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const main = document.getElementById("main")!;
  if (stop) stop();
  stop = undefined;
  main.replaceChildren();
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      stop = page(m)(main, new URLSearchParams(query));
      // Move focus to the new page so screen readers start there.
      main.focus({ preventScroll: true });
      return;
    }
  }
  main.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the events")));
}

function header(): void {
  const nav = document.getElementById("account")!;
  const s = session();
  if (s) {
    const r = role();
    nav.replaceChildren(
      h("a", { href: "#/notifications", id: "notifications-link" }, "Notifications ",
        h("span", { class: "badge", id: "unread", hidden: true })),
      h("a", { href: "#/bookings" }, "My bookings"),
      ...(r === "organizer" || r === "admin" ? [h("a", { href: "#/organize" }, "Organize")] : []),
      ...(r === "admin" ? [h("a", { href: "#/pipeline" }, "Pipeline")] : []),
      h("span", { class: "who" }, s.email),
      h("button", { type: "button", class: "link", onclick: async () => { await logout(); location.hash = "#/"; } }, "Sign out"),
    );
    watchUnread();
  } else {
    nav.replaceChildren(h("a", { href: `#/login?next=${encodeURIComponent(location.hash || "#/")}` }, "Sign in"));
    // Signed out: stops the count's timer and closes the stream.
    watchUnread();
  }
}

window.addEventListener("hashchange", () => { render(); header(); });
window.addEventListener("evently:session", header);
// Another tab signed in or out.
window.addEventListener("storage", (e) => { if (e.key === "evently.session") header(); });
header();
render();
