package api

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently"
)

// AuthDeps are the identity area's services.
type AuthDeps struct {
	Users       Users
	Sessions    Sessions
	Revocations Revocations
	Audit       AuditLog
	// BcryptCost is the work factor of new password hashes.
	BcryptCost int
}

// Users stores accounts.
type Users interface {
	// CreateUser fails with ECONFLICT when the email exists in any case.
	CreateUser(ctx context.Context, u *evently.User) error
	UserByEmail(ctx context.Context, email string) (evently.User, error)
	UserByID(ctx context.Context, id uuid.UUID) (evently.User, error)
	UpdateProfile(ctx context.Context, id uuid.UUID, fullName *string, passwordHash []byte) (evently.User, error)
	UpdateAccess(ctx context.Context, id uuid.UUID, role *evently.Role, disabled *bool) (before, after evently.User, err error)
	ListUsers(ctx context.Context, role evently.Role, q string, after uuid.UUID, limit int) ([]evently.User, error)
}

// Sessions are refresh-token families: one per login, rotated on each use.
type Sessions interface {
	Start(ctx context.Context, userID uuid.UUID) (family uuid.UUID, token string, err error)
	// Rotate spends a refresh token and returns the next. Reusing a spent
	// token revokes its family and fails with the family still returned.
	Rotate(ctx context.Context, token string) (userID, family uuid.UUID, next string, err error)
	EndFamily(ctx context.Context, family uuid.UUID) error
	EndAll(ctx context.Context, userID uuid.UUID) error
}

// Revocations is the access-token deny-list; Tokens.Revoked asks it.
type Revocations interface {
	DenyToken(ctx context.Context, jti string, until time.Time) error
	// RevokeSession refuses every access token issued with the session.
	RevokeSession(ctx context.Context, session uuid.UUID) error
	// RevokeUser refuses every access token of the user issued before at.
	RevokeUser(ctx context.Context, userID uuid.UUID, at time.Time) error
}

