package store

import (
	"context"
	"errors"
	"strconv"
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
// If Redis loses these keys, revoked tokens work again until they expire
// (at most the access-token lifetime); refresh tokens, which PostgreSQL
// revokes, do not.
type Revocations struct {
	Redis *redis.Client
	Keys  Keys
	// Window is how long a "revoked before" time must be kept: the access
	// token lifetime plus the clock-skew leeway.
	Window time.Duration
}

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
	return v.Redis.Set(ctx, v.tokenKey(jti), "1", ttl).Err()
}

// RevokeSession refuses every access token issued with the session (its
// sid) for the window: no new ones can be minted for an ended family.
func (v *Revocations) RevokeSession(ctx context.Context, session uuid.UUID) error {
	return v.Redis.Set(ctx, v.sessionKey(session), "1", v.Window).Err()
}

// RevokeUser refuses every access token of the user issued before at.
func (v *Revocations) RevokeUser(ctx context.Context, userID uuid.UUID, at time.Time) error {
	return v.Redis.Set(ctx, v.userKey(userID), strconv.FormatInt(at.UnixMilli(), 10), v.Window).Err()
}

// Revoked reports whether a token or its session was denied, or the token
// was issued before its user's revocation time. One round trip; separate
// commands rather than an MGET so the keys may live in different Redis
// Cluster slots. session is uuid.Nil for tokens minted without one.
func (v *Revocations) Revoked(ctx context.Context, jti string, session, userID uuid.UUID, issuedAt time.Time) (bool, error) {
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
