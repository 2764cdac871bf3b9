package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
)

// countChecks counts the commands a token check sends (EXISTS, GET).
type countChecks struct{ n *atomic.Int64 }

func (countChecks) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countChecks) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h countChecks) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}
func (h countChecks) count(c redis.Cmder) {
	if n := c.Name(); n == "exists" || n == "get" {
		h.n.Add(1)
	}
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := evtest.Redis(t)
	v := &store.Revocations{Redis: rdb, Keys: store.Keys{Prefix: prefix}, Window: time.Minute}
	user, other := evently.NewID(), evently.NewID()
	now := time.Now()

	if err := v.DenyToken(ctx, "jti-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := v.DenyToken(ctx, "jti-old", now.Add(-time.Minute)); err != nil { // already expired: nothing to keep
		t.Fatal(err)
	}
	if err := v.RevokeUser(ctx, user, now); err != nil {
		t.Fatal(err)
	}
	ended, live := evently.NewID(), evently.NewID()
	if err := v.RevokeSession(ctx, ended); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		jti     string
		session uuid.UUID
		uid     evently.Actor
		iat     time.Time
		want    bool
	}{
		{"denied id", "jti-1", uuid.Nil, evently.Actor{UserID: other}, now, true},
		{"other id", "jti-2", uuid.Nil, evently.Actor{UserID: other}, now.Add(-time.Hour), false},
		{"issued before the user's revocation", "jti-3", uuid.Nil, evently.Actor{UserID: user}, now.Add(-time.Millisecond * 5), true},
		{"issued just after it", "jti-4", uuid.Nil, evently.Actor{UserID: user}, now.Add(2 * time.Millisecond), false},
		{"any token of an ended session", "jti-5", ended, evently.Actor{UserID: other}, now, true},
		{"a token of a live session", "jti-6", live, evently.Actor{UserID: other}, now, false},
	}
	// Another API process follows the revocations into a local copy and,
	// once that is live, answers without asking Redis.
	frdb, err := store.OpenRedis(ctx, evtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { frdb.Close() })
	var asked atomic.Int64
	frdb.AddHook(countChecks{&asked})
	follower := &store.Revocations{Redis: frdb, Keys: store.Keys{Prefix: prefix}, Window: time.Minute}
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); _ = follower.Follow(fctx) }()
	t.Cleanup(func() { stop(); <-followed })
	apptest.Eventually(t, "the follower's copy is live and has the session", func() bool {
		got, _ := follower.Revoked(ctx, "jti-x", ended, other, now)
		return got
	})
	asked.Store(0)
	for _, side := range []struct {
		name string
		v    *store.Revocations
	}{{"writer (Redis round trip)", v}, {"follower (local copy)", follower}} {
		for _, tt := range tests {
			t.Run(side.name+"/"+tt.name, func(t *testing.T) {
				if side.v == follower {
					// A starved follower loop lets its copy lapse (then Redis
					// answers, which is right): check while it is live.
					apptest.Eventually(t, "the follower's copy is live", follower.Live)
				}
				before := asked.Load()
				got, err := side.v.Revoked(ctx, tt.jti, tt.session, tt.uid.UserID, tt.iat)
				if err != nil || got != tt.want {
					t.Fatalf("revoked %v (%v), want %v", got, err, tt.want)
				}
				if n := asked.Load() - before; side.v == follower && n != 0 && follower.Live() {
					t.Fatalf("the live follower asked Redis %d times", n)
				}
			})
		}
	}
	// A revocation written later reaches the follower too.
	if err := v.DenyToken(ctx, "jti-late", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "a later revocation reaches the follower", func() bool {
		got, _ := follower.Revoked(ctx, "jti-late", uuid.Nil, other, now)
		return got
	})
	// Once Redis stops answering the follower, its copy stops counting:
	// the check goes to Redis (and fails closed when Redis is gone).
	stop()
	<-followed
	apptest.Eventually(t, "a stale copy is not used", func() bool {
		before := asked.Load()
		_, _ = follower.Revoked(ctx, "jti-2", uuid.Nil, other, now)
		return asked.Load() > before
	})
	if ttl := rdb.TTL(ctx, prefix+"auth:revoked-before:"+user.String()).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("revocation kept for %v, want the window", ttl)
	}
}

// Two limiters on one Redis share a budget (two API instances).
func TestRateLimiterSharedBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := evtest.Redis(t)
	keys := store.Keys{Prefix: prefix}
	l1, l2 := store.NewRateLimiter(rdb, keys), store.NewRateLimiter(rdb, keys)
	for i, l := range []*store.RateLimiter{l1, l2, l1} {
		d, err := l.Allow(ctx, "login:k", 3, 3, time.Minute)
		if err != nil || !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("request %d: %+v %v", i+1, d, err)
		}
	}
	d, err := l2.Allow(ctx, "login:k", 3, 3, time.Minute)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 20*time.Second || d.Remaining != 0 {
		t.Fatalf("past the budget: %+v %v", d, err)
	}
	if d, _ := l1.Allow(ctx, "login:other", 3, 3, time.Minute); !d.Allowed {
		t.Fatal("another key shares the budget")
	}
}
