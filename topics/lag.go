package topics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionLag is how far one consumer group is behind on one partition.
type PartitionLag struct {
	Partition int   `json:"partition"`
	End       int64 `json:"end_offset"`
	Committed int64 `json:"committed_offset"` // -1 when the group never committed
	Lag       int64 `json:"lag"`
}

// GroupLag reads, from the broker, a consumer group's committed offsets on
// a logical topic and the partitions' end offsets.
func GroupLag(ctx context.Context, brokers []string, names Names, groupID, topic string) ([]PartitionLag, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	physical := names.Of(topic)
	n, err := PartitionCount(ctx, brokers, physical)
	if err != nil {
		return nil, err
	}
	parts := make([]int, n)
	reqs := make([]kafka.OffsetRequest, n)
	for i := range parts {
		parts[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{physical: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", physical, err)
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{physical: parts}})
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", groupID, err)
	}
	byPart := map[int]int64{}
	for _, p := range committed.Topics[physical] {
		byPart[p.Partition] = p.CommittedOffset
	}
	out := make([]PartitionLag, 0, n)
	for _, p := range ends.Topics[physical] {
		pl := PartitionLag{Partition: p.Partition, End: p.LastOffset, Committed: -1}
		if off, ok := byPart[p.Partition]; ok {
			pl.Committed = off
		}
		pl.Lag = pl.End - max(pl.Committed, 0)
		out = append(out, pl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
