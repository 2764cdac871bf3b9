package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
)

// Producer writes envelopes synchronously: WriteMessages returns only when
// every in-sync replica has the message, so "accepted" means durable.
// One Producer is shared by a whole process.
//
// It commits in groups: per topic, one write is in flight at a time, and
// everything published meanwhile goes in the next one, as one acks=all
// request per partition. There is no timer: a lone message goes at once,
// and under an on-sale a request carries whatever queued during the last
// round trip, so the broker sees a few large requests instead of many
// small ones (kafka-go's own batching waits for a timer, then writes a
// partition's batches one after the other).
type Producer struct {
	w     *kafka.Writer
	tr    *kafka.Transport
	names Names

	mu      sync.Mutex
	flights map[string]*flight
	wg      sync.WaitGroup // the flights' writers
	writes  atomic.Int64
}

// flight is one topic's group commit.
type flight struct {
	writing bool
	queue   []*publishCall
}

type publishCall struct {
	msgs []kafka.Message
	done chan error // buffered: the writer never waits for the caller
}

// NewProducer returns a Producer for conn's brokers.
func NewProducer(conn Conn, names Names) *Producer {
	// kafka-go's writer learns that a partition's leader moved only from
	// its next metadata refresh, not from the write's error: on a cluster,
	// refreshing every second lets the retries below reach the new leader
	// when a broker dies (the default transport refreshes every 6 s, longer
	// than a caller waits). Only Evently's topics are asked for.
	tr := &kafka.Transport{MetadataTTL: time.Second, MetadataTopics: names.All(), TLS: conn.TLS, SASL: conn.SASL}
	// Retry until the write's 5 s deadline. On a cluster a dead leader is
	// replaced within about 4 s (deploy/kafka-node.sh:
	// broker.session.timeout.ms). On one broker a topic just made can still
	// answer "not leader" for a while after its metadata names a leader
	// (the broker publishes metadata before its replica manager takes the
	// partition), longer than five attempts when the broker is busy.
	const attempts = 10
	return &Producer{names: names, tr: tr, flights: map[string]*flight{}, w: &kafka.Writer{
		Addr:         kafka.TCP(conn.Brokers...),
		Transport:    tr,
		Balancer:     kafka.Murmur2Balancer{}, // same partition as Java clients for a key
		RequiredAcks: kafka.RequireAll,
		// Each write is a whole group already: kafka-go must not hold it
		// back waiting for companions (its default waits a second).
		BatchTimeout: time.Nanosecond,
		BatchSize:    1000,
		// A leader that moved (a broker restart, a topic just made) is
		// retried with backoff, 100 ms doubling to 1 s.
		MaxAttempts:  attempts,
		WriteTimeout: 5 * time.Second,
		ReadTimeout:  5 * time.Second,
		// Topics are provisioned at start-up; creating one by writing to it
		// fails the first write (see EnsureTopics).
		AllowAutoTopicCreation: false,
	}}
}

// Message is one envelope bound for a logical topic under a key.
type Message struct {
	Topic    string
	Key      string
	Envelope Envelope
	// TraceID goes into the message's headers ("": the trace of the
	// context it is published under, if any).
	TraceID string
}

// Publish writes messages and waits for the broker's acknowledgement. Any
// error means "not known to be stored": the caller must not report success.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		trace := m.TraceID
		if trace == "" {
			trace = evently.TraceIDFrom(ctx)
		}
		km[i] = kafka.Message{Topic: p.names.Of(m.Topic), Key: []byte(m.Key), Value: m.Envelope.Marshal(), Headers: traceHeaders(trace)}
	}
	start := time.Now()
	err := p.PublishRaw(ctx, km...)
	if err == nil {
		mProduceSeconds.WithLabelValues(msgs[0].Topic).Observe(time.Since(start).Seconds())
	}
	return err
}

// PublishRaw writes already-encoded messages whose Topic is a broker name.
func (p *Producer) PublishRaw(ctx context.Context, msgs ...kafka.Message) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	byTopic := map[string][]kafka.Message{}
	for _, m := range msgs {
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	calls := make([]*publishCall, 0, len(byTopic))
	for topic, ms := range byTopic {
		calls = append(calls, p.enqueue(topic, ms))
	}
	for _, c := range calls {
		var err error
		select {
		case err = <-c.done:
		case <-ctx.Done():
			err = ctx.Err() // not known to be stored; the write goes on
		}
		if err != nil {
			return &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
				Message: "The booking queue is not available; nothing was accepted. Try again shortly."}
		}
	}
	return nil
}

