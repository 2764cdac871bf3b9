package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Revocations is the access-token deny-list in Redis. Access tokens are
// short-lived and checked without a database round trip, so revoking one
// means remembering it until it would have expired anyway:
//
//   - a logged-out token's id (jti) is denied until its expiry;
//   - a user whose account was disabled or whose role changed gets a
//     "revoked before" time; every token issued before it is refused;
//   - a session (refresh-token family) that ended (logout, a spent refresh
//     token used again) is denied: every access token carrying its id
//     (sid) is refused, not only the one that asked.
//
// Every revocation is also appended to a Redis stream (trimmed to the
// window), which each API process follows (Follow) into a local copy, so
// checking a token costs no round trip. While the copy is not live (not
// followed yet, or Redis stopped answering the follower for LiveFor),
// Revoked asks Redis instead: it fails closed, never open.
//
// If Redis loses these keys, revoked tokens work again until they expire
// (at most the access-token lifetime); refresh tokens, which PostgreSQL
// revokes, do not.
type Revocations struct {
	Redis redis.UniversalClient
	Keys  Keys
	// Window is how long a "revoked before" time must be kept: the access
	// token lifetime plus the clock-skew leeway.
	Window time.Duration

	mu       sync.Mutex
	liveAt   time.Time            // the follower's last answer from Redis
	tokens   map[string]time.Time // jti -> until
	sessions map[uuid.UUID]time.Time
	users    map[uuid.UUID]revokedBefore
}

type revokedBefore struct{ at, until time.Time }

// LiveFor is how long the local copy counts as live after the follower's
// last answer from Redis (it blocks for at most a second at a time).
const LiveFor = 3 * time.Second

func (v *Revocations) streamKey() string { return v.Keys.Key("auth", "revocations") }

func (v *Revocations) tokenKey(jti string) string { return v.Keys.Key("auth", "deny", jti) }
func (v *Revocations) sessionKey(id uuid.UUID) string {
	return v.Keys.Key("auth", "deny-session", id.String())
}
func (v *Revocations) userKey(id uuid.UUID) string {
	return v.Keys.Key("auth", "revoked-before", id.String())
}

// DenyToken refuses the token id until the given time.
func (v *Revocations) DenyToken(ctx context.Context, jti string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	return v.write(ctx, "token", jti, until.UnixMilli(), v.tokenKey(jti), "1", ttl)
}

// RevokeSession refuses every access token issued with the session (its
// sid) for the window: no new ones can be minted for an ended family.
func (v *Revocations) RevokeSession(ctx context.Context, session uuid.UUID) error {
	return v.write(ctx, "session", session.String(), time.Now().Add(v.Window).UnixMilli(), v.sessionKey(session), "1", v.Window)
}

// RevokeUser refuses every access token of the user issued before at.
func (v *Revocations) RevokeUser(ctx context.Context, userID uuid.UUID, at time.Time) error {
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	return v.write(ctx, "user", userID.String()+"@"+ms, time.Now().Add(v.Window).UnixMilli(), v.userKey(userID), ms, v.Window)
}

// write records a revocation: on the stream the followers read (first, so
// no key exists that a follower could miss), then as the key Revoked's
// round trip reads; this process's copy learns it at once.
func (v *Revocations) write(ctx context.Context, kind, id string, untilMs int64, key, val string, ttl time.Duration) error {
	minID := strconv.FormatInt(time.Now().Add(-v.Window).UnixMilli(), 10)
	err := v.Redis.XAdd(ctx, &redis.XAddArgs{Stream: v.streamKey(), MinID: minID, Approx: true,
		Values: []any{"kind", kind, "id", id, "until", untilMs}}).Err()
	if err == nil {
		err = v.Redis.Set(ctx, key, val, ttl).Err()
	}
	if err != nil {
		return err
	}
	v.learn(kind, id, untilMs)
	return nil
}

