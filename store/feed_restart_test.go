package store_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
)

// privateRedis runs a redis-server of the test's own, without persistence,
// so that a restart empties it; start (re)starts it.
func privateRedis(t *testing.T) (rdb *redis.Client, start func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var cmd *exec.Cmd
	stop := func() {
		if cmd != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	start = func() {
		stop()
		cmd = exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Skipf("no redis-server to run: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for rdb.Ping(context.Background()).Err() != nil {
			if time.Now().After(deadline) {
				t.Fatal("private redis-server did not come up")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	start()
	return rdb, start
}

// After Redis restarts empty, a booking accepted before (its pending record
// gone, not committed yet) is one the feed may have forgotten; one made
// after the restart, or older than a record lives, is not.
func TestFeedKnowsWhatARestartMayHaveForgotten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, restart := privateRedis(t)
	f := &store.Feed{Redis: rdb, Keys: store.Keys{Prefix: "t:"}}
	before := evently.NewID()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetPending(ctx, evently.StatusChange{BookingID: before, UserID: evently.NewID(), EventID: evently.NewID(),
		Status: evently.BookingPending, At: time.Now().UTC()}))
	// uptime is in whole seconds: let the restart be clearly after the id.
	for time.Since(time.Unix(before.Time().UnixTime())) < 1100*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	restart()
	restarted := time.Now()
	if c, err := f.Current(ctx, before); err != nil || c != nil {
		t.Fatalf("the restart should have emptied Redis: %+v %v", c, err)
	}
	// Within the restart's first second the answer errs on the side of
	// "may have": wait past it for the id made afterwards.
	for time.Since(restarted) < 1100*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	after := evently.NewID()
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		want bool
	}{
		{"accepted before the restart", before, true},
		{"made after the restart", after, false},
		{"not a UUIDv7", uuid.New(), false},
	} {
		got, err := f.MayHaveForgotten(ctx, tc.id)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}
