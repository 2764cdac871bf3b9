package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
)

const goodPassword = "Correct-horse-9"

// account is a registered user and its first tokens.
type account struct {
	email, password string
	user            evently.User
	api.TokenPair
}

func uniqueEmail(tag string) string { return tag + "-" + evtest.Suffix() + "@example.com" }

// registerAccount registers a fresh user and fails the test otherwise.
func registerAccount(t *testing.T, a *apptest.App) account {
	t.Helper()
	acc := account{email: uniqueEmail("u"), password: goodPassword}
	res := a.Do("POST", "/api/v1/auth/register", "", map[string]string{"email": acc.email, "password": acc.password, "full_name": "Ada Lovelace"})
	if res.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Status, res.Body)
	}
	var out struct {
		User evently.User `json:"user"`
		api.TokenPair
	}
	res.JSON(t, &out)
	acc.user, acc.TokenPair = out.User, out.TokenPair
	return acc
}

func loginJSON(a *apptest.App, email, password string) apptest.Response {
	return a.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
}

func loginPair(t *testing.T, a *apptest.App, email, password string) api.TokenPair {
	t.Helper()
	res := loginJSON(a, email, password)
	if res.Status != http.StatusOK {
		t.Fatalf("login: %d %s", res.Status, res.Body)
	}
	var p api.TokenPair
	res.JSON(t, &p)
	return p
}

func refreshWith(a *apptest.App, token string) apptest.Response {
	return a.Do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
}

// problemOf decodes a problem answer and checks its shape.
func problemOf(t *testing.T, res apptest.Response) api.Problem {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q for %d: %s", ct, res.Status, res.Body)
	}
	var p api.Problem
	res.JSON(t, &p)
	if p.Status != res.Status || p.Code == "" || p.RequestID == "" {
		t.Fatalf("problem %+v", p)
	}
	if res.Status == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without a WWW-Authenticate challenge: %v", res.Header)
	}
	return p
}

func TestRegister(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	taken := registerAccount(t, a)
	long := strings.Repeat("Ab1", 25) // 75 bytes
	tests := []struct {
		name        string
		body        any
		contentType string
		status      int
		field       string // the field a 422 names
	}{
		{"ok", map[string]string{"email": uniqueEmail("new"), "password": goodPassword, "full_name": "Grace Hopper"}, "", 201, ""},
		{"ok with unicode password", map[string]string{"email": uniqueEmail("uni"), "password": "pässwörd-ÄÖÜ", "full_name": "Zoë"}, "", 201, ""},
		{"duplicate email", map[string]string{"email": taken.email, "password": goodPassword, "full_name": "X"}, "", 409, ""},
		{"duplicate email in other case", map[string]string{"email": strings.ToUpper(taken.email), "password": goodPassword, "full_name": "X"}, "", 409, ""},
		{"short password", map[string]string{"email": uniqueEmail("p"), "password": "Ab1-short", "full_name": "X"}, "", 422, "password"},
		{"one character class", map[string]string{"email": uniqueEmail("p"), "password": "abcdefghijklmnop", "full_name": "X"}, "", 422, "password"},
		{"password is the email", map[string]string{"email": "Mixed.Case9@example.com", "password": "mixed.case9@example.com", "full_name": "X"}, "", 422, "password"},
		{"password over 72 bytes", map[string]string{"email": uniqueEmail("p"), "password": long, "full_name": "X"}, "", 422, "password"},
		{"no password", map[string]string{"email": uniqueEmail("p"), "full_name": "X"}, "", 422, "password"},
		{"bad email", map[string]string{"email": "not-an-email", "password": goodPassword, "full_name": "X"}, "", 422, "email"},
		{"email with display name", map[string]string{"email": "Ada <ada@example.com>", "password": goodPassword, "full_name": "X"}, "", 422, "email"},
		{"email without a dot in the domain", map[string]string{"email": "ada@localhost", "password": goodPassword, "full_name": "X"}, "", 422, "email"},
		{"no full name", map[string]string{"email": uniqueEmail("n"), "password": goodPassword}, "", 422, "full_name"},
		{"malformed JSON", `{"email":`, "", 400, ""},
		{"unknown field", map[string]string{"email": uniqueEmail("n"), "password": goodPassword, "full_name": "X", "role": "admin"}, "", 400, ""},
		{"wrong content type", "email=a", "text/plain", 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			res := a.Do("POST", "/api/v1/auth/register", "", tt.body, hdr...)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.status == http.StatusCreated {
				var out struct {
					User map[string]any `json:"user"`
					api.TokenPair
				}
				res.JSON(t, &out)
				if out.User["role"] != "user" || out.AccessToken == "" || out.RefreshToken == "" || out.TokenType != "bearer" || out.ExpiresIn <= 0 {
					t.Fatalf("register answer %s", res.Body)
				}
				if _, leaked := out.User["password_hash"]; leaked || strings.Contains(string(res.Body), "$2a$") {
					t.Fatalf("password hash in the answer: %s", res.Body)
				}
				if me := a.Do("GET", "/api/v1/me", out.AccessToken, nil); me.Status != http.StatusOK {
					t.Fatalf("me with the new token: %d %s", me.Status, me.Body)
				}
				return
			}
			p := problemOf(t, res)
			if tt.field != "" && p.Errors[tt.field] == "" {
				t.Fatalf("no message for %s: %+v", tt.field, p)
			}
		})
	}
}

