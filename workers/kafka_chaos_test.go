package workers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// chaosBuyer is one buyer of the Kafka chaos runs and what it was told.
type chaosBuyer struct {
	user  uuid.UUID
	token string
	seat  string
	hold  uuid.UUID
	key   string
	body  map[string]any

	first   int       // status of the first POST /bookings
	booking uuid.UUID // the booking a 201/202 named

	// After a 503, once Kafka is back, the same request with the same key
	// may name the booking (when the refusal did not know the outcome).
	retryBooking uuid.UUID
	// After a retry that found nothing (404, the hold is gone): a new hold
	// on the same seat and a new booking, as a buyer would.
	rebook uuid.UUID
	// late buyers submit only after the broker was killed.
	late bool
}

// Kafka killed mid-produce (issue 15): buyers hold a seat each and submit
// a paid booking while the broker is SIGKILLed and restarted. Every 201/202
// ends in exactly one settled state; every 503 either became nothing (its
// hold freed, the seat can be held again, at most a failed/not_accepted
// record) or is answered with its true state under its idempotency key; no
// hold is left taken; the audit passes, the payment ledger included.
func TestKafkaKilledMidProduce(t *testing.T) {
	t.Parallel()
	broker := evtest.StartBroker(t)
	const n = 80
	res := runKafkaChaos(t, kafkaChaos{buyers: n, brokers: []string{broker.Addr},
		kill: func(*apptest.App) { broker.Kill() },
		// With its only broker gone nothing can be stored: wait for refusals.
		outage: "submissions refused", outageOver: func(l *chaosLoad) bool {
			return l.refused.Load() >= 8 || l.answered.Load() == n
		},
		restart: broker.Start})
	if res.refused == 0 {
		t.Fatal("no submission was refused: the broker was not killed mid-load")
	}
}

// One of three brokers SIGKILLed during an on-sale (issue 17): topics are
// replicated three times with min.insync.replicas=2, so the producer fails
// over to the partitions' new leaders. Submissions sent after the kill are
// accepted while the broker is down; whatever was refused in the moment of
// the election is retried as in TestKafkaKilledMidProduce; every accepted
// booking settles exactly once; the audit passes; the restarted broker
// catches up until every partition has its three in-sync replicas again.
func TestKafkaBrokerKilledInCluster(t *testing.T) {
	t.Parallel()
	cluster := evtest.StartCluster(t)
	const n = 120
	var (
		victim   *evtest.Broker
		live     []string
		topic    string
		killedAt time.Time
		elected  time.Duration
	)
	res := runKafkaChaos(t, kafkaChaos{buyers: n, brokers: cluster.Addrs, replication: evtest.ClusterReplication,
		kill: func(a *apptest.App) {
			// The leader of the first booking partition: its writes must move.
			topic = a.Deps.Names.Of(topics.BookingCommands)
			leader, err := leaderOf(cluster.Addrs, topic, 0)
			must(t, err)
			victim = cluster.Node(leader)
			for _, addr := range cluster.Addrs {
				if addr != leader {
					live = append(live, addr)
				}
			}
			killedAt = time.Now()
			victim.Kill()
		},
		outage: "submissions sent after the kill accepted", outageOver: func(l *chaosLoad) bool {
			if elected == 0 {
				if leader, err := leaderOf(live, topic, 0); err == nil && leader != victim.Addr {
					elected = time.Since(killedAt)
				}
			}
			return l.acceptedLate.Load() >= 10 || l.answered.Load() == n
		},
		restart: func() { victim.Start(); cluster.WaitFor(len(cluster.Nodes)) }})
	if res.acceptedLate == 0 {
		t.Fatal("nothing sent after the kill was accepted: the producer did not fail over")
	}
	t.Logf("failover: a new leader of partition 0 seen %s after the kill (0: not seen before the restart), "+
		"the first submission sent after the kill accepted %s after it; %d of %d refused",
		elected.Round(time.Millisecond), res.firstLateAccept.Round(time.Millisecond), res.refused, n)
	start := time.Now()
	apptest.Eventually(t, "every partition back to three in-sync replicas", func() bool {
		return minISR(t, cluster.Addrs, res.names) == evtest.ClusterReplication
	})
	t.Logf("restarted broker back in every ISR %s after the audit", time.Since(start).Round(time.Millisecond))
}

// kafkaChaos is one run of the Kafka chaos scenario: a load of paid
// bookings, a broker killed at its height, restarted after an outage.
type kafkaChaos struct {
	buyers      int
	brokers     []string
	replication int
	kill        func(a *apptest.App)
	// The broker is restarted once outageOver holds (named by outage).
	outage     string
	outageOver func(l *chaosLoad) bool
	restart    func()
}

