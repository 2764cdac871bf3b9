package topics

import (
	"errors"
	"sync"
	"testing"
)

func TestOffsetCommitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offers  []int64
		failAt  int64 // commit of this offset fails (0: none)
		want    int64 // last offset committed
		refused bool
	}{
		{"commits the last offset", []int64{10, 20, 30}, 0, 30, false},
		{"one offer", []int64{5}, 0, 5, false},
		{"a refused commit stops the rest", []int64{10}, 10, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var committed []int64
			release := make(chan struct{})
			first := true
			o := &offsetCommitter{pending: -1, commit: func(off int64) error {
				mu.Lock()
				wait := first
				first = false
				mu.Unlock()
				if wait {
					<-release // the first commit is slow: later offers coalesce
				}
				if off == tt.failAt {
					return errors.New("refused")
				}
				mu.Lock()
				defer mu.Unlock()
				committed = append(committed, off)
				return nil
			}}
			for _, off := range tt.offers {
				o.offer(off)
			}
			close(release)
			o.flush()
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(committed); i++ {
				if committed[i] <= committed[i-1] {
					t.Fatalf("commits went backwards: %v", committed)
				}
			}
			if len(committed) > 2 {
				t.Fatalf("commits did not coalesce: %v", committed)
			}
			last := int64(0)
			if len(committed) > 0 {
				last = committed[len(committed)-1]
			}
			if last != tt.want || o.refused() != tt.refused {
				t.Fatalf("last commit %d refused %v, want %d %v", last, o.refused(), tt.want, tt.refused)
			}
		})
	}
}
