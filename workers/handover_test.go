package workers_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/paysim"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/workers"
)

// member is one booking worker of the hand-over tests, run in-process as
// its own workers.Set (what one `evently work -kinds booking` runs).
type member struct {
	set    *workers.Set
	cancel context.CancelFunc
	done   chan error
}

func startMember(t *testing.T, a *apptest.App) *member {
	t.Helper()
	set, err := app.Workers(a.Deps, a.Config, []string{"booking"})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{set: set, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- set.Run(ctx) }()
	t.Cleanup(m.stop)
	return m
}

// stop is a clean stop: batches finish, offsets are committed, the member
// leaves the group.
func (m *member) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.cancel = nil
	}
}

// owns returns how many booking-command partitions the member owns.
func (m *member) owns() int { return len(m.set.Owned()[topics.BookingCommands]) }

// A clean stop of one of two booking workers (issue 17): the other takes
// its partitions within about a second, and bookings submitted across the
// hand-over all settle exactly once. Then a worker that dies without
// leaving (a subprocess, SIGKILLed) is taken over within the session
// timeout, again with nothing lost.
func TestBookingWorkerHandOver(t *testing.T) {
	t.Parallel()
	const partitions = 6
	s := startSagaWith(t, paysim.Behaviour{}, apptest.Options{Workers: []string{"payment"}, Partitions: partitions})
	a := s.a
	const n = 90
	event := a.Event(n)
	load := &steadyLoad{a: a, event: event}

	first := startMember(t, a)
	apptest.Eventually(t, "the first worker owns every partition", func() bool { return first.owns() == partitions })
	second := startMember(t, a)
	apptest.Eventually(t, "the partitions split between two workers", func() bool {
		return first.owns() > 0 && second.owns() > 0 && first.owns()+second.owns() == partitions
	})
	t.Logf("two workers: %d and %d partitions", first.owns(), second.owns())

	// Clean stop mid-load.
	load.submit(t, 0, 30)
	stopAt := time.Now()
	first.stop()
	stopped := time.Since(stopAt)
	waitOwns(t, "the second worker owns every partition after a clean stop", second, partitions, 10*time.Second)
	t.Logf("clean stop: the stopping worker left in %s; the other owned all %d partitions %s after the stop began",
		stopped.Round(time.Millisecond), partitions, time.Since(stopAt).Round(time.Millisecond))
	load.submit(t, 30, 45)

	// A worker killed without leaving: a subprocess of this test binary
	// runs the booking worker, joins, and is SIGKILLed.
	helper := startWorkerProcess(t, a)
	apptest.Eventually(t, "the worker process takes a share of the partitions", func() bool {
		return second.owns() > 0 && second.owns() < partitions
	})
	load.submit(t, 45, 70)
	killAt := time.Now()
	must(t, helper.Process.Signal(syscall.SIGKILL))
	_ = helper.Wait()
	// The coordinator notices only when the session times out, then the
	// group rebalances: allow the session timeout and the rebalance timeout.
	waitOwns(t, "the survivor owns every partition after the kill", second, partitions, 3*a.Config.SessionTimeout+10*time.Second)
	t.Logf("kill -9: the survivor owned all %d partitions %s after the kill (session timeout %s)",
		partitions, time.Since(killAt).Round(time.Millisecond), a.Config.SessionTimeout)
	load.submit(t, 70, n)

	accepted := load.wait(t)
	s.audit(t, event, accepted)
	confirmedOnce(t, a.DB, accepted)
}

func waitOwns(t *testing.T, what string, m *member, partitions int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for m.owns() != partitions {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (it owns %d)", within, what, m.owns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// steadyLoad submits paid bookings for one seat each, a few at a time, and
// collects what was accepted.
type steadyLoad struct {
	a     *apptest.App
	event uuid.UUID
	wg    sync.WaitGroup

	mu       sync.Mutex
	accepted []uuid.UUID
}

// submit starts buyers [from, to) in the background, 10 ms apart.
func (l *steadyLoad) submit(t *testing.T, from, to int) {
	for i := from; i < to; i++ {
		_, token := l.a.User(evently.RoleUser)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			body := map[string]any{"event_id": l.event, "seat_ids": seats(i + 1), "payment": map[string]any{"token": "tok_visa"}}
			res := l.a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "handover-"+strconv.Itoa(i))
			if res.Status != http.StatusAccepted && res.Status != http.StatusCreated {
				t.Errorf("buyer %d: %d %s", i, res.Status, res.Body)
				return
			}
			var v bookingView
			res.JSON(t, &v)
			l.mu.Lock()
			l.accepted = append(l.accepted, v.ID)
			l.mu.Unlock()
		}()
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *steadyLoad) wait(t *testing.T) []uuid.UUID {
	l.wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return l.accepted
}

// startWorkerProcess runs TestWorkerProcess in a subprocess as one more
// booking worker of a's group, until it is killed or the test ends.
func startWorkerProcess(t *testing.T, a *apptest.App) *exec.Cmd {
	t.Helper()
	c := a.Config
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$")
	cmd.Env = append(os.Environ(), "EVTEST_WORKER_PROCESS=1",
		"DATABASE_URL="+c.DatabaseURL, "EVENTLY_REDIS_PREFIX="+c.RedisPrefix,
		"EVENTLY_TOPIC_PREFIX="+c.TopicPrefix, "EVENTLY_GROUP_PREFIX="+c.GroupPrefix,
		"EVENTLY_PARTITIONS="+strconv.Itoa(c.Partitions), "EVENTLY_SESSION_TIMEOUT="+c.SessionTimeout.String(),
		"EVENTLY_PAYMENT_URL="+c.Payments.GatewayURL, "EVENTLY_JWT_SECRET="+c.Auth.JWTSecret,
		"EVENTLY_LOG_LEVEL=warn", "EVENTLY_LOG_FORMAT=text", "KAFKA_BROKERS="+strings.Join(c.KafkaBrokers, ","))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestWorkerProcess is the body of startWorkerProcess's subprocess: a
// booking worker wired as `evently work -kinds booking` wires it.
func TestWorkerProcess(t *testing.T) {
	if os.Getenv("EVTEST_WORKER_PROCESS") != "1" {
		t.Skip("runs only as the subprocess of a hand-over test")
	}
	c, err := app.LoadConfig()
	must(t, err)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	d, err := app.Connect(ctx, c)
	must(t, err)
	defer d.Close()
	set, err := app.Workers(d, c, []string{"booking"})
	must(t, err)
	must(t, set.Run(ctx))
}
