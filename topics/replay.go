package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReplayDLQ moves up to max messages from a topic's dead-letter queue back
// onto the topic, oldest first, and records its progress as the offsets of
// consumer group groupID, so each dead letter is replayed once. Replayed
// messages keep their envelope id: one whose effect was already recorded
// (a failed booking) is recognised and changes nothing. Run one replay at a
// time per group.
//
// A broker error that passes (a leader or group coordinator still being
// elected, as on a broker that just started) is retried a few times; what
// was replayed before it is not replayed again.
func ReplayDLQ(ctx context.Context, conn Conn, names Names, p *Producer, groupID, topic string, max int) (int, error) {
	total := 0
	for attempt := 1; ; attempt++ {
		n, err := replayDLQ(ctx, conn, names, p, groupID, topic, max-total)
		total += n
		var kerr kafka.Error
		if err == nil || attempt == 5 || !errors.As(err, &kerr) || !kerr.Temporary() {
			return total, err
		}
		if !sleep(ctx, backoff(attempt)) {
			return total, err
		}
	}
}

func replayDLQ(ctx context.Context, conn Conn, names Names, p *Producer, groupID, topic string, max int) (int, error) {
	dlq := names.Of(topic + DLQSuffix)
	n, err := PartitionCount(ctx, conn, dlq)
	if err != nil {
		return 0, err
	}
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	c, done := conn.client(10 * time.Second)
	defer done()
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{dlq: parts}})
	if err == nil {
		// kafka-go returns the group's error (its coordinator still
		// loading, say) in the answer, not as err: read alone it looks like
		// nothing to replay.
		err = committed.Error
	}
	if err != nil {
		return 0, fmt.Errorf("replay offsets: %w", err)
	}
	replayed := 0
	for _, pc := range committed.Topics[dlq] {
		if replayed >= max {
			break
		}
		if pc.Error != nil {
			return replayed, fmt.Errorf("replay offsets of %s/%d: %w", dlq, pc.Partition, pc.Error)
		}
		end, err := lastOffset(ctx, c, dlq, pc.Partition)
		if err != nil {
			return replayed, err
		}
		from := pc.CommittedOffset
		if from < 0 {
			from = 0
		}
		if from >= end {
			continue
		}
		k, err := replayPartition(ctx, conn, c, p, names.Of(topic), dlq, groupID, pc.Partition, from, min(end, from+int64(max-replayed)))
		replayed += k
		if err != nil {
			return replayed, err
		}
	}
	return replayed, nil
}

func lastOffset(ctx context.Context, c *kafka.Client, topic string, partition int) (int64, error) {
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(partition)}}})
	if err != nil {
		return 0, err
	}
	pos := res.Topics[topic]
	if len(pos) == 0 {
		return 0, fmt.Errorf("no offsets for %s/%d", topic, partition)
	}
	return pos[0].LastOffset, pos[0].Error
}

// replayPartition republishes offsets [from, to) and commits each one after
// it is durable on the source topic.
func replayPartition(ctx context.Context, conn Conn, c *kafka.Client, p *Producer, source, dlq, groupID string, partition int, from, to int64) (int, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, Dialer: conn.dialer("", 10*time.Second), Topic: dlq, Partition: partition, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return 0, err
	}
	done := 0
	for off := from; off < to; {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			return done, fmt.Errorf("read %s/%d@%d: %w", dlq, partition, off, err)
		}
		headers := append(withoutHeader(m.Headers, "error"), kafka.Header{Key: "replayed-from", Value: []byte(fmt.Sprintf("%s/%d/%d", dlq, partition, m.Offset))})
		if err := p.PublishRaw(ctx, kafka.Message{Topic: source, Key: m.Key, Value: m.Value, Headers: headers}); err != nil {
			return done, err
		}
		res, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: groupID, GenerationID: -1,
			Topics: map[string][]kafka.OffsetCommit{dlq: {{Partition: partition, Offset: m.Offset + 1}}}})
		if err == nil {
			for _, pc := range res.Topics[dlq] {
				err = pc.Error
			}
		}
		if err != nil {
			return done, fmt.Errorf("replay commit: %w", err)
		}
		done++
		off = m.Offset + 1
	}
	return done, nil
}

func withoutHeader(hs []kafka.Header, key string) []kafka.Header {
	out := make([]kafka.Header, 0, len(hs))
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return out
}