// Of three registrations of one email at the same moment, exactly one wins.
func TestRegisterConcurrentSameEmail(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	for round := range 5 {
		email := uniqueEmail("race")
		variants := []string{email, strings.ToUpper(email), strings.ToUpper(email[:1]) + email[1:]}
		statuses := make([]int, len(variants))
		var wg sync.WaitGroup
		for i, e := range variants {
			wg.Go(func() {
				statuses[i] = a.Do("POST", "/api/v1/auth/register", "", map[string]string{"email": e, "password": goodPassword, "full_name": "Racer"}).Status
			})
		}
		wg.Wait()
		created, conflicts := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				conflicts++
			}
		}
		if created != 1 || conflicts != 2 {
			t.Fatalf("round %d: statuses %v, want one 201 and two 409", round, statuses)
		}
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	acc := registerAccount(t, a)
	disabled := registerAccount(t, a)
	if _, err := a.DB.Exec(`UPDATE users SET disabled = true WHERE id = $1`, disabled.user.ID); err != nil {
		t.Fatal(err)
	}
	form := func(v url.Values) string { return v.Encode() }
	formCT := []string{"Content-Type", "application/x-www-form-urlencoded"}
	tests := []struct {
		name   string
		body   any
		hdr    []string
		status int
	}{
		{"json", map[string]string{"email": acc.email, "password": acc.password}, nil, 200},
		{"json, email in other case", map[string]string{"email": strings.ToUpper(acc.email), "password": acc.password}, nil, 200},
		{"form", form(url.Values{"username": {acc.email}, "password": {acc.password}}), formCT, 200},
		{"form with grant_type", form(url.Values{"grant_type": {"password"}, "username": {acc.email}, "password": {acc.password}}), formCT, 200},
		{"form with another grant_type", form(url.Values{"grant_type": {"client_credentials"}, "username": {acc.email}, "password": {acc.password}}), formCT, 422},
		{"form, wrong password", form(url.Values{"username": {acc.email}, "password": {"Wrong-password-1"}}), formCT, 401},
		{"wrong password", map[string]string{"email": acc.email, "password": "Wrong-password-1"}, nil, 401},
		{"unknown email", map[string]string{"email": uniqueEmail("nobody"), "password": acc.password}, nil, 401},
		{"disabled account", map[string]string{"email": disabled.email, "password": disabled.password}, nil, 403},
		{"disabled account, wrong password", map[string]string{"email": disabled.email, "password": "Wrong-password-1"}, nil, 401},
		{"no password", map[string]string{"email": acc.email}, nil, 422},
		{"no email", map[string]string{"password": acc.password}, nil, 422},
		{"malformed JSON", `{"email": "a"`, nil, 400},
		{"malformed form", "%zz=%", formCT, 400},
		{"wrong content type", "hello", []string{"Content-Type", "text/plain"}, 415},
	}
	t.Run("cases", func(t *testing.T) { // returns when the parallel cases are done
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				res := a.Do("POST", "/api/v1/auth/login", "", tt.body, tt.hdr...)
				if res.Status != tt.status {
					t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
				}
				if tt.status != http.StatusOK {
					problemOf(t, res)
					return
				}
				var p api.TokenPair
				res.JSON(t, &p)
				if p.TokenType != "bearer" || p.AccessToken == "" || p.RefreshToken == "" || p.ExpiresIn < 800 || p.ExpiresIn > 900 {
					t.Fatalf("pair %+v", p)
				}
				if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("Cache-Control %q", cc)
				}
			})
		}
	})
	// Wrong and unknown logins are audited, without the password.
	var n int
	if err := a.DB.Get(&n, `SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND detail::text NOT LIKE '%password-1%'`); err != nil || n < 4 {
		t.Fatalf("login_failed entries: %d (%v)", n, err)
	}
}

