package evtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Cluster is a throwaway Kafka cluster of one test: Nodes KRaft nodes
// (combined broker and controller, every one a voter) on their own folders
// and ports, internal topics replicated to all of them and
// min.insync.replicas=2, as deploy/stack.sh's cluster mode runs them. One
// node may be killed and restarted without losing an acknowledged write.
type Cluster struct {
	Nodes []*Broker
	Addrs []string
	t     testing.TB
}

// ClusterReplication is the replication factor of a Cluster's topics.
const ClusterReplication = 3

// StartCluster starts three nodes at once (they form their quorum
// together), waits until every one answers and sees the others, and stops
// them when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	const n = ClusterReplication
	c := &Cluster{t: t}
	dir := t.TempDir()
	voters := make([]string, n)
	for i := range n {
		b := &Broker{t: t, dir: filepath.Join(dir, "node-"+strconv.Itoa(i+1)), port: freePort(t), cport: freePort(t)}
		b.Addr = "127.0.0.1:" + strconv.Itoa(b.port)
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, b.cport)
		c.Nodes, c.Addrs = append(c.Nodes, b), append(c.Addrs, b.Addr)
	}
	id := clusterID()
	for i, b := range c.Nodes {
		b.env = []string{"EVENTLY_KAFKA_NODE_ID=" + strconv.Itoa(i+1), "EVENTLY_KAFKA_VOTERS=" + strings.Join(voters, ","),
			"EVENTLY_KAFKA_CLUSTER_ID=" + id, "EVENTLY_KAFKA_REPLICATION=" + strconv.Itoa(n)}
	}
	t.Cleanup(c.Stop)
	start := time.Now()
	for _, b := range c.Nodes {
		b.launch()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.wait() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(n)
	t.Logf("evtest: %d-node Kafka cluster up in %s", n, time.Since(start).Round(time.Millisecond))
	return c
}

// WaitFor waits until the cluster's metadata lists n live brokers (a
// restarted node is listed once the controller unfenced it).
func (c *Cluster) WaitFor(n int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cl := &kafka.Client{Addr: kafka.TCP(c.Addrs...), Timeout: 2 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
		cancel()
		if err == nil && len(md.Brokers) >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("evtest: the cluster does not list %d brokers after 60s", n)
}

// Node returns the node whose client address is addr.
func (c *Cluster) Node(addr string) *Broker {
	for _, b := range c.Nodes {
		if b.Addr == addr {
			return b
		}
	}
	return nil
}

// Stop kills every node: the folders are thrown away, and a controlled
// shutdown of the last nodes would wait for a quorum that is leaving.
func (c *Cluster) Stop() {
	for _, b := range c.Nodes {
		b.Kill()
	}
}

// clusterID is what `kafka-storage random-uuid` prints: 16 random bytes in
// unpadded base64url, never starting with '-'.
func clusterID() string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}
