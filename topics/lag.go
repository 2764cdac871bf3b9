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
func GroupLag(ctx context.Context, conn Conn, names Names, groupID, topic string) ([]PartitionLag, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	physical := names.Of(topic)
	n, err := PartitionCount(ctx, conn, physical)
	if err != nil {
		return nil, err
	}
	parts := make([]int, n)
	reqs := make([]kafka.OffsetRequest, n)
	for i := range parts {
		parts[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	c, done := conn.client(5 * time.Second)
	defer done()
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{physical: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", physical, err)
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{physical: parts}})
	if err == nil {
		err = committed.Error // kafka-go answers the group's error, not err
	}
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

// GroupMember is one member of a consumer group and what it owns.
type GroupMember struct {
	MemberID string `json:"member_id"`
	// ClientID names the worker process (GroupConfig.ClientID).
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
	// Partitions it owns, by logical topic.
	Partitions map[string][]int `json:"partitions"`
}

// GroupState is a consumer group as its coordinator sees it.
type GroupState struct {
	// State is the coordinator's: Stable, PreparingRebalance,
	// CompletingRebalance, Empty or Dead.
	State   string        `json:"state"`
	Members []GroupMember `json:"members"`
}

// DescribeGroup asks the group's coordinator for its members and their
// assignments (empty while a rebalance is in progress).
func DescribeGroup(ctx context.Context, conn Conn, names Names, groupID string) (GroupState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, done := conn.client(5 * time.Second)
	defer done()
	res, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{groupID}})
	if err != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", groupID, err)
	}
	if len(res.Groups) != 1 {
		return GroupState{}, fmt.Errorf("describe group %s: %d groups in the answer", groupID, len(res.Groups))
	}
	g := res.Groups[0]
	if g.Error != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", groupID, g.Error)
	}
	out := GroupState{State: g.GroupState, Members: []GroupMember{}}
	for _, m := range g.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Partitions: map[string][]int{}}
		for _, t := range m.MemberAssignments.Topics {
			ps := append([]int(nil), t.Partitions...)
			sort.Ints(ps)
			gm.Partitions[names.Logical(t.Topic)] = ps
		}
		out.Members = append(out.Members, gm)
	}
	sort.Slice(out.Members, func(i, j int) bool {
		return out.Members[i].ClientID+out.Members[i].MemberID < out.Members[j].ClientID+out.Members[j].MemberID
	})
	return out, nil
}
