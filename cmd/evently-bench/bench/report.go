package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/evently/evently/store"
)

// Result is one run's figures (the JSON report).
type Result struct {
	Name      string    `json:"name"`
	API       string    `json:"api"`
	Scenario  string    `json:"scenario"`
	Target    string    `json:"target"`
	StartedAt time.Time `json:"started_at"`
	Settings  Settings  `json:"settings"`

	DurationS     float64                   `json:"duration_s"`      // start to the last buyer's end
	ArrivalSpanS  float64                   `json:"arrival_span_s"`  // start to the last arrival
	OfferedRate   float64                   `json:"offered_rate"`    // configured arrivals/s (0: closed loop)
	ArrivalRate   float64                   `json:"arrival_rate"`    // arrivals/s actually started
	AchievedRate  float64                   `json:"achieved_rate"`   // buyers finished/s
	RequestRate   float64                   `json:"request_rate"`    // HTTP requests/s
	CommittedRate float64                   `json:"committed_per_s"` // bookings that reached reserved/confirmed, per second
	ConfirmedRate float64                   `json:"confirmed_per_s"` // bookings confirmed, per second
	Arrivals      int                       `json:"arrivals"`
	Holds         int                       `json:"holds"`
	HoldConflicts int                       `json:"conflicts_409"`
	Accepted      int                       `json:"accepted"` // 202 (Evently) or 201 (naive) received
	Committed     int                       `json:"committed"`
	Confirmed     int                       `json:"confirmed"`
	Requests      int64                     `json:"requests"`
	CutOff        bool                      `json:"cut_off"` // the duration limit ended the run
	AcceptedIDs   []string                  `json:"accepted_ids,omitempty"`
	Latency       map[string]LatencySummary `json:"latency"`
	Outcomes      map[string]int            `json:"outcomes"`
	HTTPErrors    map[string]int            `json:"http_errors"`
	Timeline      []Point                   `json:"timeline"`
	Chaos         []ChaosEvent              `json:"chaos,omitempty"`
	// CPU is the machine's and each process group's CPU time during the
	// load phase; the per-confirmed figures divide by Confirmed.
	CPU                   *CPUReport         `json:"cpu,omitempty"`
	RequestsPerConfirmed  float64            `json:"requests_per_confirmed"`
	CPUPerConfirmed       float64            `json:"cpu_s_per_confirmed"`            // machine-wide
	CPUSuitePerConfirmed  float64            `json:"cpu_s_per_confirmed_processes"`  // the processes broken down, summed
	CPUPerConfirmedByProc map[string]float64 `json:"cpu_s_per_confirmed_by_process"` // by group`
	Audit                 *AuditReport       `json:"audit,omitempty"`
	ComparedWith          string             `json:"compared_with,omitempty"`
	ComparisonNote        string             `json:"comparison_note,omitempty"`
}

