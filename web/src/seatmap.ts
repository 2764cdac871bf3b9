// The seat map: one SVG rect per seat, placed by the seat's x/y from
// GET /events/{id}/seats. Seats are checkboxes for assistive technology,
// labelled with section, row, seat, price and status; the map is one tab
// stop (roving tabindex) and the arrow keys move between seats.
import type { Seat } from "./api";
import { h, s } from "./dom";
import { money } from "./format";

const unit = 14; // px per layout unit
const size = 11; // a seat's square

export interface SeatMapView {
  el: SVGElement;
  // update applies new statuses, touching only seats that changed.
  update(seats: Seat[]): void;
  // markTaken shows seats as held without waiting for the next read.
  markTaken(ids: string[]): void;
  selected(): Seat[];
  clear(): void;
  // lock keeps the selection as it is (while it is held): picks are
  // refused and the seats stay shown as selected.
  lock(on: boolean): void;
}

export function seatMap(seats: Seat[], currency: string, maxPick: number, onChange: (picked: Seat[]) => void, onRefused: (msg: string) => void): SeatMapView {
  const byId = new Map<string, Seat>();
  const els = new Map<string, SVGElement>();
  const picked = new Set<string>();
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const seat of seats) {
    minX = Math.min(minX, seat.x); minY = Math.min(minY, seat.y);
    maxX = Math.max(maxX, seat.x); maxY = Math.max(maxY, seat.y);
  }
  if (!seats.length) minX = minY = maxX = maxY = 0;
  const pad = unit;
  const w = (maxX - minX + 1) * unit + 2 * pad, hgt = (maxY - minY + 1) * unit + 2 * pad;
  const svg = s("svg", {
    class: "seatmap", viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt,
    role: "group", "aria-label": `Seat map, ${seats.length} seats. Arrow keys move between seats, Space or Enter picks one.`,
  });
  // Small maps grow to the width available, up to twice their drawn size;
  // large ones shrink to fit (CSSOM, since the CSP refuses style attributes).
  svg.style.width = "100%";
  svg.style.maxWidth = `${w * 2}px`;
  const groups = new Map<string, SVGElement>();
  const label = (seat: Seat) => {
    const state = picked.has(seat.id) ? "selected" : seat.status;
    return `Section ${seat.section}, row ${seat.row}, seat ${seat.number}, ${seat.tier} ${money(seat.price_cents, currency)}, ` +
      `${state}${seat.accessible ? ", wheelchair accessible" : ""}`;
  };
  const paint = (seat: Seat) => {
    const el = els.get(seat.id)!;
    const on = picked.has(seat.id);
    el.setAttribute("class", `seat ${seat.status}${on ? " picked" : ""}${seat.accessible ? " accessible" : ""}`);
    el.setAttribute("aria-checked", on ? "true" : "false");
    if (seat.status === "available" || on) el.removeAttribute("aria-disabled");
    else el.setAttribute("aria-disabled", "true");
    el.setAttribute("aria-label", label(seat));
    el.setAttribute("data-status", on ? "selected" : seat.status);
  };
  let focusId = "";
  let locked = false;
  for (const seat of seats) {
    byId.set(seat.id, seat);
    let g = groups.get(seat.section);
    if (!g) {
      g = s("g", { role: "group", "aria-label": `Section ${seat.section}` });
      groups.set(seat.section, g);
      svg.append(g);
    }
    const el = s("rect", {
      x: pad + (seat.x - minX) * unit, y: pad + (seat.y - minY) * unit, width: size, height: size, rx: 2,
      role: "checkbox", tabindex: -1, "data-seat": seat.id,
    });
    els.set(seat.id, el);
    g.append(el);
    paint(seat);
    if (!focusId && seat.status === "available") focusId = seat.id;
  }
  focusId ||= seats[0]?.id ?? "";
  const moveFocus = (id: string, focus: boolean) => {
    els.get(focusId)?.setAttribute("tabindex", "-1");
    focusId = id;
    const el = els.get(id);
    el?.setAttribute("tabindex", "0");
    if (focus) (el as unknown as HTMLElement | undefined)?.focus();
  };
  moveFocus(focusId, false);

  const toggle = (id: string) => {
    const seat = byId.get(id);
    if (!seat) return;
    if (locked) { onRefused("Your seats are held: pay for them, or release them to pick others."); return; }
    if (picked.has(id)) picked.delete(id);
    else if (seat.status !== "available") { onRefused(`Seat ${seat.row}${seat.number} in ${seat.section} is ${seat.status}.`); return; }
    else if (picked.size >= maxPick) { onRefused(`You can pick at most ${maxPick} seats.`); return; }
    else picked.add(id);
    paint(seat);
    onChange(selected());
  };
  const selected = () => [...picked].map((id) => byId.get(id)!);

  // nearest finds the closest seat in a direction: along the same row for
  // left and right, the nearest row first for up and down.
  const nearest = (from: Seat, dx: number, dy: number): Seat | undefined => {
    let best: Seat | undefined, bestScore = Infinity;
    for (const c of seats) {
      const ddx = c.x - from.x, ddy = c.y - from.y;
      let score: number;
      if (dx !== 0) {
        if (Math.abs(ddy) > 0.01 || Math.sign(ddx) !== dx) continue;
        score = Math.abs(ddx);
      } else {
        if (Math.sign(ddy) !== dy) continue;
        score = Math.abs(ddy) * 10_000 + Math.abs(ddx);
      }
      if (score < bestScore) { best = c; bestScore = score; }
    }
    return best;
  };
  svg.addEventListener("click", (e) => {
    const id = (e.target as Element).getAttribute("data-seat");
    if (!id) return;
    moveFocus(id, true);
    toggle(id);
  });
  svg.addEventListener("keydown", (e) => {
    const from = byId.get(focusId);
    if (!from) return;
    const dirs: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const d = dirs[e.key];
    if (d) {
      const to = nearest(from, d[0], d[1]);
      if (to) moveFocus(to.id, true);
      e.preventDefault();
    } else if (e.key === " " || e.key === "Enter") {
      toggle(focusId);
      e.preventDefault();
    }
  });

  return {
    el: svg,
    update(next: Seat[]) {
      for (const n of next) {
        const seat = byId.get(n.id);
        if (!seat || seat.status === n.status) continue;
        seat.status = n.status;
        // A seat someone else took leaves the selection.
        if (n.status !== "available" && picked.has(n.id)) {
          if (locked) continue;
          picked.delete(n.id);
          onChange(selected());
        }
        paint(seat);
      }
    },
    markTaken(ids: string[]) {
      for (const id of ids) {
        const seat = byId.get(id);
        if (!seat) continue;
        seat.status = "held";
        picked.delete(id);
        paint(seat);
      }
      onChange(selected());
    },
    selected,
    clear() {
      const was = selected();
      picked.clear();
      for (const seat of was) paint(seat);
      onChange([]);
    },
    lock(on: boolean) { locked = on; },
  };
}

