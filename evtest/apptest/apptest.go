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
	"sync"
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
	// Replication of the topics (default 1; 3 on an evtest.Cluster).
	Replication int
	// Brokers overrides the Kafka brokers (a throwaway evtest.Broker).
	Brokers []string
	// Share runs a second API instance on Share's database and Redis
	// prefix, as a scaled-out deployment does.
	Share *App
	// LogTo also receives the app's log, at debug level.
	LogTo io.Writer
	// RedisURL overrides the stack's Redis (an evtest.RedisCluster's URL).
	RedisURL string
}

// Start runs Evently for one test and stops it when the test ends.
func Start(t testing.TB, o Options) *App {
	t.Helper()
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	var db *sqlx.DB
	var dbURL string
	redisURL := evtest.RedisURL()
	if o.RedisURL != "" {
		redisURL = o.RedisURL
	}
	if o.Share != nil {
		redisURL = o.Share.Config.RedisURL
	}
	rdb, prefix := evtest.RedisAt(t, redisURL)
	if o.Share != nil {
		db, dbURL, prefix = o.Share.DB, o.Share.DBURL, o.Share.Config.RedisPrefix
	} else {
		db, dbURL = evtest.DBWithURL(t)
	}
	brokers := evtest.Brokers()
	if o.Brokers != nil {
		brokers = o.Brokers
	}
	names := topics.Names{Prefix: "t" + evtest.Suffix() + "."}
	if o.Replication == 0 {
		o.Replication = 1
	}
	c, err := app.LoadConfig()
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	c.DatabaseURL, c.KafkaBrokers, c.TopicPrefix, c.RedisPrefix = dbURL, brokers, names.Prefix, prefix
	c.RedisURL = redisURL
	c.GroupPrefix = names.Prefix
	c.Partitions, c.Replication = o.Partitions, o.Replication
	c.SessionTimeout = 6 * time.Second
	c.Auth.JWTSecret = "apptest-secret-0123456789abcdef0123456789"
	c.LogLevel = "warn"
	// Cheap password hashes, and no rate limits unless a test sets them.
	c.Auth.BcryptCost = 4
	c.Auth.RateLogin, c.Auth.RateAuth, c.Auth.RateHolds, c.Auth.RateBookings, c.Auth.RateReads = 0, 0, 0, 0, 0
	// The asynchronous contract (202, then follow) unless a test asks
	// POST /bookings to wait for the outcome.
	c.Bookings.SubmitWait = 0
	if o.Configure != nil {
		o.Configure(&c)
	}
	kafka, err := c.KafkaConn()
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, kafka, names, o.Partitions, o.Replication); err != nil {
		t.Fatalf("apptest: topics: %v", err)
	}
	t.Cleanup(func() { evtest.DropTopics(kafka, names) }) // last: after the workers stop
	var logw io.Writer = testWriter{t}
	level := slog.LevelWarn
	if o.LogTo != nil {
		logw, level = io.MultiWriter(logw, o.LogTo), slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	d := &app.Deps{Log: log, DB: db, Redis: rdb, Names: names, Keys: storeKeys(prefix), Kafka: kafka,
		Producer: topics.NewProducer(kafka, names)}
	t.Cleanup(func() { d.Producer.Close() })
	s, err := app.API(d, c)
	if err != nil {
		t.Fatalf("apptest: api: %v", err)
	}
	bg, stopBg := context.WithCancel(context.Background())
	done := make(chan struct{}, len(s.Background))
	for _, run := range s.Background {
		go func() { defer func() { done <- struct{}{} }(); _ = run(bg) }()
	}
	t.Cleanup(func() {
		stopBg()
		for range s.Background {
			<-done
		}
	})
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
	req := a.request(context.Background(), method, path, token, rd, headers)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := Response{Status: res.StatusCode, Header: res.Header, Body: b}
	a.checkResponse(req, r)
	return r
}

// request builds a request to the app with the token and headers (name,
// value pairs); a body is JSON.
func (a *App) request(ctx context.Context, method, path, token string, body io.Reader, headers []string) *http.Request {
	a.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
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

// Event creates a published event with n seats (A-1 … in rows of 20, price
// 5000 cents) straight in SQL and returns its id: a fixture for booking
// tests that need no catalog round trips.
func (a *App) Event(n int) uuid.UUID {
	a.t.Helper()
	return EventIn(a.t, a.DB, n)
}

// EventIn is Event for any database.
func EventIn(t testing.TB, db *sqlx.DB, n int) uuid.UUID {
	t.Helper()
	org, venue, event := evently.NewID(), evently.NewID(), evently.NewID()
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO users (id, email, role, password_hash) VALUES ($1, $2, 'organizer', '\x00')`, []any{org, org.String() + "@example.test"}},
		{`INSERT INTO venues (id, owner_id, name, city, capacity) VALUES ($1, $2, 'Fixture Hall', 'Testville', $3)`, []any{venue, org, n}},
		{`INSERT INTO seats (venue_id, id, section, row_label, number)
		  SELECT $1, 'A-' || i, 'A', ((i - 1) / 20 + 1)::text, i FROM generate_series(1, $2) AS i`, []any{venue, n}},
		{`INSERT INTO events (id, venue_id, organizer_id, title, category, city, status, starts_at, ends_at, capacity)
		  VALUES ($1, $2, $3, 'Fixture Night', 'music', 'Testville', 'published', now() + interval '30 days', now() + interval '30 days 3 hours', $4)`,
			[]any{event, venue, org, n}},
		{`INSERT INTO event_seats (event_id, seat_id, section, row_label, number, tier, price_cents)
		  SELECT $1, id, section, row_label, number, 'standard', 5000 FROM seats WHERE venue_id = $2`, []any{event, venue}},
	}
	for _, s := range stmts {
		if _, err := db.Exec(s.q, s.args...); err != nil {
			t.Fatalf("apptest: event fixture: %v", err)
		}
	}
	return event
}

// Logs collects log output from every goroutine (Options.LogTo).
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns what was written so far, a line each.
func (l *Logs) Lines() []string { return strings.Split(l.String(), "\n") }