// Every kind of bad access token gets 401 with a challenge.
func TestAccessTokenFailures(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	acc := registerAccount(t, a)
	uid, role := acc.user.ID, acc.user.Role
	issueWith := func(adjust func(*api.Tokens)) string {
		tk := *a.Server.Tokens
		adjust(&tk)
		token, _, _, err := tk.Issue(uid, role)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	expired := issueWith(func(tk *api.Tokens) { tk.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	future := issueWith(func(tk *api.Tokens) { tk.Now = func() time.Time { return time.Now().Add(time.Hour) } })
	// Minted when the subtest runs: parallel subtests may wait for a slot.
	withinSkew := func() string {
		return issueWith(func(tk *api.Tokens) {
			tk.Now = func() time.Time { return time.Now().Add(-a.Server.Tokens.AccessTTL - a.Server.Tokens.Leeway/2) }
		})
	}
	wrongAud := issueWith(func(tk *api.Tokens) { tk.Audience = "someone-else" })
	wrongIss := issueWith(func(tk *api.Tokens) { tk.Issuer = "someone-else" })
	wrongKey := issueWith(func(tk *api.Tokens) { tk.Secret = []byte("another-secret-0123456789abcdef0123") })
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": uid.String(), "role": "admin", "jti": "x", "iss": a.Server.Tokens.Issuer, "aud": a.Server.Tokens.Audience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(acc.AccessToken, ".")
	tamperedPayload := parts[0] + "." + strings.Replace(parts[1], parts[1][5:6], flipChar(parts[1][5:6]), 1) + "." + parts[2]
	tamperedSig := parts[0] + "." + parts[1] + "." + flipChar(parts[2][:1]) + parts[2][1:]

	loggedOut := loginPair(t, a, acc.email, acc.password)
	if res := a.Do("POST", "/api/v1/auth/logout", loggedOut.AccessToken, nil); res.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}

	tests := []struct {
		name, header string
		status       int
		mint         func() string // instead of header
	}{
		{"valid", "Bearer " + acc.AccessToken, 200, nil},
		{"expired but within the clock skew", "", 200, withinSkew},
		{"no token", "", 401, nil},
		{"garbage", "Bearer not.a.jwt", 401, nil},
		{"empty bearer", "Bearer ", 401, nil},
		{"basic scheme", "Basic dXNlcjpwYXNz", 401, nil},
		{"expired", "Bearer " + expired, 401, nil},
		{"issued in the future", "Bearer " + future, 401, nil},
		{"wrong audience", "Bearer " + wrongAud, 401, nil},
		{"wrong issuer", "Bearer " + wrongIss, 401, nil},
		{"wrong key", "Bearer " + wrongKey, 401, nil},
		{"alg none", "Bearer " + none, 401, nil},
		{"tampered payload", "Bearer " + tamperedPayload, 401, nil},
		{"tampered signature", "Bearer " + tamperedSig, 401, nil},
		{"logged out", "Bearer " + loggedOut.AccessToken, 401, nil},
		{"refresh token as access token", "Bearer " + acc.RefreshToken, 401, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tt.mint != nil {
				tt.header = "Bearer " + tt.mint()
			}
			if tt.header != "" {
				hdr = []string{"Authorization", tt.header}
			}
			res := a.Do("GET", "/api/v1/me", "", nil, hdr...)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.status != http.StatusOK {
				if p := problemOf(t, res); p.Code != evently.EUNAUTHORIZED {
					t.Fatalf("code %q", p.Code)
				}
			}
		})
	}
}

func flipChar(s string) string {
	if s == "A" {
		return "B"
	}
	return "A"
}

// A refresh token works once; replaying a spent one revokes its family,
// including the token that replaced it, and leaves other logins alone.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	acc := registerAccount(t, a)
	other := loginPair(t, a, acc.email, acc.password)

	res := refreshWith(a, acc.RefreshToken)
	if res.Status != http.StatusOK {
		t.Fatalf("first refresh: %d %s", res.Status, res.Body)
	}
	var next api.TokenPair
	res.JSON(t, &next)
	if next.RefreshToken == acc.RefreshToken || next.AccessToken == "" {
		t.Fatalf("not rotated: %+v", next)
	}
	if me := a.Do("GET", "/api/v1/me", next.AccessToken, nil); me.Status != http.StatusOK {
		t.Fatalf("new access token: %d", me.Status)
	}
	if res := refreshWith(a, acc.RefreshToken); res.Status != http.StatusUnauthorized {
		t.Fatalf("replayed token: %d %s", res.Status, res.Body)
	} else {
		problemOf(t, res)
	}
	if res := refreshWith(a, next.RefreshToken); res.Status != http.StatusUnauthorized {
		t.Fatalf("successor after replay: %d %s, want 401 (family revoked)", res.Status, res.Body)
	}
	if res := refreshWith(a, other.RefreshToken); res.Status != http.StatusOK {
		t.Fatalf("another login's family: %d %s", res.Status, res.Body)
	}
	var reuses int
	if err := a.DB.Get(&reuses, `SELECT count(*) FROM audit_log WHERE action = 'refresh_reuse' AND target = $1`, acc.user.ID.String()); err != nil || reuses != 1 {
		t.Fatalf("refresh_reuse entries %d (%v)", reuses, err)
	}

	for _, tt := range []struct {
		name   string
		body   any
		status int
	}{
		{"unknown token", map[string]string{"refresh_token": "bm90LWEtdG9rZW4"}, 401},
		{"huge token", map[string]string{"refresh_token": strings.Repeat("x", 10000)}, 401},
		{"empty", map[string]string{"refresh_token": ""}, 422},
		{"malformed", `{"refresh_token": 12}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := a.Do("POST", "/api/v1/auth/refresh", "", tt.body)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			problemOf(t, res)
		})
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	acc := registerAccount(t, a)
	second := loginPair(t, a, acc.email, acc.password)

	if res := a.Do("POST", "/api/v1/auth/logout", "", nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous logout: %d", res.Status)
	}
	if res := a.Do("POST", "/api/v1/auth/logout", acc.AccessToken, nil); res.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}
	if res := a.Do("GET", "/api/v1/me", acc.AccessToken, nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("access token after logout: %d", res.Status)
	}
	if res := refreshWith(a, acc.RefreshToken); res.Status != http.StatusUnauthorized {
		t.Fatalf("refresh token after logout: %d", res.Status)
	}
	if res := a.Do("GET", "/api/v1/me", second.AccessToken, nil); res.Status != http.StatusOK {
		t.Fatalf("another session after logout: %d", res.Status)
	}

	// Logging out everywhere ends every session and token, and a login right
	// after (same second) works.
	third := loginPair(t, a, acc.email, acc.password)
	if res := a.Do("POST", "/api/v1/auth/logout-all", third.AccessToken, nil); res.Status != http.StatusNoContent {
		t.Fatalf("logout-all: %d %s", res.Status, res.Body)
	}
	for _, p := range []api.TokenPair{second, third} {
		if res := a.Do("GET", "/api/v1/me", p.AccessToken, nil); res.Status != http.StatusUnauthorized {
			t.Fatalf("access token after logout-all: %d", res.Status)
		}
		if res := refreshWith(a, p.RefreshToken); res.Status != http.StatusUnauthorized {
			t.Fatalf("refresh token after logout-all: %d", res.Status)
		}
	}
	fresh := loginPair(t, a, acc.email, acc.password)
	if res := a.Do("GET", "/api/v1/me", fresh.AccessToken, nil); res.Status != http.StatusOK {
		t.Fatalf("login after logout-all: %d %s", res.Status, res.Body)
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	acc := registerAccount(t, a)
	res := a.Do("GET", "/api/v1/me", acc.AccessToken, nil)
	var me evently.User
	res.JSON(t, &me)
	if res.Status != http.StatusOK || me.Email != acc.email || me.ID != acc.user.ID || me.Role != evently.RoleUser {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}

	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"rename", map[string]any{"full_name": "  Ada King  "}, 200, ""},
		{"nothing to change", map[string]any{}, 422, "full_name"},
		{"empty name", map[string]any{"full_name": " "}, 422, "full_name"},
		{"new password without the current", map[string]any{"password": "Another-pass-22"}, 422, "current_password"},
		{"new password, wrong current", map[string]any{"password": "Another-pass-22", "current_password": "Wrong-password-1"}, 422, "current_password"},
		{"weak new password", map[string]any{"password": "short", "current_password": goodPassword}, 422, "password"},
		{"cannot change role", map[string]any{"role": "admin"}, 400, ""},
		{"malformed", `{"full_name": [1]}`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.Do("PATCH", "/api/v1/me", acc.AccessToken, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.status >= 400 {
				if p := problemOf(t, res); tt.field != "" && p.Errors[tt.field] == "" {
					t.Fatalf("no message for %s: %+v", tt.field, p)
				}
			}
		})
	}
	res = a.Do("GET", "/api/v1/me", acc.AccessToken, nil)
	res.JSON(t, &me)
	if me.FullName != "Ada King" {
		t.Fatalf("full name %q", me.FullName)
	}

	// Changing the password signs out every session.
	const newPassword = "Another-pass-22"
	res = a.Do("PATCH", "/api/v1/me", acc.AccessToken, map[string]any{"password": newPassword, "current_password": acc.password})
	if res.Status != http.StatusOK {
		t.Fatalf("change password: %d %s", res.Status, res.Body)
	}
	if res := loginJSON(a, acc.email, acc.password); res.Status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", res.Status)
	}
	if res := refreshWith(a, acc.RefreshToken); res.Status != http.StatusUnauthorized {
		t.Fatalf("refresh after password change: %d", res.Status)
	}
	loginPair(t, a, acc.email, newPassword)
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	adminID, admin := a.User(evently.RoleAdmin)
	var accs []account
	for range 3 {
		accs = append(accs, registerAccount(t, a))
	}
	target := accs[0]

	// Pagination walks every user exactly once.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		res := a.Do("GET", "/api/v1/admin/users?limit=2&cursor="+cursor, admin, nil)
		if res.Status != http.StatusOK || pages > 10 {
			t.Fatalf("page %d: %d %s", pages, res.Status, res.Body)
		}
		var p struct {
			Items      []evently.User `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		res.JSON(t, &p)
		for _, u := range p.Items {
			if seen[u.ID.String()] {
				t.Fatalf("user %s twice", u.ID)
			}
			seen[u.ID.String()] = true
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 4 {
		t.Fatalf("saw %d users, want 4", len(seen))
	}
	for _, tt := range []struct {
		query  string
		status int
		count  int
	}{
		{"role=admin", 200, 1},
		{"role=user", 200, 3},
		{"q=" + url.QueryEscape(strings.ToUpper(target.email[:10])), 200, 1},
		{"q=%25", 200, 0}, // a literal %, not a wildcard
		{"role=king", 422, 0},
		{"limit=0", 422, 0},
		{"limit=abc", 422, 0},
		{"cursor=nope", 422, 0},
	} {
		res := a.Do("GET", "/api/v1/admin/users?"+tt.query, admin, nil)
		if res.Status != tt.status {
			t.Fatalf("%s: %d %s", tt.query, res.Status, res.Body)
		}
		if tt.status == 200 {
			var p struct{ Items []evently.User }
			res.JSON(t, &p)
			if len(p.Items) != tt.count {
				t.Fatalf("%s: %d users, want %d", tt.query, len(p.Items), tt.count)
			}
		} else {
			problemOf(t, res)
		}
	}

	patch := func(id, body any) apptest.Response {
		return a.Do("PATCH", fmt.Sprintf("/api/v1/admin/users/%v", id), admin, body)
	}
	for _, tt := range []struct {
		name   string
		id     any
		body   any
		status int
	}{
		{"unknown user", evently.NewID(), map[string]any{"role": "organizer"}, 404},
		{"not an id", "abc", map[string]any{"role": "organizer"}, 404},
		{"unknown role", target.user.ID, map[string]any{"role": "king"}, 422},
		{"nothing to change", target.user.ID, map[string]any{}, 422},
		{"demote myself", adminID, map[string]any{"role": "user"}, 409},
		{"disable myself", adminID, map[string]any{"disabled": true}, 409},
	} {
		res := patch(tt.id, tt.body)
		if res.Status != tt.status {
			t.Fatalf("%s: %d %s", tt.name, res.Status, res.Body)
		}
		problemOf(t, res)
	}

	// A role change refuses the older tokens; a new login carries the new role.
	if res := patch(target.user.ID, map[string]any{"role": "organizer"}); res.Status != http.StatusOK {
		t.Fatalf("promote: %d %s", res.Status, res.Body)
	}
	if res := a.Do("GET", "/api/v1/me", target.AccessToken, nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("token from before the role change: %d", res.Status)
	}
	p := loginPair(t, a, target.email, target.password)
	res := a.Do("GET", "/api/v1/me", p.AccessToken, nil)
	var me evently.User
	res.JSON(t, &me)
	if res.Status != http.StatusOK || me.Role != evently.RoleOrganizer {
		t.Fatalf("after promotion: %d %s", res.Status, res.Body)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(p.AccessToken, claims); err != nil || claims["role"] != "organizer" {
		t.Fatalf("claims %v (%v)", claims, err)
	}

	// Disabling stops every token at once and refuses logins; enabling
	// lets the user back in.
	if res := patch(target.user.ID, map[string]any{"disabled": true}); res.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", res.Status, res.Body)
	}
	if res := a.Do("GET", "/api/v1/me", p.AccessToken, nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("token of a disabled user: %d", res.Status)
	}
	if res := refreshWith(a, p.RefreshToken); res.Status != http.StatusUnauthorized {
		t.Fatalf("refresh of a disabled user: %d", res.Status)
	}
	if res := loginJSON(a, target.email, target.password); res.Status != http.StatusForbidden {
		t.Fatalf("login of a disabled user: %d", res.Status)
	}
	if res := patch(target.user.ID, map[string]any{"disabled": false}); res.Status != http.StatusOK {
		t.Fatalf("enable: %d %s", res.Status, res.Body)
	}
	loginPair(t, a, target.email, target.password)

	// The audit log has it all, newest first, paginated.
	var actions []string
	cursor = ""
	for {
		res := a.Do("GET", "/api/v1/admin/audit?limit=3&cursor="+cursor, admin, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("audit: %d %s", res.Status, res.Body)
		}
		var p struct {
			Items      []api.AuditEntry `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		res.JSON(t, &p)
		for _, e := range p.Items {
			actions = append(actions, e.Action)
			if e.Action == api.AuditRoleChanged && (e.ActorID == nil || *e.ActorID != adminID || e.Target != target.user.ID.String() || e.IP == "") {
				t.Fatalf("role change entry %+v", e)
			}
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	joined := strings.Join(actions, ",")
	for _, want := range []string{"register", "role_changed", "user_disabled", "user_enabled", "login_failed", "login"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("audit lacks %s: %s", want, joined)
		}
	}
	if !strings.HasPrefix(joined, "login,user_enabled,") {
		t.Fatalf("not newest first: %s", joined)
	}
	res = a.Do("GET", "/api/v1/admin/audit?action=user_disabled", admin, nil)
	var filtered struct{ Items []api.AuditEntry }
	res.JSON(t, &filtered)
	if len(filtered.Items) != 1 {
		t.Fatalf("filtered audit: %s", res.Body)
	}
	if res := a.Do("GET", "/api/v1/admin/audit?cursor=-4", admin, nil); res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad audit cursor: %d", res.Status)
	}
}

// CORS answers only the configured origins.
func TestCORS(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.Auth.CORSOrigins = []string{"https://tickets.example.com"}
	}})
	for _, tt := range []struct {
		origin string
		allow  string
	}{
		{"https://tickets.example.com", "https://tickets.example.com"},
		{"https://evil.example.com", ""},
	} {
		res := a.Do("OPTIONS", "/api/v1/auth/login", "", nil, "Origin", tt.origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.allow {
			t.Fatalf("%s: allow-origin %q, want %q (%d)", tt.origin, got, tt.allow, res.Status)
		}
	}
	// Without configured origins there are no CORS headers at all.
	b := apptest.Start(t, apptest.Options{})
	res := b.Do("GET", "/healthz", "", nil, "Origin", "https://tickets.example.com")
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("allow-origin %q without configuration", got)
	}
}
