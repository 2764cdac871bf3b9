package store

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// RateLimiter is a GCRA limiter in Redis (go-redis/redis_rate), so every
// API instance draws from the same budgets. redis_rate puts its own "rate:"
// in front of each key; Keys.Prefix goes after it.
type RateLimiter struct {
	limiter *redis_rate.Limiter
	keys    Keys
}

// NewRateLimiter returns a limiter over rdb with keys under keys.Prefix.
func NewRateLimiter(rdb redis.UniversalClient, keys Keys) *RateLimiter {
	return &RateLimiter{limiter: redis_rate.NewLimiter(rdb), keys: keys}
}

// RateDecision is the answer for one request.
type RateDecision struct {
	Allowed   bool
	Limit     int // the burst: requests allowed at once
	Remaining int
	// RetryAfter is when the next request would be allowed (0 if allowed).
	RetryAfter time.Duration
	// ResetAfter is when the budget is full again.
	ResetAfter time.Duration
}

// Allow spends one request from the budget under key: rate requests per
// period, up to burst at once.
func (l *RateLimiter) Allow(ctx context.Context, key string, rate, burst int, period time.Duration) (RateDecision, error) {
	res, err := l.limiter.Allow(ctx, l.keys.Key("rl", key), redis_rate.Limit{Rate: rate, Burst: burst, Period: period})
	if err != nil {
		return RateDecision{}, err
	}
	return RateDecision{Allowed: res.Allowed > 0, Limit: burst, Remaining: res.Remaining,
		RetryAfter: max(res.RetryAfter, 0), ResetAfter: max(res.ResetAfter, 0)}, nil
}
