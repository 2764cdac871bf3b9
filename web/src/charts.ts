// Small charts for the sales dashboard: plain SVG and elements, no chart
// library. Each chart says what it shows in words to assistive technology.
import type { DayFigures, Seat } from "./api";
import { h, s } from "./dom";

export interface Bar { label: string; value: number }

// days lists every day from..to (YYYY-MM-DD), filling the days the API
// left out (nothing happened) with zeros.
export function everyDay(from: string, to: string, daily: DayFigures[] | null, pick: (d: DayFigures) => number): Bar[] {
  const byDay = new Map((daily ?? []).map((d) => [d.day, pick(d)]));
  const out: Bar[] = [];
  const end = Date.parse(to + "T00:00:00Z");
  for (let t = Date.parse(from + "T00:00:00Z"); t <= end && out.length < 400; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push({ label: day, value: byDay.get(day) ?? 0 });
  }
  return out;
}

// barChart draws bars over time: one per day, the tallest scaled to the
// chart's height, the first and last day written under the axis.
export function barChart(bars: Bar[], what: string, fmt: (n: number) => string = String): SVGElement {
  const w = 640, hgt = 180, pad = 28;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const step = bars.length ? (w - 2 * pad) / bars.length : 0;
  const total = bars.reduce((a, b) => a + b.value, 0);
  const best = bars.reduce<Bar | null>((a, b) => (b.value > (a?.value ?? 0) ? b : a), null);
  const summary = bars.length
    ? `${what} per day from ${bars[0].label} to ${bars[bars.length - 1].label}: ${fmt(total)} in all` +
      (best ? `, most on ${best.label} (${fmt(best.value)})` : "") + "."
    : `${what}: no days.`;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": summary },
    s("title", {}, summary),
    s("line", { x1: pad, y1: hgt - pad, x2: w - pad, y2: hgt - pad, class: "axis" }),
    s("text", { x: pad - 4, y: pad, class: "tick", "text-anchor": "end" }, fmt(max)),
    s("text", { x: pad - 4, y: hgt - pad, class: "tick", "text-anchor": "end" }, "0"));
  bars.forEach((b, i) => {
    const bh = ((hgt - 2 * pad) * b.value) / max;
    if (b.value > 0) {
      svg.append(s("rect", { x: pad + i * step + step * 0.15, y: hgt - pad - bh, width: Math.max(1, step * 0.7), height: bh, class: "bar", "data-day": b.label, "data-value": b.value },
        s("title", {}, `${b.label}: ${fmt(b.value)}`)));
    }
  });
  if (bars.length) {
    svg.append(s("text", { x: pad, y: hgt - 8, class: "tick" }, bars[0].label),
      s("text", { x: w - pad, y: hgt - 8, class: "tick", "text-anchor": "end" }, bars[bars.length - 1].label));
  }
  return svg;
}

// funnel lists stages as labelled horizontal bars, each as long as its
// share of the first stage.
export function funnel(stages: Bar[]): HTMLElement {
  const top = Math.max(1, ...stages.map((x) => x.value));
  return h("ul", { class: "funnel", "aria-label": "Sales funnel" }, ...stages.map((x) => {
    const bar = h("span", { class: "fbar", "aria-hidden": "true" });
    // CSSOM, since the CSP refuses style attributes.
    bar.style.width = `${Math.max(0.5, (100 * x.value) / top)}%`;
    return h("li", { "data-stage": x.label }, h("span", { class: "flabel" }, x.label), h("span", { class: "ftrack" }, bar), h("strong", { class: "fvalue" }, String(x.value)));
  }));
}

// heatMap draws a venue's seats coloured by status, one path per status,
// so even the 20,000-seat arena is three elements: capacity at a glance.
export function heatMap(seats: Seat[]): SVGElement {
  const counts = { available: 0, held: 0, sold: 0 };
  const paths = { available: [] as string[], held: [] as string[], sold: [] as string[] };
  let minX = 0, minY = 0, maxX = 0, maxY = 0;
  seats.forEach((seat, i) => {
    if (i === 0 || seat.x < minX) minX = seat.x;
    if (i === 0 || seat.y < minY) minY = seat.y;
    if (i === 0 || seat.x > maxX) maxX = seat.x;
    if (i === 0 || seat.y > maxY) maxY = seat.y;
    counts[seat.status]++;
    paths[seat.status].push(`M${seat.x} ${seat.y}h0.8v0.8h-0.8z`);
  });
  const label = `Capacity: ${counts.sold} sold, ${counts.held} held, ${counts.available} available of ${seats.length} seats`;
  return s("svg", { class: "heat", viewBox: `${minX - 1} ${minY - 1} ${maxX - minX + 3} ${maxY - minY + 3}`, role: "img", "aria-label": label },
    s("title", {}, label),
    ...(["available", "held", "sold"] as const).map((st) => s("path", { class: `heat-${st}`, d: paths[st].join("") || "M0 0" })));
}