// learn adds one revocation to the local copy.
func (v *Revocations) learn(kind, id string, untilMs int64) {
	until := time.UnixMilli(untilMs)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens == nil {
		v.tokens, v.sessions, v.users = map[string]time.Time{}, map[uuid.UUID]time.Time{}, map[uuid.UUID]revokedBefore{}
	}
	switch kind {
	case "token":
		v.tokens[id] = until
	case "session":
		if sid, err := uuid.Parse(id); err == nil {
			v.sessions[sid] = until
		}
	case "user":
		user, ms, _ := strings.Cut(id, "@")
		uid, err1 := uuid.Parse(user)
		at, err2 := strconv.ParseInt(ms, 10, 64)
		if err1 == nil && err2 == nil {
			if prev, ok := v.users[uid]; !ok || time.UnixMilli(at).After(prev.at) {
				v.users[uid] = revokedBefore{at: time.UnixMilli(at), until: until}
			}
		}
	}
}

// Follow keeps this process's copy of the revocations up to date until ctx
// ends: everything of the last window first, then each new one as it is
// written. The copy is live while Redis answers.
func (v *Revocations) Follow(ctx context.Context) error {
	last := "-"
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for ctx.Err() == nil {
		var streams []redis.XStream
		var err error
		if last == "-" {
			var msgs []redis.XMessage
			msgs, err = v.Redis.XRange(ctx, v.streamKey(), "-", "+").Result()
			streams = []redis.XStream{{Messages: msgs}}
			if err == nil && len(msgs) == 0 {
				last = "0"
			}
		} else {
			streams, err = v.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{v.streamKey(), last}, Block: time.Second}).Result()
			if errors.Is(err, redis.Nil) {
				err = nil // nothing new within the block: Redis answered
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
			continue
		}
		for _, st := range streams {
			for _, m := range st.Messages {
				kind, _ := m.Values["kind"].(string)
				id, _ := m.Values["id"].(string)
				until, _ := strconv.ParseInt(fmt.Sprint(m.Values["until"]), 10, 64)
				v.learn(kind, id, until)
				last = m.ID
			}
		}
		v.mu.Lock()
		v.liveAt = time.Now()
		v.mu.Unlock()
		select {
		case <-prune.C:
			v.prune(time.Now())
		default:
		}
	}
	return nil
}

// prune forgets revocations whose tokens have all expired.
func (v *Revocations) prune(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, until := range v.tokens {
		if now.After(until) {
			delete(v.tokens, k)
		}
	}
	for k, until := range v.sessions {
		if now.After(until) {
			delete(v.sessions, k)
		}
	}
	for k, r := range v.users {
		if now.After(r.until) {
			delete(v.users, k)
		}
	}
}

// Live reports whether the local copy answers checks now (the follower
// heard from Redis within LiveFor).
func (v *Revocations) Live() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !v.liveAt.IsZero() && time.Since(v.liveAt) <= LiveFor
}

// local answers from the copy; ok is false while it is not live.
func (v *Revocations) local(jti string, session, userID uuid.UUID, issuedAt time.Time) (revoked, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.liveAt.IsZero() || time.Since(v.liveAt) > LiveFor {
		return false, false
	}
	if _, denied := v.tokens[jti]; denied {
		return true, true
	}
	if _, denied := v.sessions[session]; denied && session != uuid.Nil {
		return true, true
	}
	if r, ok := v.users[userID]; ok && issuedAt.Before(r.at) {
		return true, true
	}
	return false, true
}

// Revoked reports whether a token or its session was denied, or the token
// was issued before its user's revocation time: from the local copy while
// it is live, else in one round trip to Redis; separate
// commands rather than an MGET so the keys may live in different Redis
// Cluster slots. session is uuid.Nil for tokens minted without one.
func (v *Revocations) Revoked(ctx context.Context, jti string, session, userID uuid.UUID, issuedAt time.Time) (bool, error) {
	if revoked, ok := v.local(jti, session, userID, issuedAt); ok {
		return revoked, nil
	}
	pipe := v.Redis.Pipeline()
	denied := pipe.Exists(ctx, v.tokenKey(jti))
	var sessionDenied *redis.IntCmd
	if session != uuid.Nil {
		sessionDenied = pipe.Exists(ctx, v.sessionKey(session))
	}
	before := pipe.Get(ctx, v.userKey(userID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	if denied.Val() > 0 || (sessionDenied != nil && sessionDenied.Val() > 0) {
		return true, nil
	}
	ms, err := before.Int64()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return issuedAt.Before(time.UnixMilli(ms)), nil
}
