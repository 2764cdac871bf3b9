package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

func inboxFor(t *testing.T) (*store.Inbox, uuid.UUID, uuid.UUID) {
	t.Helper()
	db := evtest.DB(t)
	rdb, prefix := evtest.Redis(t)
	user, other := evently.NewID(), evently.NewID()
	for _, u := range []uuid.UUID{user, other} {
		mustExec(t, db, `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')`, u, u.String()+"@example.test")
	}
	return &store.Inbox{DB: db, Redis: rdb, Keys: store.Keys{Prefix: prefix}}, user, other
}

func note(user uuid.UUID, what string) evently.Notification {
	return evently.Notification{ID: evently.NotificationID(user, what), UserID: user, Type: evently.NotifyBookingConfirmed,
		CreatedAt: time.Now(), Data: json.RawMessage(`{"message":"` + what + `"}`)}
}

// A redelivered batch writes nothing twice and says so: the notifier
// publishes only what it wrote. A notification for a user who does not
// exist is dropped, not a failed batch.
func TestInboxAddIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, user, _ := inboxFor(t)
	batch := []evently.Notification{note(user, "a"), note(user, "b"), note(evently.NewID(), "ghost")}
	added, err := in.Add(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[0].ID != batch[0].ID || added[1].ID != batch[1].ID || !added[0].CreatedAt.Before(added[1].CreatedAt) {
		t.Fatalf("added %+v", added)
	}
	again, err := in.Add(ctx, append(batch, note(user, "c")))
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].ID != evently.NotificationID(user, "c") {
		t.Fatalf("redelivery added %+v", again)
	}
	var n int
	if err := in.DB.Get(&n, `SELECT count(*) FROM notifications`); err != nil || n != 3 {
		t.Fatalf("%d rows (%v), want 3", n, err)
	}
}

// Pages go newest first and meet end to end; the unread count covers the
// whole inbox; reading is the owner's only.
func TestInboxPagesAndReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, user, other := inboxFor(t)
	var ns []evently.Notification
	for _, w := range []string{"1", "2", "3", "4", "5"} {
		ns = append(ns, note(user, w))
	}
	if _, err := in.Add(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Add(ctx, []evently.Notification{note(other, "x")}); err != nil {
		t.Fatal(err)
	}
	var seen []uuid.UUID
	cursor := ""
	for range 5 {
		page, err := in.List(ctx, user, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if page.Unread != 5 {
			t.Fatalf("unread %d, want 5", page.Unread)
		}
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 5 || seen[0] != ns[4].ID || seen[4] != ns[0].ID {
		t.Fatalf("paged %v", seen)
	}
	if _, err := in.List(ctx, user, "garbage", 2); evently.ErrorCode(err) != evently.EINVALID {
		t.Fatalf("bad cursor: %v", err)
	}

	if err := in.MarkRead(ctx, other, ns[0].ID); evently.ErrorCode(err) != evently.ENOTFOUND {
		t.Fatalf("someone else's: %v", err)
	}
	for range 2 { // again is fine
		if err := in.MarkRead(ctx, user, ns[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	page, err := in.List(ctx, user, "", 100)
	if err != nil || page.Unread != 4 || page.Items[4].ReadAt == nil || page.Items[0].ReadAt != nil {
		t.Fatalf("after one read: %+v %v", page, err)
	}
	if err := in.MarkAllRead(ctx, user); err != nil {
		t.Fatal(err)
	}
	if page, _ := in.List(ctx, user, "", 1); page.Unread != 0 {
		t.Fatalf("after read-all: %d unread", page.Unread)
	}
	if page, _ := in.List(ctx, other, "", 10); page.Unread != 1 || len(page.Items) != 1 {
		t.Fatalf("the other inbox changed: %+v", page)
	}
	empty, err := in.List(ctx, evently.NewID(), "", 10)
	if err != nil || len(empty.Items) != 0 || empty.Unread != 0 || empty.NextCursor != nil {
		t.Fatalf("empty inbox: %+v %v", empty, err)
	}
}

// After gives what came after an id, oldest first, the whole inbox after
// the zero id, and nothing after someone else's id.
func TestInboxAfter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, user, other := inboxFor(t)
	ns := []evently.Notification{note(user, "1"), note(user, "2"), note(user, "3")}
	if _, err := in.Add(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Add(ctx, []evently.Notification{note(other, "x")}); err != nil {
		t.Fatal(err)
	}
	got, err := in.After(ctx, user, ns[0].ID, 10)
	if err != nil || len(got) != 2 || got[0].ID != ns[1].ID || got[1].ID != ns[2].ID {
		t.Fatalf("after the first: %+v %v", got, err)
	}
	if all, _ := in.After(ctx, user, uuid.Nil, 10); len(all) != 3 {
		t.Fatalf("from the start: %d", len(all))
	}
	if none, _ := in.After(ctx, user, evently.NotificationID(other, "x"), 10); len(none) != 0 {
		t.Fatalf("after someone else's: %+v", none)
	}
	if newest, err := in.Newest(ctx, user); err != nil || newest != ns[2].ID {
		t.Fatalf("newest %s %v", newest, err)
	}
}

// Published notifications reach this process's watchers of their user
// only.
func TestInboxPublishReachesTheUsersWatchers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, user, other := inboxFor(t)
	mine, stop := in.Watch(ctx, user)
	defer stop()
	theirs, stop2 := in.Watch(ctx, other)
	defer stop2()
	n := note(user, "live")
	deadline := time.After(10 * time.Second)
	// The subscription is live once a publish gets through; publish until.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case got := <-mine:
			if got.ID != n.ID {
				t.Fatalf("got %+v", got)
			}
			select {
			case x := <-theirs:
				t.Fatalf("someone else's watcher got %+v", x)
			default:
			}
			return
		case <-tick.C:
			if err := in.Publish(ctx, []evently.Notification{n}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("nothing arrived")
		}
	}
}
