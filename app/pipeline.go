package app

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/workers"
)

// groupTopics are the consumer groups and the topics each consumes.
var groupTopics = []struct{ group, topic string }{
	{workers.GroupBooking, topics.BookingCommands},
	{workers.GroupBooking, topics.PaymentReplies},
	{workers.GroupPayment, topics.PaymentRequests},
	{workers.GroupWaitlist, topics.InventoryReleased},
	{workers.GroupNotify, topics.Notifications},
	{workers.GroupWebhooks, topics.Notifications},
}

// The lag trend compares a reading with this API process's reading from
// at least trendMin ago (the newest such). While someone reads the view,
// a reading is taken every trendEvery, so the second look has a trend;
// readings older than trendKeep are dropped.
const (
	trendMin   = 2 * time.Second
	trendEvery = 5 * time.Second
	trendKeep  = 2 * time.Minute
)

// pipelineView is GET /admin/pipeline: per consumer group its members
// and what each owns, lag per partition with its trend, the dead-letter
// queues and the workers' payment breakers. Everything but the breakers
// comes from the broker, so it covers every worker process.
type pipelineView struct {
	d *Deps
	c Config

	mu       sync.Mutex
	history  []lagReading
	lastRead time.Time
}

type lagReading struct {
	at   time.Time
	lags map[string][]topics.PartitionLag // by group/topic
}

type pipelineStatus struct {
	Groups    []groupLagView       `json:"groups"`
	Consumers []consumerGroupView  `json:"consumers"`
	DLQ       []dlqView            `json:"dlq"`
	Breakers  []breakerView        `json:"breakers"`
	Workers   []store.WorkerReport `json:"workers"`
}

type groupLagView struct {
	Group      string             `json:"group"`
	Topic      string             `json:"topic"`
	Lag        int64              `json:"lag"`
	Trend      *lagTrend          `json:"trend"`
	Partitions []partitionLagView `json:"partitions"`
}

type partitionLagView struct {
	topics.PartitionLag
	Owner string    `json:"owner"` // client id of the member that owns it; "" when none
	Trend *lagTrend `json:"trend"`
}

// lagTrend is how lag moved since an earlier reading: null on the first.
type lagTrend struct {
	OverSeconds float64 `json:"over_seconds"`
	LagBefore   int64   `json:"lag_before"`
	LagChange   int64   `json:"lag_change"`
	// Messages per second added to the partitions, and committed by the group.
	ProducedPerSecond float64 `json:"produced_per_second"`
	ConsumedPerSecond float64 `json:"consumed_per_second"`
}

type consumerGroupView struct {
	Group string `json:"group"`
	topics.GroupState
	Error string `json:"error,omitempty"`
}

type dlqView struct {
	Topic string `json:"topic"`
	// Pending dead letters not yet replayed, and all ever written.
	Pending int64 `json:"pending"`
	Total   int64 `json:"total"`
}

type breakerView struct {
	Instance string `json:"instance"`
	Client   string `json:"client"`
	State    string `json:"state"`
}

func newPipelineView(d *Deps, c Config) *pipelineView { return &pipelineView{d: d, c: c} }

