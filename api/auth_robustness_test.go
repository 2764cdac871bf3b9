package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/evtest/apptest"
)

// identityRoutes are every route of the identity area.
var identityRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/auth/register"},
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/refresh"},
	{"POST", "/api/v1/auth/logout"},
	{"POST", "/api/v1/auth/logout-all"},
	{"GET", "/api/v1/me"},
	{"PATCH", "/api/v1/me"},
	{"GET", "/api/v1/admin/users?limit=%ZZ&cursor=%00"},
	{"PATCH", "/api/v1/admin/users/" + uuid.Nil.String()},
	{"GET", "/api/v1/admin/audit?cursor=99999999999999999999999"},
	{"GET", "/api/v1/admin/users?q=%00%ff&role=%00"},
	{"GET", "/api/v1/admin/audit?action=%00%ff&actor=%00"},
}

var malformedBodies = []string{
	"", "null", "[]", "{", "}", `"string"`, "0", `{"email":5}`, `{"email":"a@b.co","password":null}`,
	`{"email":"` + strings.Repeat("a", 5000) + `@example.com","password":"x","full_name":"y"}`,
	`{"password":"` + strings.Repeat("Ab1-", 5000) + `"}`,
	"{\"email\":\"\xff\xfe@example.com\",\"password\":\"\x00\x01Password-123\",\"full_name\":\"\u202e\"}",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	`{"role":"admin","disabled":"yes"}`, `{"role":{"$ne":null}}`, `{"full_name":"x","full_name":"y"}`,
	`{"refresh_token":"' OR 1=1 --"}`, `{"email":"' OR 1=1 --@x.io","password":"' OR 1=1 --"}`,
	"username=%00&password=%ff", "username=a&username=b&password=c&grant_type=",
	strings.Repeat("x", 2<<20),
}

var malformedContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "text/plain", "a/b;;;", "multipart/form-data; boundary=x", ""}

var malformedAuth = []string{"", "Bearer", "Bearer ", "Bearer a.b.c", "Bearer " + strings.Repeat("A", 60000), "bearer \x7f", "Token xyz",
	"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZZZ"}

// No malformed body, content type or token makes the identity routes fail
// with a 5xx, answer without problem+json, or leak internals.
func TestMalformedInputNeverFailsInternally(t *testing.T) {
	t.Parallel()
	var logs apptest.Logs
	a := apptest.Start(t, apptest.Options{LogTo: &logs})
	_, admin := a.User(evently.RoleAdmin)
	auths := append(malformedAuth, "Bearer "+admin)
	for _, rt := range identityRoutes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			t.Parallel()
			for _, body := range malformedBodies {
				for _, ct := range malformedContentTypes {
					for _, auth := range []string{"", "Bearer " + admin} {
						res := send(t, a.URL, rt.method, rt.path, body, ct, auth)
						checkAnswer(t, a, res, rt.method+" "+rt.path, body, ct, auth)
					}
				}
			}
			for _, auth := range auths {
				for _, body := range []string{"", "{}", malformedBodies[7]} {
					res := send(t, a.URL, rt.method, rt.path, body, "application/json", auth)
					checkAnswer(t, a, res, rt.method+" "+rt.path, body, "application/json", auth)
				}
			}
		})
	}
	t.Cleanup(func() {
		if out := logs.String(); strings.Contains(out, "panic") || strings.Contains(out, "internal error") {
			t.Errorf("the log shows a panic or internal error:\n%.2000s", out)
		}
	})
}

// FuzzIdentityBodies sends arbitrary bodies, content types and
// Authorization headers to the identity routes (seed corpus under go test;
// `go test -fuzz FuzzIdentityBodies ./api` explores further).
func FuzzIdentityBodies(f *testing.F) {
	for i, b := range malformedBodies {
		if len(b) < 10000 {
			f.Add(uint8(i), b, malformedContentTypes[i%len(malformedContentTypes)], malformedAuth[i%len(malformedAuth)])
		}
	}
	a := apptest.Start(f, apptest.Options{})
	f.Fuzz(func(t *testing.T, route uint8, body, ct, auth string) {
		rt := identityRoutes[int(route)%len(identityRoutes)]
		res := send(t, a.URL, rt.method, rt.path, body, ct, auth)
		checkAnswer(t, a, res, rt.method+" "+rt.path, body, ct, auth)
	})
}

type answer struct {
	req    *http.Request
	status int
	header http.Header
	body   string
}

func send(t *testing.T, base, method, path, body, ct, auth string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header["Authorization"] = []string{auth} // as sent, even if invalid
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		// Go's client refuses some header values itself; nothing was sent.
		if strings.Contains(err.Error(), "invalid header field value") {
			return answer{status: 400}
		}
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{req, res.StatusCode, res.Header, string(b)}
}

