package api

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// The cache stays within its budget of bytes, dropping what expires
// soonest, and never keeps a value larger than the budget.
func TestSizedCacheStaysWithinBudget(t *testing.T) {
	t.Parallel()
	c := newSizedCache[int](10 << 20)
	now := time.Now()
	ids := make([]uuid.UUID, 8)
	for i := range ids {
		ids[i] = uuid.New()
		c.put(ids[i], i, 3<<20, now.Add(time.Duration(i+1)*time.Second)) // 3 MB maps
		if c.bytes() > 10<<20 {
			t.Fatalf("after %d puts: %d bytes", i+1, c.bytes())
		}
	}
	if _, ok := c.get(ids[0], now); ok {
		t.Fatal("the entry closest to expiry survived")
	}
	if v, ok := c.get(ids[7], now); !ok || v != 7 {
		t.Fatal("the newest entry is gone")
	}
	c.put(uuid.New(), 99, 11<<20, now.Add(time.Hour))
	if c.bytes() > 10<<20 {
		t.Fatalf("an oversized value was kept: %d bytes", c.bytes())
	}
	if _, ok := c.get(ids[7], now.Add(time.Minute)); ok {
		t.Fatal("an expired entry was served")
	}
	c.forget(ids[7])
	if _, ok := c.get(ids[7], now); ok {
		t.Fatal("forget kept it")
	}
}
