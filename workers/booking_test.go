package workers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func seats(n ...int) []string {
	out := make([]string, len(n))
	for i, s := range n {
		out[i] = fmt.Sprintf("A-%d", s)
	}
	return out
}

func bookCmd(user, event uuid.UUID, s []string) evently.BookCommand {
	return evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: s, AcceptedAt: time.Now().UTC()}
}

func newUser(t testing.TB, db *sqlx.DB) uuid.UUID {
	id := evently.NewID()
	_, err := db.Exec(`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, '\x00')`, id, id.String()+"@example.test")
	must(t, err)
	return id
}

// publish sends book commands straight to Kafka, as if Redis had let
// everything through.
func publish(t testing.TB, p *topics.Producer, cmds ...evently.BookCommand) {
	t.Helper()
	msgs := make([]topics.Message, len(cmds))
	for i, c := range cmds {
		env, err := topics.NewEnvelope(evently.CmdBook, c)
		must(t, err)
		msgs[i] = topics.Message{Topic: topics.BookingCommands, Key: c.EventID.String(), Envelope: env}
	}
	must(t, p.Publish(context.Background(), msgs...))
}

func waitBookings(t testing.TB, db *sqlx.DB, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		must(t, db.Get(&n, `SELECT count(*) FROM bookings`))
		if n == want {
			return
		}
		if n > want {
			t.Fatalf("%d bookings, want %d", n, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bookings after %s", n, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertNoDoubleSale checks both guards' invariants straight in SQL.
func assertNoDoubleSale(t testing.TB, db *sqlx.DB) (sold int) {
	t.Helper()
	var dup, orphan, mismatch int
	must(t, db.Get(&dup, `SELECT count(*) FROM (SELECT bs.event_id, bs.seat_id FROM booking_seats bs
		JOIN bookings b ON b.id = bs.booking_id WHERE b.status IN ('reserved', 'paying', 'confirmed')
		GROUP BY bs.event_id, bs.seat_id HAVING count(*) > 1) d`))
	must(t, db.Get(&orphan, `SELECT count(*) FROM event_seats s LEFT JOIN bookings b ON b.id = s.booking_id
		WHERE s.status = 'sold' AND (b.id IS NULL OR b.status NOT IN ('reserved', 'paying', 'confirmed'))`))
	must(t, db.Get(&mismatch, `SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
		LEFT JOIN event_seats s ON s.event_id = bs.event_id AND s.seat_id = bs.seat_id
		WHERE b.status IN ('reserved', 'paying', 'confirmed') AND (s.booking_id IS DISTINCT FROM b.id OR NOT bs.active)`))
	if dup+orphan+mismatch > 0 {
		t.Fatalf("double sale: %d seats in two bookings, %d sold seats without one, %d booked seats not sold to it", dup, orphan, mismatch)
	}
	must(t, db.Get(&sold, `SELECT count(*) FROM event_seats WHERE status = 'sold'`))
	return sold
}

// With Redis out of the way, PostgreSQL's version check and unique index
// alone decide: overlapping requests never sell a seat twice.
func TestBypassingRedisNeverSellsTwice(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(30)
	user := newUser(t, a.DB)
	var cmds []evently.BookCommand
	for range 200 {
		s1 := rand.IntN(30) + 1
		cmds = append(cmds, bookCmd(user, event, seats(s1, s1%30+1)))
	}
	publish(t, a.Deps.Producer, cmds...)
	waitBookings(t, a.DB, len(cmds), 30*time.Second)
	sold := assertNoDoubleSale(t, a.DB)
	var reserved, taken int
	must(t, a.DB.Get(&reserved, `SELECT count(*) FROM bookings WHERE status = 'reserved'`))
	must(t, a.DB.Get(&taken, `SELECT count(*) FROM bookings WHERE status = 'failed' AND reason = 'seats_taken'`))
	if reserved*2 != sold || reserved+taken != len(cmds) || reserved == 0 {
		t.Fatalf("reserved %d, seats_taken %d, sold seats %d", reserved, taken, sold)
	}
}

// The same message twice, and the same booking under another message id,
// make one booking.
func TestRedeliveryMakesOneBooking(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(10)
	cmd := bookCmd(newUser(t, a.DB), event, seats(1, 2))
	env, err := topics.NewEnvelope(evently.CmdBook, cmd)
	must(t, err)
	other, err := topics.NewEnvelope(evently.CmdBook, cmd)
	must(t, err)
	m := topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: env}
	must(t, a.Deps.Producer.Publish(context.Background(), m, m))
	must(t, a.Deps.Producer.Publish(context.Background(), topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: other}))
	waitBookings(t, a.DB, 1, 20*time.Second)
	// A marker command after them shows all three were consumed.
	marker := bookCmd(cmd.UserID, event, seats(5))
	publish(t, a.Deps.Producer, marker)
	waitBookings(t, a.DB, 2, 20*time.Second)
	var history int
	must(t, a.DB.Get(&history, `SELECT count(*) FROM booking_history WHERE booking_id = $1`, cmd.BookingID))
	if history != 1 {
		t.Fatalf("%d history rows for one booking", history)
	}
	assertNoDoubleSale(t, a.DB)
}

// Two workers that both believe they own a partition commit the same
// commands, and rival ones, at once: the guards let one win.
func TestStaleOwnerNeverSellsTwice(t *testing.T) {
	t.Parallel()
	db := evtest.DB(t)
	event := apptest.EventIn(t, db, 40)
	user := newUser(t, db)
	for round := range 20 {
		var batch []evently.Command
		for i := range 4 {
			s := round*2 + i%3 + 1
			c := bookCmd(user, event, seats(s%40+1, (s+1)%40+1))
			batch = append(batch, evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &c})
		}
		rival := bookCmd(user, event, seats(round%40+1))
		rivalBatch := []evently.Command{{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &rival}}
		var wg sync.WaitGroup
		for w, cmds := range [][]evently.Command{batch, batch, rivalBatch} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: time.Minute}
				// A loser may see a version conflict and retry, as the worker does.
				for attempt := 0; attempt < 5; attempt++ {
					if _, err := b.CommitBatch(context.Background(), cmds); err == nil {
						return
					}
				}
				t.Errorf("worker %d never committed", w)
			}()
		}
		wg.Wait()
	}
	assertNoDoubleSale(t, db)
	var dupHistory int
	must(t, db.Get(&dupHistory, `SELECT count(*) FROM (SELECT booking_id FROM booking_history GROUP BY booking_id HAVING count(*) > 1) d`))
	if dupHistory > 0 {
		t.Fatalf("%d bookings applied twice", dupHistory)
	}
}