// AuditLog records who did what.
type AuditLog interface {
	Record(ctx context.Context, e AuditEntry) error
	// ListAudit returns entries older than the id before (0: newest), newest first.
	ListAudit(ctx context.Context, action string, actor uuid.UUID, before int64, limit int) ([]AuditEntry, error)
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID        int64           `json:"id"`
	ActorID   *uuid.UUID      `json:"actor_id,omitempty"`
	Action    string          `json:"action"`
	Target    string          `json:"target,omitempty"`
	IP        string          `json:"ip,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// Audit actions.
const (
	AuditRegister        = "register"
	AuditLogin           = "login"
	AuditLoginFailed     = "login_failed"
	AuditLogout          = "logout"
	AuditLogoutAll       = "logout_all"
	AuditRefreshReuse    = "refresh_reuse" // a spent refresh token came back: family revoked
	AuditPasswordChanged = "password_changed"
	AuditRoleChanged     = "role_changed"
	AuditUserDisabled    = "user_disabled"
	AuditUserEnabled     = "user_enabled"
	AuditAdminCreated    = "admin_created"
)

// TokenPair is what login, register and refresh return (RFC 6749 §5.1).
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

var (
	errBadCredentials = evently.Errorf(evently.EUNAUTHORIZED, "The email or password is not correct.")
	errDisabled       = evently.Errorf(evently.EFORBIDDEN, "This account is disabled.")
	errAuthDown       = evently.Errorf(evently.EUNAVAILABLE, "Accounts are not available right now.")
)

// dummyHashes holds, per bcrypt cost, a hash compared against when the
// email is unknown, so a wrong email takes as long as a wrong password and
// does not reveal which accounts exist. It must use the configured cost:
// at another cost the unknown-email path is measurably faster or slower.
var dummyHashes sync.Map // int -> []byte

func dummyHash(cost int) []byte {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("not-a-real-password-0"), cost)
	dummyHashes.Store(cost, h)
	return h
}

// mountAuth mounts accounts, tokens and admin routes.
func (s *Server) mountAuth(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.authReady)
		r.With(s.limit(ClassAuth)).Post("/auth/register", s.register)
		r.With(s.limit(ClassAuth)).Post("/auth/login", s.login)
		r.With(s.limit(ClassAuth)).Post("/auth/refresh", s.refresh)
		r.With(s.limit(ClassAuth), requireUser).Post("/auth/logout", s.logout)
		r.With(s.limit(ClassAuth), requireUser).Post("/auth/logout-all", s.logoutAll)
		r.With(s.limit(ClassReads), requireUser).Get("/me", s.me)
		r.With(s.limit(ClassAuth), requireUser).Patch("/me", s.updateMe)

		admin := requireRole(evently.RoleAdmin)
		r.With(s.limit(ClassReads), admin).Get("/admin/users", s.listUsers)
		r.With(s.limit(ClassReads), admin).Patch("/admin/users/{id}", s.updateUser)
		r.With(s.limit(ClassReads), admin).Get("/admin/audit", s.listAudit)
	})
}

// authReady answers 503 when the identity services are not wired.
func (s *Server) authReady(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.Auth
		if a.Users == nil || a.Sessions == nil || a.Revocations == nil || s.Tokens == nil {
			Error(w, r, errAuthDown)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		FullName string `json:"full_name"`
	}
	if decode(w, r, &in) != nil {
		return
	}
	in.Email, in.FullName = strings.TrimSpace(in.Email), strings.TrimSpace(in.FullName)
	fields := map[string]string{}
	if m := CheckEmail(in.Email); m != "" {
		fields["email"] = m
	}
	if m := CheckPassword(in.Email, in.Password); m != "" {
		fields["password"] = m
	}
	if m := CheckFullName(in.FullName); m != "" {
		fields["full_name"] = m
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.bcryptCost())
	if err != nil {
		Error(w, r, err)
		return
	}
	u := evently.User{ID: evently.NewID(), Email: in.Email, FullName: in.FullName, Role: evently.RoleUser, PasswordHash: hash}
	if err := s.Auth.Users.CreateUser(r.Context(), &u); err != nil {
		Error(w, r, err)
		return
	}
	s.audit(r, u.ID, AuditRegister, u.ID.String(), nil)
	pair, err := s.startSession(r.Context(), u)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/api/v1/me")
	writeJSON(w, http.StatusCreated, struct {
		User evently.User `json:"user"`
		TokenPair
	}{u, pair})
}

func (s *Server) bcryptCost() int {
	if c := s.Auth.BcryptCost; c >= bcrypt.MinCost && c <= bcrypt.MaxCost {
		return c
	}
	return bcrypt.DefaultCost
}

// login takes JSON {email, password} or, for OAuth2 password-flow clients,
// form fields username and password.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			httpError(w, r, http.StatusBadRequest, "malformed", "The form body cannot be read.")
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "" && gt != "password" {
			Error(w, r, evently.Invalid(map[string]string{"grant_type": "must be password"}))
			return
		}
		in.Email, in.Password = r.PostForm.Get("username"), r.PostForm.Get("password")
	} else if decode(w, r, &in) != nil {
		return
	}
	in.Email = strings.TrimSpace(in.Email)
	fields := map[string]string{}
	if in.Email == "" {
		fields["email"] = "is required"
	} else if len(in.Email) > maxEmailBytes {
		fields["email"] = "must be at most 254 characters"
	} else if !utf8.ValidString(in.Email) || strings.ContainsFunc(in.Email, unicode.IsControl) {
		fields["email"] = "must be an email address such as ada@example.com"
	}
	if in.Password == "" {
		fields["password"] = "is required"
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	if !s.allowLogin(w, r, in.Email) {
		return
	}
	u, err := s.Auth.Users.UserByEmail(r.Context(), in.Email)
	switch {
	case evently.ErrorCode(err) == evently.ENOTFOUND:
		_ = bcrypt.CompareHashAndPassword(dummyHash(s.bcryptCost()), []byte(in.Password))
		s.audit(r, uuid.Nil, AuditLoginFailed, in.Email, map[string]any{"reason": "unknown_email"})
		s.unauthorized(w, r, errBadCredentials)
		return
	case err != nil:
		Error(w, r, err)
		return
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(in.Password)) != nil {
		s.audit(r, uuid.Nil, AuditLoginFailed, u.ID.String(), map[string]any{"reason": "wrong_password"})
		s.unauthorized(w, r, errBadCredentials)
		return
	}
	if u.Disabled {
		s.audit(r, uuid.Nil, AuditLoginFailed, u.ID.String(), map[string]any{"reason": "disabled"})
		Error(w, r, errDisabled)
		return
	}
	pair, err := s.startSession(r.Context(), u)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.audit(r, u.ID, AuditLogin, u.ID.String(), nil)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, pair)
}

// startSession begins a refresh-token family and issues the first pair.
func (s *Server) startSession(ctx context.Context, u evently.User) (TokenPair, error) {
	family, refresh, err := s.Auth.Sessions.Start(ctx, u.ID)
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(u, family, refresh)
}

func (s *Server) pair(u evently.User, family uuid.UUID, refresh string) (TokenPair, error) {
	access, _, expires, err := s.Tokens.IssueSession(u.ID, u.Role, family)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "bearer",
		ExpiresIn: int(time.Until(expires).Round(time.Second).Seconds())}, nil
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if decode(w, r, &in) != nil {
		return
	}
	if in.RefreshToken == "" {
		Error(w, r, evently.Invalid(map[string]string{"refresh_token": "is required"}))
		return
	}
	userID, family, next, err := s.Auth.Sessions.Rotate(r.Context(), in.RefreshToken)
	if err != nil {
		if family != uuid.Nil {
			// A spent token came back: the family is revoked, and so is
			// every access token issued with it (the thief's included).
			if rerr := s.Auth.Revocations.RevokeSession(r.Context(), family); rerr != nil {
				Error(w, r, unavailable(rerr))
				return
			}
			s.audit(r, uuid.Nil, AuditRefreshReuse, userID.String(), map[string]any{"family": family})
		}
		s.unauthorized(w, r, err)
		return
	}
	u, err := s.Auth.Users.UserByID(r.Context(), userID)
	if err == nil && u.Disabled {
		_ = s.Auth.Sessions.EndFamily(r.Context(), family)
		err = errDisabled
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	pair, err := s.pair(u, family, next)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, pair)
}

// logout denies this access token until it expires, ends the refresh
// family it was issued with and refuses every other access token of that
// session (login).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	until := tokenExpiry(r.Context()).Add(s.Tokens.Leeway)
	if err := s.Auth.Revocations.DenyToken(r.Context(), a.TokenID, until); err != nil {
		Error(w, r, unavailable(err))
		return
	}
	if family := s.Tokens.session(bearer(r)); family != uuid.Nil {
		if err := s.Auth.Revocations.RevokeSession(r.Context(), family); err != nil {
			Error(w, r, unavailable(err))
			return
		}
		if err := s.Auth.Sessions.EndFamily(r.Context(), family); err != nil {
			Error(w, r, err)
			return
		}
	}
	s.audit(r, a.UserID, AuditLogout, a.UserID.String(), nil)
	w.WriteHeader(http.StatusNoContent)
}

// logoutAll ends every session of the user and refuses every access token
// issued so far, this one included.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	if err := s.Auth.Sessions.EndAll(r.Context(), a.UserID); err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Auth.Revocations.RevokeUser(r.Context(), a.UserID, time.Now()); err != nil {
		Error(w, r, unavailable(err))
		return
	}
	s.audit(r, a.UserID, AuditLogoutAll, a.UserID.String(), nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	u, err := s.currentUser(r)
	if err != nil {
		s.unauthorized(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// updateMe changes the full name and/or the password. A new password needs
// the current one and signs out every session: refresh tokens end, and
// every access token issued so far (this one included) is refused, so a
// thief holding one loses it with the password.
func (s *Server) updateMe(w http.ResponseWriter, r *http.Request) {
	var in struct {
		FullName        *string `json:"full_name"`
		Password        *string `json:"password"`
		CurrentPassword string  `json:"current_password"`
	}
	if decode(w, r, &in) != nil {
		return
	}
	u, err := s.currentUser(r)
	if err != nil {
		s.unauthorized(w, r, err)
		return
	}
	fields := map[string]string{}
	if in.FullName == nil && in.Password == nil {
		fields["full_name"] = "send full_name and/or password to change"
	}
	if in.FullName != nil {
		*in.FullName = strings.TrimSpace(*in.FullName)
		if m := CheckFullName(*in.FullName); m != "" {
			fields["full_name"] = m
		}
	}
	var hash []byte
	if in.Password != nil {
		if m := CheckPassword(u.Email, *in.Password); m != "" {
			fields["password"] = m
		}
		switch {
		case in.CurrentPassword == "":
			fields["current_password"] = "is required to change the password"
		case bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(in.CurrentPassword)) != nil:
			fields["current_password"] = "is not correct"
		}
		if len(fields) == 0 {
			if hash, err = bcrypt.GenerateFromPassword([]byte(*in.Password), s.bcryptCost()); err != nil {
				Error(w, r, err)
				return
			}
		}
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	u, err = s.Auth.Users.UpdateProfile(r.Context(), u.ID, in.FullName, hash)
	if err != nil {
		Error(w, r, err)
		return
	}
	if hash != nil {
		if err := s.Auth.Sessions.EndAll(r.Context(), u.ID); err != nil {
			Error(w, r, err)
			return
		}
		if err := s.Auth.Revocations.RevokeUser(r.Context(), u.ID, time.Now()); err != nil {
			Error(w, r, unavailable(err))
			return
		}
		s.audit(r, u.ID, AuditPasswordChanged, u.ID.String(), nil)
	}
	writeJSON(w, http.StatusOK, u)
}

// currentUser loads the signed-in account; a deleted or disabled one
// counts as signed out.
func (s *Server) currentUser(r *http.Request) (evently.User, error) {
	u, err := s.Auth.Users.UserByID(r.Context(), actor(r).UserID)
	switch {
	case evently.ErrorCode(err) == evently.ENOTFOUND || (err == nil && u.Disabled):
		return evently.User{}, errBadToken
	case err != nil:
		return evently.User{}, err
	}
	return u, nil
}

// unauthorized answers err, adding the challenge RFC 9110 asks of a 401.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if evently.ErrorCode(err) == evently.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="evently"`)
	}
	Error(w, r, err)
}

// unavailable reports a Redis failure without its text.
func unavailable(err error) error {
	if e := evently.AsError(err); e != nil {
		return e
	}
	return &evently.Error{Code: evently.EUNAVAILABLE, Message: "Cannot reach the token store right now; try again shortly.", RetryAfter: 1}
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// audit records an entry; a failure to record is logged, not fatal to the
// request, and a client hanging up does not cut the write short.
func (s *Server) audit(r *http.Request, actorID uuid.UUID, action, target string, detail map[string]any) {
	if s.Auth.Audit == nil {
		return
	}
	e := AuditEntry{Action: action, Target: target, IP: s.clientIP(r)}
	if actorID != uuid.Nil {
		e.ActorID = &actorID
	}
	if detail != nil {
		e.Detail, _ = json.Marshal(detail)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := s.Auth.Audit.Record(ctx, e); err != nil {
		s.Logger.WarnContext(r.Context(), "audit write failed", "action", action, traceAttr(r), "err", err)
	}
}
