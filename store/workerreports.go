package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// WorkerReport is what one worker process says of itself, for the
// operators' pipeline view: which kinds it runs and the state of its
// payment breakers, which live only in its memory.
type WorkerReport struct {
	// Instance is the process's name; its consumer-group members carry it
	// as their client id.
	Instance string   `json:"instance"`
	Kinds    []string `json:"kinds"`
	Host     string   `json:"host"`
	PID      int      `json:"pid"`
	// Breakers maps each gateway client (payment, charge_at_commit) to its
	// breaker's state: closed, half-open or open.
	Breakers  map[string]string `json:"breakers"`
	StartedAt time.Time         `json:"started_at"`
	SeenAt    time.Time         `json:"seen_at"`
}

// WorkerReports keeps the live worker processes' reports in Redis: one key
// per process that expires unless renewed, and an index sorted by the
// last renewal. Both share the {workers} hash tag (Redis Cluster).
type WorkerReports struct {
	Redis redis.UniversalClient
	Keys  Keys
}

func (w *WorkerReports) index() string              { return w.Keys.Key("{workers}", "index") }
func (w *WorkerReports) key(instance string) string { return w.Keys.Key("{workers}", instance) }

// Report records r for ttl.
func (w *WorkerReports) Report(ctx context.Context, r WorkerReport, ttl time.Duration) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, w.key(r.Instance), b, ttl)
		p.ZAdd(ctx, w.index(), redis.Z{Score: float64(r.SeenAt.UnixMilli()), Member: r.Instance})
		return nil
	})
	return err
}

// Withdraw removes a stopping process's report.
func (w *WorkerReports) Withdraw(ctx context.Context, instance string) error {
	_, err := w.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, w.key(instance))
		p.ZRem(ctx, w.index(), instance)
		return nil
	})
	return err
}

// Live returns the reports not yet expired, least recently renewed first,
// and forgets index entries older than forget.
func (w *WorkerReports) Live(ctx context.Context, forget time.Duration) ([]WorkerReport, error) {
	cut := time.Now().Add(-forget).UnixMilli()
	if err := w.Redis.ZRemRangeByScore(ctx, w.index(), "-inf", "("+strconv.FormatInt(cut, 10)).Err(); err != nil {
		return nil, err
	}
	names, err := w.Redis.ZRange(ctx, w.index(), 0, -1).Result()
	if err != nil || len(names) == 0 {
		return []WorkerReport{}, err
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = w.key(n)
	}
	vals, err := w.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := []WorkerReport{}
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired: the process stopped renewing it
		}
		var r WorkerReport
		if json.Unmarshal([]byte(s), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
