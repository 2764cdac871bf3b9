package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChaosAction is one fault to inject during a run. Only processes named by
// pid files (which the bench script or the stack script wrote) are touched.
type ChaosAction struct {
	// Kind is "kill" (SIGKILL a process from PidFiles every Every, round
	// robin, from At on; a supervisor restarts it), "restart" (at At, stop
	// the process in PidFiles[0] with Signal, wait until it is gone, then run
	// Cmd to bring it back) or "outage" (at At, POST {"outage":true} to
	// URL, and {"outage":false} after For).
	Kind     string
	Name     string // label in reports, e.g. "kafka restart"
	At       time.Duration
	Every    time.Duration
	For      time.Duration
	PidFiles []string
	Signal   syscall.Signal
	Cmd      []string
	URL      string
}

// ChaosEvent is what happened, for the report and the chart.
type ChaosEvent struct {
	AtS    float64 `json:"at_s"`
	Kind   string  `json:"kind"`
	Detail string  `json:"detail"`
	TookS  float64 `json:"took_s,omitempty"`
	Error  string  `json:"error,omitempty"`
}

type chaosRun struct {
	start time.Time
	log   io.Writer
	wg    sync.WaitGroup
	mu    sync.Mutex
	evs   []ChaosEvent
}

func startChaos(ctx context.Context, actions []ChaosAction, start time.Time, log io.Writer) *chaosRun {
	cr := &chaosRun{start: start, log: log}
	for _, a := range actions {
		cr.wg.Add(1)
		go func() {
			defer cr.wg.Done()
			if !sleep(ctx, time.Until(start.Add(a.At))) {
				return
			}
			switch a.Kind {
			case "kill":
				cr.killLoop(ctx, a)
			case "restart":
				cr.restart(a)
			case "outage":
				cr.outage(ctx, a)
			default:
				cr.event(a.Kind, "unknown chaos kind", 0, errors.New("skipped"))
			}
		}()
	}
	return cr
}

func (cr *chaosRun) wait() []ChaosEvent {
	cr.wg.Wait()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.evs
}

func (cr *chaosRun) event(kind, detail string, took time.Duration, err error) {
	ev := ChaosEvent{AtS: time.Since(cr.start).Seconds() - took.Seconds(), Kind: kind, Detail: detail, TookS: took.Seconds()}
	if err != nil {
		ev.Error = err.Error()
	}
	cr.mu.Lock()
	cr.evs = append(cr.evs, ev)
	cr.mu.Unlock()
	if cr.log != nil {
		msg := fmt.Sprintf("chaos: %s %s", kind, detail)
		if took > 0 {
			msg += fmt.Sprintf(" (%.1fs)", took.Seconds())
		}
		if err != nil {
			msg += ": " + err.Error()
		}
		fmt.Fprintln(cr.log, msg)
	}
}

func (cr *chaosRun) killLoop(ctx context.Context, a ChaosAction) {
	every := max(a.Every, time.Second)
	for n := 0; ctx.Err() == nil; n++ {
		if len(a.PidFiles) == 0 {
			return
		}
		f := a.PidFiles[n%len(a.PidFiles)]
		pid, err := readPid(f)
		if err == nil {
			err = syscall.Kill(pid, syscall.SIGKILL)
		}
		cr.event("kill", fmt.Sprintf("SIGKILL pid %d (%s)", pid, baseName(f)), 0, err)
		if !sleep(ctx, every) {
			return
		}
	}
}

// restart stops a process and brings it back. It runs to the end even when
// the run is over, so the stack is never left down.
func (cr *chaosRun) restart(a ChaosAction) {
	sig := a.Signal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	name := a.Name
	if name == "" {
		name = baseName(a.PidFiles[0])
	}
	start := time.Now()
	pid, err := readPid(a.PidFiles[0])
	if err == nil {
		err = syscall.Kill(pid, sig)
	}
	if err != nil {
		cr.event("restart", name+": stop", 0, err)
		return
	}
	if !waitGone(pid, 30*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 10*time.Second)
	}
	down := time.Since(start)
	cr.event("stop", fmt.Sprintf("%s: %s pid %d", name, sig, pid), down, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	up := time.Now()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, a.Cmd[0], a.Cmd[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, lastLine(out.String()))
	}
	cr.event("start", name+": "+strings.Join(a.Cmd, " "), time.Since(up), err)
}

func (cr *chaosRun) outage(ctx context.Context, a ChaosAction) {
	set := func(on bool) error {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(c, "POST", a.URL, strings.NewReader(fmt.Sprintf(`{"outage":%t}`, on)))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	err := set(true)
	cr.event("outage", "payment gateway down", 0, err)
	if err != nil {
		return
	}
	sleep(ctx, a.For)
	cr.event("outage", "payment gateway back", 0, set(false))
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: no pid", path)
	}
	return pid, nil
}

// waitGone waits until pid no longer runs (a zombie counts as gone).
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