// chaosLoad counts the load's answers as they come.
type chaosLoad struct {
	answered, refused, inFlight atomic.Int32
	// acceptedLate counts accepted submissions sent after the kill.
	acceptedLate atomic.Int32
	firstLate    atomic.Int64 // unix nanoseconds of the first of them
}

// kafkaChaosResult is what the run saw, once every check passed.
type kafkaChaosResult struct {
	refused, acceptedLate int
	firstLateAccept       time.Duration // from the kill
	names                 topics.Names
}

func runKafkaChaos(t *testing.T, o kafkaChaos) kafkaChaosResult {
	t.Helper()
	s := startSagaWith(t, paysim.Behaviour{}, apptest.Options{Brokers: o.brokers, Replication: o.replication,
		Configure: func(c *app.Config) {
			// The production default: 201 when the outcome comes in time,
			// else 202; both are "accepted".
			c.Bookings.SubmitWait = time.Second
		}})
	a := s.a
	n := o.buyers
	event := a.Event(n)
	buyers := make([]*chaosBuyer, n)
	for i := range buyers {
		b := &chaosBuyer{seat: seats(i + 1)[0], key: fmt.Sprintf("kchaos-%d", i), late: i >= n/2}
		b.user, b.token = a.User(evently.RoleUser)
		res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", b.token, map[string]any{"seat_ids": []string{b.seat}})
		if res.Status != http.StatusCreated {
			t.Fatalf("hold %s: %d %s", b.seat, res.Status, res.Body)
		}
		var h struct{ ID uuid.UUID }
		res.JSON(t, &h)
		b.hold = h.ID
		b.body = map[string]any{"hold_id": b.hold, "payment": map[string]any{"token": "tok_visa"}}
		buyers[i] = b
	}

	// The load: a few buyers at a time submit their booking. The broker is
	// killed once a quarter of them were answered while others wait for
	// theirs; the second half comes after the kill; the broker is started
	// again once the outage did what it shows.
	var l chaosLoad
	next, killed := make(chan *chaosBuyer), make(chan struct{})
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				l.inFlight.Add(1)
				res := a.Do("POST", "/api/v1/bookings", b.token, b.body, "Idempotency-Key", b.key)
				l.inFlight.Add(-1)
				b.first = res.Status
				switch res.Status {
				case http.StatusCreated, http.StatusAccepted:
					var v bookingView
					res.JSON(t, &v)
					b.booking = v.ID
					if b.late {
						l.firstLate.CompareAndSwap(0, time.Now().UnixNano())
						l.acceptedLate.Add(1)
					}
				case http.StatusServiceUnavailable:
					if res.Header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After: %s", res.Body)
					}
					l.refused.Add(1)
				default:
					t.Errorf("buyer %s: %d %s", b.key, res.Status, res.Body)
				}
				l.answered.Add(1)
			}
		}()
	}
	go func() {
		defer close(next)
		for i, b := range buyers {
			if i == n/2 {
				<-killed
			}
			next <- b
		}
	}()
	apptest.Eventually(t, "a quarter of the load answered with submissions in flight", func() bool {
		return l.answered.Load() >= int32(n/4) && l.inFlight.Load() > 0 || l.answered.Load() == int32(n/2)
	})
	caught, killedAt := l.inFlight.Load(), time.Now()
	o.kill(a)
	close(killed)
	t.Logf("broker killed with %d submissions in flight, %d answered", caught, l.answered.Load())
	apptest.Eventually(t, o.outage, func() bool { return o.outageOver(&l) })
	o.restart()
	t.Logf("broker back %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	wg.Wait()
	out := kafkaChaosResult{refused: int(l.refused.Load()), acceptedLate: int(l.acceptedLate.Load()), names: a.Deps.Names}
	if f := l.firstLate.Load(); f != 0 {
		out.firstLateAccept = time.Unix(0, f).Sub(killedAt)
	}

	// The refused buyers retry with the same key (the same request), then,
	// told their hold is gone, hold the seat again and book it anew.
	var accepted []uuid.UUID
	for _, b := range buyers {
		if b.booking != uuid.Nil {
			accepted = append(accepted, b.booking)
		}
		if b.first != http.StatusServiceUnavailable {
			continue
		}
		res := resubmit(t, a, b.token, b.body, b.key)
		var v bookingView
		if res.Status == http.StatusCreated || res.Status == http.StatusAccepted {
			res.JSON(t, &v)
		}
		switch {
		case v.Status == string(evently.BookingFailed) && v.Reason == evently.ReasonNotAccepted:
			// The refusal did not know the outcome, and the retry found out
			// that nothing was accepted: the hold was given back.
			b.rebook = rebook(t, a, event, b)
			accepted = append(accepted, b.rebook)
		case v.ID != uuid.Nil:
			// The refusal did not know the outcome: the key names the booking.
			b.retryBooking = v.ID
			accepted = append(accepted, v.ID)
		case res.Status == http.StatusNotFound:
			// Nothing was accepted and the hold was given back: the seat
			// must be free for a new hold.
			b.rebook = rebook(t, a, event, b)
			accepted = append(accepted, b.rebook)
		default:
			t.Errorf("retry of %s: %d %s", b.key, res.Status, res.Body)
		}
	}

	// Every accepted booking settles; the audit checks seats, history and
	// money against the gateway's ledger. Every buyer paid with a good card
	// for a seat of their own, so each is confirmed, once.
	s.audit(t, event, accepted)
	confirmedOnce(t, a.DB, accepted)
	if t.Failed() {
		t.FailNow()
	}
	ctx := context.Background()

	// Every refusal became nothing but its record, or told the truth.
	inLog := bookCommandsInLog(t, o.brokers, a.Deps.Names.Of(topics.BookingCommands))
	var nRefused, nKnown, nInLog int
	for _, b := range buyers {
		if b.first != http.StatusServiceUnavailable {
			continue
		}
		nRefused++
		if b.retryBooking != uuid.Nil {
			nKnown++
			var truth string
			must(t, a.DB.Get(&truth, `SELECT status FROM bookings WHERE id = $1`, b.retryBooking))
			var now bookingView
			a.Do("GET", "/api/v1/bookings/"+b.retryBooking.String(), b.token, nil).JSON(t, &now)
			if now.Status != truth {
				t.Errorf("refused %s: its key names %s, shown %s, PostgreSQL says %s", b.key, b.retryBooking, now.Status, truth)
			}
			continue
		}
		var mine []struct {
			ID     uuid.UUID `db:"id"`
			Status string    `db:"status"`
			Reason string    `db:"reason"`
			Seats  int       `db:"seats"`
		}
		must(t, a.DB.Select(&mine, `SELECT b.id, b.status, coalesce(b.reason, '') AS reason,
				(SELECT count(*) FROM booking_seats s WHERE s.booking_id = b.id) AS seats
			FROM bookings b WHERE b.user_id = $1 AND b.id <> $2`, b.user, b.rebook))
		if len(mine) > 1 {
			t.Errorf("refused %s left %d bookings: %+v", b.key, len(mine), mine)
		}
		for _, m := range mine {
			if inLog[m.ID] {
				nInLog++ // reached the broker after all: the record made it harmless
			}
			if m.Status != string(evently.BookingFailed) || m.Reason != evently.ReasonNotAccepted || m.Seats != 0 {
				t.Errorf("refused %s became booking %s: %s (%s) with %d seats", b.key, m.ID, m.Status, m.Reason, m.Seats)
			}
		}
		if left, err := a.Deps.Redis.Exists(ctx, a.Deps.Keys.Key("hold", b.hold.String())).Result(); err != nil || left != 0 {
			t.Errorf("refused %s: its hold %s is still in Redis (%v)", b.key, b.hold, err)
		}
	}

	// No hold is left taken: confirmed bookings' holds ended when they were
	// written, refused ones' when they were refused.
	held, err := store.HeldSeats(ctx, a.Deps.Redis, a.Deps.Keys, event, time.Now())
	must(t, err)
	if len(held) > 0 {
		t.Errorf("seats still held: %v", held)
	}
	var sold int
	must(t, a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold'`, event))
	if sold != len(accepted) {
		t.Errorf("%d seats sold for %d accepted bookings", sold, len(accepted))
	}
	t.Logf("%d buyers: %d accepted at once, %d refused (%d of whose commands reached the log after all, %d known on retry), %d booked again",
		n, n-nRefused, nRefused, nInLog, nKnown, nRefused-nKnown)
	return out
}

// resubmit repeats a refused submission with the same key until it is not
// refused (the restarted broker may still be electing leaders).
func resubmit(t *testing.T, a *apptest.App, token string, body any, key string) apptest.Response {
	t.Helper()
	var res apptest.Response
	apptest.Eventually(t, "an answer to the retry of "+key, func() bool {
		res = a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", key)
		return res.Status != http.StatusServiceUnavailable
	})
	return res
}

// rebook holds the buyer's seat again (refused at once if the refusal had
// kept it) and books it under a new key, until the booking is accepted.
func rebook(t *testing.T, a *apptest.App, event uuid.UUID, b *chaosBuyer) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	apptest.Eventually(t, "the seat of "+b.key+" booked again", func() bool {
		res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", b.token, map[string]any{"seat_ids": []string{b.seat}})
		if res.Status != http.StatusCreated {
			t.Fatalf("seat %s of refused %s cannot be held again: %d %s", b.seat, b.key, res.Status, res.Body)
		}
		var h struct{ ID uuid.UUID }
		res.JSON(t, &h)
		res = a.Do("POST", "/api/v1/bookings", b.token, map[string]any{"hold_id": h.ID, "payment": map[string]any{"token": "tok_visa"}},
			"Idempotency-Key", b.key+"-again")
		switch res.Status {
		case http.StatusCreated, http.StatusAccepted:
			var v bookingView
			res.JSON(t, &v)
			id = v.ID
			return true
		case http.StatusServiceUnavailable:
			return false // refused again: the hold was given back, take it anew
		}
		t.Fatalf("booking again for %s: %d %s", b.key, res.Status, res.Body)
		return false
	})
	return id
}

