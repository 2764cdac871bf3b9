package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// client speaks Evently's HTTP contract (and the naive server's subset).
type client struct {
	base string // .../api/v1
	http *http.Client
	rec  *recorder
}

func newClient(baseURL string, conns int, rec *recorder) *client {
	tr := &http.Transport{
		Proxy:               nil, // load goes only to the target, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{base: strings.TrimRight(baseURL, "/") + "/api/v1", http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, rec: rec}
}

// response is one answer.
type response struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
}

func (r *response) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decode %d %.200s: %w", r.status, r.body, err)
	}
	return nil
}

// retryAfter is the Retry-After header, bounded to [100ms, 5s].
func (r *response) retryAfter() time.Duration {
	d := 500 * time.Millisecond
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err == nil {
		d = time.Duration(s) * time.Second
	}
	return min(max(d, 100*time.Millisecond), 5*time.Second)
}

// problem is an application/problem+json body.
// do sends one request. op names the endpoint for error counts ("hold").
// A transport error is returned as status 0.
func (c *client) do(ctx context.Context, op, method, path, token string, body any, headers ...string) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.rec.httpStatus(op, 0)
		}
		return &response{latency: time.Since(start)}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	out := &response{status: res.StatusCode, header: res.Header, body: b, latency: time.Since(start)}
	c.rec.request()
	c.rec.httpStatus(op, res.StatusCode)
	return out, err
}

// seat is an entry of the seat map.
type seat struct {
	ID         string `json:"id"`
	Section    string `json:"section"`
	Row        string `json:"row"`
	RowLabel   string `json:"row_label"`
	Number     int    `json:"number"`
	Tier       string `json:"tier"`
	PriceCents int64  `json:"price_cents"`
	Status     string `json:"status"`
}

func (s seat) row() string {
	if s.Row != "" {
		return s.Row
	}
	return s.RowLabel
}

// decodeSeats accepts a JSON array or an object holding one under seats,
// items or data.
// decodeSeats reads a seat map with goccy/go-json: a 20,000-seat map took
// encoding/json ~100 ms of CPU, on the machine whose CPU the run measures.
func decodeSeats(b []byte) ([]seat, error) {
	b = bytes.TrimSpace(b)
	var seats []seat
	if len(b) > 0 && b[0] == '[' {
		err := gojson.Unmarshal(b, &seats)
		return seats, err
	}
	var env map[string]json.RawMessage
	if err := gojson.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	for _, k := range []string{"seats", "items", "data"} {
		if raw, ok := env[k]; ok {
			err := gojson.Unmarshal(raw, &seats)
			return seats, err
		}
	}
	return nil, errors.New("seat map: no seats array in the answer")
}

// rankSeats orders seats best first: dearest tier, then the front rows
// (A before B before AA), then low seat numbers, then id.
func rankSeats(seats []seat) {
	sort.SliceStable(seats, func(i, j int) bool {
		a, b := seats[i], seats[j]
		if a.PriceCents != b.PriceCents {
			return a.PriceCents > b.PriceCents
		}
		if ra, rb := a.row(), b.row(); ra != rb {
			if len(ra) != len(rb) {
				return len(ra) < len(rb)
			}
			return ra < rb
		}
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.ID < b.ID
	})
}

// bookingView is what GET /bookings/{id} and stream events carry.
type bookingView struct {
	ID      string   `json:"id"`
	Status  string   `json:"status"`
	Reason  *string  `json:"reason"`
	SeatIDs []string `json:"seat_ids"`
}

func settled(status string) bool {
	switch status {
	case "confirmed", "failed", "expired", "cancelled":
		return true
	}
	return false
}

func committed(status string) bool {
	return status == "reserved" || status == "paying" || status == "confirmed"
}

// stream follows GET /bookings/{id}/events, calling seen for every status,
// until a settled status, the end of the stream or ctx ends. ok is false
// when the endpoint is not there (the caller then polls).
func (c *client) stream(ctx context.Context, token, id string, seen func(bookingView)) (last bookingView, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/bookings/"+id+"/events", nil)
	if err != nil {
		return last, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	hc := *c.http
	hc.Timeout = 0 // the stream lives as long as the booking takes; ctx bounds it
	res, err := hc.Do(req)
	if err != nil {
		return last, false, err
	}
	defer res.Body.Close()
	c.rec.request()
	c.rec.httpStatus("stream", res.StatusCode)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return last, false, nil
	}
	done := false
	err = readEvents(res.Body, func(data []byte) bool {
		var v bookingView
		if json.Unmarshal(data, &v) == nil && v.Status != "" {
			last = v
			seen(v)
			done = settled(v.Status)
		}
		return !done
	})
	return last, true, err
}

// notificationView is what GET /notifications/stream carries.
type notificationView struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		SeatIDs []string `json:"seat_ids"`
	} `json:"data"`
}

// notifications follows GET /notifications/stream until ctx ends or the
// stream does, calling seen for each notification. open gets whether the
// stream was opened (200 text/event-stream), once.
func (c *client) notifications(ctx context.Context, token string, open chan<- bool, seen func(notificationView)) error {
	opened := false
	defer func() {
		if !opened {
			open <- false
		}
	}()
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/notifications/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	hc := *c.http
	hc.Timeout = 0 // ctx bounds the stream
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	c.rec.request()
	c.rec.httpStatus("notifications_stream", res.StatusCode)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return fmt.Errorf("notifications stream: %d", res.StatusCode)
	}
	opened = true
	open <- true
	return readEvents(res.Body, func(data []byte) bool {
		var n notificationView
		if json.Unmarshal(data, &n) == nil && n.Type != "" {
			seen(n)
		}
		return true
	})
}

// readEvents calls fn with each server-sent event's data until fn says
// stop or the stream ends.
func readEvents(body io.Reader, fn func(data []byte) bool) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if v, found := strings.CutPrefix(line, "data:"); found {
			data.WriteString(strings.TrimPrefix(v, " "))
			continue
		}
		if line != "" || data.Len() == 0 {
			continue
		}
		if !fn([]byte(data.String())) {
			return nil
		}
		data.Reset()
	}
	return sc.Err()
}
