// Package workers holds Evently's background workers: the booking
// committer, the payment worker of the saga, the waitlist promoter, the
// notifier, the expiry reaper and the outbox relay. Each kind is a consumer
// group (or a loop) that `evently work` runs; ops scale a kind by starting
// more processes.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// Config is what every worker kind may need.
type Config struct {
	Kafka    topics.Conn
	Names    topics.Names
	Logger   *slog.Logger
	DB       *sqlx.DB
	Redis    redis.UniversalClient
	Keys     store.Keys
	Producer *topics.Producer

	BatchSize      int
	BatchWait      time.Duration
	MaxAttempts    int
	SessionTimeout time.Duration
	// GroupPrefix isolates consumer groups (tests, several deployments).
	GroupPrefix string
	// Instance names this process: its consumer-group members' client id
	// and its report in the pipeline view (default: host-pid-random).
	Instance string
	// PaymentWindow is how long a reserved booking waits for payment.
	PaymentWindow time.Duration
	// HoldTTL is how long a seat hold lives.
	HoldTTL time.Duration
	// UnknownOutcomeAfter is how long a submission of unknown outcome is
	// left to its client's retry before the reaper resolves it; also how
	// long after its acceptance a submission whose command is still not
	// known to be durable is taken for abandoned (its request died). Keep
	// it above the API's bound for a live request (6 s).
	UnknownOutcomeAfter time.Duration
	// Gateway is the payment gateway client (payment worker).
	Gateway *gateway.Client
	// ChargeAtCommit, when set, is the booking worker's own gateway client:
	// it charges new bookings inside their batch's commit and leaves only
	// what it cannot settle at once to the payment worker. Give it one
	// attempt and a short timeout: the partition waits for it.
	ChargeAtCommit *gateway.Client
	// WaitlistOfferTTL is how long a waitlist offer can be booked;
	// WaitlistSweep how often the promoter looks for offers to settle.
	WaitlistOfferTTL time.Duration
	WaitlistSweep    time.Duration
	// Webhooks configures the webhooks worker (its sender is required).
	Webhooks WebhookConfig
	// WaitlistRemindBefore: how long before an offer ends its user is
	// reminded (waitlist.offer_expiring).
	WaitlistRemindBefore time.Duration
}

// Consumer group names (after Config.GroupPrefix).
const (
	GroupBooking = "booking"
	GroupPayment = "payment"
)

// Runner is one running worker kind.
type Runner interface {
	Run(ctx context.Context) error
}

// kinds maps each worker kind to its constructor, in start order.
var kinds = []struct {
	name string
	make func(Config) (Runner, error)
}{
	{"booking", newCommitter},
	{"payment", newPayer},
	{"reaper", newReaper},
	{"waitlist", newPromoter},
	{"webhooks", newCourier},
	{"notify", newNotifier},
}

// Kinds lists every worker kind.
func Kinds() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

// ParseKinds parses a comma-separated list of kinds.
func ParseKinds(s string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(Kinds(), k) {
			return nil, fmt.Errorf("unknown worker kind %q (known: %s)", k, strings.Join(Kinds(), ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Set is the worker kinds one process runs.
type Set struct {
	runners []Runner
}

// NewSet builds the chosen kinds.
func NewSet(cfg Config, chosen []string) (*Set, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Instance == "" {
		cfg.Instance = DefaultInstance()
	}
	s := &Set{}
	for _, k := range kinds {
		if !slices.Contains(chosen, k.name) {
			continue
		}
		r, err := k.make(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s worker: %w", k.name, err)
		}
		s.runners = append(s.runners, r)
	}
	if cfg.Redis != nil {
		s.runners = append(s.runners, newReporter(cfg, chosen))
	}
	return s, nil
}

// Run runs every kind until ctx ends or one fails.
func (s *Set) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range s.runners {
		g.Go(func() error { return r.Run(ctx) })
	}
	return g.Wait()
}

// Assigned reports whether every consumer-group kind in the set owns at
// least one partition (tests wait for it instead of sleeping).
func (s *Set) Assigned() bool {
	for _, r := range s.runners {
		if a, ok := r.(interface{ Assigned() map[string][]int }); ok && len(a.Assigned()) == 0 {
			return false
		}
	}
	return true
}

// Owned returns the partitions the set's consumer groups own now, by
// logical topic (tests watch a hand-over with it).
func (s *Set) Owned() map[string][]int {
	out := map[string][]int{}
	for _, r := range s.runners {
		if a, ok := r.(interface{ Assigned() map[string][]int }); ok {
			for t, ps := range a.Assigned() {
				out[t] = append(out[t], ps...)
			}
		}
	}
	return out
}
