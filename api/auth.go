package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/evently/evently"
)

type actorKey struct{}

type actorInfo struct {
	actor   evently.Actor
	expires time.Time
}

// ActorFrom returns who makes the request, if anyone proved it.
func ActorFrom(ctx context.Context) (evently.Actor, bool) {
	ai, ok := ctx.Value(actorKey{}).(actorInfo)
	return ai.actor, ok
}

// tokenExpiry returns when the request's access token expires.
func tokenExpiry(ctx context.Context) time.Time {
	ai, _ := ctx.Value(actorKey{}).(actorInfo)
	return ai.expires
}

// WithActor returns ctx carrying actor (for tests of handlers).
func WithActor(ctx context.Context, a evently.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actorInfo{actor: a})
}

// authenticate reads a Bearer token when there is one. A present but bad
// token is refused outright rather than treated as anonymous.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || s.Tokens == nil {
			s.unauthorized(w, r, errBadToken)
			return
		}
		actor, exp, err := s.Tokens.Verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actorInfo{actor, exp})))
	})
}

// requireUser refuses anonymous requests with 401.
func requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ActorFrom(r.Context()); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="evently"`)
			Error(w, r, evently.Errorf(evently.EUNAUTHORIZED, "Sign in first: send an access token as Authorization: Bearer <token>."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireRole refuses with 401 when anonymous and 403 when the role is not
// one of roles.
func requireRole(roles ...evently.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, _ := ActorFrom(r.Context())
			if !slices.Contains(roles, a.Role) {
				Error(w, r, evently.Errorf(evently.EFORBIDDEN, "This needs the role %s.", joinRoles(roles)))
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}

func joinRoles(roles []evently.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// actor returns the request's actor; only for routes behind requireUser.
func actor(r *http.Request) evently.Actor {
	a, _ := ActorFrom(r.Context())
	return a
}
