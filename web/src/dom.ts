// A tiny element builder. Text always goes in as text nodes (never
// innerHTML), so nothing the API returns can run as script.
type Attrs = Record<string, string | number | boolean | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const svgNS = "http://www.w3.org/2000/svg";

export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(svgNS, tag);
  setAttrs(el, attrs);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

// announce says something to screen readers through the page's live region.
export function announce(text: string): void {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A fresh node after clearing makes screen readers repeat equal messages.
  window.setTimeout(() => { live.textContent = text; }, 30);
}

// signInFirst sends the browser to the sign-in page, coming back here
// afterwards.
export function signInFirst(): void {
  location.hash = `#/login?next=${encodeURIComponent(location.hash || "#/")}`;
}

// refill replaces el's children and, when focus was inside, puts it back on
// the new element with the same id: pages that redraw their figures every
// few seconds would otherwise throw a keyboard user back to the top.
export function refill(el: Element, ...children: Child[]): void {
  const had = document.activeElement;
  const id = had && had !== el && el.contains(had) ? had.id : "";
  el.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  if (id) (document.getElementById(id) as HTMLElement | null)?.focus({ preventScroll: true });
}
