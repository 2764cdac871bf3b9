package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// Bad configuration fails at start with one clear line and the usage exit
// code; an unreachable server fails with one line too.
func TestBadConfigurationFailsWithOneLine(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
		code int
	}{
		{"malformed duration", map[string]string{"EVENTLY_HOLD_TTL": "soon"}, []string{"api"}, "EVENTLY_HOLD_TTL", exitUsage},
		{"malformed nested duration", map[string]string{"EVENTLY_BOOKING_WAIT": "soon"}, []string{"api"}, "EVENTLY_BOOKING_WAIT is not a valid time.Duration", exitUsage},
		{"malformed number", map[string]string{"EVENTLY_PARTITIONS": "many"}, []string{"api"}, "EVENTLY_PARTITIONS", exitUsage},
		{"out of range", map[string]string{"EVENTLY_PARTITIONS": "0"}, []string{"api"}, "EVENTLY_PARTITIONS must be between", exitUsage},
		{"bad database url", map[string]string{"DATABASE_URL": "mysql://x"}, []string{"migrate"}, "DATABASE_URL must be a postgres:// URL", exitUsage},
		{"bad broker", map[string]string{"KAFKA_BROKERS": "nohostport"}, []string{"api"}, "KAFKA_BROKERS entry", exitUsage},
		{"bad log level", map[string]string{"EVENTLY_LOG_LEVEL": "loud"}, []string{"api"}, "EVENTLY_LOG_LEVEL", exitUsage},
		{"short jwt secret", map[string]string{"EVENTLY_JWT_SECRET": "short"}, []string{"api"}, "EVENTLY_JWT_SECRET must be set", exitUsage},
		{"unknown command", nil, []string{"fly"}, `unknown command "fly"`, exitUsage},
		{"unknown migrate command", nil, []string{"migrate", "sideways"}, `unknown migrate command`, exitUsage},
		{"unknown worker kind", nil, []string{"work", "-kinds", "juggler"}, `unknown worker kind "juggler"`, exitUsage},
		{"unreachable postgres", map[string]string{"DATABASE_URL": "postgres://x:y@127.0.0.1:1/db?sslmode=disable"}, []string{"migrate"}, "postgres unreachable", exitFailure},
		{"unreachable redis", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}, []string{"api"}, "redis unreachable", exitFailure},
		{"unreachable kafka", map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, []string{"api"}, "kafka unreachable", exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("EVENTLY_JWT_SECRET", strings.Repeat("s", 32))
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			code := run(tt.args, io.Discard, &stderr)
			out := strings.TrimSpace(stderr.String())
			if code != tt.code {
				t.Errorf("exit code %d, want %d (%s)", code, tt.code, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("stderr %q does not mention %q", out, tt.want)
			}
			if tt.code == exitFailure && strings.Count(out, "\n") > 0 {
				t.Errorf("more than one line: %q", out)
			}
			if strings.Contains(out, "goroutine ") {
				t.Errorf("stack trace: %q", out)
			}
		})
	}
}

// /readyz names Kafka when its broker stops and recovers when it is back.
func TestReadyzNamesKafkaWhenBrokerStops(t *testing.T) {
	t.Parallel()
	broker := evtest.StartBroker(t)
	db := evtest.DB(t)
	rdb, _ := evtest.Redis(t)
	names := topics.Names{Prefix: "r."}
	ctx := context.Background()
	kafka := topics.Conn{Brokers: []string{broker.Addr}}
	if err := topics.EnsureTopics(ctx, kafka, names, 1, 1); err != nil {
		t.Fatal(err)
	}
	d := &app.Deps{DB: db, Redis: rdb, Names: names, Kafka: kafka}
	srv := httptest.NewServer(api.Probes(app.Checks(d, app.Config{}), false))
	defer srv.Close()

	readyz := func() (int, []string) {
		res, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Failed []string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Failed
	}
	waitStatus := func(want int) []string {
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, failed := readyz()
			if code == want {
				return failed
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz %d, want %d (failed %v)", code, want, failed)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStatus(http.StatusOK)
	broker.Stop()
	if failed := waitStatus(http.StatusServiceUnavailable); len(failed) != 1 || failed[0] != "kafka" {
		t.Fatalf("failed = %v, want [kafka]", failed)
	}
	broker.Start()
	waitStatus(http.StatusOK)
}

// Migrations are safe to run twice and from two processes at once.
func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	db := evtest.DB(t) // already migrated from the template
	ctx := context.Background()
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := store.Migrate(ctx, db.DB); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Migrations(ctx, db.DB)
	if err != nil || st.Pending() || st.Current == 0 {
		t.Fatalf("state %+v, %v", st, err)
	}
}
