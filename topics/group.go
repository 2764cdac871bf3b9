package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
)

// Batch is consecutive messages of one partition, in offset order.
type Batch struct {
	Topic     string // logical name
	Partition int
	Messages  []kafka.Message
}

// Handler applies a batch and returns nil only once its effects are durable;
// only then are the offsets committed. Delivery is at-least-once, so a
// handler must recognise messages it already applied.
type Handler func(ctx context.Context, b Batch) error

// ErrPoison marks an error that retrying cannot fix (an undecodable or
// invalid message): the message goes to the dead-letter queue at once.
var ErrPoison = errors.New("poison message")

// Poison wraps err as a poison error.
func Poison(err error) error { return fmt.Errorf("%w: %w", ErrPoison, err) }

// GroupConfig configures a consumer group of one worker kind.
type GroupConfig struct {
	Conn    Conn
	Names   Names
	GroupID string
	Topics  []string // logical names
	Handle  Handler

	BatchSize     int           // most messages per batch (default 200)
	BatchWait     time.Duration // longest wait for a batch to fill after its first message (default 20 ms)
	HandleTimeout time.Duration // one attempt's deadline (default 3 s: well within the session timeout)
	MaxAttempts   int           // attempts on one message before the DLQ (default 5)
	// Gather, when set, lets the broker hold each fetch until 64 KB have
	// queued or Gather has passed, for groups whose messages can wait that
	// long (the inbox, webhooks): fewer, fuller fetches, batches, commits
	// and offset commits. Zero answers a fetch as soon as one message is
	// there, for the groups a buyer waits on.
	Gather time.Duration

	// Ready checks the handler's dependencies. While it fails, failures are
	// blamed on them, not on the messages: nothing is dead-lettered.
	Ready func(ctx context.Context) error
	// DLQ receives poison messages; nil drops them after logging.
	DLQ *Producer
	// OnDeadLetter runs after a message went to the DLQ (the booking worker
	// fails the booking it carried).
	OnDeadLetter func(ctx context.Context, topic string, m kafka.Message, cause error)

	SessionTimeout time.Duration // default 10 s
	Logger         *slog.Logger
	// ClientID names this process to the broker; the group's coordinator
	// lists members by it (GET /admin/pipeline). Default "kafka-go".
	ClientID string
}

// Group runs one consumer group: one goroutine owns each assigned partition,
// fetches batches, hands them to the handler and commits offsets after.
type Group struct {
	cfg GroupConfig
	log *slog.Logger

	mu       sync.Mutex
	assigned map[string][]int
	lag      map[string]map[int]int64
	// commits lets one partition's offset commit at a time onto the
	// generation's one coordinator connection: kafka-go's other waiters on
	// that connection spin (lock, set a deadline, peek, unlock) until the
	// response ahead of theirs is read, and with one P a spinner can hold
	// the CPU for its whole time slice. Measured: with the notify and
	// webhooks groups committing six partitions each, that spin was 68 % of
	// evently dev's CPU and cut its bookings/s by three quarters.
	commits sync.Mutex
}

// NewGroup validates cfg and fills in defaults.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if len(cfg.Conn.Brokers) == 0 || cfg.GroupID == "" || len(cfg.Topics) == 0 || cfg.Handle == nil {
		return nil, errors.New("consumer group: brokers, group id, topics and handler are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 200
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 20 * time.Millisecond
	}
	if cfg.HandleTimeout <= 0 {
		cfg.HandleTimeout = 3 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Group{cfg: cfg, log: cfg.Logger.With("group", cfg.GroupID),
		assigned: map[string][]int{}, lag: map[string]map[int]int64{}}, nil
}

var (
	mProduceSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_produce_seconds", Help: "Time for a produce to be acknowledged by every in-sync replica, by the first message's topic.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"topic"})
	mProduceGroup = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "evently_produce_group_messages", Help: "Messages per group write of the producer (what queued while the previous write was in flight).",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
	})
	mBatchSize = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_consumer_batch_size", Help: "Messages per handled batch.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
	}, []string{"group", "topic"})
	mHandleSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_consumer_handle_seconds", Help: "Time to apply one batch durably.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"group", "topic"})
	mHandleErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_consumer_handle_errors_total", Help: "Failed batch attempts.",
	}, []string{"group", "topic"})
	mDeadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_consumer_dead_lettered_total", Help: "Messages sent to a dead-letter queue.",
	}, []string{"group", "topic"})
	mLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "evently_consumer_lag", Help: "Messages behind the partition's end, after the last batch.",
	}, []string{"group", "topic", "partition"})
)