// A booking worker killed with SIGKILL in the middle of its batches, then
// restarted: every command ends in exactly one booking and no seat is sold
// twice.
func TestWorkerKilledMidBatchLosesNothing(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Partitions: 2})
	bin := buildEvently(t)
	events := []uuid.UUID{a.Event(600), a.Event(600)}
	user := newUser(t, a.DB)
	var cmds []evently.BookCommand
	for i := range 1500 {
		s := rand.IntN(600) + 1
		cmds = append(cmds, bookCmd(user, events[i%2], seats(s, s%600+1)))
	}
	worker := func() *exec.Cmd {
		cmd := exec.Command(bin, "work", "-kinds", "booking", "-addr", "127.0.0.1:0", "-batch-size", "20")
		cmd.Env = append(os.Environ(),
			"DATABASE_URL="+a.DBURL, "REDIS_URL="+evtest.RedisURL(), "EVENTLY_REDIS_PREFIX="+a.Config.RedisPrefix,
			"KAFKA_BROKERS="+a.Config.KafkaBrokers[0], "EVENTLY_TOPIC_PREFIX="+a.Config.TopicPrefix,
			"EVENTLY_GROUP_PREFIX="+a.Config.GroupPrefix, "EVENTLY_SESSION_TIMEOUT=6s", "EVENTLY_LOG_LEVEL=warn",
			"EVENTLY_PARTITIONS=2")
		cmd.Stderr = os.Stderr
		must(t, cmd.Start())
		return cmd
	}
	first := worker()
	publish(t, a.Deps.Producer, cmds...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		must(t, a.DB.Get(&n, `SELECT count(*) FROM bookings`))
		if n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first worker committed only %d", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	second := worker()
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	waitBookings(t, a.DB, len(cmds), 90*time.Second)
	assertNoDoubleSale(t, a.DB)
	var dupHistory, unsettled int
	must(t, a.DB.Get(&dupHistory, `SELECT count(*) FROM (SELECT booking_id FROM booking_history GROUP BY booking_id HAVING count(*) > 1) d`))
	must(t, a.DB.Get(&unsettled, `SELECT count(*) FROM bookings WHERE status NOT IN ('reserved', 'failed')`))
	if dupHistory+unsettled > 0 {
		t.Fatalf("%d bookings applied twice, %d in unexpected states", dupHistory, unsettled)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildEvently builds the evently binary once per test binary.
func buildEvently(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evently-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "evently")
		out, err := exec.Command("go", "build", "-o", builtBin, filepath.Join(evtest.RepoRoot(t), "cmd", "evently")).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Operators see each group's lag per partition, from the broker, its
// trend, the members and what each owns, the dead-letter queues and the
// worker processes' payment breakers.
func TestPipelineLagForOperators(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}, Partitions: 2})
	event := a.Event(10)
	publish(t, a.Deps.Producer, bookCmd(newUser(t, a.DB), event, seats(1)))
	waitBookings(t, a.DB, 1, 20*time.Second)
	_, admin := a.User(evently.RoleAdmin)
	type trend struct {
		OverSeconds float64 `json:"over_seconds"`
		LagChange   int64   `json:"lag_change"`
	}
	type view struct {
		Groups []struct {
			Group, Topic string
			Lag          int64
			Trend        *trend
			Partitions   []struct {
				Partition int
				End       int64 `json:"end_offset"`
				Committed int64 `json:"committed_offset"`
				Owner     string
				Trend     *trend
			}
		}
		Consumers []struct {
			Group, State string
			Members      []struct {
				ClientID   string `json:"client_id"`
				Partitions map[string][]int
			}
		}
		DLQ []struct {
			Topic          string
			Pending, Total int64
		}
		Breakers []struct{ Instance, Client, State string }
		Workers  []struct {
			Instance string
			Kinds    []string
		}
	}
	read := func() view {
		var v view
		res := a.Do("GET", "/api/v1/admin/pipeline", admin, nil)
		if res.Status != 200 {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		res.JSON(t, &v)
		return v
	}
	var v view
	apptest.Eventually(t, "the booking group's topics fully consumed, by the one member", func() bool {
		v = read()
		seen := 0
		for _, g := range v.Groups {
			if g.Group != "booking" {
				continue
			}
			// Both of its topics: a payment reply still unread would
			// change the group's lag between the two looks below.
			if len(g.Partitions) != 2 || g.Lag != 0 || g.Partitions[0].Owner == "" {
				return false
			}
			seen++
		}
		return seen == 2 && len(v.Workers) == 1
	})
	instance := v.Workers[0].Instance
	for _, c := range v.Consumers {
		if c.Group != "booking" {
			continue
		}
		if c.State != "Stable" || len(c.Members) != 1 || c.Members[0].ClientID != instance ||
			len(c.Members[0].Partitions["booking.commands"]) != 2 || len(c.Members[0].Partitions["payment.replies"]) != 2 {
			t.Errorf("booking group: %+v, want one member %s owning both partitions of both topics", c, instance)
		}
	}
	if len(v.DLQ) != 5 || v.DLQ[0].Topic != "booking.commands" || v.DLQ[0].Pending != 0 {
		t.Errorf("dlq: %+v", v.DLQ)
	}
	if len(v.Breakers) != 1 || v.Breakers[0] != (struct{ Instance, Client, State string }{instance, "charge_at_commit", "closed"}) {
		t.Errorf("breakers: %+v", v.Breakers)
	}
	// A later look compares with the earlier one (only the booking group
	// runs here: the others' lag may grow).
	time.Sleep(2100 * time.Millisecond)
	for _, g := range read().Groups {
		if g.Trend == nil || g.Trend.OverSeconds < 2 || g.Partitions[0].Trend == nil || g.Group == "booking" && g.Trend.LagChange != 0 {
			t.Errorf("%s/%s: trend %+v", g.Group, g.Topic, g.Trend)
		}
	}
}

