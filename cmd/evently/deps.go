package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// deps are the connections a process shares.
type deps struct {
	log      *slog.Logger
	db       *sqlx.DB
	rdb      *redis.Client
	producer *topics.Producer
	names    topics.Names
}

// connect opens PostgreSQL, Redis and Kafka (creating topics), failing with
// one line naming the server that did not answer.
func connect(ctx context.Context, c config) (*deps, error) {
	d := &deps{log: newLogger(c), names: topics.Names{Prefix: c.TopicPrefix}}
	var err error
	if d.db, err = store.OpenPostgres(ctx, c.DatabaseURL, c.DBMaxConns); err != nil {
		return nil, err
	}
	if d.rdb, err = store.OpenRedis(ctx, c.RedisURL); err != nil {
		d.close()
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := topics.Reachable(tctx, c.KafkaBrokers); err != nil {
		d.close()
		return nil, err
	}
	if err := topics.EnsureTopics(tctx, c.KafkaBrokers, d.names, c.Partitions, c.Replication); err != nil {
		d.close()
		return nil, fmt.Errorf("kafka at %v: %w", c.KafkaBrokers, err)
	}
	d.producer = topics.NewProducer(c.KafkaBrokers, d.names, c.ProduceWait)
	return d, nil
}

func (d *deps) close() {
	if d.producer != nil {
		d.producer.Close()
	}
	if d.rdb != nil {
		d.rdb.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
}
