package api_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

type webhookView struct {
	ID        uuid.UUID `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"`
	CreatedAt string    `json:"created_at"`
}

// Making, listing and deleting webhooks; the secret is shown once, and
// someone else's webhook does not exist for you.
func TestWebhookSubscriptions(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	_, me := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)

	res := a.Do("POST", "/api/v1/webhooks", me, map[string]any{
		"url": "https://93.184.216.34/hooks?team=1", "events": []string{"waitlist.offered", "booking.confirmed", "booking.confirmed"}})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var w webhookView
	res.JSON(t, &w)
	if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) != 6+64 || w.URL != "https://93.184.216.34/hooks?team=1" ||
		strings.Join(w.Events, ",") != "booking.confirmed,waitlist.offered" || w.CreatedAt == "" ||
		res.Header.Get("Location") != "/api/v1/webhooks/"+w.ID.String()+"/deliveries" {
		t.Fatalf("created: %+v %v", w, res.Header)
	}
	res = a.Do("POST", "/api/v1/webhooks", me, map[string]any{"url": "https://93.184.216.34/all", "events": []string{"*"}})
	if res.Status != 201 {
		t.Fatalf("create *: %d %s", res.Status, res.Body)
	}

	res = a.Do("GET", "/api/v1/webhooks", me, nil)
	if res.Status != 200 || strings.Contains(string(res.Body), "secret") || strings.Contains(string(res.Body), w.Secret) {
		t.Fatalf("list shows the secret: %d %s", res.Status, res.Body)
	}
	var page struct{ Items []webhookView }
	res.JSON(t, &page)
	if len(page.Items) != 2 || page.Items[0].ID != w.ID || strings.Join(page.Items[1].Events, ",") != "*" {
		t.Fatalf("list: %+v", page.Items)
	}
	a.Do("GET", "/api/v1/webhooks", other, nil).JSON(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("someone else sees my webhooks: %+v", page.Items)
	}

	res = a.Do("GET", "/api/v1/webhooks/"+w.ID.String()+"/deliveries", me, nil)
	if res.Status != 200 || string(res.Body) != `{"items":[],"next_cursor":null}`+"\n" {
		t.Fatalf("deliveries: %d %s", res.Status, res.Body)
	}
	if res := a.Do("DELETE", "/api/v1/webhooks/"+w.ID.String(), other, nil); res.Status != 404 {
		t.Fatalf("someone else deleted mine: %d %s", res.Status, res.Body)
	}
	if res := a.Do("DELETE", "/api/v1/webhooks/"+w.ID.String(), me, nil); res.Status != 204 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if res := a.Do("DELETE", "/api/v1/webhooks/"+w.ID.String(), me, nil); res.Status != 404 {
		t.Fatalf("delete again: %d %s", res.Status, res.Body)
	}
	a.Do("GET", "/api/v1/webhooks", me, nil).JSON(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("after delete: %+v", page.Items)
	}
}

