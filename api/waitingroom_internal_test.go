package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func (w *WaitingRoom) counts() (inside, waiting, passes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inside, len(w.queue), len(w.passes)
}

// waitFor polls a condition on the room with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWaitingRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, w *WaitingRoom)
	}{
		{"admits up to capacity, then first come first served", func(t *testing.T, w *WaitingRoom) {
			a, _ := w.Enter(ctx)
			b, _ := w.Enter(ctx)
			order := make(chan int, 3)
			for i := range 3 {
				go func() {
					p, err := w.Enter(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					order <- i
					p.leave()
				}()
				waitFor(t, "queued", func() bool { _, q, _ := w.counts(); return q == i+1 })
			}
			a.leave()
			a.leave() // twice is once
			for want := range 3 {
				if got := <-order; got != want {
					t.Fatalf("let in %d, want %d", got, want)
				}
			}
			b.leave()
			waitFor(t, "empty", func() bool { in, q, _ := w.counts(); return in == 0 && q == 0 })
		}},
		{"a submitted booking counts but never waits", func(t *testing.T, w *WaitingRoom) {
			a, _ := w.Enter(ctx)
			b, _ := w.Enter(ctx)
			c := w.Submitted(nil)
			if in, _, _ := w.counts(); in != 3 {
				t.Fatalf("inside %d, want 3", in)
			}
			for _, p := range []*pass{a, b, c} {
				p.leave()
			}
			if in, _, _ := w.counts(); in != 0 {
				t.Fatalf("inside %d after all left", in)
			}
		}},
		{"a hold's pass goes to its booking", func(t *testing.T, w *WaitingRoom) {
			hold := uuid.New()
			p, _ := w.Enter(ctx)
			w.Keep(hold, p)
			q := w.Submitted(&hold)
			if q != p {
				t.Fatal("the booking did not take over its hold's pass")
			}
			if in, _, passes := w.counts(); in != 1 || passes != 0 {
				t.Fatalf("inside %d, kept %d", in, passes)
			}
			q.leave()
			if in, _, _ := w.counts(); in != 0 {
				t.Fatalf("inside %d", in)
			}
		}},
		{"an abandoned hold gives its place back after PassTTL", func(t *testing.T, w *WaitingRoom) {
			w.PassTTL = 30 * time.Millisecond
			p, _ := w.Enter(ctx)
			w.Keep(uuid.New(), p)
			waitFor(t, "pass expired", func() bool { in, _, passes := w.counts(); return in == 0 && passes == 0 })
		}},
		{"a buyer who stops waiting leaves the queue", func(t *testing.T, w *WaitingRoom) {
			a, _ := w.Enter(ctx)
			b, _ := w.Enter(ctx)
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if _, err := w.Enter(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v", err)
			}
			if _, q, _ := w.counts(); q != 0 {
				t.Fatalf("%d still queued", q)
			}
			a.leave()
			b.leave()
			if in, _, _ := w.counts(); in != 0 {
				t.Fatalf("inside %d", in)
			}
		}},
		{"no capacity admits everyone", func(t *testing.T, _ *WaitingRoom) {
			w := &WaitingRoom{}
			for range 100 {
				if _, err := w.Enter(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var none *WaitingRoom
			p, err := none.Enter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p.leave()
			none.Keep(uuid.New(), p)
			none.Submitted(nil).leave()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, &WaitingRoom{Capacity: 2, PassTTL: time.Minute})
		})
	}
}
