package topics_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/topics"
)

// recorder is a handler that remembers every message it applied.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
	fail func(topics.Batch) error
}

func (r *recorder) handle(_ context.Context, b topics.Batch) error {
	if r.fail != nil {
		if err := r.fail(b); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range b.Messages {
		r.seen[string(m.Key)+"/"+string(m.Value)]++
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func startGroup(t *testing.T, ctx context.Context, cfg topics.GroupConfig) (stop func()) {
	t.Helper()
	g, err := topics.NewGroup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	// Wait for the assignment rather than sleeping.
	deadline := time.Now().Add(30 * time.Second)
	for len(g.Assigned()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no partitions assigned in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("group run: %v", err)
		}
	}
}

func publish(t *testing.T, p *topics.Producer, from, to int) {
	t.Helper()
	var msgs []topics.Message
	for i := from; i < to; i++ {
		env, _ := topics.NewEnvelope("test", map[string]int{"n": i})
		msgs = append(msgs, topics.Message{Topic: topics.BookingCommands, Key: fmt.Sprintf("k%d", i%7), Envelope: env})
	}
	if err := p.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// Produce, consume in a group, commit, restart: nothing lost, nothing
// applied twice after its commit.
func TestGroupRoundTripSurvivesRestart(t *testing.T) {
	t.Parallel()
	names := evtest.Topics(t, 3)
	p := topics.NewProducer(evtest.Kafka(), names)
	defer p.Close()
	rec := &recorder{seen: map[string]int{}}
	cfg := topics.GroupConfig{Conn: evtest.Kafka(), Names: names, GroupID: names.Prefix + "g",
		Topics: []string{topics.BookingCommands}, Handle: rec.handle, BatchSize: 10, SessionTimeout: 6 * time.Second}

	stop := startGroup(t, context.Background(), cfg)
	publish(t, p, 0, 100)
	apptest.Eventually(t, "first 100", func() bool { return rec.count() == 100 })
	stop()

	publish(t, p, 100, 150)
	stop = startGroup(t, context.Background(), cfg)
	apptest.Eventually(t, "all 150", func() bool { return rec.count() == 150 })
	stop()

	for k, n := range rec.seen {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
}

// A message the handler can never apply goes to the DLQ with its error and
// the partition keeps moving.
func TestGroupDeadLettersPoison(t *testing.T) {
	t.Parallel()
	names := evtest.Topics(t, 1)
	p := topics.NewProducer(evtest.Kafka(), names)
	defer p.Close()
	rec := &recorder{seen: map[string]int{}, fail: func(b topics.Batch) error {
		for _, m := range b.Messages {
			if string(m.Key) == "poison" {
				return topics.Poison(fmt.Errorf("cannot apply"))
			}
		}
		return nil
	}}
	var dead sync.Map
	cfg := topics.GroupConfig{Conn: evtest.Kafka(), Names: names, GroupID: names.Prefix + "g",
		Topics: []string{topics.BookingCommands}, Handle: rec.handle, DLQ: p, SessionTimeout: 6 * time.Second,
		OnDeadLetter: func(_ context.Context, topic string, m kafkaMessage, cause error) {
			dead.Store(string(m.Key), cause.Error())
		}}
	stop := startGroup(t, context.Background(), cfg)
	defer stop()
	env, _ := topics.NewEnvelope("test", 1)
	if err := p.Publish(context.Background(),
		topics.Message{Topic: topics.BookingCommands, Key: "a", Envelope: env},
		topics.Message{Topic: topics.BookingCommands, Key: "poison", Envelope: env},
		topics.Message{Topic: topics.BookingCommands, Key: "b", Envelope: env},
	); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "a and b applied", func() bool { return rec.count() == 2 })
	apptest.Eventually(t, "poison dead-lettered", func() bool { _, ok := dead.Load("poison"); return ok })
	got := readOne(t, names.Of(topics.BookingCommands+topics.DLQSuffix))
	if string(got.Key) != "poison" || header(got, "error") == "" {
		t.Fatalf("DLQ message: key %q headers %v", got.Key, got.Headers)
	}
}

// Dead letters go back onto their topic once each.
func TestReplayDLQ(t *testing.T) {
	t.Parallel()
	names := evtest.Topics(t, 2)
	p := topics.NewProducer(evtest.Kafka(), names)
	defer p.Close()
	var dead []kafkaMessage
	for i := range 3 {
		env, _ := topics.NewEnvelope("test", i)
		dead = append(dead, kafkaMessage{Topic: names.Of(topics.BookingCommands + topics.DLQSuffix),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: env.Marshal()})
	}
	if err := p.PublishRaw(context.Background(), dead...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	group := names.Prefix + "replay"
	n, err := topics.ReplayDLQ(ctx, evtest.Kafka(), names, p, group, topics.BookingCommands, 100)
	if err != nil || n != 3 {
		t.Fatalf("replayed %d, %v", n, err)
	}
	if n, err := topics.ReplayDLQ(ctx, evtest.Kafka(), names, p, group, topics.BookingCommands, 100); err != nil || n != 0 {
		t.Fatalf("second replay: %d, %v", n, err)
	}
	rec := &recorder{seen: map[string]int{}}
	stop := startGroup(t, ctx, topics.GroupConfig{Conn: evtest.Kafka(), Names: names, GroupID: names.Prefix + "g",
		Topics: []string{topics.BookingCommands}, Handle: rec.handle, SessionTimeout: 6 * time.Second})
	defer stop()
	apptest.Eventually(t, "the three replayed messages", func() bool { return rec.count() == 3 })
}

// Publishers at once share writes: what is produced while a write is in
// flight goes in the next one, and every publisher is answered on its own
// message's acknowledgement.
func TestProducerCommitsInGroups(t *testing.T) {
	t.Parallel()
	names := evtest.Topics(t, 1)
	p := topics.NewProducer(evtest.Kafka(), names)
	defer p.Close()
	const n = 200
	for _, err := range publishAtOnce(p, n) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if w := p.Writes(); w >= n/2 {
		t.Errorf("%d publishers at once took %d writes, want them grouped", n, w)
	}
	rec := &recorder{seen: map[string]int{}}
	stop := startGroup(t, context.Background(), topics.GroupConfig{Conn: evtest.Kafka(), Names: names,
		GroupID: names.Prefix + "g", Topics: []string{topics.BookingCommands}, Handle: rec.handle})
	defer stop()
	apptest.Eventually(t, "every message stored", func() bool { return rec.count() == n })
}

// A group whose write fails fails every publisher in it: none is told its
// message is stored.
func TestProducerGroupFailureReachesEveryPublisher(t *testing.T) {
	t.Parallel()
	names := evtest.Topics(t, 1)
	names.Prefix += "missing." // topics that were never created
	p := topics.NewProducer(evtest.Kafka(), names)
	defer p.Close()
	for _, err := range publishAtOnce(p, 20) {
		if err == nil {
			t.Fatal("a publish to a missing topic was reported stored")
		}
	}
}

// publishAtOnce has n publishers publish one message each, all at once,
// and returns what each was told.
func publishAtOnce(p *topics.Producer, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, _ := topics.NewEnvelope("test", map[string]int{"n": i})
			errs[i] = p.Publish(context.Background(), topics.Message{Topic: topics.BookingCommands, Key: "k", Envelope: env})
		}()
	}
	wg.Wait()
	return errs
}