// enqueue adds msgs to topic's next write, starting a writer when none is
// running.
func (p *Producer) enqueue(topic string, msgs []kafka.Message) *publishCall {
	c := &publishCall{msgs: msgs, done: make(chan error, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.flights[topic]
	if f == nil {
		f = &flight{}
		p.flights[topic] = f
	}
	f.queue = append(f.queue, c)
	if !f.writing {
		f.writing = true
		p.wg.Add(1)
		go p.write(f)
	}
	return c
}

// write sends what queued, one group at a time, until nothing is left. It
// runs under its own deadline, not a caller's: the group is shared.
func (p *Producer) write(f *flight) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		group := f.queue
		f.queue = nil
		if len(group) == 0 {
			f.writing = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		var msgs []kafka.Message
		for _, c := range group {
			msgs = append(msgs, c.msgs...)
		}
		p.writes.Add(1)
		mProduceGroup.Observe(float64(len(msgs)))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.w.WriteMessages(ctx, msgs...)
		cancel()
		if err != nil {
			// The callers answer "not stored"; the cause is only here.
			slog.Warn("produce failed", "topic", msgs[0].Topic, "messages", len(msgs), "err", err)
		}
		for _, c := range group {
			c.done <- err
		}
	}
}

// Writes counts the group writes made so far (one per topic per group).
func (p *Producer) Writes() int64 { return p.writes.Load() }

// Close waits for the writes in flight, then closes the writer.
func (p *Producer) Close() error {
	p.wg.Wait()
	err := p.w.Close()
	p.tr.CloseIdleConnections() // ends the transport's metadata refresher
	return err
}

// Names returns the topic names this producer writes to.
func (p *Producer) Names() Names { return p.names }

// Ping checks that a broker answers and knows the booking topic. It dials
// afresh each time: a shared transport would answer from cached metadata
// after the broker died.
func Ping(ctx context.Context, conn Conn, names Names) error {
	return dialAny(ctx, conn, func(c *kafka.Conn) error {
		_, err := c.ReadPartitions(names.Of(BookingCommands))
		return err
	})
}

// Reachable checks that a broker answers, without asking for any topic.
func Reachable(ctx context.Context, conn Conn) error {
	err := dialAny(ctx, conn, func(c *kafka.Conn) error {
		_, err := c.Brokers()
		return err
	})
	if AuthFailed(err) {
		return fmt.Errorf("kafka at %s refused the SASL credentials: %w", strings.Join(conn.Brokers, ","), err)
	}
	if err != nil {
		return fmt.Errorf("kafka unreachable at %s: %w", strings.Join(conn.Brokers, ","), err)
	}
	return nil
}

func dialAny(ctx context.Context, conn Conn, fn func(*kafka.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var last error
	d := conn.dialer("", 2*time.Second)
	for _, b := range conn.Brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		deadline, _ := ctx.Deadline()
		_ = c.SetDeadline(deadline)
		err = fn(c)
		c.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	return last
}

// EnsureTopics creates any missing topic with the given partition count and
// waits until every partition has a leader, so the first write succeeds.
func EnsureTopics(ctx context.Context, conn Conn, names Names, partitions, replication int) error {
	if partitions <= 0 {
		partitions = 6
	}
	if replication <= 0 {
		replication = 1
	}
	c, done := conn.client(10 * time.Second)
	defer done()
	all := names.All()
	cfgs := make([]kafka.TopicConfig, len(all))
	for i, t := range all {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(MinInSync(replication))}}}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: cfgs})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for t, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, e)
		}
	}
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: all})
		if err == nil && allLed(md, len(all)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics have no leaders yet: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// MinInSync is the min.insync.replicas of topics with the given replication
// factor: 2 from 3 replicas on, so an acks=all write is on two brokers and
// one broker may fail without stopping writes; else 1 (never more than the
// replicas, or every acks=all write would fail).
func MinInSync(replication int) int {
	if replication >= 3 {
		return 2
	}
	return 1
}

// DeleteTopics removes every topic under names (tests: a long-lived broker
// would otherwise collect thousands of topics and run out of files).
func DeleteTopics(ctx context.Context, conn Conn, names Names) error {
	c, done := conn.client(0)
	defer done()
	_, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names.All()})
	return err
}

func allLed(md *kafka.MetadataResponse, want int) bool {
	if len(md.Topics) < want {
		return false
	}
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
	}
	return true
}

// PartitionCount returns how many partitions a broker topic has.
func PartitionCount(ctx context.Context, conn Conn, topic string) (int, error) {
	c, done := conn.client(5 * time.Second)
	defer done()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			return len(t.Partitions), t.Error
		}
	}
	return 0, fmt.Errorf("topic %s not found", topic)
}

// Enqueue wraps payload in an envelope and publishes it durably.
func (p *Producer) Enqueue(ctx context.Context, stream, key, typ string, payload any) error {
	env, err := NewEnvelope(typ, payload)
	if err != nil {
		return err
	}
	return p.Publish(ctx, Message{Topic: stream, Key: key, Envelope: env})
}

// Send publishes outbox messages, each under its own id.
func (p *Producer) Send(ctx context.Context, msgs []evently.Outgoing) error {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{Topic: m.Stream, Key: m.Key, TraceID: m.TraceID, Envelope: Envelope{ID: m.ID, Type: m.Type,
			Version: EnvelopeVersion, OccurredAt: time.Now().UTC(), Payload: m.Payload}}
	}
	return p.Publish(ctx, out...)
}