// A poison command goes to the DLQ and its booking fails; an operator's
// replay puts it back once, and a booking already failed stays failed.
func TestPoisonThenReplay(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}, Partitions: 1})
	event := a.Event(10)
	cmd := bookCmd(newUser(t, a.DB), event, seats(1))
	cmd.SeatIDs = nil // invalid, but decodable: the booking must still end
	env, err := topics.NewEnvelope(evently.CmdBook, cmd)
	must(t, err)
	garbage := kafkaMsg(a.Deps.Names.Of(topics.BookingCommands), event.String(), []byte("{not json"))
	must(t, a.Deps.Producer.PublishRaw(context.Background(), garbage))
	must(t, a.Deps.Producer.Publish(context.Background(), topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: env}))
	waitBookings(t, a.DB, 1, 30*time.Second)
	var status, reason string
	must(t, a.DB.QueryRow(`SELECT status, reason FROM bookings WHERE id = $1`, cmd.BookingID).Scan(&status, &reason))
	if status != "failed" || reason != "invalid" {
		t.Fatalf("booking %s/%s", status, reason)
	}
	_, admin := a.User(evently.RoleAdmin)
	tests := []struct {
		path   string
		status int
	}{
		{"/api/v1/admin/dlq/nowhere/replay", 404},
		{"/api/v1/admin/dlq/booking.commands.dlq/replay", 404},
		{"/api/v1/admin/dlq/booking.commands/replay?max=0", 422},
	}
	for _, tt := range tests {
		if res := a.Do("POST", tt.path, admin, nil); res.Status != tt.status {
			t.Fatalf("%s: %d %s", tt.path, res.Status, res.Body)
		}
	}
	apptest.Eventually(t, "the garbage message replayed", func() bool {
		var out struct{ Replayed int }
		res := a.Do("POST", "/api/v1/admin/dlq/booking.commands/replay", admin, nil)
		res.JSON(t, &out)
		return res.Status == 200 && out.Replayed >= 1
	})
	var n int
	must(t, a.DB.Get(&n, `SELECT count(*) FROM bookings`))
	if n != 1 {
		t.Fatalf("%d bookings after replay", n)
	}
}

