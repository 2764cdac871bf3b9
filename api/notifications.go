package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently"
)

// NotificationService is a user's inbox and its live feed (store.Inbox).
type NotificationService interface {
	List(ctx context.Context, user uuid.UUID, cursor string, limit int) (evently.InboxPage, error)
	MarkRead(ctx context.Context, user, id uuid.UUID) error
	MarkAllRead(ctx context.Context, user uuid.UUID) error
	// After lists, oldest first, what came after id (from the first for
	// the zero id); Newest is the newest id, or the zero id.
	After(ctx context.Context, user, id uuid.UUID, limit int) ([]evently.Notification, error)
	Newest(ctx context.Context, user uuid.UUID) (uuid.UUID, error)
	Watch(ctx context.Context, user uuid.UUID) (<-chan evently.Notification, func())
}

// mountNotifications mounts the inbox and its stream. Every route is the
// caller's own inbox: there is no reading someone else's.
func (s *Server) mountNotifications(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireUser, s.notificationsReady)
		r.With(s.limit(ClassReads)).Get("/notifications", s.listNotifications)
		r.With(s.limit(ClassReads)).Get("/notifications/stream", s.streamNotifications)
		r.With(s.limit(ClassReads)).Post("/notifications/read-all", s.readAllNotifications)
		r.With(s.limit(ClassReads)).Post("/notifications/{id}/read", s.readNotification)
	})
}

func (s *Server) notificationsReady(next http.Handler) http.Handler {
	return wired("Notifications are", func() bool { return s.Notifications != nil })(next)
}

// notificationView is a notification as clients see it, in the inbox and
// on the stream: read_at is null until read.
type notificationView struct {
	ID        uuid.UUID                `json:"id"`
	Type      evently.NotificationType `json:"type"`
	CreatedAt time.Time                `json:"created_at"`
	ReadAt    *time.Time               `json:"read_at"`
	Data      json.RawMessage          `json:"data"`
}

func viewNotification(n evently.Notification) notificationView {
	data := n.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	return notificationView{ID: n.ID, Type: n.Type, CreatedAt: n.CreatedAt, ReadAt: n.ReadAt, Data: data}
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 20, 100)
	if !ok {
		return
	}
	page, err := s.Notifications.List(r.Context(), actor(r).UserID, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		Error(w, r, err)
		return
	}
	items := make([]notificationView, len(page.Items))
	for i, n := range page.Items {
		items[i] = viewNotification(n)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": page.NextCursor, "unread": page.Unread})
}

func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Notification")
	if !ok {
		return
	}
	if err := s.Notifications.MarkRead(r.Context(), actor(r).UserID, id); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) readAllNotifications(w http.ResponseWriter, r *http.Request) {
	if err := s.Notifications.MarkAllRead(r.Context(), actor(r).UserID); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Stream tuning: how often a stream reads the inbox for what pub/sub did
// not bring, and how much it reads at a time.
const (
	notificationPoll  = 5 * time.Second
	notificationBatch = 100
)

// streamNotifications sends the caller's notifications as server-sent
// events (event "notification", id = the notification's id) as the
// notifier publishes them, from any API instance (Redis pub/sub). With
// Last-Event-ID it first replays from the inbox what came after that id.
// Pub/sub delivers at most once, so the stream also reads the inbox every
// notificationPoll from where its reading got to and sends what it has not
// sent lately: nothing is missed, and nothing is sent twice. Caps per
// user, the lifted deadlines and the end on drain are the stream scope's
// (streams.go).
func (s *Server) streamNotifications(w http.ResponseWriter, r *http.Request) {
	ctx, user := r.Context(), actor(r).UserID
	var from uuid.UUID
	// A header sent empty is refused like any other non-id: browsers leave
	// it out when they have no id, so an empty one is a client's bug.
	if vs := r.Header.Values("Last-Event-ID"); len(vs) > 0 {
		id, err := uuid.Parse(vs[0])
		if err != nil {
			Error(w, r, evently.Invalid(map[string]string{"Last-Event-ID": "Use the id of the last event received."}))
			return
		}
		from = id
	}
	// Watch before reading where to start: whatever is written meanwhile
	// comes live or is after the start.
	live, stop := s.Notifications.Watch(ctx, user)
	defer stop()
	if from == uuid.Nil {
		newest, err := s.Notifications.Newest(ctx, user)
		if err != nil {
			Error(w, r, err)
			return
		}
		from = newest
	}
	es, ok := startEventStream(w, r)
	if !ok {
		return
	}
	defer es.stop()

	// recent remembers what was sent lately, from either source, so the
	// other does not send it again.
	recent := newRecentIDs(1024)
	send := func(n evently.Notification) {
		if !recent.add(n.ID) {
			return
		}
		b, _ := json.Marshal(viewNotification(n))
		es.send(n.ID.String(), "notification", b)
	}
	read := func() bool {
		for range 10 { // at most 10 batches a look; the next look goes on
			ns, err := s.Notifications.After(ctx, user, from, notificationBatch)
			if err != nil {
				return ctx.Err() == nil // a failed look is retried on the next tick
			}
			for _, n := range ns {
				send(n)
				from = n.ID
			}
			if len(ns) < notificationBatch {
				break
			}
		}
		return true
	}
	if !read() {
		return
	}
	poll := time.NewTicker(notificationPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-live:
			send(n)
		case <-poll.C:
			if !read() {
				return
			}
		case <-es.beats():
			es.keepAlive()
		}
	}
}

// recentIDs is a set of the last ids added, of bounded size.
type recentIDs struct {
	set  map[uuid.UUID]bool
	ring []uuid.UUID
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[uuid.UUID]bool, n), ring: make([]uuid.UUID, n)}
}

// add reports whether id is new, and remembers it (forgetting the oldest).
func (r *recentIDs) add(id uuid.UUID) bool {
	if r.set[id] {
		return false
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next], r.set[id] = id, true
	r.next = (r.next + 1) % len(r.ring)
	return true
}
