package evtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evently/evently/topics"
)

// Broker is a throwaway Kafka broker of one test (its own folder and
// ports), for tests that stop, kill and restart Kafka without disturbing
// the shared one.
type Broker struct {
	Addr  string
	t     testing.TB
	dir   string
	port  int
	cport int
	env   []string // extra environment of kafka-node.sh (cluster nodes)
	mu    sync.Mutex
	cmd   *exec.Cmd
	out   *bytes.Buffer
}

// StartBroker starts a broker of the test's own (a few seconds) and stops
// it when the test ends.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{t: t, dir: t.TempDir(), port: freePort(t), cport: freePort(t)}
	b.Addr = "127.0.0.1:" + strconv.Itoa(b.port)
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Start starts (or restarts) the broker and waits until it answers.
func (b *Broker) Start() {
	b.t.Helper()
	if b.launch() {
		if err := b.wait(); err != nil {
			b.t.Fatal(err)
		}
	}
}

// launch starts the broker's process; false when it was running already.
func (b *Broker) launch() bool {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return false
	}
	script := filepath.Join(RepoRoot(b.t), "deploy", "kafka-node.sh")
	cmd := exec.Command("bash", script, b.dir, strconv.Itoa(b.port), strconv.Itoa(b.cport))
	b.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	cmd.Env = append(append(os.Environ(), "EVENTLY_KAFKA_HEAP=256m"), b.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("evtest: start broker: %v", err)
	}
	b.cmd = cmd
	return true
}

// wait waits until the broker answers metadata requests.
func (b *Broker) wait() error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := topics.Reachable(ctx, topics.Conn{Brokers: []string{b.Addr}})
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("evtest: broker %s did not start in 90s:\n%s", b.Addr, tail(b.out.String(), 2000))
}

// Stop stops the broker (SIGTERM, then SIGKILL after 20 s) and waits.
func (b *Broker) Stop() { b.stop(syscall.SIGTERM) }

// Kill kills the broker with SIGKILL, as a crash would: no controlled
// shutdown, produces in flight get no answer. Start brings it back on the
// same folder and ports, recovering its log as after a crash.
func (b *Broker) Kill() { b.stop(syscall.SIGKILL) }

func (b *Broker) stop(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	// kafka-node.sh execs java: the group is the broker (and, before the
	// exec, the script).
	pgid := b.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	b.cmd = nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
