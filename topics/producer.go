package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
)

// Producer writes envelopes synchronously: WriteMessages returns only when
// every in-sync replica has the message, so "accepted" means durable.
// One Producer is shared by a whole process.
type Producer struct {
	w     *kafka.Writer
	names Names
}

// NewProducer returns a Producer for the given brokers. batchTimeout bounds
// how long a message waits for companions; the kafka-go default of one
// second would be added to every booking.
func NewProducer(brokers []string, names Names, batchTimeout time.Duration) *Producer {
	if batchTimeout <= 0 {
		batchTimeout = 2 * time.Millisecond
	}
	return &Producer{names: names, w: &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     kafka.Murmur2Balancer{}, // same partition as Java clients for a key
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: batchTimeout,
		BatchSize:    1000,
		MaxAttempts:  3,
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
}

// Publish writes messages and waits for the broker's acknowledgement. Any
// error means "not known to be stored": the caller must not report success.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Topic: p.names.Of(m.Topic), Key: []byte(m.Key), Value: m.Envelope.Marshal()}
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
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
			Message: "The booking queue is not available; nothing was accepted. Try again shortly."}
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }

// Names returns the topic names this producer writes to.
func (p *Producer) Names() Names { return p.names }

// Ping checks that a broker answers and knows the booking topic. It dials
// afresh each time: a shared transport would answer from cached metadata
// after the broker died.
func Ping(ctx context.Context, brokers []string, names Names) error {
	return dialAny(ctx, brokers, func(c *kafka.Conn) error {
		_, err := c.ReadPartitions(names.Of(BookingCommands))
		return err
	})
}

// Reachable checks that a broker answers, without asking for any topic.
func Reachable(ctx context.Context, brokers []string) error {
	err := dialAny(ctx, brokers, func(c *kafka.Conn) error {
		_, err := c.Brokers()
		return err
	})
	if err != nil {
		return fmt.Errorf("kafka unreachable at %s: %w", strings.Join(brokers, ","), err)
	}
	return nil
}

func dialAny(ctx context.Context, brokers []string, fn func(*kafka.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var last error
	for _, b := range brokers {
		c, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", b)
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
func EnsureTopics(ctx context.Context, brokers []string, names Names, partitions, replication int) error {
	if partitions <= 0 {
		partitions = 6
	}
	if replication <= 0 {
		replication = 1
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	all := names.All()
	cfgs := make([]kafka.TopicConfig, len(all))
	for i, t := range all {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication}
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

// DeleteTopics removes every topic under names (tests: a long-lived broker
// would otherwise collect thousands of topics and run out of files).
func DeleteTopics(ctx context.Context, brokers []string, names Names) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
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
func PartitionCount(ctx context.Context, brokers []string, topic string) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
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
		out[i] = Message{Topic: m.Stream, Key: m.Key, Envelope: Envelope{ID: m.ID, Type: m.Type,
			Version: EnvelopeVersion, OccurredAt: time.Now().UTC(), Payload: m.Payload}}
	}
	return p.Publish(ctx, out...)
}