// A command PostgreSQL refuses for its data (here a booking for a user who
// does not exist: a foreign-key violation) is isolated at once, not after
// the batch's retries: the rest of its batch commits and it is
// dead-lettered.
func TestUnappliableCommandIsIsolatedAtOnce(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}, Partitions: 1})
	event := a.Event(10)
	user := newUser(t, a.DB)
	first := bookCmd(user, event, seats(1))
	publish(t, a.Deps.Producer, first)
	waitBookings(t, a.DB, 1, 30*time.Second)

	ghost, err := topics.NewEnvelope(evently.CmdBook, bookCmd(evently.NewID(), event, seats(3)))
	must(t, err)
	second := bookCmd(user, event, seats(2))
	book, err := topics.NewEnvelope(evently.CmdBook, second)
	must(t, err)
	must(t, a.Deps.Producer.Publish(context.Background(),
		topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: ghost},
		topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: book}))
	waitBookings(t, a.DB, 2, 30*time.Second)
	group := a.Config.GroupPrefix + "booking"
	apptest.Eventually(t, "the ghost's booking dead-lettered", func() bool {
		return counterValue(t, "evently_consumer_dead_lettered_total", "group", group) == 1
	})
	// The batch failed once, then the ghost alone once: no retries.
	if n := counterValue(t, "evently_consumer_handle_errors_total", "group", group); n > 2 {
		t.Fatalf("%v failed attempts: the batch was retried before the command was isolated", n)
	}
}