// Every 4xx of the webhook routes, and that none of them made a webhook.
func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.Webhooks.AllowPrivate = false }})
	_, me := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	var mine webhookView
	a.Do("POST", "/api/v1/webhooks", me, map[string]any{"url": "https://93.184.216.34/h", "events": []string{"*"}}).JSON(t, &mine)
	var theirs webhookView
	a.Do("POST", "/api/v1/webhooks", other, map[string]any{"url": "https://93.184.216.34/h", "events": []string{"*"}}).JSON(t, &theirs)
	hook := func(id uuid.UUID, rest string) string { return "/api/v1/webhooks/" + id.String() + rest }
	ok := []string{"*"}
	body := func(url string, events ...string) map[string]any { return map[string]any{"url": url, "events": events} }

	for _, c := range []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		field        string
	}{
		{"no token, create", "POST", "/api/v1/webhooks", "", body("https://93.184.216.34/", ok...), 401, ""},
		{"no token, list", "GET", "/api/v1/webhooks", "", nil, 401, ""},
		{"no token, delete", "DELETE", hook(mine.ID, ""), "", nil, 401, ""},
		{"no token, deliveries", "GET", hook(mine.ID, "/deliveries"), "", nil, 401, ""},
		{"no token, retry", "POST", hook(mine.ID, "/deliveries/"+uuid.NewString()+"/retry"), "", nil, 401, ""},
		{"bad token", "GET", "/api/v1/webhooks", "not-a-token", nil, 401, ""},
		{"no url", "POST", "/api/v1/webhooks", me, map[string]any{"events": ok}, 422, "url"},
		{"relative url", "POST", "/api/v1/webhooks", me, body("/hooks", ok...), 422, "url"},
		{"no scheme", "POST", "/api/v1/webhooks", me, body("example.com/hooks", ok...), 422, "url"},
		{"ftp", "POST", "/api/v1/webhooks", me, body("ftp://93.184.216.34/", ok...), 422, "url"},
		{"userinfo", "POST", "/api/v1/webhooks", me, body("https://me:pw@93.184.216.34/", ok...), 422, "url"},
		{"too long", "POST", "/api/v1/webhooks", me, body("https://93.184.216.34/"+strings.Repeat("a", 2100), ok...), 422, "url"},
		{"url not a string", "POST", "/api/v1/webhooks", me, map[string]any{"url": 5, "events": ok}, 400, ""},
		{"loopback", "POST", "/api/v1/webhooks", me, body("http://127.0.0.1:8080/hooks", ok...), 422, "url"},
		{"localhost", "POST", "/api/v1/webhooks", me, body("http://localhost/hooks", ok...), 422, "url"},
		{"IPv6 loopback", "POST", "/api/v1/webhooks", me, body("http://[::1]/hooks", ok...), 422, "url"},
		{"IPv4-mapped loopback", "POST", "/api/v1/webhooks", me, body("http://[::ffff:127.0.0.1]/hooks", ok...), 422, "url"},
		{"private", "POST", "/api/v1/webhooks", me, body("http://10.1.2.3/hooks", ok...), 422, "url"},
		{"private IPv6", "POST", "/api/v1/webhooks", me, body("http://[fd00::5]/hooks", ok...), 422, "url"},
		{"link-local metadata", "POST", "/api/v1/webhooks", me, body("http://169.254.169.254/latest/meta-data", ok...), 422, "url"},
		{"link-local IPv6", "POST", "/api/v1/webhooks", me, body("http://[fe80::1]/hooks", ok...), 422, "url"},
		{"unspecified", "POST", "/api/v1/webhooks", me, body("http://0.0.0.0/hooks", ok...), 422, "url"},
		{"multicast", "POST", "/api/v1/webhooks", me, body("http://239.1.2.3/hooks", ok...), 422, "url"},
		{"does not resolve", "POST", "/api/v1/webhooks", me, body("https://no-such-host.invalid/hooks", ok...), 422, "url"},
		{"no events", "POST", "/api/v1/webhooks", me, body("https://93.184.216.34/"), 422, "events"},
		{"events missing", "POST", "/api/v1/webhooks", me, map[string]any{"url": "https://93.184.216.34/"}, 422, "events"},
		{"unknown event", "POST", "/api/v1/webhooks", me, body("https://93.184.216.34/", "booking.exploded"), 422, "events"},
		{"events not a list", "POST", "/api/v1/webhooks", me, map[string]any{"url": "https://93.184.216.34/", "events": "*"}, 400, ""},
		{"unknown field", "POST", "/api/v1/webhooks", me, map[string]any{"url": "https://93.184.216.34/", "events": ok, "secret": "mine"}, 400, ""},
		{"not json", "POST", "/api/v1/webhooks", me, "url=x", 400, ""},
		{"unknown webhook, delete", "DELETE", hook(uuid.New(), ""), me, nil, 404, ""},
		{"malformed id, delete", "DELETE", "/api/v1/webhooks/nope", me, nil, 404, ""},
		{"someone else's, delete", "DELETE", hook(theirs.ID, ""), me, nil, 404, ""},
		{"unknown webhook, deliveries", "GET", hook(uuid.New(), "/deliveries"), me, nil, 404, ""},
		{"someone else's, deliveries", "GET", hook(theirs.ID, "/deliveries"), me, nil, 404, ""},
		{"malformed id, deliveries", "GET", "/api/v1/webhooks/nope/deliveries", me, nil, 404, ""},
		{"bad limit", "GET", hook(mine.ID, "/deliveries?limit=0"), me, nil, 422, "limit"},
		{"limit too big", "GET", hook(mine.ID, "/deliveries?limit=101"), me, nil, 422, "limit"},
		{"bad cursor", "GET", hook(mine.ID, "/deliveries?cursor=zzz"), me, nil, 422, "cursor"},
		{"unknown delivery", "POST", hook(mine.ID, "/deliveries/"+uuid.NewString()+"/retry"), me, nil, 404, ""},
		{"malformed delivery", "POST", hook(mine.ID, "/deliveries/nope/retry"), me, nil, 404, ""},
		{"someone else's, retry", "POST", hook(theirs.ID, "/deliveries/"+uuid.NewString()+"/retry"), me, nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := a.Do(c.method, c.path, c.token, c.body)
			if res.Status != c.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("%d %s %s", res.Status, res.Header.Get("Content-Type"), res.Body)
			}
			var p struct {
				Errors map[string]string `json:"errors"`
			}
			res.JSON(t, &p)
			if c.field != "" && p.Errors[c.field] == "" {
				t.Fatalf("no message for %s: %s", c.field, res.Body)
			}
		})
	}
	var n int
	if err := a.DB.Get(&n, `SELECT count(*) FROM webhooks`); err != nil || n != 2 {
		t.Fatalf("%d webhooks after refused requests (%v)", n, err)
	}

	// A user has at most 20.
	for i := 1; i < evently.MaxWebhooksByUser; i++ {
		if res := a.Do("POST", "/api/v1/webhooks", me, body("https://93.184.216.34/h", ok...)); res.Status != 201 {
			t.Fatalf("webhook %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	if res := a.Do("POST", "/api/v1/webhooks", me, body("https://93.184.216.34/h", ok...)); res.Status != 409 {
		t.Fatalf("webhook 21: %d %s", res.Status, res.Body)
	}
}

// EVENTLY_WEBHOOK_ALLOW_PRIVATE=true (make run) accepts local receivers.
func TestWebhookPrivateAllowedByFlag(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.Webhooks.AllowPrivate = true }})
	_, me := a.User(evently.RoleUser)
	for _, u := range []string{"http://127.0.0.1:9/hooks", "http://localhost:3000/hooks", "http://[::1]/hooks", "http://192.168.1.20/hooks"} {
		if res := a.Do("POST", "/api/v1/webhooks", me, map[string]any{"url": u, "events": []string{"*"}}); res.Status != 201 {
			t.Errorf("%s: %d %s", u, res.Status, res.Body)
		}
	}
	// The other URL rules still hold.
	if res := a.Do("POST", "/api/v1/webhooks", me, map[string]any{"url": "http://me:pw@127.0.0.1/", "events": []string{"*"}}); res.Status != 422 {
		t.Errorf("userinfo with the flag: %d %s", res.Status, res.Body)
	}
}
