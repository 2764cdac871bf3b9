package store

import (
	"context"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// hub fans one Redis pattern subscription out to the watchers of this
// process, by the id each message is about (a booking, a user). A
// connection per open stream would not survive an on-sale; the
// subscription is opened by the first watcher and closed with the last.
//
// On a Redis Cluster the one subscription still sees every channel:
// go-redis' ClusterClient.PSubscribe opens it on one master (the one of
// the pattern's slot), and Redis Cluster forwards every classic PUBLISH
// (the record script's too) to all nodes over the cluster bus. Sharded
// pub/sub (SSUBSCRIBE) would spare the bus that traffic but delivers on
// the channel's shard only and has no patterns: it would take a
// subscription per watched id, per shard.
type hub[T any] struct {
	mu       sync.Mutex
	sub      *redis.PubSub
	count    int
	watchers map[uuid.UUID]map[chan T]bool
}

// watch returns the messages about id as they are published on channels
// matching pattern (decode says what a payload is about and holds), and a
// function to stop watching.
func (h *hub[T]) watch(ctx context.Context, r redis.UniversalClient, pattern string, decode func(string) (uuid.UUID, T, bool),
	id uuid.UUID, buffer int) (<-chan T, func()) {
	ch := make(chan T, buffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers == nil {
		h.watchers = map[uuid.UUID]map[chan T]bool{}
	}
	if h.sub == nil {
		h.sub = r.PSubscribe(context.WithoutCancel(ctx), pattern)
		go h.fanOut(h.sub, decode)
	}
	if h.watchers[id] == nil {
		h.watchers[id] = map[chan T]bool{}
	}
	h.watchers[id][ch] = true
	h.count++
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.watchers[id], ch)
			if len(h.watchers[id]) == 0 {
				delete(h.watchers, id)
			}
			if h.count--; h.count == 0 && h.sub != nil {
				h.sub.Close() // ends fanOut
				h.sub = nil
			}
		})
	}
}

// fanOut delivers published messages to this process's watchers until the
// subscription is closed. A watcher too slow to take one misses it; its
// stream re-reads the truth on its own tick.
func (h *hub[T]) fanOut(sub *redis.PubSub, decode func(string) (uuid.UUID, T, bool)) {
	for m := range sub.Channel() {
		id, v, ok := decode(m.Payload)
		if !ok {
			continue
		}
		h.mu.Lock()
		for ch := range h.watchers[id] {
			select {
			case ch <- v:
			default:
			}
		}
		h.mu.Unlock()
	}
}
