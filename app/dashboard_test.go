package app_test

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	_ "github.com/evently/evently/app" // registers every metric the binary exports
)

// Every metric the provisioned Grafana dashboard queries is one the code
// really exports: a renamed metric fails here, not as an empty panel.
func TestDashboardsUseRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/dashboards/evently.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	name := regexp.MustCompile(`evently_[a-z_]+`)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			found := name.FindAllString(tg.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q names no evently metric", p.Title, tg.Expr)
			}
			for _, m := range found {
				if !registered(m) && !registered(histogramBase(m)) {
					t.Errorf("panel %q queries %s, which nothing exports", p.Title, m)
				}
			}
		}
	}
}

// histogramBase is the metric a histogram's _bucket, _sum or _count series
// belongs to.
func histogramBase(series string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(series, s); ok {
			return b
		}
	}
	return series
}

// registered reports whether the default registry has a metric of this
// name: a probe of the same name with another help string is refused then.
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe of " + name})
	err := prometheus.DefaultRegisterer.Register(probe)
	if err == nil {
		prometheus.DefaultRegisterer.Unregister(probe)
		return false
	}
	var already prometheus.AlreadyRegisteredError
	return !errors.As(err, &already) || already.ExistingCollector != probe
}