// bookCommandsInLog returns the booking ids of every book command in the
// topic, read back from the broker.
func bookCommandsInLog(t *testing.T, brokers []string, topic string) map[uuid.UUID]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	parts, err := topics.PartitionCount(ctx, topics.Conn{Brokers: brokers}, topic)
	must(t, err)
	out := map[uuid.UUID]bool{}
	for p := range parts {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		must(t, err)
		last, err := conn.ReadLastOffset()
		conn.Close()
		must(t, err)
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			if env, err := topics.Decode(m.Value); err == nil && env.Type == evently.CmdBook {
				var c evently.BookCommand
				if env.Unpack(&c) == nil {
					out[c.BookingID] = true
				}
			}
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	return out
}

func ids(u []uuid.UUID) []string {
	out := make([]string, len(u))
	for i, id := range u {
		out[i] = id.String()
	}
	return out
}

// leaderOf returns the address of the broker leading a partition.
func leaderOf(brokers []string, topic string, partition int) (string, error) {
	md, err := metadata(brokers, topic)
	if err != nil {
		return "", err
	}
	for _, p := range md.Topics[0].Partitions {
		if p.ID == partition && p.Leader.Host != "" {
			return fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port), nil
		}
	}
	return "", fmt.Errorf("%s/%d has no leader", topic, partition)
}

