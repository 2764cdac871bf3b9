// Package apptest runs Evently in-process for integration tests: the real
// wiring of package app over an isolated database, Redis prefix and topic
// names, served by httptest, with the chosen workers running. Tests that
// use it live in external test packages (package x_test).
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/workers"
)

// App is one running Evently.
type App struct {
	URL    string
	Config app.Config
	Deps   *app.Deps
	Server *api.Server
	DB     *sqlx.DB
	DBURL  string
	t      testing.TB
}

// Options choose what runs.
type Options struct {
	// Workers lists the worker kinds to run in-process (none by default).
	Workers []string
	// Partitions per topic (default 3).
	Partitions int
	// Configure adjusts the configuration before wiring.
	Configure func(*app.Config)
	// Brokers overrides the Kafka brokers (a throwaway evtest.Broker).
	Brokers []string
}

// Start runs Evently for one test and stops it when the test ends.
func Start(t testing.TB, o Options) *App {
	t.Helper()
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	db, dbURL := evtest.DBWithURL(t)
	rdb, prefix := evtest.Redis(t)
	brokers := evtest.Brokers()
	if o.Brokers != nil {
		brokers = o.Brokers
	}
	names := topics.Names{Prefix: "t" + evtest.Suffix() + "."}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, brokers, names, o.Partitions, 1); err != nil {
		t.Fatalf("apptest: topics: %v", err)
	}
	c, err := app.LoadConfig()
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	c.DatabaseURL, c.KafkaBrokers, c.TopicPrefix, c.RedisPrefix = dbURL, brokers, names.Prefix, prefix
	c.GroupPrefix = names.Prefix
	c.Partitions = o.Partitions
	c.SessionTimeout = 6 * time.Second
	c.Auth.JWTSecret = "apptest-secret-0123456789abcdef0123456789"
	c.LogLevel = "warn"
	if o.Configure != nil {
		o.Configure(&c)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &app.Deps{Log: log, DB: db, Redis: rdb, Names: names, Keys: storeKeys(prefix),
		Producer: topics.NewProducer(brokers, names, c.ProduceWait)}
	t.Cleanup(func() { d.Producer.Close() })
	s, err := app.API(d, c)
	if err != nil {
		t.Fatalf("apptest: api: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	a := &App{URL: srv.URL, Config: c, Deps: d, Server: s, DB: db, DBURL: dbURL, t: t}
	if len(o.Workers) > 0 {
		a.StartWorkers(o.Workers...)
	}
	return a
}

// StartWorkers runs worker kinds until the test ends (or stop is called).
func (a *App) StartWorkers(kinds ...string) (stop func()) {
	a.t.Helper()
	set, err := app.Workers(a.Deps, a.Config, kinds)
	if err != nil {
		a.t.Fatalf("apptest: workers: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- set.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			a.t.Errorf("workers: %v", err)
		}
	}
	a.t.Cleanup(stop)
	if !waitAssigned(set, 30*time.Second) {
		a.t.Fatalf("apptest: workers got no partitions in 30s")
	}
	return stop
}

func waitAssigned(set *workers.Set, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if set.Assigned() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// User creates an account with the role and returns its id and an access token.
func (a *App) User(role evently.Role) (uuid.UUID, string) {
	a.t.Helper()
	id := evently.NewID()
	email := strings.ToLower(id.String()) + "@example.test"
	// A bcrypt hash of "password-1234" at cost 4; login tests make their own users.
	const hash = "$2a$04$v.WgNI0fMu0jUqWfbY4iiO6US7Fl1.5iD2ZXL8xtwRch4se7E03yW"
	if _, err := a.DB.Exec(`INSERT INTO users (id, email, full_name, role, password_hash) VALUES ($1, $2, $3, $4, $5)`,
		id, email, "Test "+string(role), role, []byte(hash)); err != nil {
		a.t.Fatalf("apptest: user: %v", err)
	}
	token, _, _, err := a.Server.Tokens.Issue(id, role)
	if err != nil {
		a.t.Fatal(err)
	}
	return id, token
}

// Response is an answer to Do.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do sends a request; body is JSON-encoded unless it is a string or []byte.
func (a *App) Do(method, path, token string, body any, headers ...string) Response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Eventually polls cond until it holds or 30 s pass.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if os.Getenv("APPTEST_LOG") != "" {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func storeKeys(prefix string) store.Keys { return store.Keys{Prefix: prefix} }
