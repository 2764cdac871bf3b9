package apptest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Event is one server-sent event.
type Event struct {
	ID   string
	Name string
	Data []byte
}

// JSON decodes the event's data into v.
func (e Event) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode event %s: %v", e.Data, err)
	}
}

// Stream is an open server-sent event stream, read by a goroutine of its
// own until the test ends.
type Stream struct {
	t      testing.TB
	events chan Event
}

// Stream opens a stream (GET path with the token and headers given as
// name, value pairs) and requires a 200.
func (a *App) Stream(path, token string, headers ...string) *Stream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := a.request(ctx, "GET", path, token, nil, headers)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		a.t.Fatalf("stream %s: %v", path, err)
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		a.checkResponse(req, Response{Status: res.StatusCode, Header: res.Header, Body: b})
		a.t.Fatalf("stream %s: %d %s", path, res.StatusCode, b)
	}
	// The status and headers; the events are read as they come, and their
	// data is what the tests decode.
	a.checkResponse(req, Response{Status: res.StatusCode, Header: res.Header})
	s := &Stream{t: a.t, events: make(chan Event, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		rd := bufio.NewReader(res.Body)
		var ev Event
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.Name != "" || ev.Data != nil {
					select {
					case s.events <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = Event{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = append(ev.Data, strings.TrimPrefix(line, "data: ")...)
			}
		}
	}()
	a.t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-done
	})
	return s
}

// Next waits for the next event, failing the test after 30 s or when the
// stream ends.
func (s *Stream) Next() Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		s.t.Fatal("timed out waiting for a stream event")
	}
	return Event{}
}

// Until reads events until one satisfies match and returns it with those
// read before it.
func (s *Stream) Until(match func(Event) bool) (Event, []Event) {
	s.t.Helper()
	var before []Event
	for {
		ev := s.Next()
		if match(ev) {
			return ev, before
		}
		before = append(before, ev)
	}
}
