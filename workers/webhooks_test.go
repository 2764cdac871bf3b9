package workers_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
	"github.com/evently/evently/webhook"
)

// hooks is Evently running the webhooks worker, with backoff in
// milliseconds so retries take no time.
type hooks struct {
	a *apptest.App
}

func startHooks(t *testing.T, configure func(*app.Config)) *hooks {
	t.Helper()
	a := apptest.Start(t, apptest.Options{Workers: []string{"webhooks"}, Configure: func(c *app.Config) {
		c.Webhooks.AllowPrivate = true // the receivers are on loopback
		c.Webhooks.RetryBase, c.Webhooks.RetryMax = 5*time.Millisecond, 40*time.Millisecond
		c.Webhooks.Poll, c.Webhooks.Timeout = 20*time.Millisecond, 2*time.Second
		if configure != nil {
			configure(c)
		}
	}})
	return &hooks{a: a}
}

// subscribe makes a webhook to the receiver through the API and gives
// the receiver its secret.
func (h *hooks) subscribe(t *testing.T, token string, rcv *evtest.Receiver, events ...string) uuid.UUID {
	t.Helper()
	res := h.a.Do("POST", "/api/v1/webhooks", token, map[string]any{"url": rcv.URL, "events": events})
	if res.Status != 201 {
		t.Fatalf("subscribe: %d %s", res.Status, res.Body)
	}
	var w struct {
		ID     uuid.UUID `json:"id"`
		Secret string    `json:"secret"`
	}
	res.JSON(t, &w)
	rcv.SetSecret(w.Secret)
	return w.ID
}

// notify produces notifications onto the notifications stream, as the
// notifier's producers do.
func (h *hooks) notify(t *testing.T, ns ...evently.Notification) {
	t.Helper()
	msgs := make([]evently.Outgoing, len(ns))
	for i, n := range ns {
		msgs[i] = evently.NewNotificationMessage(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, h.a.Deps.Producer.Send(ctx, msgs))
}

func note(user uuid.UUID, typ evently.NotificationType) evently.Notification {
	id := evently.NewID()
	return evently.Notification{ID: evently.NotificationID(id, string(typ)), UserID: user, Type: typ,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Data: json.RawMessage(`{"booking_id":"` + id.String() + `"}`)}
}

type deliveryView struct {
	ID             uuid.UUID `json:"id"`
	NotificationID uuid.UUID `json:"notification_id"`
	Type           string    `json:"type"`
	Status         string    `json:"status"`
	Attempts       int       `json:"attempts"`
	LastStatusCode *int      `json:"last_status_code"`
	LastError      *string   `json:"last_error"`
	NextAttemptAt  *string   `json:"next_attempt_at"`
	DeliveredAt    *string   `json:"delivered_at"`
	Log            []struct {
		Attempt    int     `json:"attempt"`
		StatusCode *int    `json:"status_code"`
		Error      *string `json:"error"`
	} `json:"log"`
}

func (h *hooks) deliveries(t *testing.T, token string, hook uuid.UUID) map[uuid.UUID]deliveryView {
	t.Helper()
	res := h.a.Do("GET", "/api/v1/webhooks/"+hook.String()+"/deliveries?limit=100", token, nil)
	if res.Status != 200 {
		t.Fatalf("deliveries: %d %s", res.Status, res.Body)
	}
	var page struct {
		Items []deliveryView `json:"items"`
	}
	res.JSON(t, &page)
	out := map[uuid.UUID]deliveryView{}
	for _, d := range page.Items {
		out[d.NotificationID] = d
	}
	return out
}

func codes(d deliveryView) []int {
	var out []int
	for _, a := range d.Log {
		c := 0
		if a.StatusCode != nil {
			c = *a.StatusCode
		}
		out = append(out, c)
	}
	return out
}

// A receiver that fails three times and then succeeds gets exactly one
// successful delivery of each notification id, every attempt correctly
// signed; the log shows each attempt with its status code. Kafka
// delivering the same messages again sends nothing more.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	h := startHooks(t, nil)
	user, token := h.a.User(evently.RoleUser)
	rcv := evtest.NewReceiver(t)
	rcv.FailFirst(3)
	hook := h.subscribe(t, token, rcv, "*")

	first := []evently.Notification{note(user, evently.NotifyBookingConfirmed), note(user, evently.NotifyWaitlistOffered)}
	h.notify(t, first...)
	apptest.Eventually(t, "both delivered", func() bool {
		return rcv.Delivered(first[0].ID) == 1 && rcv.Delivered(first[1].ID) == 1
	})
	for _, n := range first {
		if got := rcv.Attempts(n.ID); got != 4 {
			t.Errorf("%s: %d attempts at the receiver, want 4", n.Type, got)
		}
		b, hdr := rcv.Body(n.ID)
		if b.Type != n.Type || !b.CreatedAt.Equal(n.CreatedAt) || hdr.Get("Content-Type") != "application/json" ||
			hdr.Get("User-Agent") != webhook.UserAgent || hdr.Get(webhook.DeliveryHeader) == "" {
			t.Errorf("%s: body %+v, headers %v", n.Type, b, hdr)
		}
	}
	// The delivery row is recorded after the receiver's answer.
	var log map[uuid.UUID]deliveryView
	apptest.Eventually(t, "deliveries recorded", func() bool {
		log = h.deliveries(t, token, hook)
		return log[first[0].ID].Status == "delivered" && log[first[1].ID].Status == "delivered"
	})
	for _, n := range first {
		d := log[n.ID]
		if d.Attempts != 4 || d.LastStatusCode == nil || *d.LastStatusCode != 204 || d.DeliveredAt == nil ||
			d.NextAttemptAt != nil || d.Type != string(n.Type) || !slices.Equal(codes(d), []int{500, 500, 500, 204}) {
			t.Errorf("%s: %+v, codes %v", n.Type, d, codes(d))
		}
		if _, hdr := rcv.Body(n.ID); hdr.Get(webhook.DeliveryHeader) != d.ID.String() {
			t.Errorf("delivery header %q, want %s", hdr.Get(webhook.DeliveryHeader), d.ID)
		}
	}

	// The same messages again, then one more: once the last is delivered
	// the repeats were consumed (one user's notifications share a
	// partition, in order).
	last := note(user, evently.NotifyBookingCancelled)
	h.notify(t, append(first, last)...)
	apptest.Eventually(t, "the last delivered", func() bool { return rcv.Delivered(last.ID) == 1 })
	for _, n := range first {
		if rcv.Delivered(n.ID) != 1 || rcv.Attempts(n.ID) != 4 {
			t.Errorf("%s sent again: %d deliveries, %d attempts", n.Type, rcv.Delivered(n.ID), rcv.Attempts(n.ID))
		}
	}
	if n := len(h.deliveries(t, token, hook)); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
	if rcv.Refused() != 0 {
		t.Errorf("%d requests failed signature verification", rcv.Refused())
	}
}

