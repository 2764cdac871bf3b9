package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func init() {
	// go-redis logs every failed dial itself; callers get the error anyway.
	redis.SetLogger(quietLogger{})
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// The on-sale rush is many short commands from many goroutines. On a
// cluster these are per node, as go-redis keeps a pool per node.
const (
	redisPoolSize     = 64
	redisMinIdleConns = 4
	redisDialTimeout  = 2 * time.Second
	redisIOTimeout    = 2 * time.Second
)

// OpenRedis connects to Redis and checks that it answers.
//
// url names one node (redis://host:port/db, rediss:// for TLS) or a Redis
// Cluster. A cluster is said by its seed nodes, in go-redis' cluster URL
// form: redis://host1:port?addr=host2:port&addr=host3:port. The addr=
// parameters are what make it a cluster, because a single-node URL has no
// use for them (go-redis refuses them there) and no separate switch can
// then disagree with the URL. A URL of one node that turns out to be a
// cluster node (cluster_enabled:1, as a managed cluster's one
// configuration endpoint) is opened as a cluster seeded by that node too:
// a plain client there would fail every command for a slot it does not
// own with MOVED, in the middle of an on-sale rather than at start.
func OpenRedis(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if isClusterURL(rawURL) {
		return openCluster(ctx, rawURL)
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.PoolSize = redisPoolSize
	opt.MinIdleConns = redisMinIdleConns
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable: %w", err)
	}
	// A server that will not say (INFO renamed away) is taken for one node,
	// as it was before clusters were known here.
	info, err := rdb.Info(ctx, "cluster").Result()
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return rdb, nil
	}
	rdb.Close()
	if opt.DB != 0 {
		return nil, fmt.Errorf("redis url: %s is a Redis Cluster node, which has only database 0", opt.Addr)
	}
	return openCluster(ctx, rawURL)
}

// isClusterURL reports whether the URL lists more nodes with addr=.
func isClusterURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has("addr")
}

func openCluster(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// A cluster has only database 0; ParseClusterURL ignores the path.
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("redis url: a Redis Cluster has only database 0, not %q", p)
	}
	opt, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.PoolSize = redisPoolSize
	opt.MinIdleConns = redisMinIdleConns
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	rdb := redis.NewClusterClient(opt)
	// Every master must answer, not just the seed: each owns some events.
	err = rdb.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis cluster unreachable: %w", err)
	}
	return rdb, nil
}

// ForEachMaster calls fn with each master of a cluster, or with rdb itself
// when it is one node: for what must see every key (a SCAN).
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node redis.UniversalClient) error) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	}
	return fn(ctx, rdb)
}

// nodeOf returns the node that holds key: rdb itself unless it is a
// cluster, for the commands that are about a server rather than a key.
func nodeOf(ctx context.Context, rdb redis.UniversalClient, key string) (redis.UniversalClient, error) {
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb, nil
	}
	n, err := c.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, errors.New("redis cluster: no master for key")
	}
	return n, nil
}