func (v *pipelineView) read(ctx context.Context) (any, error) {
	v.mu.Lock()
	v.lastRead = time.Now()
	v.mu.Unlock()
	now, err := v.readLag(ctx)
	if err != nil {
		return nil, err
	}
	before := v.record(now)
	out := pipelineStatus{Groups: []groupLagView{}, Consumers: []consumerGroupView{}, DLQ: []dlqView{}, Breakers: []breakerView{}}

	owners := map[string]map[int]string{} // group/topic -> partition -> client id
	seen := map[string]bool{}
	for _, gt := range groupTopics {
		if seen[gt.group] {
			continue
		}
		seen[gt.group] = true
		cv := consumerGroupView{Group: gt.group}
		st, err := topics.DescribeGroup(ctx, v.d.Kafka, v.d.Names, v.c.GroupPrefix+gt.group)
		if err != nil {
			cv.Error = "the group's coordinator did not answer"
			cv.Members = []topics.GroupMember{}
		} else {
			cv.GroupState = st
		}
		for _, m := range cv.Members {
			for t, ps := range m.Partitions {
				k := gt.group + "/" + t
				if owners[k] == nil {
					owners[k] = map[int]string{}
				}
				for _, p := range ps {
					owners[k][p] = m.ClientID
				}
			}
		}
		out.Consumers = append(out.Consumers, cv)
	}

	for _, gt := range groupTopics {
		k := gt.group + "/" + gt.topic
		gv := groupLagView{Group: gt.group, Topic: gt.topic, Partitions: []partitionLagView{}}
		var then []topics.PartitionLag
		if before != nil {
			then = before.lags[k]
		}
		var sumNow, sumThen []topics.PartitionLag
		for _, p := range now.lags[k] {
			gv.Lag += p.Lag
			pv := partitionLagView{PartitionLag: p, Owner: owners[k][p.Partition]}
			for _, q := range then {
				if q.Partition == p.Partition {
					pv.Trend = trend(now.at.Sub(before.at), []topics.PartitionLag{q}, []topics.PartitionLag{p})
					sumThen, sumNow = append(sumThen, q), append(sumNow, p)
				}
			}
			gv.Partitions = append(gv.Partitions, pv)
		}
		if len(sumNow) > 0 {
			gv.Trend = trend(now.at.Sub(before.at), sumThen, sumNow)
		}
		out.Groups = append(out.Groups, gv)
	}

	for _, t := range topics.All() {
		logical, ok := strings.CutSuffix(t, topics.DLQSuffix)
		if !ok {
			continue
		}
		// Replays record their progress as the dlq-replay group's offsets:
		// its lag is what waits to be replayed.
		parts, err := topics.GroupLag(ctx, v.d.Kafka, v.d.Names, v.c.GroupPrefix+"dlq-replay", t)
		if err != nil {
			return nil, err
		}
		dv := dlqView{Topic: logical}
		for _, p := range parts {
			dv.Pending += p.Lag
			dv.Total += p.End
		}
		out.DLQ = append(out.DLQ, dv)
	}

	reports, err := (&store.WorkerReports{Redis: v.d.Redis, Keys: v.d.Keys}).Live(ctx, trendKeep)
	if err != nil {
		reports = []store.WorkerReport{} // Redis down: no breakers to show, the rest stands
	}
	out.Workers = reports
	for _, r := range reports {
		for name, state := range r.Breakers {
			out.Breakers = append(out.Breakers, breakerView{Instance: r.Instance, Client: name, State: state})
		}
	}
	return out, nil
}

func trend(dt time.Duration, then, now []topics.PartitionLag) *lagTrend {
	secs := dt.Seconds()
	if secs <= 0 {
		return nil
	}
	t := &lagTrend{OverSeconds: math.Round(secs*10) / 10}
	var lagNow, endThen, endNow, comThen, comNow int64
	for i := range now {
		t.LagBefore += then[i].Lag
		lagNow += now[i].Lag
		endThen, endNow = endThen+then[i].End, endNow+now[i].End
		comThen, comNow = comThen+max(then[i].Committed, 0), comNow+max(now[i].Committed, 0)
	}
	t.LagChange = lagNow - t.LagBefore
	t.ProducedPerSecond = math.Round(float64(endNow-endThen)/secs*10) / 10
	t.ConsumedPerSecond = math.Round(float64(comNow-comThen)/secs*10) / 10
	return t
}

// readLag reads every group's lag from the broker.
func (v *pipelineView) readLag(ctx context.Context) (lagReading, error) {
	r := lagReading{at: time.Now(), lags: map[string][]topics.PartitionLag{}}
	for _, gt := range groupTopics {
		parts, err := topics.GroupLag(ctx, v.d.Kafka, v.d.Names, v.c.GroupPrefix+gt.group, gt.topic)
		if err != nil {
			return r, err
		}
		r.lags[gt.group+"/"+gt.topic] = parts
	}
	return r, nil
}

// record keeps r and returns the newest earlier reading at least trendMin
// older, or nil.
func (v *pipelineView) record(r lagReading) *lagReading {
	v.mu.Lock()
	defer v.mu.Unlock()
	var base *lagReading
	kept := v.history[:0]
	for i := range v.history {
		h := v.history[i]
		if r.at.Sub(h.at) > trendKeep {
			continue
		}
		kept = append(kept, h)
		if r.at.Sub(h.at) >= trendMin {
			base = &h
		}
	}
	v.history = append(kept, r)
	return base
}

// watch takes a reading every trendEvery while the view was read in the
// last trendKeep, so that a trend is there when someone looks again.
func (v *pipelineView) watch(ctx context.Context) error {
	t := time.NewTicker(trendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v.mu.Lock()
		watched := time.Since(v.lastRead) < trendKeep
		v.mu.Unlock()
		if !watched {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if r, err := v.readLag(rctx); err == nil {
			v.record(r)
		}
		cancel()
	}
}