// Settings echo the run's configuration.
type Settings struct {
	Buyers      int     `json:"buyers"`
	Accounts    int     `json:"accounts"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	DurationS   float64 `json:"duration_limit_s"`
	Strategy    string  `json:"strategy"`
	MaxSeats    int     `json:"max_seats"`
	Retries     int     `json:"retries"`
	Abandon     float64 `json:"abandon"`
	Decline     float64 `json:"decline"`
	Follow      string  `json:"follow"`
	PollEveryMS float64 `json:"poll_every_ms"` // 0: the adaptive schedule
	Drain       bool    `json:"drain"`
	Events      int     `json:"events"`
	Seats       int     `json:"seats_per_event"`
}

// AuditReport is the integrity audit after the run.
type AuditReport struct {
	Checked    int               `json:"accepted_checked"`
	Violations []store.Violation `json:"violations"`
	Error      string            `json:"error,omitempty"`
	TookS      float64           `json:"took_s"`
}

// Passed reports whether the audit ran and found nothing.
func (a *AuditReport) Passed() bool { return a != nil && a.Error == "" && len(a.Violations) == 0 }

func (r *runner) result(started, arrivalsEnd, loadEnd time.Time) *Result {
	c := r.cfg
	rec := r.rec
	dur := loadEnd.Sub(started).Seconds()
	rec.mu.Lock()
	counts := map[string]int{}
	for k, v := range rec.counts {
		counts[k] = v
	}
	lat := map[string]LatencySummary{}
	for n, h := range rec.hists {
		if h.TotalCount() > 0 {
			lat[n] = summarize(h)
		}
	}
	outcomes := map[string]int{}
	for k, v := range rec.outcomes {
		outcomes[k] = v
	}
	httpErrs := map[string]int{}
	for k, v := range rec.http {
		httpErrs[k] = v
	}
	accepted := append([]string(nil), rec.accepted...)
	rec.mu.Unlock()
	per := func(n int) float64 {
		if dur <= 0 {
			return 0
		}
		return float64(n) / dur
	}
	span := arrivalsEnd.Sub(started).Seconds()
	res := &Result{Name: c.Name, API: c.API, Scenario: c.Scenario, Target: c.Target, StartedAt: started.UTC(),
		Settings: Settings{Buyers: c.Buyers, Accounts: c.Accounts, Concurrency: c.Concurrency, PollEveryMS: float64(c.PollEvery) / float64(time.Millisecond), Drain: c.Drain, Rate: c.Rate, DurationS: c.Duration.Seconds(),
			Strategy: c.Strategy, MaxSeats: c.MaxSeats, Retries: c.Retries, Abandon: c.Abandon, Decline: c.Decline,
			Follow: c.Follow, Events: len(c.Setup.Events), Seats: c.Setup.Seats},
		DurationS: dur, ArrivalSpanS: span, OfferedRate: c.Rate,
		Arrivals: counts["arrivals"], Holds: counts["holds"], HoldConflicts: counts["hold_conflicts"],
		Accepted: counts["accepted"], Committed: counts["committed"], Confirmed: counts["confirmed"],
		Requests: rec.requests.Load(), AcceptedIDs: accepted,
		Latency: lat, Outcomes: outcomes, HTTPErrors: httpErrs, Timeline: rec.timeline()}
	if span > 0 {
		res.ArrivalRate = float64(res.Arrivals) / span
	}
	res.AchievedRate = per(counts["done"])
	res.RequestRate = float64(res.Requests) / max(dur, 1e-9)
	res.CommittedRate = per(res.Committed)
	res.ConfirmedRate = per(res.Confirmed)
	return res
}

// finishPerConfirmed fills the per-confirmed-booking figures.
func (r *Result) finishPerConfirmed() {
	if r.Confirmed == 0 {
		return
	}
	n := float64(r.Confirmed)
	r.RequestsPerConfirmed = float64(r.Requests) / n
	if r.CPU != nil && r.CPU.Error == "" {
		r.CPUPerConfirmed = r.CPU.MachineS / n
		r.CPUSuitePerConfirmed = r.CPU.ProcessesS() / n
		r.CPUPerConfirmedByProc = map[string]float64{}
		for g, v := range r.CPU.ByProcess {
			r.CPUPerConfirmedByProc[g] = v / n
		}
	}
}

// WriteJSON saves the result.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadResult reads a saved result.
func LoadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func rate(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// Markdown is the run as Markdown tables.
func (r *Result) Markdown() string {
	var b strings.Builder
	offered := "closed loop"
	if r.OfferedRate > 0 {
		offered = rate(r.OfferedRate) + "/s"
	}
	fmt.Fprintf(&b, "#### %s (%s API, scenario %s)\n\n", r.Name, r.API, r.Scenario)
	accounts := "one account each"
	if r.Settings.Accounts > 0 {
		accounts = fmt.Sprintf("over %d accounts", r.Settings.Accounts)
	}
	seats := fmt.Sprintf("1–%d seats each", r.Settings.MaxSeats)
	if r.Settings.Strategy == "disjoint" {
		seats = fmt.Sprintf("%d seat(s) each, no two journeys wanting the same seat", r.Settings.MaxSeats)
	}
	follow := r.Settings.Follow
	if follow == "poll" {
		if r.Settings.PollEveryMS > 0 {
			follow += fmt.Sprintf(" every %.0f ms", r.Settings.PollEveryMS)
		} else {
			follow += " (10 ms, then max(10 ms, age/4) ≤ 250 ms)"
		}
	}
	fmt.Fprintf(&b, "%d journeys (%s), %d concurrent, offered %s, strategy %s, %s, %d retries after 409, abandon %.0f%%, decline %.0f%%, follow by %s; %d event(s) × %d seats.\n\n",
		r.Settings.Buyers, accounts, r.Settings.Concurrency, offered, r.Settings.Strategy, seats, r.Settings.Retries,
		r.Settings.Abandon*100, r.Settings.Decline*100, follow, r.Settings.Events, r.Settings.Seats)
	b.WriteString("| figure | value |\n| --- | --- |\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	cut := ""
	switch {
	case r.CutOff && r.Settings.Drain:
		cut = fmt.Sprintf(" (arrivals stopped at the %.0f s limit; the journeys in flight then finished)", r.Settings.DurationS)
	case r.CutOff:
		cut = " (cut off by the limit)"
	}
	row("duration (s)", fmt.Sprintf("%.1f%s", r.DurationS, cut))
	row("arrivals/s (offered → started)", offered+" → "+rate(r.ArrivalRate))
	row("buyers finished/s", rate(r.AchievedRate))
	row("HTTP requests/s", rate(r.RequestRate))
	row("holds / 409 conflicts", fmt.Sprintf("%d / %d", r.Holds, r.HoldConflicts))
	row("bookings accepted", fmt.Sprint(r.Accepted))
	row("bookings committed (reserved or confirmed) /s", fmt.Sprintf("%d (%s/s)", r.Committed, rate(r.CommittedRate)))
	row("bookings confirmed /s", fmt.Sprintf("%d (%s/s)", r.Confirmed, rate(r.ConfirmedRate)))
	row("HTTP requests per confirmed booking", fmt.Sprintf("%.2f", r.RequestsPerConfirmed))
	if c := r.CPU; c != nil && c.Error == "" {
		row("CPU-s used on the machine (all processes, /proc/stat)", fmt.Sprintf("%.1f of %.1f available (%d cores × %.1f s)", c.MachineS, float64(c.Cores)*c.WallS, c.Cores, c.WallS))
		row("CPU-ms per confirmed booking (machine)", fmt.Sprintf("%.2f", r.CPUPerConfirmed*1000))
		row("CPU-ms per confirmed booking (processes below, summed)", fmt.Sprintf("%.2f", r.CPUSuitePerConfirmed*1000))
		var parts []string
		for _, g := range cpuGroupsIn(c) {
			parts = append(parts, fmt.Sprintf("%s %.2f", g, r.CPUPerConfirmedByProc[g]*1000))
		}
		scope := "every process"
		if c.Scoped {
			scope = fmt.Sprintf("this suite's processes; others on the machine: %.1f CPU-s", c.OutsideS)
		}
		row("CPU-ms per confirmed booking by process ("+scope+")", strings.Join(parts, ", "))
	}
	b.WriteString("\n| latency (ms) | count | p50 | p95 | p99 | max |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, n := range latencyOrder {
		if l, ok := r.Latency[n]; ok {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", n, l.Count, l.P50, l.P95, l.P99, l.Max)
		}
	}
	fmt.Fprintf(&b, "\nOutcomes: %s.  \nHTTP errors: %s.\n", sortedCounts(r.Outcomes), sortedCounts(r.HTTPErrors))
	if len(r.Chaos) > 0 {
		b.WriteString("\nFaults injected:\n\n")
		for _, e := range r.Chaos {
			line := fmt.Sprintf("- t=%.1fs %s: %s", e.AtS, e.Kind, e.Detail)
			if e.TookS > 0 {
				line += fmt.Sprintf(" (%.1fs)", e.TookS)
			}
			if e.Error != "" {
				line += " — error: " + e.Error
			}
			b.WriteString(line + "\n")
		}
	}
	if r.Audit != nil {
		switch {
		case r.Audit.Error != "":
			fmt.Fprintf(&b, "\nAudit: could not run: %s\n", r.Audit.Error)
		case len(r.Audit.Violations) == 0:
			fmt.Fprintf(&b, "\nAudit: passed (%d accepted bookings checked, %.1fs).\n", r.Audit.Checked, r.Audit.TookS)
		default:
			fmt.Fprintf(&b, "\nAudit: **%d violations**:\n\n", len(r.Audit.Violations))
			for i, v := range r.Audit.Violations {
				if i == 20 {
					fmt.Fprintf(&b, "- … %d more\n", len(r.Audit.Violations)-20)
					break
				}
				fmt.Fprintf(&b, "- %s\n", v)
			}
		}
	}
	return b.String()
}

func sortedCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Compare puts a baseline and a candidate side by side as ratios
// (candidate ÷ baseline).
func Compare(base, cand *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | %s | %s | ratio (%s ÷ %s) |\n| --- | --- | --- | --- |\n", base.Name, cand.Name, cand.Name, base.Name)
	ratio := func(x, y float64) string {
		if y == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", x/y)
	}
	row := func(k string, x, y float64, f func(float64) string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", k, f(x), f(y), ratio(y, x))
	}
	ms := func(x float64) string { return fmt.Sprintf("%.1f ms", x) }
	num := func(x float64) string { return fmt.Sprintf("%.2f", x) }
	row("bookings confirmed/s", base.ConfirmedRate, cand.ConfirmedRate, rate)
	x, y := base.Latency[latConfirmed], cand.Latency[latConfirmed]
	row("submit → confirmed p50", x.P50, y.P50, ms)
	row("submit → confirmed p99", x.P99, y.P99, ms)
	row("HTTP requests per confirmed booking", base.RequestsPerConfirmed, cand.RequestsPerConfirmed, num)
	cms := func(x float64) string { return fmt.Sprintf("%.2f ms", x*1000) }
	row("CPU per confirmed booking (whole machine)", base.CPUPerConfirmed, cand.CPUPerConfirmed, cms)
	scope := "every process"
	if (base.CPU != nil && base.CPU.Scoped) || (cand.CPU != nil && cand.CPU.Scoped) {
		scope = "this suite's processes"
	}
	suite := func(r *Result) float64 {
		if r.CPU == nil || r.Confirmed == 0 {
			return 0
		}
		return r.CPU.ProcessesS() / float64(r.Confirmed)
	}
	row("CPU per confirmed booking ("+scope+")", suite(base), suite(cand), cms)
	// The server process itself, whatever its name.
	srv := func(r *Result) float64 {
		return r.CPUPerConfirmedByProc["evently"] + r.CPUPerConfirmedByProc["evently-naive"]
	}
	row("… of which the server (evently-naive / evently)", srv(base), srv(cand), cms)
	for _, g := range cpuGroupsIn(base.CPU, cand.CPU) {
		if g == "evently" || g == "evently-naive" {
			continue
		}
		row("… of which "+g, base.CPUPerConfirmedByProc[g], cand.CPUPerConfirmedByProc[g], cms)
	}
	row("buyers finished/s", base.AchievedRate, cand.AchievedRate, rate)
	row("hold 409 conflicts", float64(base.HoldConflicts), float64(cand.HoldConflicts), func(x float64) string { return fmt.Sprintf("%.0f", x) })
	for _, n := range []string{latHold, latSubmit, latTerminal} {
		x, y := base.Latency[n], cand.Latency[n]
		row(n+" p50", x.P50, y.P50, ms)
		row(n+" p99", x.P99, y.P99, ms)
	}
	return b.String()
}
