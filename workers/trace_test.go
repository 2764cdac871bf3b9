package workers_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/paysim"
	"github.com/evently/evently/topics"
)

// TestTraceFollowsBooking submits a booking under a traceparent and finds
// its trace id in every place the booking went: the answer's headers, the
// headers of every message about it, the workers' log lines about it, and
// its history in PostgreSQL.
func TestTraceFollowsBooking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		atCommit bool
		// topics that must carry a message about the booking
		topics []string
		// worker kinds that must log a line of the booking's trace
		workers []string
		history []string
	}{
		{"charged at commit", true,
			[]string{topics.BookingCommands, topics.Notifications},
			[]string{"booking", "notify"},
			[]string{"pending", "reserved", "paying", "confirmed"}},
		{"through the saga", false,
			[]string{topics.BookingCommands, topics.PaymentRequests, topics.PaymentReplies, topics.Notifications},
			[]string{"booking", "payment", "notify"},
			[]string{"pending", "reserved", "paying", "confirmed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &apptest.Logs{}
			s := startSagaWith(t, paysim.Behaviour{}, apptest.Options{LogTo: logs,
				Workers:   []string{"booking", "payment", "notify"},
				Configure: func(c *app.Config) { c.Payments.ChargeAtCommit = tt.atCommit }})
			a := s.a
			_, token := a.User(evently.RoleUser)
			event := a.Event(4)
			trace := evently.NewTraceID()

			res := a.Do("POST", "/api/v1/bookings", token,
				map[string]any{"event_id": event, "seat_ids": seats(1, 2), "payment": map[string]any{"token": paysim.TokenVisa}},
				"traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
			if res.Status != http.StatusAccepted {
				t.Fatalf("book: %d %s", res.Status, res.Body)
			}
			if got := res.Header.Get("X-Trace-Id"); got != trace {
				t.Errorf("X-Trace-Id = %q, want %q", got, trace)
			}
			if got, _ := evently.ParseTraceparent(res.Header.Get("traceparent")); got != trace {
				t.Errorf("answered traceparent %q, want trace %s", res.Header.Get("traceparent"), trace)
			}
			var b bookingView
			res.JSON(t, &b)
			s.waitStatus(t, token, b.ID, "confirmed")

			// The history, from PostgreSQL, says the trace of every change.
			var h struct {
				ID      uuid.UUID `json:"id"`
				Status  string    `json:"status"`
				History []struct {
					Status  string    `json:"status"`
					At      time.Time `json:"at"`
					TraceID string    `json:"trace_id"`
				} `json:"history"`
			}
			res = a.Do("GET", "/api/v1/bookings/"+b.ID.String()+"?include=history", token, nil)
			if res.Status != http.StatusOK {
				t.Fatalf("include=history: %d %s", res.Status, res.Body)
			}
			res.JSON(t, &h)
			var statuses []string
			for _, e := range h.History {
				statuses = append(statuses, e.Status)
				if e.TraceID != trace {
					t.Errorf("history entry %s has trace %q, want %q", e.Status, e.TraceID, trace)
				}
			}
			if strings.Join(statuses, ",") != strings.Join(tt.history, ",") {
				t.Errorf("history %v, want %v", statuses, tt.history)
			}
			_, stranger := a.User(evently.RoleUser)
			if res := a.Do("GET", "/api/v1/bookings/"+b.ID.String()+"?include=history", stranger, nil); res.Status != http.StatusForbidden {
				t.Errorf("someone else's history: %d, want 403", res.Status)
			}

			// Every message about the booking carries the trace.
			for _, topic := range tt.topics {
				var msgs []kafka.Message
				apptest.Eventually(t, topic+" message of the booking", func() bool {
					var err error
					msgs, err = messagesAbout(a, topic, b.ID)
					return err == nil && len(msgs) > 0
				})
				for _, m := range msgs {
					if got := topics.TraceID(m); got != trace {
						t.Errorf("%s message at offset %d has trace %q, want %q", topic, m.Offset, got, trace)
					}
				}
			}

			// The workers' lines about the booking say its trace, and each
			// worker kind it passed through logged one.
			for _, kind := range tt.workers {
				apptest.Eventually(t, kind+" worker's log line of the trace", func() bool {
					for _, l := range logs.Lines() {
						if strings.Contains(l, "worker="+kind+" ") && strings.Contains(l, "trace_id="+trace) {
							return true
						}
					}
					return false
				})
			}
			accessLogged := false
			for _, l := range logs.Lines() {
				if strings.Contains(l, "worker=") && strings.Contains(l, b.ID.String()) && !strings.Contains(l, "trace_id="+trace) {
					t.Errorf("worker log line about the booking without its trace: %s", l)
				}
				accessLogged = accessLogged || (strings.Contains(l, "msg=http method=POST") && strings.Contains(l, "trace_id="+trace))
			}
			if !accessLogged {
				t.Error("no access log line of the POST with its trace")
			}
		})
	}
}

// messagesAbout returns the messages on a topic (every partition, from the
// start to its end now) whose value names the booking. An error (a broker
// slow to answer on a busy machine) is for the caller to try again.
func messagesAbout(a *apptest.App, topic string, booking uuid.UUID) ([]kafka.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []kafka.Message
	for p := 0; p < a.Config.Partitions; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", a.Config.KafkaBrokers[0], a.Deps.Names.Of(topic), p)
		if err != nil {
			return nil, err
		}
		ms, err := readPartition(conn)
		conn.Close()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if bytes.Contains(m.Value, []byte(booking.String())) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// readPartition reads a partition from its first offset to its end.
func readPartition(conn *kafka.Conn) ([]kafka.Message, error) {
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, err
	}
	var out []kafka.Message
	for next := first; next < last; {
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		batch, from := conn.ReadBatch(1, 10<<20), next
		for next < last {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out, next = append(out, m), m.Offset+1
		}
		if err := batch.Close(); err != nil && next < last {
			return nil, err
		}
		if next == from {
			return nil, io.ErrNoProgress
		}
	}
	return out, nil
}