// A webhook gets its owner's notifications of the types it chose, and
// nothing else; a user with two webhooks gets each notification on both.
func TestWebhookGetsOnlyItsTypesAndUser(t *testing.T) {
	t.Parallel()
	h := startHooks(t, nil)
	user, token := h.a.User(evently.RoleUser)
	other, _ := h.a.User(evently.RoleUser)
	typed, all := evtest.NewReceiver(t), evtest.NewReceiver(t)
	h.subscribe(t, token, typed, "booking.confirmed")
	h.subscribe(t, token, all, "*")

	skipped := note(user, evently.NotifyBookingFailed)
	someoneElse := note(other, evently.NotifyBookingConfirmed)
	wanted := note(user, evently.NotifyBookingConfirmed)
	h.notify(t, skipped, someoneElse, wanted)
	apptest.Eventually(t, "delivered to both", func() bool {
		return typed.Delivered(wanted.ID) == 1 && all.Delivered(wanted.ID) == 1 && all.Delivered(skipped.ID) == 1
	})
	if typed.Attempts(skipped.ID) != 0 || typed.Attempts(someoneElse.ID) != 0 || all.Attempts(someoneElse.ID) != 0 {
		t.Errorf("delivered what the webhook did not ask for")
	}
}

// A delivery that gets no 2xx within the retry window ends failed; the
// retry endpoint queues it again at once, and it is delivered once the
// receiver recovers. A delivered one cannot be retried.
func TestWebhookGivesUpAndRetries(t *testing.T) {
	t.Parallel()
	h := startHooks(t, func(c *app.Config) { c.Webhooks.RetryWindow = 150 * time.Millisecond })
	user, token := h.a.User(evently.RoleUser)
	_, stranger := h.a.User(evently.RoleUser)
	rcv := evtest.NewReceiver(t)
	rcv.FailAll(true)
	hook := h.subscribe(t, token, rcv, "*")
	n := note(user, evently.NotifyBookingRefunded)
	h.notify(t, n)

	var d deliveryView
	apptest.Eventually(t, "the delivery failed", func() bool {
		d = h.deliveries(t, token, hook)[n.ID]
		return d.Status == "failed"
	})
	if d.Attempts < 2 || d.NextAttemptAt != nil || d.LastStatusCode == nil || *d.LastStatusCode != 500 || len(d.Log) != d.Attempts {
		t.Fatalf("failed delivery: %+v", d)
	}
	retry := "/api/v1/webhooks/" + hook.String() + "/deliveries/" + d.ID.String() + "/retry"
	if res := h.a.Do("POST", retry, stranger, nil); res.Status != 404 {
		t.Fatalf("someone else's retry: %d %s", res.Status, res.Body)
	}
	rcv.FailAll(false)
	if res := h.a.Do("POST", retry, token, nil); res.Status != 202 {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	apptest.Eventually(t, "delivered after the retry", func() bool { return rcv.Delivered(n.ID) == 1 })
	apptest.Eventually(t, "recorded", func() bool {
		d = h.deliveries(t, token, hook)[n.ID]
		return d.Status == "delivered"
	})
	if res := h.a.Do("POST", retry, token, nil); res.Status != 409 {
		t.Fatalf("retry of a delivered one: %d %s", res.Status, res.Body)
	}
	for _, path := range []string{
		"/api/v1/webhooks/" + hook.String() + "/deliveries/" + uuid.NewString() + "/retry",
		"/api/v1/webhooks/" + hook.String() + "/deliveries/nope/retry",
		"/api/v1/webhooks/" + uuid.NewString() + "/deliveries/" + d.ID.String() + "/retry",
	} {
		if res := h.a.Do("POST", path, token, nil); res.Status != 404 {
			t.Errorf("%s: %d %s", path, res.Status, res.Body)
		}
	}
}

// With private addresses refused, a webhook whose host resolves to one
// later (made here straight in the store, as a DNS change would leave it)
// is refused when dialed: the receiver hears nothing and the attempt's
// error says why.
func TestWebhookRefusesPrivateAddressWhenDialing(t *testing.T) {
	t.Parallel()
	h := startHooks(t, func(c *app.Config) {
		c.Webhooks.AllowPrivate = false
		c.Webhooks.RetryWindow = 50 * time.Millisecond
	})
	user, token := h.a.User(evently.RoleUser)
	rcv := evtest.NewReceiver(t)
	w := &evently.Webhook{UserID: user, URL: rcv.URL, Events: []evently.NotificationType{evently.WebhookAllEvents}}
	must(t, (&store.Webhooks{DB: h.a.DB}).Create(context.Background(), w))
	rcv.SetSecret(w.Secret)
	n := note(user, evently.NotifyEventChanged)
	h.notify(t, n)
	var d deliveryView
	apptest.Eventually(t, "the delivery failed", func() bool {
		d = h.deliveries(t, token, w.ID)[n.ID]
		return d.Status == "failed"
	})
	if d.LastStatusCode != nil || d.LastError == nil || !strings.Contains(*d.LastError, "not public") || rcv.Attempts(n.ID) != 0 {
		t.Fatalf("delivery %+v, %d attempts at the receiver", d, rcv.Attempts(n.ID))
	}
}

// Two webhooks workers share the deliveries (SKIP LOCKED claims) and
// neither sends one twice: every notification is delivered exactly once,
// after exactly the one failure the receiver asks for.
func TestWebhookWorkersShareDeliveries(t *testing.T) {
	t.Parallel()
	h := startHooks(t, func(c *app.Config) { c.Webhooks.Concurrency = 4 })
	h.a.StartWorkers("webhooks")
	user, token := h.a.User(evently.RoleUser)
	rcv := evtest.NewReceiver(t)
	rcv.FailFirst(1)
	h.subscribe(t, token, rcv, "*")
	ns := make([]evently.Notification, 60)
	for i := range ns {
		ns[i] = note(user, evently.NotificationTypes[i%len(evently.NotificationTypes)])
	}
	h.notify(t, ns...)
	apptest.Eventually(t, "all delivered", func() bool {
		for _, n := range ns {
			if rcv.Delivered(n.ID) == 0 {
				return false
			}
		}
		return true
	})
	for _, n := range ns {
		if rcv.Delivered(n.ID) != 1 || rcv.Attempts(n.ID) != 2 {
			t.Errorf("%s: %d deliveries in %d attempts, want 1 in 2", n.ID, rcv.Delivered(n.ID), rcv.Attempts(n.ID))
		}
	}
}
