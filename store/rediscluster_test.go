package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
)

// Everything store keeps in Redis, on a three-master Redis Cluster (issue
// 17): each part runs with ids chosen so that its keys land on every
// master, so a command that crossed slots (CROSSSLOT), a script touching
// a key of another node, a SCAN or a subscription that saw one node only
// would fail here.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := evtest.StartRedisCluster(t)
	ctx := context.Background()
	rdb, prefix := evtest.RedisAt(t, cluster.URL)
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("OpenRedis(%s) gave a %T, want a *redis.ClusterClient", cluster.URL, rdb)
	}
	keys := store.Keys{Prefix: prefix}
	db := evtest.DB(t)

	t.Run("open", func(t *testing.T) {
		// The cluster refuses what the code must never send, so passing
		// below means something.
		two := spread(t, cc, func(id uuid.UUID) string { return keys.Key("x", id.String()) })
		err := rdb.Del(ctx, keys.Key("x", two[0].String()), keys.Key("x", two[1].String())).Err()
		if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
			t.Fatalf("a DEL of keys on two masters: %v, want CROSSSLOT", err)
		}
		// One node of a cluster, named alone, is opened as the cluster.
		one, err := store.OpenRedis(ctx, "redis://"+cluster.Addrs[1])
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		if _, ok := one.(*redis.ClusterClient); !ok {
			t.Errorf("a cluster node's URL gave a %T", one)
		}
		for _, u := range []string{"redis://" + cluster.Addrs[1] + "/2", cluster.URL + "&db=2",
			strings.Replace(cluster.URL, "?", "/3?", 1)} {
			if c, err := store.OpenRedis(ctx, u); err == nil {
				c.Close()
				t.Errorf("%s: opened; a cluster has only database 0", u)
			}
		}
	})

	t.Run("holds", func(t *testing.T) {
		events := make([]uuid.UUID, 0, 3)
		for len(events) < 3 || !onEveryMaster(t, cc, events, keys.Event) {
			events = append(events, apptest.EventIn(t, db, 4))
		}
		h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute, MaxPerUser: 5}
		maps := &store.SeatMaps{DB: db, Redis: rdb, Keys: keys}
		var done []evently.Hold
		sold := map[uuid.UUID][]string{}
		for _, ev := range events {
			alice, bob := evently.NewID(), evently.NewID()
			// The first take rebuilds the sold mirror (WATCH, MULTI).
			a, err := h.Take(ctx, ev, alice, []string{"A-1", "A-2"})
			if err != nil {
				t.Fatalf("take: %v", err)
			}
			_, err = h.Take(ctx, ev, bob, []string{"A-3", "A-2"})
			var e *evently.Error
			if !errors.As(err, &e) || e.Code != evently.ECONFLICT || !slices.Equal(e.Conflicts, []string{"A-2"}) {
				t.Fatalf("overlapping take: %v", err)
			}
			b, err := h.Take(ctx, ev, bob, []string{"A-3"})
			if err != nil {
				t.Fatal(err)
			}
			held, err := store.HeldSeats(ctx, rdb, keys, ev, time.Now())
			slices.Sort(held)
			if err != nil || !slices.Equal(held, []string{"A-1", "A-2", "A-3"}) {
				t.Fatalf("held %v %v", held, err)
			}
			m, err := maps.SeatMap(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Seats) != 4 {
				t.Fatalf("seat map of %d seats, want 4", len(m.Seats))
			}
			for _, s := range m.Seats {
				if want := map[bool]evently.SeatStatus{true: evently.SeatHeld, false: evently.SeatAvailable}[s.ID != "A-4"]; s.Status != want {
					t.Errorf("seat map: %s is %s, want %s", s.ID, s.Status, want)
				}
			}
			// The lookup key (another slot) finds the hold; the claim script
			// reaches the seat keys through the event's tag.
			got, err := h.ClaimID(ctx, a.ID, alice, false, evently.NewID())
			if err != nil || !slices.Equal(got.SeatIDs, a.SeatIDs) {
				t.Fatalf("claim: %+v %v", got, err)
			}
			if err := h.GiveUp(ctx, got); evently.ErrorCode(err) != evently.ECONFLICT {
				t.Fatalf("giving up a claimed hold: %v", err)
			}
			if err := h.Release(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Get(ctx, b.ID); evently.ErrorCode(err) != evently.ENOTFOUND {
				t.Fatalf("released hold: %v", err)
			}
			done = append(done, *got)
			sold[ev] = got.SeatIDs
		}
		// One pipeline for all three events, as the booking worker sends it.
		if err := h.Mirror(ctx, &store.Feed{Redis: rdb, Keys: keys}, store.BatchResult{Sold: sold}, done); err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if held, err := store.HeldSeats(ctx, rdb, keys, ev, time.Now()); err != nil || len(held) != 0 {
				t.Fatalf("held after the sale: %v %v", held, err)
			}
			_, err := h.Take(ctx, ev, evently.NewID(), []string{"A-1", "A-4"})
			var e *evently.Error
			if !errors.As(err, &e) || !slices.Equal(e.Conflicts, []string{"A-1"}) {
				t.Fatalf("taking a sold seat: %v", err)
			}
		}
		// The last refusal's lookup key goes with the next take's pipeline:
		// then only the live holds' are left, wherever they are.
		for _, ev := range events {
			if _, err := h.Take(ctx, ev, evently.NewID(), []string{"A-4"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(evtest.Keys(t, rdb, keys.Key("hold", "*"))); n != len(events) {
			t.Fatalf("%d lookup keys, want %d", n, len(events))
		}
	})

	t.Run("waitlist guard", func(t *testing.T) {
		// A seat released while people wait is locked for them by a script
		// that builds its seat keys from the event's base.
		h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
		events := spread(t, cc, keys.Event)
		for _, ev := range events {
			must(t, rdb.Set(ctx, keys.Event(ev)+":waitlist", "1", time.Minute).Err())
		}
		res := store.BatchResult{Released: map[uuid.UUID][]string{}}
		for _, ev := range events {
			res.Released[ev] = []string{"s7"}
		}
		must(t, h.Mirror(ctx, &store.Feed{Redis: rdb, Keys: keys}, res, nil))
		for _, ev := range events {
			if v, err := rdb.Get(ctx, keys.Event(ev)+":seat:s7").Result(); err != nil || v != "waitlist" {
				t.Fatalf("released seat's lock: %q %v", v, err)
			}
		}
	})

	t.Run("rate limiter", func(t *testing.T) {
		l := store.NewRateLimiter(rdb, keys)
		for i := range 3 {
			key := fmt.Sprintf("login:%d", i)
			var allowed int
			for range 3 {
				d, err := l.Allow(ctx, key, 2, 2, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					allowed++
				}
			}
			if allowed != 2 {
				t.Fatalf("%s: %d of 3 allowed, want the burst of 2", key, allowed)
			}
		}
	})

	t.Run("revocations", func(t *testing.T) {
		v := &store.Revocations{Redis: rdb, Keys: keys, Window: time.Minute}
		sessions := spread(t, cc, func(id uuid.UUID) string { return keys.Key("auth", "deny-session", id.String()) })
		for _, s := range sessions {
			must(t, v.RevokeSession(ctx, s))
		}
		must(t, v.DenyToken(ctx, "jti-c", time.Now().Add(time.Minute)))
		user := evently.NewID()
		must(t, v.RevokeUser(ctx, user, time.Now()))
		// The writer's round trip: one pipeline over several slots.
		fresh := &store.Revocations{Redis: rdb, Keys: keys, Window: time.Minute}
		for _, s := range sessions {
			if got, err := fresh.Revoked(ctx, "x", s, evently.NewID(), time.Now()); err != nil || !got {
				t.Fatalf("session %s: %v %v", s, got, err)
			}
		}
		if got, err := fresh.Revoked(ctx, "jti-c", uuid.Nil, evently.NewID(), time.Now()); err != nil || !got {
			t.Fatalf("token: %v %v", got, err)
		}
		if got, err := fresh.Revoked(ctx, "y", evently.NewID(), user, time.Now().Add(-time.Second)); err != nil || !got {
			t.Fatalf("user: %v %v", got, err)
		}
		// The feed (a stream) followed into a local copy.
		fctx, stop := context.WithCancel(ctx)
		followed := make(chan struct{})
		go func() { defer close(followed); _ = fresh.Follow(fctx) }()
		defer func() { stop(); <-followed }()
		apptest.Eventually(t, "the follower's copy is live", fresh.Live)
		for _, s := range sessions {
			if got, _ := fresh.Revoked(ctx, "z", s, evently.NewID(), time.Now()); !got {
				t.Fatalf("the copy lacks session %s", s)
			}
		}
		late := evently.NewID()
		must(t, v.RevokeSession(ctx, late))
		apptest.Eventually(t, "a revocation written later reaches the copy", func() bool {
			got, _ := fresh.Revoked(ctx, "z", late, evently.NewID(), time.Now())
			return got
		})
	})

	t.Run("booking status fan-out", func(t *testing.T) {
		f := &store.Feed{Redis: rdb, Keys: keys}
		h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
		// Channels on every master; one pattern subscription hears them all.
		bookings := spread(t, cc, f.Channel)
		watchers := make([]<-chan evently.StatusChange, len(bookings))
		for i, b := range bookings {
			ch, stop := f.Watch(ctx, b)
			defer stop()
			watchers[i] = ch
		}
		ev := evently.NewID()
		changes := make([]evently.StatusChange, len(bookings))
		for i, b := range bookings {
			changes[i] = evently.StatusChange{BookingID: b, UserID: evently.NewID(), EventID: ev,
				Status: evently.BookingReserved, SeatIDs: []string{"s1"}, At: time.Now()}
		}
		// Published by the record script inside the booking worker's pipeline.
		for i := range watchers {
			received(t, watchers[i], func() {
				must(t, h.Mirror(ctx, f, store.BatchResult{Changes: changes}, nil))
			}, func(c evently.StatusChange) bool { return c.BookingID == bookings[i] })
		}
		for _, b := range bookings {
			c, err := f.Current(ctx, b)
			if err != nil || c == nil || c.Status != evently.BookingReserved {
				t.Fatalf("current of %s: %+v %v", b, c, err)
			}
		}
	})

	t.Run("notifications fan-out", func(t *testing.T) {
		in := &store.Inbox{DB: db, Redis: rdb, Keys: keys}
		users := spread(t, cc, in.Channel)
		for _, u := range users {
			ch, stop := in.Watch(ctx, u)
			defer stop()
			n := note(u, "cluster")
			received(t, ch, func() { must(t, in.Publish(ctx, []evently.Notification{n})) },
				func(got evently.Notification) bool { return got.ID == n.ID })
		}
	})

	t.Run("admission and feed", func(t *testing.T) {
		user, ev := publishedEvent(t, db, 2)
		h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
		f := &store.Feed{Redis: rdb, Keys: keys}
		idem := &store.Idempotency{Redis: rdb, Keys: keys}
		adm := &store.Admissions{Holds: h, Idempotency: idem, Feed: f}
		hold, err := h.Take(ctx, ev, user, []string{"s1"})
		if err != nil {
			t.Fatal(err)
		}
		in := evently.Admission{UserID: user, HoldID: hold.ID, BookingID: evently.NewID(), IdempotencyKey: "k1", BodyHash: "h1", At: time.Now()}
		got, err := adm.Admit(ctx, in)
		if err != nil || got.Hold == nil || !slices.Equal(got.Hold.SeatIDs, []string{"s1"}) {
			t.Fatalf("admit: %+v %v", got, err)
		}
		must(t, f.Durable(ctx, in.BookingID))
		c, err := f.Current(ctx, in.BookingID)
		if err != nil || c == nil || c.Status != evently.BookingPending || c.InFlight != nil {
			t.Fatalf("pending record: %+v %v", c, err)
		}
		again := in
		again.BookingID = evently.NewID()
		got, err = adm.Admit(ctx, again)
		if err != nil || got.Earlier == nil || *got.Earlier != in.BookingID || got.EarlierHash != "h1" {
			t.Fatalf("the key again: %+v %v", got, err)
		}
		// Asked of the master that holds the record: it started just now,
		// after this id was made, and lost nothing of it.
		if lost, err := f.MayHaveForgotten(ctx, in.BookingID); err != nil || lost {
			t.Fatalf("may have forgotten: %v %v", lost, err)
		}
		must(t, f.Forget(ctx, in.BookingID))
		if c, err := f.Current(ctx, in.BookingID); err != nil || c != nil {
			t.Fatalf("forgotten record: %+v %v", c, err)
		}
	})

	t.Run("worker reports", func(t *testing.T) {
		w := &store.WorkerReports{Redis: rdb, Keys: keys}
		for _, name := range []string{"w1", "w2", "w3"} {
			must(t, w.Report(ctx, store.WorkerReport{Instance: name, SeenAt: time.Now()}, time.Minute))
		}
		must(t, w.Withdraw(ctx, "w2"))
		live, err := w.Live(ctx, time.Hour)
		if err != nil || len(live) != 2 || live[0].Instance != "w1" || live[1].Instance != "w3" {
			b, _ := json.Marshal(live)
			t.Fatalf("live %s %v", b, err)
		}
	})

	t.Run("cleanup sees every master", func(t *testing.T) {
		ids := spread(t, cc, func(id uuid.UUID) string { return keys.Key("scan", id.String()) })
		for _, id := range ids {
			must(t, rdb.Set(ctx, keys.Key("scan", id.String()), "1", time.Minute).Err())
		}
		if n := len(evtest.Keys(t, rdb, keys.Key("scan", "*"))); n != len(ids) {
			t.Fatalf("found %d keys, want %d", n, len(ids))
		}
		evtest.DeleteKeys(t, rdb, keys.Key("scan", "*"))
		if n := len(evtest.Keys(t, rdb, keys.Key("scan", "*"))); n != 0 {
			t.Fatalf("%d keys left", n)
		}
	})
}

// masterOf returns the address of the master holding key.
func masterOf(t *testing.T, cc *redis.ClusterClient, key string) string {
	t.Helper()
	n, err := cc.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return n.Options().Addr
}

// spread returns one new id per master, each one's key (key(id)) on it.
func spread(t *testing.T, cc *redis.ClusterClient, key func(uuid.UUID) string) []uuid.UUID {
	t.Helper()
	seen := map[string]bool{}
	var ids []uuid.UUID
	for range 1000 {
		id := evently.NewID()
		if a := masterOf(t, cc, key(id)); !seen[a] {
			seen[a] = true
			ids = append(ids, id)
		}
		if len(seen) == 3 {
			return ids
		}
	}
	t.Fatalf("ids on %d masters only", len(seen))
	return nil
}

// onEveryMaster reports whether the ids' keys cover the three masters.
func onEveryMaster(t *testing.T, cc *redis.ClusterClient, ids []uuid.UUID, key func(uuid.UUID) string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		seen[masterOf(t, cc, key(id))] = true
	}
	return len(seen) == 3
}

// received publishes (again, until the subscription is live) until ch
// delivers a value that is, within ten seconds.
func received[T any](t *testing.T, ch <-chan T, publish func(), is func(T) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var once sync.Once
	for {
		once.Do(publish)
		select {
		case v := <-ch:
			if is(v) {
				return
			}
		case <-tick.C:
			publish()
		case <-deadline:
			t.Fatal("nothing arrived")
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
