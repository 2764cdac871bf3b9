package bench

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestPollSchedule(t *testing.T) {
	r := &runner{}
	now := time.Now()
	if d := r.pollWait(now, true); d != 10*time.Millisecond {
		t.Errorf("first poll after %s, want 10ms", d)
	}
	for _, c := range []struct{ age, want time.Duration }{
		{20 * time.Millisecond, 10 * time.Millisecond},
		{200 * time.Millisecond, 50 * time.Millisecond},
		{5 * time.Second, 250 * time.Millisecond},
	} {
		d := r.pollWait(now.Add(-c.age), false)
		if d < c.want || d > c.want+5*time.Millisecond {
			t.Errorf("age %s: wait %s, want %s", c.age, d, c.want)
		}
	}
	r.cfg.PollEvery = 100 * time.Millisecond
	if d := r.pollWait(now, true); d != 100*time.Millisecond {
		t.Errorf("fixed: %s", d)
	}
}

func TestCPUAccounting(t *testing.T) {
	self := func() uint64 {
		p, ok := readProcStat("/proc/self/stat")
		if !ok {
			t.Fatal("cannot read /proc/self/stat")
		}
		return p.ticks
	}
	a := takeCPUSnapshot()
	// Spin until this process has used at least 0.2 CPU-s (however busy
	// the machine is), at most 10 s.
	t0, deadline := self(), time.Now().Add(10*time.Second)
	for self()-t0 < 20 && time.Now().Before(deadline) {
	}
	b := takeCPUSnapshot()
	rep := cpuBetween(a, b, []int{os.Getpid()})
	if rep.Error != "" || rep.MachineS <= 0 || rep.Cores < 1 || !rep.Scoped {
		t.Fatalf("report %+v", rep)
	}
	// This test binary is ours and busy: its time shows, and no more than
	// the machine used.
	if rep.ProcessesS() < 0.19 || rep.ProcessesS() > rep.MachineS+0.05 {
		t.Errorf("ours %.2f CPU-s of %.2f machine (by %v)", rep.ProcessesS(), rep.MachineS, rep.ByProcess)
	}
}

// TestFrontPickSkipsWhatIsGone: a pick from a shared map passes over the
// sold front it already learned, and picks what the full scan would.
func TestFrontPickSkipsWhatIsGone(t *testing.T) {
	free := make([]seat, 10)
	for i := range free {
		free[i] = seat{ID: string(rune('a' + i))}
	}
	for _, c := range []struct {
		name  string
		gone  []string
		want  []string // the front block's seats, in any order
		front int64    // remembered for the next pick
	}{
		{"nothing gone", nil, []string{"a", "b", "c"}, 0},
		{"a gone prefix", []string{"a", "b"}, []string{"c", "d", "e"}, 2},
		{"gone apart from the prefix", []string{"a", "c"}, []string{"b", "d", "e"}, 1},
		{"all gone", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, nil, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &runner{cfg: Config{Strategy: "front", FrontSeats: 3, SeatMapTTL: time.Second}}
			m := newSharedMap(free)
			r.maps = map[uuid.UUID]*sharedMap{uuid.Nil: m}
			r.forget(uuid.Nil, c.gone)
			v := m.view()
			got := r.pick(v, 3, rand.New(rand.NewPCG(1, 2)))
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("picked %v, want %v", got, c.want)
			}
			if f := v.front.Load(); f != c.front {
				t.Errorf("front %d, want %d", f, c.front)
			}
		})
	}
}
