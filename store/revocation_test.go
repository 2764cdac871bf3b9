package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Revoked(ctx, tt.jti, tt.session, tt.uid.UserID, tt.iat)
			if err != nil || got != tt.want {
				t.Fatalf("revoked %v (%v), want %v", got, err, tt.want)
			}
		})
	}
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
