package api_test

import (
	"net/http"
	"testing"

	"github.com/evently/evently/api"
	"github.com/evently/evently/evtest/apptest"
)

// Ending a login ends every access token issued for it, not only the one
// that asked: logout, refresh-token reuse and a password change.
func TestEndingALoginRevokesItsAccessTokens(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	me := func(token string) int { return a.Do("GET", "/api/v1/me", token, nil).Status }
	rotate := func(t *testing.T, p api.TokenPair) api.TokenPair {
		t.Helper()
		res := refreshWith(a, p.RefreshToken)
		if res.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
		var next api.TokenPair
		res.JSON(t, &next)
		return next
	}
	t.Run("logout", func(t *testing.T) {
		acc := registerAccount(t, a)
		first := loginPair(t, a, acc.email, acc.password)
		second := rotate(t, first) // same session, another access token
		other := loginPair(t, a, acc.email, acc.password)
		if res := a.Do("POST", "/api/v1/auth/logout", second.AccessToken, nil); res.Status != http.StatusNoContent {
			t.Fatalf("logout: %d", res.Status)
		}
		if got := me(first.AccessToken); got != http.StatusUnauthorized {
			t.Fatalf("the session's earlier access token after logout: %d", got)
		}
		if got := me(other.AccessToken); got != http.StatusOK {
			t.Fatalf("another login after logout: %d", got)
		}
	})
	t.Run("refresh token reuse", func(t *testing.T) {
		acc := registerAccount(t, a)
		stolen := loginPair(t, a, acc.email, acc.password)
		thief := rotate(t, stolen)
		if res := refreshWith(a, stolen.RefreshToken); res.Status != http.StatusUnauthorized {
			t.Fatalf("reuse: %d", res.Status)
		}
		if got := me(thief.AccessToken); got != http.StatusUnauthorized {
			t.Fatalf("the access token minted from the stolen refresh token: %d", got)
		}
		if got := me(acc.AccessToken); got != http.StatusOK {
			t.Fatalf("the registration's own session: %d", got)
		}
	})
	t.Run("password change", func(t *testing.T) {
		acc := registerAccount(t, a)
		elsewhere := loginPair(t, a, acc.email, acc.password)
		res := a.Do("PATCH", "/api/v1/me", acc.AccessToken, map[string]string{"password": "Another-passw0rd", "current_password": acc.password})
		if res.Status != http.StatusOK {
			t.Fatalf("change: %d %s", res.Status, res.Body)
		}
		if got := me(elsewhere.AccessToken); got != http.StatusUnauthorized {
			t.Fatalf("another session's access token after a password change: %d", got)
		}
		fresh := loginPair(t, a, acc.email, "Another-passw0rd")
		if got := me(fresh.AccessToken); got != http.StatusOK {
			t.Fatalf("a login with the new password: %d", got)
		}
	})
}
