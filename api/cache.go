package api

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// sizedCache keeps values for a while, within a budget of bytes: what
// makes an entry expensive here (a 100,000-seat venue, a 3 MB seat map) is
// its size, not the number of entries. Over budget it drops expired
// entries, then those closest to expiry. Sizes are the caller's estimates.
type sizedCache[V any] struct {
	max int64

	mu    sync.Mutex
	used  int64
	items map[uuid.UUID]sizedItem[V]
}

type sizedItem[V any] struct {
	v       V
	size    int64
	expires time.Time
}

func newSizedCache[V any](maxBytes int64) *sizedCache[V] {
	return &sizedCache[V]{max: maxBytes, items: map[uuid.UUID]sizedItem[V]{}}
}

// get returns the value for id when it has not expired at now.
func (c *sizedCache[V]) get(id uuid.UUID, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[id]
	if !ok || !now.Before(it.expires) {
		var zero V
		return zero, false
	}
	return it.v, true
}

// put stores v until expires; a value larger than the whole budget is not
// kept at all.
func (c *sizedCache[V]) put(id uuid.UUID, v V, size int64, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
	if size > c.max {
		return
	}
	if c.used+size > c.max {
		now := time.Now()
		for k, it := range c.items {
			if !now.Before(it.expires) {
				c.dropLocked(k)
			}
		}
	}
	for c.used+size > c.max {
		var victim uuid.UUID
		var soonest time.Time
		for k, it := range c.items {
			if soonest.IsZero() || it.expires.Before(soonest) {
				victim, soonest = k, it.expires
			}
		}
		c.dropLocked(victim)
	}
	c.items[id] = sizedItem[V]{v: v, size: size, expires: expires}
	c.used += size
}

// forget drops id's value.
func (c *sizedCache[V]) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
}

func (c *sizedCache[V]) dropLocked(id uuid.UUID) {
	if it, ok := c.items[id]; ok {
		c.used -= it.size
		delete(c.items, id)
	}
}

// bytes reports the budget in use.
func (c *sizedCache[V]) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