// Run joins the group and works until ctx ends; then it lets in-flight
// batches finish, commits them and leaves the group.
func (g *Group) Run(ctx context.Context) error {
	physical := make([]string, len(g.cfg.Topics))
	for i, t := range g.cfg.Topics {
		physical[i] = g.cfg.Names.Of(t)
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    g.cfg.GroupID,
		Brokers:               g.cfg.Conn.Brokers,
		Topics:                physical,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        g.cfg.SessionTimeout,
		RebalanceTimeout:      2 * g.cfg.SessionTimeout,
		JoinGroupBackoff:      time.Second,
		RetentionTime:         7 * 24 * time.Hour,
		StartOffset:           kafka.FirstOffset,
		WatchPartitionChanges: true,
		Timeout:               5 * time.Second,
		Dialer:                g.cfg.Conn.dialer(g.cfg.ClientID, 10*time.Second),
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { g.log.Debug(fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", g.cfg.GroupID, err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		cg.Close() // ends the generation; owners finish their batch, then the member leaves
	}()
	defer func() { <-stopped }()
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				g.setAssigned(nil)
				return nil
			}
			g.log.Warn("consumer group join failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		assigned := map[string][]int{}
		for topic, as := range gen.Assignments {
			for _, a := range as {
				assigned[g.cfg.Names.Logical(topic)] = append(assigned[g.cfg.Names.Logical(topic)], a.ID)
				gen.Start(func(genCtx context.Context) { g.own(genCtx, gen, topic, a) })
			}
		}
		g.setAssigned(assigned)
		g.log.Info("partitions assigned", "generation", gen.ID, "assigned", assigned)
	}
}

func (g *Group) setAssigned(a map[string][]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.assigned = a
}

// Assigned returns the partitions this member owns now, by logical topic.
func (g *Group) Assigned() map[string][]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string][]int, len(g.assigned))
	for t, ps := range g.assigned {
		out[t] = append([]int(nil), ps...)
	}
	return out
}

// Lag returns the last seen lag per logical topic and partition.
func (g *Group) Lag() map[string]map[int]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]map[int]int64{}
	for t, ps := range g.lag {
		out[t] = map[int]int64{}
		for p, l := range ps {
			out[t][p] = l
		}
	}
	return out
}

// own is the owner loop of one partition for one generation.
func (g *Group) own(genCtx context.Context, gen *kafka.Generation, topic string, a kafka.PartitionAssignment) {
	logical := g.cfg.Names.Logical(topic)
	log := g.log.With("topic", logical, "partition", a.ID)
	newReader := func(offset int64) *kafka.Reader {
		minBytes, maxWait := 1, 500*time.Millisecond
		if g.cfg.Gather > 0 {
			minBytes, maxWait = 64<<10, g.cfg.Gather
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: g.cfg.Conn.Brokers, Dialer: g.cfg.Conn.dialer(g.cfg.ClientID, 10*time.Second),
			Topic: topic, Partition: a.ID,
			MinBytes: minBytes, MaxBytes: 10 << 20, MaxWait: maxWait,
			QueueCapacity: g.cfg.BatchSize,
		})
		_ = r.SetOffset(offset) // a fresh reader is never closed: cannot fail
		return r
	}
	r := newReader(a.Offset)
	defer func() { r.Close() }()
	oc := &offsetCommitter{commit: func(off int64) error {
		g.commits.Lock()
		defer g.commits.Unlock()
		return gen.CommitOffsets(map[string]map[int]int64{topic: {a.ID: off}})
	}, pending: -1}
	defer oc.flush()
	for genCtx.Err() == nil && !oc.refused() {
		msgs := g.fetch(genCtx, r, log)
		if len(msgs) == 0 {
			continue
		}
		b := Batch{Topic: logical, Partition: a.ID, Messages: msgs}
		if !g.apply(genCtx, b, log) {
			return // the generation ended mid-retry: the next owner redoes the batch
		}
		last := msgs[len(msgs)-1]
		oc.offer(last.Offset + 1)
		g.recordLag(logical, a.ID, last)
	}
	if oc.refused() {
		log.Warn("offset commit refused; the next owner redoes the batches since the last commit")
	}
}

// offsetCommitter commits a partition's offsets off the batch loop: the
// next batch is fetched and applied while the last one's offset travels to
// the group coordinator. One commit is in flight at a time and the latest
// offset wins, so commits never go backwards. Offsets only save work after
// a restart (handlers recognise what they applied), so committing a little
// later is safe; flush waits for the last one when ownership ends.
type offsetCommitter struct {
	commit func(offset int64) error

	mu      sync.Mutex
	pending int64 // -1: nothing waiting
	running bool
	failed  bool
	wg      sync.WaitGroup
}

func (o *offsetCommitter) offer(offset int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = offset
	if !o.running {
		o.running = true
		o.wg.Add(1)
		go o.loop()
	}
}

func (o *offsetCommitter) loop() {
	defer o.wg.Done()
	for {
		o.mu.Lock()
		off := o.pending
		if off < 0 || o.failed {
			o.running = false
			o.mu.Unlock()
			return
		}
		o.pending = -1
		o.mu.Unlock()
		if err := o.commit(off); err != nil {
			o.mu.Lock()
			o.failed = true
			o.mu.Unlock()
		}
	}
}

func (o *offsetCommitter) refused() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed
}

func (o *offsetCommitter) flush() { o.wg.Wait() }

