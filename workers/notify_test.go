package workers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/paysim"
)

// notice is a notification as the inbox and the stream show it.
type notice struct {
	ID        uuid.UUID  `json:"id"`
	Type      string     `json:"type"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at"`
	Data      struct {
		BookingID  uuid.UUID `json:"booking_id"`
		EventID    uuid.UUID `json:"event_id"`
		EntryID    uuid.UUID `json:"entry_id"`
		HoldID     uuid.UUID `json:"hold_id"`
		SeatIDs    []string  `json:"seat_ids"`
		ReasonText string    `json:"reason_text"`
		Percent    int       `json:"percent"`
		Message    string    `json:"message"`
	} `json:"data"`
}

type inboxPage struct {
	Items      []notice `json:"items"`
	NextCursor *string  `json:"next_cursor"`
	Unread     int      `json:"unread"`
}

func inbox(t *testing.T, a *apptest.App, token string) inboxPage {
	t.Helper()
	res := a.Do("GET", "/api/v1/notifications?limit=100", token, nil)
	if res.Status != 200 {
		t.Fatalf("inbox: %d %s", res.Status, res.Body)
	}
	var p inboxPage
	res.JSON(t, &p)
	return p
}

// waitNotice waits for a notification of the type that matches in the
// user's inbox.
func waitNotice(t *testing.T, a *apptest.App, token, typ string, match func(notice) bool) notice {
	t.Helper()
	var got notice
	apptest.Eventually(t, "a "+typ+" in the inbox", func() bool {
		for _, n := range inbox(t, a, token).Items {
			if n.Type == typ && match(n) {
				got = n
				return true
			}
		}
		return false
	})
	return got
}

// onStream reads the stream until a notification of the type that matches.
func onStream(t *testing.T, s *apptest.Stream, typ string, match func(notice) bool) notice {
	t.Helper()
	var got notice
	s.Until(func(ev apptest.Event) bool {
		var n notice
		ev.JSON(t, &n)
		if ev.Name != "notification" || n.Type != typ || !match(n) || ev.ID != n.ID.String() {
			return false
		}
		got = n
		return true
	})
	return got
}

func notificationStream(a *apptest.App, token string, headers ...string) *apptest.Stream {
	return a.Stream("/api/v1/notifications/stream", token, headers...)
}

// A booking confirmed is told to its owner in the inbox and on the stream,
// once; the organizer of the event it sold out hears of the milestones.
func TestBookingConfirmedIsNotified(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{}, nil, "booking", "payment", "notify")
	event := s.a.Event(2)
	_, token := s.a.User(evently.RoleUser)
	stream := notificationStream(s.a, token)
	id := s.book(t, token, event, seats(1, 2), "tok_visa")
	s.waitStatus(t, token, id, "confirmed")

	live := onStream(t, stream, "booking.confirmed", func(n notice) bool { return n.Data.BookingID == id })
	kept := waitNotice(t, s.a, token, "booking.confirmed", func(n notice) bool { return n.Data.BookingID == id })
	if live.ID != kept.ID || kept.ID != evently.NotificationID(id, "confirmed") || kept.ReadAt != nil || kept.Data.Message == "" ||
		len(kept.Data.SeatIDs) != 2 {
		t.Fatalf("stream %+v, inbox %+v", live, kept)
	}
	if p := inbox(t, s.a, token); p.Unread != 1 || len(p.Items) != 1 {
		t.Fatalf("inbox %+v, want the one confirmation", p)
	}

	var organizer uuid.UUID
	must(t, s.a.DB.Get(&organizer, `SELECT organizer_id FROM events WHERE id = $1`, event))
	apptest.Eventually(t, "the organizer's sales notices", func() bool {
		var types []string
		must(t, s.a.DB.Select(&types, `SELECT type FROM notifications WHERE user_id = $1 ORDER BY type`, organizer))
		return fmt.Sprint(types) == "[event.sales_milestone event.sales_milestone event.sold_out]"
	})
}

// The notifier keeps one inbox entry per notification id and pushes it
// once, however often the message is delivered.
func TestNotifierRedeliveryMakesNoDuplicates(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"notify"}})
	user, token := a.User(evently.RoleUser)
	stream := notificationStream(a, token)
	n := evently.Notification{ID: evently.NotificationID(user, "test"), UserID: user, Type: evently.NotifyBookingExpired,
		CreatedAt: time.Now(), Data: json.RawMessage(`{"message":"once"}`)}
	msg := evently.NewNotificationMessage(n)
	ctx := context.Background()
	for range 3 {
		must(t, a.Deps.Producer.Send(ctx, []evently.Outgoing{msg, msg}))
	}
	marker := evently.Notification{ID: evently.NotificationID(user, "marker"), UserID: user, Type: evently.NotifyBookingExpired,
		CreatedAt: time.Now(), Data: json.RawMessage(`{}`)}
	must(t, a.Deps.Producer.Send(ctx, []evently.Outgoing{evently.NewNotificationMessage(marker), msg}))

	_, before := stream.Until(func(ev apptest.Event) bool { return ev.ID == marker.ID.String() })
	if len(before) != 1 || before[0].ID != n.ID.String() {
		t.Fatalf("stream before the marker: %+v, want the notification once", before)
	}
	var rows int
	must(t, a.DB.Get(&rows, `SELECT count(*) FROM notifications WHERE id = $1`, n.ID))
	if p := inbox(t, a, token); rows != 1 || len(p.Items) != 2 {
		t.Fatalf("%d rows of the id, inbox %+v", rows, p)
	}
}
