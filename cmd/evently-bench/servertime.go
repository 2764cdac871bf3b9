package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serverTime reads the API's own request-latency histogram from two
// /metrics snapshots (taken before and after a run) and prints the
// quantiles of the requests in between. The load generator shares the
// machine's two cores, so its clock adds scheduling delay to every
// latency it measures; the server's histogram does not.
//
//	evently-bench server-time -before a.prom -after b.prom [-route /api/v1/events/{id}/holds]
//	evently-bench server-time -scrape http://127.0.0.1:18080/metrics -out a.prom
func serverTime(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("server-time", flag.ContinueOnError)
	scrape := fs.String("scrape", "", "fetch this /metrics URL into -out and stop")
	out := fs.String("out", "", "with -scrape: where to save the snapshot")
	before := fs.String("before", "", "snapshot taken before the run")
	after := fs.String("after", "", "snapshot taken after the run")
	routes := fs.String("routes", "POST /api/v1/events/{id}/holds,POST /api/v1/bookings", "METHOD ROUTE pairs, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scrape != "" {
		res, err := http.Get(*scrape)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.ReadFrom(res.Body)
		return err
	}
	a, err := readHistograms(*before)
	if err != nil {
		return err
	}
	b, err := readHistograms(*after)
	if err != nil {
		return err
	}
	fmt.Println("| request (server side) | count | p50 ms | p99 ms |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range strings.Split(*routes, ",") {
		r = strings.TrimSpace(r)
		hb, ok := b[r]
		if !ok {
			continue
		}
		d := diff(hb, a[r])
		fmt.Printf("| %s | %d | %s | %s |\n", r, d.count, bound(d, 0.50), bound(d, 0.99))
	}
	return nil
}

type hist struct {
	count   uint64
	buckets map[float64]uint64 // cumulative, by upper bound
}

func readHistograms(path string) (map[string]hist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, err
	}
	out := map[string]hist{}
	mf := mfs["evently_http_request_seconds"]
	if mf == nil {
		return out, nil
	}
	for _, m := range mf.GetMetric() {
		key := label(m, "method") + " " + label(m, "route")
		h := hist{count: m.GetHistogram().GetSampleCount(), buckets: map[float64]uint64{}}
		for _, bk := range m.GetHistogram().GetBucket() {
			h.buckets[bk.GetUpperBound()] = bk.GetCumulativeCount()
		}
		out[key] = h
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func diff(b, a hist) hist {
	d := hist{count: b.count - a.count, buckets: map[float64]uint64{}}
	for le, c := range b.buckets {
		d.buckets[le] = c - a.buckets[le]
	}
	return d
}

// bound returns the upper bound of the bucket holding quantile q ("≤ x").
func bound(h hist, q float64) string {
	if h.count == 0 {
		return "-"
	}
	les := make([]float64, 0, len(h.buckets))
	for le := range h.buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	want := uint64(math.Ceil(q * float64(h.count)))
	for _, le := range les {
		if h.buckets[le] >= want {
			return fmt.Sprintf("≤ %g", le*1000)
		}
	}
	return "> " + fmt.Sprint(les[len(les)-1]*1000)
}
