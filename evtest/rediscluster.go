package evtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a throwaway Redis Cluster of one test: three masters
// (no replicas) on free loopback ports, each in a folder of its own, the
// slots spread over them by redis-cli --cluster create.
type RedisCluster struct {
	// Addrs are the masters' host:port.
	Addrs []string
	// URL names the cluster as REDIS_URL does (store.OpenRedis): the first
	// master, the others as addr= parameters.
	URL string
}

// redisClusterNodes is three, the fewest masters redis-cli accepts.
const redisClusterNodes = 3

// StartRedisCluster starts the cluster, waits until every master reports
// cluster_state:ok, and kills it when the test ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("evtest: %s not found (deploy/stack.sh up installs it)", bin)
		}
	}
	start := time.Now()
	dir := t.TempDir()
	c := &RedisCluster{}
	ports := freePorts(t, 2*redisClusterNodes)
	for i := range redisClusterNodes {
		port, busPort := ports[2*i], ports[2*i+1]
		ndir := filepath.Join(dir, "node-"+strconv.Itoa(i+1))
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The bus port is given (cluster-port) rather than left at port+10000,
		// which a free port near the top of the range would overflow.
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--protected-mode", "no", "--dir", ndir, "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(ndir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(busPort), "--logfile", filepath.Join(ndir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("evtest: redis-server: %v", err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, a := range c.Addrs {
		waitRedis(t, a, deadline, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	cancel()
	if err != nil {
		var logs strings.Builder
		for i := range redisClusterNodes {
			b, _ := os.ReadFile(filepath.Join(dir, "node-"+strconv.Itoa(i+1), "redis.log"))
			fmt.Fprintf(&logs, "\nnode %d:\n%s", i+1, tail(string(b), 1500))
		}
		t.Fatalf("evtest: redis-cli --cluster create: %v\n%s%s", err, tail(string(out), 2000), logs.String())
	}
	// Every master must have the whole map before a client loads it from
	// any one of them: state ok, all slots, all nodes known.
	for _, a := range c.Addrs {
		waitRedis(t, a, deadline, func(ctx context.Context, n *redis.Client) error {
			info, err := n.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(redisClusterNodes)} {
				if !strings.Contains(info, want) {
					return fmt.Errorf("no %s yet", want)
				}
			}
			return nil
		})
	}
	c.URL = "redis://" + c.Addrs[0] + "?addr=" + strings.Join(c.Addrs[1:], "&addr=")
	t.Logf("evtest: %d-master Redis Cluster up in %s", redisClusterNodes, time.Since(start).Round(time.Millisecond))
	return c
}

// waitRedis polls the node at addr until ready answers nil, failing the
// test at the deadline.
func waitRedis(t testing.TB, addr string, deadline time.Time, ready func(context.Context, *redis.Client) error) {
	t.Helper()
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer n.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx, n)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("evtest: redis cluster node %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePorts returns n distinct free loopback ports: all are held open
// until the last is found, so none is handed out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
