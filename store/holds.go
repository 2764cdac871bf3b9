package store

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis layout of seat holds, all under the event's hash tag {ev:<id>}:
//
//	{ev}:seat:<seat>   holding hold id, expires with the hold (the per-seat lock)
//	{ev}:hold:<hold>   hash: user, seats (JSON), expires_at (ms); expires with the hold
//	{ev}:held          sorted set: seat -> expiry (ms), for seat maps
//	{ev}:sold          set of sold seats, kept by the booking worker
//	{ev}:sold:loaded   present once {ev}:sold was rebuilt from PostgreSQL
//	{ev}:user:<user>   sorted set: hold -> expiry (ms), for the per-user cap

// HeldSeats returns the seats of an event held (not sold) right now.
func HeldSeats(ctx context.Context, rdb *redis.Client, k Keys, eventID uuid.UUID, now time.Time) ([]string, error) {
	return rdb.ZRangeByScore(ctx, k.Event(eventID)+":held", &redis.ZRangeBy{
		Min: strconv.FormatInt(now.UnixMilli()+1, 10), Max: "+inf",
	}).Result()
}
