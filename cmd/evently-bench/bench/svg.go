package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one line of a chart panel.
type series struct {
	name  string
	color string
	dash  bool
	y     []float64
}

// SVG draws the run's timeline by hand: throughput per second on top,
// latency percentiles per second below, injected faults as red markers.
func (r *Result) SVG() string {
	const w, panelH, left, right, top, gap = 900.0, 200.0, 60.0, 170.0, 40.0, 50.0
	n := len(r.Timeline)
	col := func(f func(Point) float64) []float64 {
		out := make([]float64, n)
		for i, p := range r.Timeline {
			out[i] = f(p)
		}
		return out
	}
	tput := []series{
		{"finished/s", "#888888", true, col(func(p Point) float64 { return float64(p.Done) })},
		{"committed/s", "#1f77b4", false, col(func(p Point) float64 { return float64(p.Committed) })},
		{"confirmed/s", "#2ca02c", false, col(func(p Point) float64 { return float64(p.Confirmed) })},
	}
	lat := []series{
		{"submit p50", "#ff7f0e", true, col(func(p Point) float64 { return p.SubmitP50 })},
		{"submit p99", "#ff7f0e", false, col(func(p Point) float64 { return p.SubmitP99 })},
		{"terminal p99", "#9467bd", false, col(func(p Point) float64 { return p.TermP99 })},
	}
	if r.API == "evently" {
		lat = append(lat[:1], append([]series{
			{"hold p50", "#17becf", true, col(func(p Point) float64 { return p.HoldP50 })},
			{"hold p99", "#17becf", false, col(func(p Point) float64 { return p.HoldP99 })},
		}, lat[1:]...)...)
	}
	h := top + 2*panelH + gap + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(
		fmt.Sprintf("%s — %s API, %s, %d buyers", r.Name, r.API, r.Scenario, r.Settings.Buyers)))
	plotW := w - left - right
	panel(&b, "bookings per second", tput, left, top, plotW, panelH, n, r.Chaos)
	panel(&b, "latency (ms) per second", lat, left, top+panelH+gap, plotW, panelH, n, r.Chaos)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">seconds since start</text>`+"\n", left+plotW/2, h-8)
	b.WriteString("</svg>\n")
	return b.String()
}

func panel(b *strings.Builder, title string, ss []series, x0, y0, pw, ph float64, n int, chaos []ChaosEvent) {
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.y {
			ymax = math.Max(ymax, v)
		}
	}
	ymax = niceCeil(ymax)
	xmax := math.Max(float64(n-1), 1)
	px := func(i float64) float64 { return x0 + i/xmax*pw }
	py := func(v float64) float64 { return y0 + ph - v/ymax*ph }
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", x0, y0-6, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", x0, y0, pw, ph)
	for k := 0; k <= 4; k++ {
		v := ymax * float64(k) / 4
		y := py(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x0, y, x0+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-4, y+4, axisLabel(v))
	}
	step := math.Max(1, niceCeil(xmax/10))
	for t := 0.0; t <= xmax; t += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, px(t), y0+ph+14, t)
	}
	b.WriteString("\n")
	for _, e := range chaos {
		if e.AtS < 0 || e.AtS > xmax {
			continue
		}
		x := px(e.AtS)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="2,3"><title>%s</title></line>`+"\n",
			x, y0, x, y0+ph, html.EscapeString(e.Kind+": "+e.Detail))
	}
	for i, s := range ss {
		if len(s.y) > 0 {
			pts := make([]string, len(s.y))
			for k, v := range s.y {
				pts[k] = fmt.Sprintf("%.1f,%.1f", px(float64(k)), py(v))
			}
			dash := ""
			if s.dash {
				dash = ` stroke-dasharray="5,3"`
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", s.color, dash, strings.Join(pts, " "))
		}
		ly := y0 + 12 + float64(i)*16
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			x0+pw+10, ly-4, x0+pw+30, ly-4, s.color, x0+pw+35, ly, html.EscapeString(s.name))
	}
	if len(chaos) > 0 {
		ly := y0 + 12 + float64(len(ss))*16
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="2,3"/><text x="%.1f" y="%.1f">fault injected</text>`+"\n",
			x0+pw+10, ly-4, x0+pw+30, ly-4, x0+pw+35, ly)
	}
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
