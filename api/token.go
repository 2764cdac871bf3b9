package api

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/evently/evently"
)

// Tokens issues and verifies short-lived HS256 access tokens. Refresh
// tokens are opaque and live in the store.
type Tokens struct {
	Secret    []byte
	Issuer    string
	Audience  string
	AccessTTL time.Duration
	// Leeway tolerates small clock differences between API instances.
	Leeway time.Duration
	// Revoked reports whether a token id, its session (sid; uuid.Nil when
	// none) or its user was revoked (logout, refresh-token reuse, password
	// change, disabled account). Nil means nothing is ever revoked.
	Revoked func(ctx context.Context, jti string, session, userID uuid.UUID, issuedAt time.Time) (bool, error)
	Now     func() time.Time

	// Checked remembers tokens whose signature and claims were checked (nil:
	// none are): a buyer sends the same token with every request, and
	// checking it again (HMAC, base64, JSON) is most of a cheap request's
	// cost. The same bytes carry the same claims, so only the times are
	// checked again. Revocation is checked on every request regardless.
	Checked *CheckedTokens
}

// CheckedTokens is a bounded cache of tokens that passed every check but
// revocation.
type CheckedTokens struct {
	c *lru.Cache[string, parsedToken]
}

type parsedToken struct {
	claims AccessClaims
	uid    uuid.UUID
}

// NewCheckedTokens returns a cache of up to n checked tokens.
func NewCheckedTokens(n int) *CheckedTokens {
	c, _ := lru.New[string, parsedToken](max(n, 1)) // only fails for n < 1
	return &CheckedTokens{c}
}

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	Role evently.Role `json:"role"`
	// SessionID is the refresh-token family the token was issued with, so
	// logout can end that family too. Empty for tokens minted without one.
	SessionID string `json:"sid,omitempty"`
	// IssuedAtMs is iat in milliseconds. iat has whole seconds, too coarse to
	// tell a token issued just before a revocation from one issued just after.
	IssuedAtMs int64 `json:"iat_ms,omitempty"`
	jwt.RegisteredClaims
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Issue returns a signed access token for the user and its id (jti).
func (t *Tokens) Issue(userID uuid.UUID, role evently.Role) (token, jti string, expires time.Time, err error) {
	return t.IssueSession(userID, role, uuid.Nil)
}

// IssueSession is Issue for a token tied to a refresh-token family.
func (t *Tokens) IssueSession(userID uuid.UUID, role evently.Role, session uuid.UUID) (token, jti string, expires time.Time, err error) {
	now := t.now().UTC()
	jti = evently.NewID().String()
	expires = now.Add(t.AccessTTL)
	sid := ""
	if session != uuid.Nil {
		sid = session.String()
	}
	claims := AccessClaims{Role: role, SessionID: sid, IssuedAtMs: now.UnixMilli(), RegisteredClaims: jwt.RegisteredClaims{
		ID: jti, Subject: userID.String(), Issuer: t.Issuer, Audience: jwt.ClaimStrings{t.Audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(expires),
	}}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
	return token, jti, expires, err
}

var errBadToken = evently.Errorf(evently.EUNAUTHORIZED, "The access token is missing, malformed, expired or revoked.")

// Verify checks signature, algorithm, issuer, audience, expiry and
// revocation, and returns who the token speaks for.
func (t *Tokens) Verify(ctx context.Context, token string) (evently.Actor, time.Time, error) {
	claims, uid, err := t.parse(token)
	if err != nil {
		return evently.Actor{}, time.Time{}, err
	}
	if t.Revoked != nil {
		issued := claims.IssuedAt.Time
		if ms := time.UnixMilli(claims.IssuedAtMs); claims.IssuedAtMs > 0 && !ms.Before(issued) && ms.Sub(issued) < time.Second {
			issued = ms
		}
		session, _ := uuid.Parse(claims.SessionID) // uuid.Nil when absent
		revoked, err := t.Revoked(ctx, claims.ID, session, uid, issued)
		if err != nil {
			return evently.Actor{}, time.Time{}, &evently.Error{Code: evently.EUNAVAILABLE, Message: "Cannot check the token right now.", RetryAfter: 1}
		}
		if revoked {
			return evently.Actor{}, time.Time{}, errBadToken
		}
	}
	return evently.Actor{UserID: uid, Role: claims.Role, TokenID: claims.ID}, claims.ExpiresAt.Time, nil
}

// parse checks everything but revocation.
func (t *Tokens) parse(token string) (AccessClaims, uuid.UUID, error) {
	if t.Checked == nil {
		return t.parseFully(token)
	}
	if p, ok := t.Checked.c.Get(token); ok {
		now := t.now()
		if now.Before(p.claims.ExpiresAt.Add(t.Leeway)) && !now.Before(p.claims.NotBefore.Add(-t.Leeway)) {
			return p.claims, p.uid, nil
		}
		t.Checked.c.Remove(token)
	}
	claims, uid, err := t.parseFully(token)
	if err == nil && claims.NotBefore != nil {
		t.Checked.c.Add(token, parsedToken{claims, uid})
	}
	return claims, uid, err
}

func (t *Tokens) parseFully(token string) (AccessClaims, uuid.UUID, error) {
	var claims AccessClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.Issuer), jwt.WithAudience(t.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(t.Leeway),
		jwt.WithTimeFunc(t.now))
	if err != nil {
		return claims, uuid.Nil, errBadToken
	}
	uid, err := uuid.Parse(claims.Subject)
	if err != nil || !claims.Role.Valid() || claims.ID == "" || claims.ExpiresAt == nil || claims.IssuedAt == nil {
		return claims, uuid.Nil, errBadToken
	}
	return claims, uid, nil
}

// session returns the refresh-token family a valid token was issued with
// (uuid.Nil when none).
func (t *Tokens) session(token string) uuid.UUID {
	claims, _, err := t.parse(token)
	if err != nil {
		return uuid.Nil
	}
	id, err := uuid.Parse(claims.SessionID)
	if err != nil {
		return uuid.Nil
	}
	return id
}

// ErrNoActor means the request carries no identity.
var ErrNoActor = errors.New("no actor")