// fetch returns up to BatchSize messages: it keeps taking messages while
// they come at least every quarter of BatchWait (at least 1 ms), and stops
// at BatchWait. Under load a batch fills from what queued while the last
// one was applied; a lone message waits only the gap.
func (g *Group) fetch(genCtx context.Context, r *kafka.Reader, log *slog.Logger) []kafka.Message {
	m, err := r.FetchMessage(genCtx)
	if err != nil {
		if genCtx.Err() == nil {
			log.Warn("fetch failed", "err", err)
			sleep(genCtx, 500*time.Millisecond)
		}
		return nil
	}
	msgs := []kafka.Message{m}
	deadline := time.Now().Add(g.cfg.BatchWait)
	gap := max(g.cfg.BatchWait/4, time.Millisecond)
	for len(msgs) < g.cfg.BatchSize {
		wait := min(gap, time.Until(deadline))
		if wait <= 0 {
			break
		}
		ctx, cancel := context.WithTimeout(genCtx, wait)
		m, err := r.FetchMessage(ctx)
		cancel()
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// apply hands the batch to the handler until it succeeds. After MaxAttempts
// failures with healthy dependencies (or at once for poison), the messages
// are tried one by one and the ones that still fail go to the DLQ. It
// returns false when the generation ended first.
func (g *Group) apply(genCtx context.Context, b Batch, log *slog.Logger) bool {
	for attempt := 1; ; attempt++ {
		err := g.handle(genCtx, b)
		if err == nil {
			return true
		}
		mHandleErrors.WithLabelValues(g.cfg.GroupID, b.Topic).Inc()
		if genCtx.Err() != nil {
			return false
		}
		if errors.Is(err, ErrPoison) || (attempt >= g.cfg.MaxAttempts && g.ready(genCtx)) {
			if len(b.Messages) > 1 {
				return g.applyEach(genCtx, b, log)
			}
			return g.deadLetter(genCtx, b, err, log)
		}
		log.Warn("batch failed; retrying", "attempt", attempt, "messages", len(b.Messages), "err", err)
		if !sleep(genCtx, backoff(attempt)) {
			return false
		}
	}
}

func (g *Group) applyEach(genCtx context.Context, b Batch, log *slog.Logger) bool {
	for _, m := range b.Messages {
		if !g.apply(genCtx, Batch{Topic: b.Topic, Partition: b.Partition, Messages: []kafka.Message{m}}, log) {
			return false
		}
	}
	return true
}

func (g *Group) handle(genCtx context.Context, b Batch) error {
	// The batch runs under its own deadline, not the generation's: a
	// rebalance lets it finish and commit instead of abandoning it half way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(genCtx), g.cfg.HandleTimeout)
	defer cancel()
	start := time.Now()
	err := g.cfg.Handle(ctx, b)
	if err == nil {
		mBatchSize.WithLabelValues(g.cfg.GroupID, b.Topic).Observe(float64(len(b.Messages)))
		mHandleSeconds.WithLabelValues(g.cfg.GroupID, b.Topic).Observe(time.Since(start).Seconds())
	}
	return err
}

func (g *Group) ready(ctx context.Context) bool {
	if g.cfg.Ready == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return g.cfg.Ready(ctx) == nil
}

// deadLetter writes one message to its topic's DLQ with the error, retrying
// the write until it lands: a message is never skipped unrecorded.
func (g *Group) deadLetter(genCtx context.Context, b Batch, cause error, log *slog.Logger) bool {
	m := b.Messages[0]
	log.Error("message sent to the dead-letter queue", "offset", m.Offset, evently.TraceAttr(TraceID(m)), "err", cause)
	if g.cfg.DLQ != nil {
		dl := kafka.Message{
			Topic: g.cfg.Names.Of(b.Topic + DLQSuffix), Key: m.Key, Value: m.Value,
			Headers: append(append([]kafka.Header(nil), m.Headers...),
				kafka.Header{Key: "error", Value: []byte(cause.Error())},
				kafka.Header{Key: "source-topic", Value: []byte(b.Topic)},
				kafka.Header{Key: "source-partition", Value: []byte(strconv.Itoa(b.Partition))},
				kafka.Header{Key: "source-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
			),
		}
		for attempt := 1; ; attempt++ {
			err := g.cfg.DLQ.PublishRaw(genCtx, dl)
			if err == nil {
				break
			}
			if !sleep(genCtx, backoff(attempt)) {
				return false
			}
		}
	}
	mDeadLettered.WithLabelValues(g.cfg.GroupID, b.Topic).Inc()
	if g.cfg.OnDeadLetter != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(genCtx), g.cfg.HandleTimeout)
		g.cfg.OnDeadLetter(ctx, b.Topic, m, cause)
		cancel()
	}
	return true
}

func (g *Group) recordLag(topic string, partition int, last kafka.Message) {
	lag := last.HighWaterMark - last.Offset - 1
	if lag < 0 {
		lag = 0
	}
	mLag.WithLabelValues(g.cfg.GroupID, topic, strconv.Itoa(partition)).Set(float64(lag))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lag[topic] == nil {
		g.lag[topic] = map[int]int64{}
	}
	g.lag[topic][partition] = lag
}

// backoff is capped exponential backoff with full jitter.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 6)
	if d > 5*time.Second {
		d = 5 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
