// Operators (admins): the booking pipeline as GET /admin/pipeline reads it
// from the broker: lag per partition and who owns it, the consumer groups,
// the worker processes and their payment breakers, and the dead-letter
// queues with replay.
import { call, get, problemText, role, session } from "../api";
import { announce, h, refill, signInFirst } from "../dom";

interface Trend { over_seconds: number; lag_change: number; produced_per_second: number; consumed_per_second: number }
interface Pipeline {
  groups: { group: string; topic: string; lag: number; trend: Trend | null;
    partitions: { partition: number; end_offset: number; committed_offset: number; lag: number; owner: string; trend: Trend | null }[] }[];
  consumers: { group: string; state: string; error?: string; members: { client_id: string; host: string; partitions: Record<string, number[]> }[] }[];
  dlq: { topic: string; pending: number; total: number }[];
  breakers: { instance: string; client: string; state: string }[];
  workers: { instance: string; kinds: string[]; host: string; pid: number; started_at: string; seen_at: string }[];
}

// The pipeline is re-read this often while the page is visible.
const every = 5000;

const trendText = (t: Trend | null) => t === null ? "first look"
  : `${t.lag_change > 0 ? "+" : ""}${t.lag_change} over ${Math.round(t.over_seconds)} s (in ${t.produced_per_second.toFixed(1)}/s, out ${t.consumed_per_second.toFixed(1)}/s)`;

// table wraps the table in a region that scrolls sideways at phone width;
// the region takes focus so keyboards can scroll it too.
function table(caption: string, heads: string[], rows: (string | Node)[][], id: string): HTMLElement {
  return h("div", { class: "scroll", role: "region", tabindex: 0, "aria-label": caption, id: `${id}-region` }, h("table", { class: "table", id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c)))))));
}

export function pipelinePage(main: HTMLElement): (() => void) | void {
  if (!session()) { signInFirst(); return; }
  if (role() !== "admin") {
    main.append(h("h1", {}, "Pipeline"), h("p", {}, "The pipeline view is for admins."));
    return;
  }
  let alive = true, timer = 0;
  const body = h("div", { id: "pipeline" }, h("p", { class: "meta" }, "Loading…"));
  const err = h("p", { class: "error", role: "alert" });
  main.append(h("h1", {}, "Pipeline"), err, body);

  const replay = async (topic: string, btn: HTMLButtonElement) => {
    btn.disabled = true;
    try {
      const r = (await call<{ topic: string; replayed: number }>("POST", `/admin/dlq/${encodeURIComponent(topic)}/replay`)).body;
      announce(`Replayed ${r.replayed} dead letter${r.replayed === 1 ? "" : "s"} of ${topic}.`);
      err.textContent = "";
    } catch (x) {
      err.textContent = problemText(x);
    } finally {
      btn.disabled = false;
    }
    void read();
  };

  const read = async () => {
    let p: Pipeline;
    try {
      p = await get<Pipeline>("/admin/pipeline", { cache: "no-store" });
    } catch (x) {
      err.textContent = problemText(x);
      return;
    }
    if (!alive) return;
    err.textContent = "";
    const lag = p.groups.flatMap((g) => g.partitions.map((x) => [g.group, g.topic, String(x.partition), String(x.lag),
      `${x.committed_offset} / ${x.end_offset}`, x.owner || "nobody (rebalancing?)", trendText(x.trend)]));
    refill(body,
      table("Lag by group", ["Group", "Topic", "Lag", "Trend"], p.groups.map((g) => [g.group, g.topic, String(g.lag), trendText(g.trend)]), "groups"),
      table("Lag per partition", ["Group", "Topic", "Partition", "Lag", "Committed / end", "Owner", "Trend"], lag, "partitions"),
      table("Workers (reported in the last 10 s)", ["Instance", "Kinds", "Host", "PID", "Seen"],
        p.workers.map((w) => [w.instance, w.kinds.join(", "), w.host, String(w.pid), new Date(w.seen_at).toLocaleTimeString()]), "workers"),
      table("Payment breakers", ["Instance", "Client", "State"], p.breakers.map((b) => [b.instance, b.client, h("span", { class: `breaker ${b.state}` }, b.state)]), "breakers"),
      table("Consumer groups", ["Group", "State", "Members"], p.consumers.map((c) => [c.group, c.error ? `${c.state} (${c.error})` : c.state,
        c.members.map((m) => `${m.client_id} on ${m.host}: ${Object.entries(m.partitions).map(([t, ps]) => `${t} ${ps.join(",")}`).join("; ")}`).join(" | ") || "none"]), "consumers"),
      table("Dead-letter queues", ["Topic", "Pending", "Ever", ""], p.dlq.map((d) => {
        const btn = h("button", { type: "button", class: "secondary", id: `replay-${d.topic}`, "data-replay": d.topic, disabled: d.pending === 0 }, `Replay ${d.topic}`);
        btn.addEventListener("click", () => void replay(d.topic, btn));
        return [d.topic, String(d.pending), String(d.total), btn];
      }), "dlq"),
    );
  };
  const round = async () => {
    if (!alive) return;
    if (!document.hidden) await read();
    if (alive) timer = window.setTimeout(round, every);
  };
  void round();
  return () => { alive = false; window.clearTimeout(timer); };
}