func checkAnswer(t *testing.T, a *apptest.App, res answer, route, body, ct, auth string) {
	t.Helper()
	what := func() string { return route + " ct=" + ct + " auth=" + trunc(auth) + " body=" + trunc(body) }
	if res.status >= 500 && res.status != http.StatusServiceUnavailable || res.status == 0 {
		t.Fatalf("%s: status %d %s", what(), res.status, res.body)
	}
	if res.status >= 400 && res.header != nil && res.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s: %d as %q", what(), res.status, res.header.Get("Content-Type"))
	}
	if res.req != nil {
		if msgs := apptest.CheckResponse(res.req, res.status, res.header, []byte(res.body)); len(msgs) > 0 {
			t.Fatalf("%s: %d disagrees with openapi.yaml:\n\t%s\nbody: %s", what(), res.status, strings.Join(msgs, "\n\t"), trunc(res.body))
		}
	}
	for _, leak := range []string{"goroutine ", "panic", "runtime.", "pq:", "sql:", "redis:", a.Config.Auth.JWTSecret, "$2a$"} {
		if strings.Contains(res.body, leak) {
			t.Fatalf("%s: answer leaks %q: %s", what(), leak, trunc(res.body))
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Passwords and tokens never reach the log, whatever happens to them.
func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	var logs apptest.Logs
	a := apptest.Start(t, apptest.Options{LogTo: &logs})
	acc := registerAccount(t, a)
	secrets := []string{acc.password, acc.AccessToken, acc.RefreshToken, a.Config.Auth.JWTSecret}
	wrong := "Wrong-password-77"
	secrets = append(secrets, wrong)

	loginJSON(a, acc.email, wrong)
	a.Do("POST", "/api/v1/auth/login", "", "username="+acc.email+"&password="+wrong, "Content-Type", "application/x-www-form-urlencoded")
	p := loginPair(t, a, acc.email, acc.password)
	secrets = append(secrets, p.AccessToken, p.RefreshToken)
	res := refreshWith(a, p.RefreshToken)
	var next api.TokenPair
	res.JSON(t, &next)
	secrets = append(secrets, next.AccessToken, next.RefreshToken)
	refreshWith(a, p.RefreshToken) // replay: family revoked
	a.Do("GET", "/api/v1/me?access_token="+next.AccessToken, "", nil)
	a.Do("GET", "/api/v1/me", next.AccessToken+"x", nil)
	newPassword := "Brand-new-pass-5"
	secrets = append(secrets, newPassword)
	a.Do("PATCH", "/api/v1/me", acc.AccessToken, map[string]string{"password": newPassword, "current_password": acc.password})
	a.Do("POST", "/api/v1/auth/register", "", map[string]string{"email": acc.email, "password": acc.password, "full_name": "Dup"})
	a.Do("POST", "/api/v1/auth/logout", acc.AccessToken, nil)

	out := logs.String()
	if !strings.Contains(out, "/api/v1/auth/login") {
		t.Fatalf("the request log was not captured: %q", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("the log contains a secret (%.6s…):\n%s", s, out)
		}
	}
}

// FuzzVerify: no token string panics the verifier or passes without the
// key, and a valid token survives the round trip.
func FuzzVerify(f *testing.F) {
	tk := &api.Tokens{Secret: []byte("fuzz-secret-0123456789abcdef0123456789"), Issuer: "evently", Audience: "evently-api",
		AccessTTL: time.Minute, Leeway: time.Second}
	valid, _, _, err := tk.Issue(evently.NewID(), evently.RoleUser)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range append(malformedAuth, valid, valid+"x", strings.ToUpper(valid)) {
		f.Add(strings.TrimPrefix(s, "Bearer "))
	}
	f.Fuzz(func(t *testing.T, token string) {
		a, _, err := tk.Verify(context.Background(), token)
		if err != nil {
			if evently.ErrorCode(err) != evently.EUNAUTHORIZED {
				t.Fatalf("code %s", evently.ErrorCode(err))
			}
			return
		}
		if token != valid || a.Role != evently.RoleUser {
			t.Fatalf("accepted %q as %+v", token, a)
		}
	})
}

// A token remembered as checked still expires, and only its exact bytes
// are remembered.
func TestCheckedTokensStillExpire(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tk := &api.Tokens{Secret: []byte("cache-secret-0123456789abcdef0123456789"), Issuer: "evently", Audience: "evently-api",
		AccessTTL: time.Minute, Leeway: time.Second, Now: func() time.Time { return now }, Checked: api.NewCheckedTokens(8)}
	token, _, _, err := tk.Issue(evently.NewID(), evently.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // checked, then from the cache
		if _, _, err := tk.Verify(context.Background(), token); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	if _, _, err := tk.Verify(context.Background(), token[:len(token)-2]+"xx"); err == nil {
		t.Fatal("a forged signature passed")
	}
	now = now.Add(time.Minute + 2*time.Second)
	if _, _, err := tk.Verify(context.Background(), token); evently.ErrorCode(err) != evently.EUNAUTHORIZED {
		t.Fatalf("expired token from the cache: %v", err)
	}
}
