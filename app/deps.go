package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// Deps are the connections a process shares.
type Deps struct {
	Log      *slog.Logger
	DB       *sqlx.DB
	Redis    redis.UniversalClient
	Producer *topics.Producer
	// Kafka is how every Kafka client of the process connects (brokers,
	// TLS, SASL): built once from the configuration.
	Kafka topics.Conn
	Names topics.Names
	// Keys builds every Redis key under the configured prefix.
	Keys store.Keys
}

// Connect opens PostgreSQL, Redis and Kafka (creating topics), failing with
// one line naming the server that did not answer.
func Connect(ctx context.Context, c Config) (*Deps, error) {
	d := &Deps{Log: NewLogger(c), Names: topics.Names{Prefix: c.TopicPrefix}, Keys: store.Keys{Prefix: c.RedisPrefix}}
	var err error
	if d.DB, err = store.OpenPostgres(ctx, c.DatabaseURL, c.DBMaxConns); err != nil {
		return nil, err
	}
	if d.Redis, err = store.OpenRedis(ctx, c.RedisURL); err != nil {
		d.Close()
		return nil, err
	}
	if d.Kafka, err = c.KafkaConn(); err != nil {
		d.Close()
		return nil, err
	}
	if d.Kafka.SASL != nil && d.Kafka.TLS == nil && strings.EqualFold(c.KafkaSecurity.SASLMechanism, "plain") {
		d.Log.Warn("KAFKA_SASL_MECHANISM=plain without KAFKA_TLS sends the Kafka password in clear")
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := topics.Reachable(tctx, d.Kafka); err != nil {
		d.Close()
		return nil, err
	}
	if err := topics.EnsureTopics(tctx, d.Kafka, d.Names, c.Partitions, c.Replication); err != nil {
		d.Close()
		return nil, fmt.Errorf("kafka at %v: %w", c.KafkaBrokers, err)
	}
	d.Producer = topics.NewProducer(d.Kafka, d.Names)
	return d, nil
}

// Close closes every connection.
func (d *Deps) Close() {
	if d.Producer != nil {
		d.Producer.Close()
	}
	if d.Redis != nil {
		d.Redis.Close()
	}
	if d.DB != nil {
		d.DB.Close()
	}
}