// Maps with more seats than this open on an overview of their sections;
// choosing one draws that section's seats only, so a 20,000-seat arena
// costs a thousand elements at a time, and its live updates read one
// section (GET /events/{id}/seats?section=).
export const bigMap = 2000;

export interface SectionSummary { name: string; seats: number; available: number; minPrice: number; maxPrice: number }

export function summarize(seats: Seat[]): Map<string, SectionSummary> {
  const out = new Map<string, SectionSummary>();
  for (const seat of seats) {
    let s = out.get(seat.section);
    if (!s) {
      s = { name: seat.section, seats: 0, available: 0, minPrice: Infinity, maxPrice: 0 };
      out.set(seat.section, s);
    }
    s.seats++;
    if (seat.status === "available") s.available++;
    s.minPrice = Math.min(s.minPrice, seat.price_cents);
    s.maxPrice = Math.max(s.maxPrice, seat.price_cents);
  }
  return out;
}

export interface OverviewView { el: HTMLElement; update(seats: Seat[]): void }

// sectionOverview lists the sections as buttons with their availability
// and prices. (A drawing of the sections where they sit is for later: the
// seeded arena's sections, given no x/y, stack in one tall column.)
export function sectionOverview(seats: Seat[], currency: string, onChoose: (section: string) => void): OverviewView {
  const el = h("ul", { class: "sections", "aria-label": "Sections" });
  const price = (x: SectionSummary) => x.minPrice === x.maxPrice ? money(x.minPrice, currency) : `${money(x.minPrice, currency)} – ${money(x.maxPrice, currency)}`;
  const buttons = new Map<string, HTMLButtonElement>();
  const paint = (x: SectionSummary) => {
    const b = buttons.get(x.name)!;
    b.replaceChildren(h("strong", {}, `Section ${x.name}`), h("span", {}, `${x.available} of ${x.seats} seats free`), h("span", {}, price(x)));
    b.classList.toggle("full", x.available === 0);
    b.setAttribute("data-available", String(x.available));
  };
  for (const x of summarize(seats).values()) {
    const b = h("button", { type: "button", class: "section", "data-section": x.name, onclick: () => onChoose(x.name) });
    buttons.set(x.name, b);
    el.append(h("li", {}, b));
    paint(x);
  }
  return {
    el,
    update(next: Seat[]) {
      for (const x of summarize(next).values()) if (buttons.has(x.name)) paint(x);
    },
  };
}