// minISR returns the smallest in-sync replica set among every partition of
// every topic under names.
func minISR(t *testing.T, brokers []string, names topics.Names) int {
	t.Helper()
	md, err := metadata(brokers, names.All()...)
	must(t, err)
	least := -1
	for _, tp := range md.Topics {
		for _, p := range tp.Partitions {
			if least < 0 || len(p.Isr) < least {
				least = len(p.Isr)
			}
		}
	}
	return least
}

func metadata(brokers []string, topic ...string) (*kafka.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A transport of its own: the shared one answers from metadata cached
	// for seconds, and leaders are watched moving here.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: tr}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topic})
	if err == nil && len(md.Topics) == 0 {
		err = fmt.Errorf("no metadata for %v", topic)
	}
	return md, err
}

// audit runs the integrity audit on an event once the accepted bookings
// settled: seats, history and money against the gateway's ledger. Money
// the saga still has to give back (a charge made early for a booking that
// then failed, whose resolve waits in the outbox while a broker is down)
// may arrive after the booking settled: the ledger is read again until it
// agrees or a minute has passed.
func (s *saga) audit(t *testing.T, event uuid.UUID, accepted []uuid.UUID) {
	t.Helper()
	vs, err := store.CheckIntegrity(context.Background(), s.a.DB, store.IntegrityOptions{EventIDs: []uuid.UUID{event},
		Accepted: accepted, SettleWait: 60 * time.Second, Reconcile: func(ctx context.Context) ([]string, error) {
			deadline := time.Now().Add(time.Minute)
			for {
				ledger, err := s.gw.Ledger(ctx)
				if err != nil {
					return nil, err
				}
				mm, err := gateway.Reconcile(ctx, s.a.DB, ledger)
				if err == nil && len(mm) > 0 && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				out := make([]string, len(mm))
				for i, m := range mm {
					out[i] = m.String()
				}
				return out, err
			}
		}})
	must(t, err)
	for _, v := range vs {
		t.Error(v)
	}
}

// confirmedOnce checks that every booking is confirmed with exactly one
// settled state in its history.
func confirmedOnce(t *testing.T, db *sqlx.DB, bookings []uuid.UUID) {
	t.Helper()
	var rows []struct {
		ID      uuid.UUID `db:"id"`
		Status  string    `db:"status"`
		Settled int       `db:"settled"`
	}
	must(t, db.Select(&rows, `SELECT b.id, b.status,
			(SELECT count(*) FROM booking_history h WHERE h.booking_id = b.id
			 AND h.status IN ('confirmed', 'failed', 'expired', 'cancelled')) AS settled
		FROM bookings b WHERE b.id = ANY($1::uuid[])`, pq.Array(ids(bookings))))
	if len(rows) != len(bookings) {
		t.Fatalf("%d of %d accepted bookings found", len(rows), len(bookings))
	}
	for _, r := range rows {
		if r.Status != string(evently.BookingConfirmed) || r.Settled != 1 {
			t.Errorf("accepted booking %s: %s with %d settled states in its history", r.ID, r.Status, r.Settled)
		}
	}
}
