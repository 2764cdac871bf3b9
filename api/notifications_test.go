package api_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
)

// seedInbox writes notifications for a user straight into the inbox, in
// order, and returns them as the inbox keeps them.
func seedInbox(t *testing.T, a *apptest.App, user uuid.UUID, n int) []evently.Notification {
	t.Helper()
	var ns []evently.Notification
	for i := range n {
		ns = append(ns, evently.Notification{ID: evently.NotificationID(user, string(rune('a'+i))), UserID: user,
			Type: evently.NotifyBookingConfirmed, CreatedAt: time.Now(), Data: json.RawMessage(`{"message":"hi"}`)})
	}
	added, err := inboxOf(a).Add(context.Background(), ns)
	if err != nil || len(added) != n {
		t.Fatalf("seed: %d added, %v", len(added), err)
	}
	return added
}

func inboxOf(a *apptest.App) *store.Inbox {
	return &store.Inbox{DB: a.DB, Redis: a.Deps.Redis, Keys: a.Deps.Keys}
}

// Every 4xx of the inbox routes; a refused request changes nothing.
func TestNotificationsBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	me, token := a.User(evently.RoleUser)
	other, otherToken := a.User(evently.RoleUser)
	mine := seedInbox(t, a, me, 1)[0]
	theirs := seedInbox(t, a, other, 1)[0]

	for _, c := range []struct {
		method, path, token string
		headers             []string
		want                int
	}{
		{"GET", "/api/v1/notifications", "", nil, 401},
		{"GET", "/api/v1/notifications/stream", "", nil, 401},
		{"POST", "/api/v1/notifications/" + mine.ID.String() + "/read", "", nil, 401},
		{"POST", "/api/v1/notifications/read-all", "", nil, 401},
		{"GET", "/api/v1/notifications?limit=0", token, nil, 422},
		{"GET", "/api/v1/notifications?limit=101", token, nil, 422},
		{"GET", "/api/v1/notifications?limit=ten", token, nil, 422},
		{"GET", "/api/v1/notifications?cursor=not-a-cursor", token, nil, 422},
		{"GET", "/api/v1/notifications?cursor=" + mine.ID.String(), token, nil, 422},
		{"POST", "/api/v1/notifications/" + theirs.ID.String() + "/read", token, nil, 404},
		{"POST", "/api/v1/notifications/" + evently.NewID().String() + "/read", token, nil, 404},
		{"POST", "/api/v1/notifications/not-an-id/read", token, nil, 404},
		{"GET", "/api/v1/notifications/stream", token, []string{"Last-Event-ID", "not-an-id"}, 422},
		// Sent but empty is no id either (browsers leave it out instead).
		{"GET", "/api/v1/notifications/stream", token, []string{"Last-Event-ID", ""}, 422},
	} {
		res := a.Do(c.method, c.path, c.token, nil, c.headers...)
		if res.Status != c.want || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q %s, want %d problem+json", c.method, c.path, res.Status, res.Header.Get("Content-Type"), res.Body, c.want)
		}
	}
	var unread int
	if err := a.DB.Get(&unread, `SELECT count(*) FROM notifications WHERE read_at IS NULL`); err != nil || unread != 2 {
		t.Fatalf("%d unread (%v): a refused request changed something", unread, err)
	}

	// And what works, in the documented shapes.
	res := a.Do("GET", "/api/v1/notifications?limit=1", otherToken, nil)
	var page struct {
		Items []struct {
			ID        uuid.UUID       `json:"id"`
			Type      string          `json:"type"`
			CreatedAt time.Time       `json:"created_at"`
			ReadAt    *time.Time      `json:"read_at"`
			Data      json.RawMessage `json:"data"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
		Unread     int     `json:"unread"`
	}
	res.JSON(t, &page)
	var data struct {
		Message string `json:"message"`
	}
	if res.Status != 200 || len(page.Items) != 1 || page.Items[0].ID != theirs.ID || page.Unread != 1 || page.NextCursor == nil ||
		json.Unmarshal(page.Items[0].Data, &data) != nil || data.Message != "hi" || page.Items[0].Type != "booking.confirmed" {
		t.Fatalf("page: %d %s", res.Status, res.Body)
	}
	var raw map[string]json.RawMessage
	res.JSON(t, &raw)
	if string(raw["items"]) == "" || !jsonHasNull(t, raw["items"], "read_at") {
		t.Fatalf("read_at is not null while unread: %s", res.Body)
	}
	if res := a.Do("GET", "/api/v1/notifications?cursor="+*page.NextCursor, otherToken, nil); res.Status != 200 {
		t.Fatalf("next page: %d %s", res.Status, res.Body)
	}
	if res := a.Do("POST", "/api/v1/notifications/"+theirs.ID.String()+"/read", otherToken, nil); res.Status != 204 {
		t.Fatalf("read: %d %s", res.Status, res.Body)
	}
	if res := a.Do("POST", "/api/v1/notifications/read-all", token, nil); res.Status != 204 {
		t.Fatalf("read-all: %d %s", res.Status, res.Body)
	}
}

func jsonHasNull(t *testing.T, items json.RawMessage, field string) bool {
	t.Helper()
	var xs []map[string]json.RawMessage
	if err := json.Unmarshal(items, &xs); err != nil || len(xs) == 0 {
		return false
	}
	v, ok := xs[0][field]
	return ok && string(v) == "null"
}

// A stream resumed with Last-Event-ID replays, in order, what came after
// that id, then goes on live: a notification published on another API
// instance arrives too (pub/sub fans out), and nothing comes twice.
func TestNotificationStreamResumesFromLastEventID(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	other := apptest.Start(t, apptest.Options{Share: a})
	user, token := a.User(evently.RoleUser)
	ns := seedInbox(t, a, user, 4)

	s := a.Stream("/api/v1/notifications/stream", token, "Last-Event-ID", ns[1].ID.String())
	for _, want := range ns[2:] {
		if ev := s.Next(); ev.ID != want.ID.String() || ev.Name != "notification" {
			t.Fatalf("replayed %+v, want %s", ev, want.ID)
		}
	}
	// Live, written and published the way the notifier does, through the
	// other instance's Redis client: until it arrives (the subscription
	// is made as the stream opens).
	next := evently.Notification{ID: evently.NotificationID(user, "live"), UserID: user, Type: evently.NotifyBookingExpired,
		CreatedAt: time.Now(), Data: json.RawMessage(`{}`)}
	added, err := inboxOf(other).Add(context.Background(), []evently.Notification{next})
	if err != nil || len(added) != 1 {
		t.Fatal(added, err)
	}
	if err := inboxOf(other).Publish(context.Background(), added); err != nil {
		t.Fatal(err)
	}
	if ev := s.Next(); ev.ID != next.ID.String() {
		t.Fatalf("live %+v, want %s", ev, next.ID)
	}
	var n struct {
		ID     uuid.UUID  `json:"id"`
		Type   string     `json:"type"`
		ReadAt *time.Time `json:"read_at"`
	}
	// A stream without Last-Event-ID starts from now: nothing replayed.
	fresh := a.Stream("/api/v1/notifications/stream", token)
	last := evently.Notification{ID: evently.NotificationID(user, "after"), UserID: user, Type: evently.NotifyBookingFailed,
		CreatedAt: time.Now(), Data: json.RawMessage(`{}`)}
	added, err = inboxOf(a).Add(context.Background(), []evently.Notification{last})
	if err != nil || len(added) != 1 {
		t.Fatal(added, err)
	}
	// Not published: the stream finds it in the inbox on its next look.
	ev := fresh.Next()
	ev.JSON(t, &n)
	if ev.ID != last.ID.String() || n.ID != last.ID || n.Type != "booking.failed" || n.ReadAt != nil {
		t.Fatalf("fresh stream got %+v (%+v), want only %s", ev, n, last.ID)
	}
}
