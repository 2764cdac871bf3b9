// Package evtest gives integration tests isolated pieces of the real stack
// that `make stack` runs: a fresh PostgreSQL database per test (cloned from
// a migrated template), a Redis key prefix, unique Kafka topic names, and
// throwaway Kafka brokers for tests that stop or kill one. Tests fail,
// never skip, when the stack is missing: `make test` starts it.
package evtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently/migrations"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// Addresses of the stack, from the same variables the binaries read.
func DatabaseURL() string {
	return env("DATABASE_URL", "postgres://evently:evently@127.0.0.1:15432/evently?sslmode=disable")
}

// RedisURL is the stack's Redis.
func RedisURL() string { return env("REDIS_URL", "redis://127.0.0.1:16379/0") }

// Brokers are the stack's Kafka brokers.
func Brokers() []string { return strings.Split(env("KAFKA_BROKERS", "127.0.0.1:19092"), ",") }

// Kafka is how to reach the stack's Kafka (plaintext).
func Kafka() topics.Conn { return topics.Conn{Brokers: Brokers()} }

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Suffix returns a short random lowercase name part.
func Suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// DB returns a connection to a fresh, migrated database of its own, dropped
// when the test ends.
func DB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, _ := DBWithURL(t)
	return db
}

// DBWithURL is DB that also returns the database's URL, for subprocesses.
func DBWithURL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx) })
	if templateErr != nil {
		t.Fatalf("evtest: template database: %v (is the stack up? run make stack)", templateErr)
	}
	admin, err := store.OpenPostgres(ctx, DatabaseURL(), 2)
	if err != nil {
		t.Fatalf("evtest: %v (is the stack up? run make stack)", err)
	}
	defer admin.Close()
	name := "t_" + Suffix()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName)); err != nil {
		t.Fatalf("evtest: create database: %v", err)
	}
	url := withDatabase(DatabaseURL(), name)
	db, err := store.OpenPostgres(ctx, url, 20)
	if err != nil {
		t.Fatalf("evtest: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		if os.Getenv("EVTEST_KEEP") != "" {
			return
		}
		a, err := store.OpenPostgres(context.Background(), DatabaseURL(), 1)
		if err == nil {
			_, _ = a.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
			a.Close()
		}
	})
	return db, url
}

func withDatabase(url, name string) string {
	i := strings.LastIndex(url, "/")
	rest := ""
	if q := strings.Index(url[i:], "?"); q >= 0 {
		rest = url[i+q:]
	}
	return url[:i+1] + name + rest
}

// ensureTemplate makes (once per schema, across concurrent test binaries) a
// migrated template database named after a hash of the migrations.
func ensureTemplate(ctx context.Context) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := migrations.FS.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "evently_tpl_" + hex.EncodeToString(h.Sum(nil))[:12]
	admin, err := store.OpenPostgres(ctx, DatabaseURL(), 2)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Test binaries run in parallel: one builds, the others wait.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(724001)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "SELECT pg_advisory_unlock(724001)") //nolint:errcheck
	var exists bool
	if err := conn.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_new"
	_, _ = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	db, err := store.OpenPostgres(ctx, withDatabase(DatabaseURL(), building), 2)
	if err != nil {
		return "", err
	}
	_, err = store.Migrate(ctx, db.DB)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

// Redis returns a client of the stack's Redis (REDIS_URL: one node or a
// cluster, see store.OpenRedis) and a key prefix of the test's own; its
// keys are deleted when the test ends.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	return RedisAt(t, RedisURL())
}

// RedisAt is Redis for the Redis at url (a RedisCluster's URL).
func RedisAt(t testing.TB, url string) (redis.UniversalClient, string) {
	t.Helper()
	rdb, err := store.OpenRedis(context.Background(), url)
	if err != nil {
		t.Fatalf("evtest: %v (is the stack up? run make stack)", err)
	}
	prefix := "t:" + Suffix() + ":"
	t.Cleanup(func() {
		DeleteKeys(t, rdb, prefix+"*")
		rdb.Close()
	})
	return rdb, prefix
}

// Keys returns the keys matching pattern: on a cluster, from every master
// (SCAN sees one node's keys only).
func Keys(t testing.TB, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	err := store.ForEachMaster(context.Background(), rdb, func(ctx context.Context, n redis.UniversalClient) error {
		iter := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Errorf("evtest: scan %s: %v", pattern, err)
	}
	return keys
}

// DeleteKeys deletes the keys matching pattern, one UNLINK each: keys of
// several slots in one command fail on a cluster (CROSSSLOT).
func DeleteKeys(t testing.TB, rdb redis.UniversalClient, pattern string) {
	t.Helper()
	keys := Keys(t, rdb, pattern)
	if len(keys) == 0 {
		return
	}
	ctx := context.Background()
	p := rdb.Pipeline()
	for _, k := range keys {
		p.Unlink(ctx, k)
	}
	_, _ = p.Exec(ctx)
}

// Topics creates every topic under a prefix of the test's own, with the
// given partition count, and returns their names.
func Topics(t testing.TB, partitions int) topics.Names {
	t.Helper()
	names := topics.Names{Prefix: "t" + Suffix() + "."}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, Kafka(), names, partitions, 1); err != nil {
		t.Fatalf("evtest: topics: %v (is the stack up? run make stack)", err)
	}
	t.Cleanup(func() { DropTopics(Kafka(), names) })
	return names
}

// DropTopics deletes a test's topics when it ends (best effort), so a
// long-lived local broker does not collect them.
func DropTopics(conn topics.Conn, names topics.Names) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = topics.DeleteTopics(ctx, conn, names)
}

// RepoRoot finds the module root (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("evtest: go.mod not found")
		}
		dir = parent
	}
}
