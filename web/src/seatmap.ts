// The seat map: one SVG rect per seat, placed by the seat's x/y from
// GET /events/{id}/seats. Seats are checkboxes for assistive technology,
// labelled with section, row, seat, price and status; the map is one tab
// stop (roving tabindex) and the arrow keys move between seats.
import type { Seat } from "./api";
import { s } from "./dom";
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
