package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
)

// RefreshTokens stores refresh tokens: opaque random strings of which only a
// SHA-256 hash is kept. A family is the chain of tokens that one login
// starts; every use rotates the token, and presenting a spent one again
// (a sign that it was stolen) revokes the whole family.
type RefreshTokens struct {
	DB *sqlx.DB
	// TTL is how long each token of a family stays usable (sliding).
	TTL time.Duration
	Now func() time.Time
}

var errBadRefresh = evently.Errorf(evently.EUNAUTHORIZED, "The refresh token is invalid, expired or revoked.")

// maxRefreshLen bounds what is hashed; real tokens are 43 characters.
const maxRefreshLen = 256

func (s *RefreshTokens) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// newRefreshToken returns 32 random bytes, base64url-encoded, and the hash
// that is stored.
func newRefreshToken() (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefresh(token)
}

func hashRefresh(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Start begins a family for a fresh login and returns its id and first token.
func (s *RefreshTokens) Start(ctx context.Context, userID uuid.UUID) (family uuid.UUID, token string, err error) {
	family = evently.NewID()
	token, err = s.insert(ctx, s.DB, userID, family, s.now())
	return family, token, err
}

func (s *RefreshTokens) insert(ctx context.Context, db sqlx.ExecerContext, userID, family uuid.UUID, now time.Time) (string, error) {
	token, hash := newRefreshToken()
	_, err := db.ExecContext(ctx,
		`INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		evently.NewID(), family, userID, hash, now.Add(s.TTL), now)
	return token, translate(err, "refresh token")
}

// Rotate spends token and returns the next one of its family. A token that
// is unknown, expired or revoked is refused. A token that was already spent
// is refused too and revokes its whole family, including the token that
// replaced it; then userID and family are still returned (with the error)
// so the caller can record the reuse.
func (s *RefreshTokens) Rotate(ctx context.Context, token string) (userID, family uuid.UUID, next string, err error) {
	if token == "" || len(token) > maxRefreshLen {
		return uuid.Nil, uuid.Nil, "", errBadRefresh
	}
	var reused bool
	err = inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		now := s.now()
		var row struct {
			ID        uuid.UUID  `db:"id"`
			Family    uuid.UUID  `db:"family_id"`
			UserID    uuid.UUID  `db:"user_id"`
			ExpiresAt time.Time  `db:"expires_at"`
			UsedAt    *time.Time `db:"used_at"`
			RevokedAt *time.Time `db:"revoked_at"`
		}
		// FOR UPDATE: of two concurrent uses of one token, the second
		// waits and then sees it spent.
		err := tx.GetContext(ctx, &row,
			`SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
			hashRefresh(token))
		if err != nil {
			return err
		}
		userID, family = row.UserID, row.Family
		switch {
		case row.RevokedAt != nil:
			return errBadRefresh
		case row.UsedAt != nil:
			reused = true
			return revokeFamily(ctx, tx, row.Family, now) // committed, then refused below
		case !now.Before(row.ExpiresAt):
			return errBadRefresh
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1`, row.ID, now); err != nil {
			return err
		}
		next, err = s.insert(ctx, tx, row.UserID, row.Family, now)
		return err
	})
	if reused {
		return userID, family, "", errBadRefresh
	}
	if err != nil {
		if evently.ErrorCode(translate(err, "refresh token")) == evently.ENOTFOUND {
			return uuid.Nil, uuid.Nil, "", errBadRefresh
		}
		return uuid.Nil, uuid.Nil, "", translate(err, "refresh token")
	}
	return userID, family, next, nil
}

func revokeFamily(ctx context.Context, db sqlx.ExecerContext, family uuid.UUID, now time.Time) error {
	_, err := db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, family, now)
	return err
}

// EndFamily revokes every token of one family (logout).
func (s *RefreshTokens) EndFamily(ctx context.Context, family uuid.UUID) error {
	return translate(revokeFamily(ctx, s.DB, family, s.now()), "refresh token")
}

// EndAll revokes every family of a user (logout everywhere, disabled
// account, changed password).
func (s *RefreshTokens) EndAll(ctx context.Context, userID uuid.UUID) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, s.now())
	return translate(err, "refresh token")
}
