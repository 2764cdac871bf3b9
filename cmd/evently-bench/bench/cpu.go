package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's USER_HZ, the unit of /proc/stat and
// /proc/[pid]/stat times. It is 100 on every Linux architecture Go runs
// on (sysconf(_SC_CLK_TCK)); the kernel's HZ may differ, USER_HZ does not.
const userHZ = 100

// CPUReport is the CPU time the whole machine and each kind of process used
// during a run's load phase.
type CPUReport struct {
	WallS float64 `json:"wall_s"`
	Cores int     `json:"cores"`
	// MachineS is every CPU's busy time from /proc/stat
	// (user+nice+system+irq+softirq+steal), in CPU-seconds: every process on
	// the machine, the kernel's own work included.
	MachineS float64 `json:"machine_cpu_s"`
	// ByProcess is utime+stime deltas from /proc/[pid]/stat, summed by
	// group (postgres, redis-server, java (Kafka), evently, evently-naive,
	// paysim, evently-bench, other). Processes that ended during the phase
	// are missing (their time is still in MachineS).
	ByProcess map[string]float64 `json:"by_process_cpu_s"`
	// Scoped is true when ByProcess counts only the processes under the
	// given roots (this suite's); OutsideS is then what every other process
	// on the machine used.
	Scoped   bool    `json:"scoped"`
	OutsideS float64 `json:"outside_scope_cpu_s"`
	Error    string  `json:"error,omitempty"`
}

// ProcessesS is the sum of ByProcess.
func (c *CPUReport) ProcessesS() float64 {
	t := 0.0
	for _, v := range c.ByProcess {
		t += v
	}
	return t
}

// cpuGroups name the processes the report separates; the key is the
// kernel's comm (at most 15 characters).
var cpuGroups = map[string]string{
	"postgres": "postgres", "redis-server": "redis-server", "java": "java (Kafka)",
	"evently": "evently", "evently-naive": "evently-naive", "paysim": "paysim", "evently-bench": "evently-bench",
}

// CPUGroupOrder is the order groups are shown in.
var CPUGroupOrder = []string{"evently", "evently-naive", "paysim", "postgres", "redis-server", "java (Kafka)", "evently-bench", "other"}

type procTimes struct {
	comm  string
	ppid  int
	start uint64 // starttime, to tell a reused pid apart
	ticks uint64 // utime + stime
}

type cpuSnapshot struct {
	at    time.Time
	busy  uint64 // /proc/stat busy ticks, all CPUs
	procs map[int]procTimes
	err   error
}

func takeCPUSnapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), procs: map[int]procTimes{}}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		s.err = err
		return s
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		s.err = os.ErrInvalid
		return s
	}
	// user nice system idle iowait irq softirq steal
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		s.busy += v
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if p, ok := readProcStat(d + "/stat"); ok {
			s.procs[pid] = p
		}
	}
	return s
}

// readProcStat parses /proc/[pid]/stat: comm is in parentheses and may hold
// spaces, so the fields are counted from the last ')'.
func readProcStat(path string) (procTimes, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procTimes{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procTimes{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
	if len(f) < 20 {
		return procTimes{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procTimes{comm: string(b[open+1 : end]), ppid: ppid, start: start, ticks: ut + st}, true
}

// cpuBetween is what happened from a to b. roots (pids) limit the
// per-process breakdown to those processes and their descendants; none
// means every process.
func cpuBetween(a, b cpuSnapshot, roots []int) *CPUReport {
	rep := &CPUReport{WallS: b.at.Sub(a.at).Seconds(), ByProcess: map[string]float64{}}
	if n, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		rep.Cores = bytes.Count(n, []byte("\nprocessor")) + map[bool]int{true: 1}[bytes.HasPrefix(n, []byte("processor"))]
	}
	if a.err != nil || b.err != nil {
		rep.Error = "cannot read /proc/stat"
		return rep
	}
	rep.MachineS = float64(b.busy-a.busy) / userHZ
	inScope := func(int) bool { return true }
	if len(roots) > 0 {
		rep.Scoped = true
		root := map[int]bool{}
		for _, r := range roots {
			root[r] = true
		}
		memo := map[int]bool{}
		var under func(pid, depth int) bool
		under = func(pid, depth int) bool {
			if v, ok := memo[pid]; ok {
				return v
			}
			v := false
			if root[pid] {
				v = true
			} else if p, ok := b.procs[pid]; ok && p.ppid > 1 && depth < 64 {
				v = under(p.ppid, depth+1)
			}
			memo[pid] = v
			return v
		}
		inScope = func(pid int) bool { return under(pid, 0) }
	}
	for pid, p := range b.procs {
		d := p.ticks
		if old, ok := a.procs[pid]; ok && old.start == p.start {
			d -= min(d, old.ticks)
		}
		if d == 0 {
			continue
		}
		s := float64(d) / userHZ
		if !inScope(pid) {
			rep.OutsideS += s
			continue
		}
		g, ok := cpuGroups[p.comm]
		if !ok {
			g = "other"
		}
		rep.ByProcess[g] += s
	}
	return rep
}

// cpuGroupsIn lists the groups present in any of the reports, in order.
func cpuGroupsIn(reps ...*CPUReport) []string {
	seen := map[string]bool{}
	for _, r := range reps {
		if r == nil {
			continue
		}
		for g := range r.ByProcess {
			seen[g] = true
		}
	}
	var out []string
	for _, g := range CPUGroupOrder {
		if seen[g] {
			out = append(out, g)
			delete(seen, g)
		}
	}
	rest := make([]string, 0, len(seen))
	for g := range seen {
		rest = append(rest, g)
	}
	sort.Strings(rest)
	return append(out, rest...)
}
