package evently

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestBookingNotifications(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	user, other, event := NewID(), NewID(), NewID()
	b1, b2, b3 := NewID(), NewID(), NewID()
	change := func(b uuid.UUID, u uuid.UUID, s BookingStatus, reason string) StatusChange {
		return StatusChange{BookingID: b, UserID: u, EventID: event, Status: s, Reason: reason, SeatIDs: []string{"A-1", "A-2"},
			At: at, AmountCents: 10000, Currency: "EUR"}
	}
	type want struct {
		typ    NotificationType
		id     uuid.UUID
		user   uuid.UUID
		reason string // in plain words, for failed and cancelled
	}
	for _, tc := range []struct {
		name    string
		changes []StatusChange
		refunds []Refund
		want    []want
	}{
		{name: "nothing", want: nil},
		{name: "moves on the way tell nothing",
			changes: []StatusChange{change(b1, user, BookingReserved, ""), change(b2, user, BookingPaying, ""), change(b3, user, BookingPending, "")}},
		{name: "confirmed",
			changes: []StatusChange{change(b1, user, BookingConfirmed, "")},
			want:    []want{{NotifyBookingConfirmed, NotificationID(b1, "confirmed"), user, ""}}},
		{name: "failed says why in plain words",
			changes: []StatusChange{change(b1, user, BookingFailed, ReasonSeatsTaken), change(b2, other, BookingFailed, ReasonPaymentDeclined)},
			want: []want{{NotifyBookingFailed, NotificationID(b1, "failed"), user, reasonTexts[ReasonSeatsTaken]},
				{NotifyBookingFailed, NotificationID(b2, "failed"), other, "Your payment was declined."}}},
		{name: "a booking the API answered 503 for tells nothing",
			changes: []StatusChange{change(b1, user, BookingFailed, ReasonNotAccepted)}},
		{name: "expired",
			changes: []StatusChange{change(b1, user, BookingExpired, "")},
			want:    []want{{NotifyBookingExpired, NotificationID(b1, "expired"), user, ""}}},
		{name: "cancelled keeps the canceller's words",
			changes: []StatusChange{change(b1, user, BookingCancelled, "cannot come")},
			want:    []want{{NotifyBookingCancelled, NotificationID(b1, "cancelled"), user, "cannot come"}}},
		{name: "reserved then paying then confirmed in one batch tells once",
			changes: []StatusChange{change(b1, user, BookingReserved, ""), change(b1, user, BookingPaying, ""), change(b1, user, BookingConfirmed, "")},
			want:    []want{{NotifyBookingConfirmed, NotificationID(b1, "confirmed"), user, ""}}},
		{name: "an event's cancellation tells each owner once",
			changes: []StatusChange{change(b1, user, BookingCancelled, ReasonEventCancelled), change(b2, other, BookingCancelled, ReasonEventCancelled),
				change(b3, user, BookingCancelled, ReasonEventCancelled)},
			want: []want{{NotifyEventCancelled, NotificationID(event, "cancelled/"+user.String()), user, ""},
				{NotifyEventCancelled, NotificationID(event, "cancelled/"+other.String()), other, ""}}},
		{name: "refunds, one per charge",
			refunds: []Refund{{BookingID: b1, UserID: user, EventID: event, ChargeID: "ch_1", AmountCents: 10000, Currency: "EUR", At: at},
				{BookingID: b1, UserID: user, EventID: event, ChargeID: "ch_1", AmountCents: 10000, Currency: "EUR", At: at}},
			want: []want{{NotifyBookingRefunded, NotificationID(b1, "refunded/ch_1"), user, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := BookingNotifications(tc.changes, tc.refunds)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d notifications %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				n := got[i]
				if n.Type != w.typ || n.ID != w.id || n.UserID != w.user || !n.CreatedAt.Equal(at) || !n.Type.Valid() {
					t.Errorf("#%d: %+v, want %+v", i, n, w)
				}
				var d BookingNotice
				if err := json.Unmarshal(n.Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.ReasonText != w.reason {
					t.Errorf("#%d: reason text %q, want %q", i, d.ReasonText, w.reason)
				}
				if d.Message == "" && n.Type != NotifyEventCancelled {
					t.Errorf("#%d: no message", i)
				}
			}
			// Deciding again makes the same notifications.
			if again := BookingNotifications(tc.changes, tc.refunds); len(again) != len(got) ||
				!slices.EqualFunc(again, got, func(a, b Notification) bool { return a.ID == b.ID && string(a.Data) == string(b.Data) }) {
				t.Errorf("not deterministic: %+v then %+v", got, again)
			}
		})
	}
}

func TestBookingNotificationsEventCancelledListsTheBookings(t *testing.T) {
	user, event, b1, b2 := NewID(), NewID(), NewID(), NewID()
	got := BookingNotifications([]StatusChange{
		{BookingID: b1, UserID: user, EventID: event, Status: BookingCancelled, Reason: ReasonEventCancelled},
		{BookingID: b2, UserID: user, EventID: event, Status: BookingCancelled, Reason: ReasonEventCancelled},
	}, nil)
	var d EventNotice
	if len(got) != 1 || json.Unmarshal(got[0].Data, &d) != nil || !slices.Equal(d.BookingIDs, []uuid.UUID{b1, b2}) || d.EventID != event {
		t.Fatalf("%+v", got)
	}
}

func TestReasonText(t *testing.T) {
	for _, r := range []string{ReasonSeatsTaken, ReasonPaymentDeclined, ReasonPaymentUnavailable, ReasonHoldExpired, ReasonInvalid,
		ReasonEventCancelled, ReasonNotAccepted} {
		if txt := ReasonText(r); txt == r || !strings.HasSuffix(txt, ".") {
			t.Errorf("%s: %q is not plain words", r, txt)
		}
	}
	if ReasonText("changed my mind") != "changed my mind" || ReasonText("") != "" {
		t.Error("free text is shown as given")
	}
}

func TestOfferNotification(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	user := NewID()
	o := OfferNotice{EntryID: NewID(), EventID: NewID(), HoldID: NewID(), SeatIDs: []string{"A-1"}, ExpiresAt: at.Add(10 * time.Minute)}
	ids := map[uuid.UUID]bool{}
	for _, c := range []struct {
		m   OfferMoment
		typ NotificationType
	}{{OfferMomentMade, NotifyWaitlistOffered}, {OfferMomentExpiring, NotifyWaitlistOfferExpiring}, {OfferMomentExpired, NotifyWaitlistOfferExpired}} {
		n := OfferNotification(c.m, user, o, at)
		var d OfferNotice
		if err := json.Unmarshal(n.Data, &d); err != nil {
			t.Fatal(err)
		}
		if n.Type != c.typ || n.UserID != user || d.HoldID != o.HoldID || !d.ExpiresAt.Equal(o.ExpiresAt) || d.Message == "" {
			t.Errorf("%s: %+v %+v", c.m, n, d)
		}
		if again := OfferNotification(c.m, user, o, at.Add(time.Second)); again.ID != n.ID {
			t.Errorf("%s: id changes", c.m)
		}
		ids[n.ID] = true
	}
	if len(ids) != 3 {
		t.Error("moments share an id")
	}
	// Another offer to the same entry is told anew.
	o2 := o
	o2.HoldID = NewID()
	if OfferNotification(OfferMomentMade, user, o2, at).ID == OfferNotification(OfferMomentMade, user, o, at).ID {
		t.Error("a second offer has the first one's id")
	}
}

func TestOfferRemindLead(t *testing.T) {
	for _, c := range []struct{ ttl, before, want time.Duration }{
		{10 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		{3 * time.Minute, 2 * time.Minute, 90 * time.Second},
		{3 * time.Second, 2 * time.Minute, 1500 * time.Millisecond},
	} {
		if got := OfferRemindLead(c.ttl, c.before); got != c.want {
			t.Errorf("OfferRemindLead(%v, %v) = %v, want %v", c.ttl, c.before, got, c.want)
		}
	}
}

func TestSalesNotifications(t *testing.T) {
	at := time.Now()
	ev, org := NewID(), NewID()
	for _, c := range []struct {
		capacity, sold int
		want           []NotificationType
	}{
		{100, 0, nil},
		{100, 49, nil},
		{100, 50, []NotificationType{NotifySalesMilestone}},
		{100, 89, []NotificationType{NotifySalesMilestone}},
		{100, 90, []NotificationType{NotifySalesMilestone, NotifySalesMilestone}},
		{100, 100, []NotificationType{NotifySalesMilestone, NotifySalesMilestone, NotifyEventSoldOut}},
		{3, 2, []NotificationType{NotifySalesMilestone}}, // 66%
		{1, 1, []NotificationType{NotifySalesMilestone, NotifySalesMilestone, NotifyEventSoldOut}},
		{0, 0, nil},
	} {
		got := SalesNotifications(EventSales{EventID: ev, OrganizerID: org, Title: "Night", Capacity: c.capacity, Sold: c.sold}, at)
		var types []NotificationType
		for _, n := range got {
			types = append(types, n.Type)
			if n.UserID != org {
				t.Errorf("told %s, not the organizer", n.UserID)
			}
		}
		if !slices.Equal(types, c.want) {
			t.Errorf("%d of %d: %v, want %v", c.sold, c.capacity, types, c.want)
		}
	}
	// The same milestone makes the same id whenever it is decided.
	a := SalesNotifications(EventSales{EventID: ev, OrganizerID: org, Capacity: 10, Sold: 5}, at)
	b := SalesNotifications(EventSales{EventID: ev, OrganizerID: org, Capacity: 10, Sold: 6}, at.Add(time.Hour))
	if len(a) != 1 || len(b) != 1 || a[0].ID != b[0].ID {
		t.Errorf("%+v vs %+v", a, b)
	}
	if SalesNotifications(EventSales{EventID: ev, Capacity: 1, Sold: 1}, at) != nil {
		t.Error("no organizer, nobody to tell")
	}
}

func TestInboxCursor(t *testing.T) {
	c := InboxCursor{At: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), ID: NewID()}
	got, err := ParseInboxCursor(c.String())
	if err != nil || !got.At.Equal(c.At) || got.ID != c.ID {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{"", "x", "!!!", c.ID.String(), "bm90LWEtY3Vyc29y"} {
		if _, err := ParseInboxCursor(bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