// Poison in the pipeline: during a load on one event, 20 cancels carrying
// text PostgreSQL cannot store (sent past the API, which refuses them)
// fail nothing: the worker applies them without their reason; every
// booking of the load is committed, every cancel happens, and the audit
// passes.
func TestPoisonCancelsDuringALoad(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}, Partitions: 1})
	event := a.Event(200)
	user := newUser(t, a.DB)
	var victims []evently.BookCommand
	for i := range 20 {
		victims = append(victims, bookCmd(user, event, seats(i+1)))
	}
	publish(t, a.Deps.Producer, victims...)
	waitBookings(t, a.DB, len(victims), 30*time.Second)

	// loadOn publishes 100 bookings on ev in produces of 10, so batches mix
	// them; with poison, each fifth is followed by a cancel of a victim
	// whose reason PostgreSQL cannot store.
	bad := []string{"\x00", "a\x00b", "\x00\x00\x00", "cancel\x00"}
	loadOn := func(ev uuid.UUID, poison bool) []uuid.UUID {
		var ids []uuid.UUID
		var msgs []topics.Message
		for i := range 100 {
			c := bookCmd(user, ev, seats(21+i))
			ids = append(ids, c.BookingID)
			env, err := topics.NewEnvelope(evently.CmdBook, c)
			must(t, err)
			msgs = append(msgs, topics.Message{Topic: topics.BookingCommands, Key: ev.String(), Envelope: env})
			if poison && i%5 == 0 {
				v := victims[i/5]
				env, err := topics.NewEnvelope(evently.CmdCancel, evently.BookingRef{BookingID: v.BookingID, EventID: v.EventID, Reason: bad[i%len(bad)]})
				must(t, err)
				msgs = append(msgs, topics.Message{Topic: topics.BookingCommands, Key: v.EventID.String(), Envelope: env})
			}
		}
		for i := 0; i < len(msgs); i += 10 {
			must(t, a.Deps.Producer.Publish(context.Background(), msgs[i:min(i+10, len(msgs))]...))
		}
		return ids
	}
	// The same load on another event without poison first, so the log can
	// say what poison costs the bookings around it (a figure, not asserted).
	calmLoad := loadOn(a.Event(200), false)
	waitBookings(t, a.DB, len(victims)+len(calmLoad), 60*time.Second)
	load := loadOn(event, true)
	waitBookings(t, a.DB, len(victims)+len(calmLoad)+len(load), 60*time.Second)
	for _, l := range []struct {
		name string
		ids  []uuid.UUID
	}{{"without poison", calmLoad}, {"with 20 poison cancels", load}} {
		var p50, p99 float64
		must(t, a.DB.QueryRow(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
			FROM (SELECT extract(epoch FROM created_at - accepted_at) * 1000 AS ms FROM bookings WHERE id = ANY($1::uuid[])) l`,
			pq.Array(l.ids)).Scan(&p50, &p99))
		t.Logf("100 bookings %s: command made → committed p50 %.0f ms, p99 %.0f ms", l.name, p50, p99)
	}
	apptest.Eventually(t, "every poison cancel applied without its reason", func() bool {
		var n int
		must(t, a.DB.Get(&n, `SELECT count(*) FROM bookings WHERE user_id = $1 AND status = 'cancelled' AND reason IS NULL`, user))
		return n == len(victims)
	})
	group := a.Config.GroupPrefix + "booking"
	for _, m := range []string{"evently_consumer_dead_lettered_total", "evently_consumer_handle_errors_total"} {
		if n := counterValue(t, m, "group", group); n != 0 {
			t.Fatalf("%s %v: a cancel with unstorable text failed its batch", m, n)
		}
	}
	var reserved int
	must(t, a.DB.Get(&reserved, `SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[]) AND status = 'reserved'`, pq.Array(load)))
	if reserved != len(load) {
		t.Fatalf("%d of the load's %d bookings reserved", reserved, len(load))
	}
	vs, err := store.CheckIntegrity(context.Background(), a.DB, store.IntegrityOptions{EventIDs: []uuid.UUID{event}})
	must(t, err)
	for _, v := range vs {
		t.Error(v)
	}
}
