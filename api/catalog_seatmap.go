package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/evently/evently"
)

// Seat maps are the hottest read of an on-sale rush: everyone in the queue
// reloads the same 20,000-seat map. So each API process keeps every map it
// served, rendered, for SeatMapTTL (1 s by default): a rush costs PostgreSQL
// and Redis one read per event per second per process, whatever the traffic,
// and concurrent misses share one read (singleflight). The price is
// staleness: a seat sold or held in the last second may still show as
// available (and a released one as taken). That is safe because the map is
// only a hint: taking a hold is checked atomically in Redis and the booking
// in PostgreSQL, so a stale seat costs the client one 409, never a double
// sale. Clients may also cache for 1 s (Cache-Control: max-age=1) and revalidate
// with If-None-Match; the ETag hashes the content, so it changes only when a
// seat's status does, and is the same in every process.

//
// The cache is bounded in bytes (EVENTLY_SEATMAP_CACHE_BYTES, 64 MiB by
// default): a 20,000-seat map costs about 3 MB rendered plus its gzipped
// copy and seats, so a count of entries says little. Each map is gzipped
// once when it is rendered and served compressed to clients that accept it,
// under its own ETag, so a rush does not gzip megabytes per request.

type seatMapView struct {
	m      *evently.SeatMap
	body   []byte
	gz     []byte
	etag   string
	gzEtag string
}

// size estimates the memory a view holds.
func (v *seatMapView) size() int64 {
	return int64(len(v.body)+len(v.gz)) + int64(len(v.m.Seats))*160
}

// DefaultSeatMapCacheBytes is the seat-map cache budget when none is set.
const DefaultSeatMapCacheBytes = 64 << 20

type seatMapCache struct {
	ttl    time.Duration
	views  *sizedCache[*seatMapView]
	flight singleflight.Group
}

func newSeatMapCache(ttl time.Duration, maxBytes int64) *seatMapCache {
	if maxBytes <= 0 {
		maxBytes = DefaultSeatMapCacheBytes
	}
	return &seatMapCache{ttl: ttl, views: newSizedCache[*seatMapView](maxBytes)}
}

// get returns the event's rendered map, fresh within the TTL.
func (c *seatMapCache) get(ctx context.Context, src evently.SeatMapSource, id uuid.UUID) (*seatMapView, error) {
	if c.ttl <= 0 {
		return loadSeatMapView(ctx, src, id)
	}
	if v, ok := c.views.get(id, time.Now()); ok {
		return v, nil
	}
	res, err, _ := c.flight.Do(id.String(), func() (any, error) {
		// The read is shared by every waiter: one client going away must
		// not fail it for the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v, err := loadSeatMapView(ctx, src, id)
		if err != nil {
			return nil, err
		}
		c.views.put(id, v, v.size(), time.Now().Add(c.ttl))
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*seatMapView), nil
}

// forget drops an event's map after this process changed the event.
func (c *seatMapCache) forget(id uuid.UUID) {
	if c == nil {
		return
	}
	c.views.forget(id)
}

func loadSeatMapView(ctx context.Context, src evently.SeatMapSource, id uuid.UUID) (*seatMapView, error) {
	m, err := src.SeatMap(ctx, id)
	if err != nil {
		return nil, err
	}
	body := renderSeatMap(m, func(*evently.MapSeat) bool { return true })
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(body)
	_ = zw.Close()
	etag := contentTag(body, "")
	return &seatMapView{m: m, body: body, gz: gz.Bytes(), etag: etag, gzEtag: strings.TrimSuffix(etag, `"`) + `-gzip"`}, nil
}

// acceptsGzip reports whether the client takes gzip (q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}

// contentTag is a strong ETag over the body (and the filter that chose it).
func contentTag(body []byte, filter string) string {
	h := fnv.New64a()
	h.Write(body)
	h.Write([]byte(filter))
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// renderSeatMap writes the map as JSON by hand: encoding/json through
// reflection is several times slower on 20,000 seats, and this runs on
// every cache miss and every filtered request.
func renderSeatMap(m *evently.SeatMap, keep func(*evently.MapSeat) bool) []byte {
	counts := map[evently.SeatStatus]int{}
	n := 0
	for i := range m.Seats {
		if keep(&m.Seats[i]) {
			counts[m.Seats[i].Status]++
			n++
		}
	}
	b := make([]byte, 0, 160+n*150)
	b = append(b, `{"event_id":"`...)
	b = append(b, m.EventID.String()...)
	b = append(b, `","event_status":"`...)
	b = append(b, m.EventStatus...)
	b = append(b, `","counts":{"available":`...)
	b = strconv.AppendInt(b, int64(counts[evently.SeatAvailable]), 10)
	b = append(b, `,"held":`...)
	b = strconv.AppendInt(b, int64(counts[evently.SeatHeld]), 10)
	b = append(b, `,"sold":`...)
	b = strconv.AppendInt(b, int64(counts[evently.SeatSold]), 10)
	b = append(b, `},"seats":[`...)
	first := true
	tiers := map[string][]byte{}
	for i := range m.Seats {
		s := &m.Seats[i]
		if !keep(s) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		// Seat ids, sections and rows are plain by construction through the
		// API, but seats loaded another way may not be: appendString escapes
		// whatever needs it. Tier names go through encoding/json once each.
		b = append(b, `{"id":`...)
		b = appendString(b, s.ID)
		b = append(b, `,"section":`...)
		b = appendString(b, s.Section)
		b = append(b, `,"row":`...)
		b = appendString(b, s.Row)
		b = append(b, `,"number":`...)
		b = strconv.AppendInt(b, int64(s.Number), 10)
		b = append(b, `,"x":`...)
		b = strconv.AppendFloat(b, s.X, 'f', -1, 64)
		b = append(b, `,"y":`...)
		b = strconv.AppendFloat(b, s.Y, 'f', -1, 64)
		b = append(b, `,"accessible":`...)
		b = strconv.AppendBool(b, s.Accessible)
		b = append(b, `,"tier":`...)
		t, ok := tiers[s.Tier]
		if !ok {
			t, _ = json.Marshal(s.Tier)
			tiers[s.Tier] = t
		}
		b = append(b, t...)
		b = append(b, `,"price_cents":`...)
		b = strconv.AppendInt(b, s.PriceCents, 10)
		b = append(b, `,"status":"`...)
		b = append(b, s.Status...)
		b = append(b, `"}`...)
	}
	return append(b, "]}\n"...)
}

// appendString appends s as a JSON string, copying plain ASCII as it is
// and leaving anything else to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// getSeatMap answers GET /events/{id}/seats[?section=&status=].
func (s *Server) getSeatMap(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event")
	if !ok {
		return
	}
	section, status := r.URL.Query().Get("section"), evently.SeatStatus(r.URL.Query().Get("status"))
	switch status {
	case "", evently.SeatAvailable, evently.SeatHeld, evently.SeatSold:
	default:
		Error(w, r, evently.Invalid(map[string]string{"status": "must be available, held or sold"}))
		return
	}
	v, err := s.Catalog.seatMaps.get(r.Context(), s.Catalog.SeatMaps, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	if v.m.EventStatus == evently.EventDraft {
		a := catalogViewer(r)
		if a.UserID == uuid.Nil || evently.CanManage(a, v.m.OrganizerID) != nil {
			Error(w, r, evently.Errorf(evently.ENOTFOUND, "event not found."))
			return
		}
	}
	if v.m.EventStatus == evently.EventPublished && s.Bookings.Holds != nil {
		// Buyers look at the map before they hold: have this instance's
		// hold validation ready before the first hold arrives.
		s.Bookings.Holds.Warm(r.Context(), id)
	}
	body, etag := v.body, v.etag
	filtered := section != "" || status != ""
	gzipped := !filtered && acceptsGzip(r)
	switch {
	case filtered:
		etag = contentTag([]byte(v.etag), section+"\x00"+string(status))
	case gzipped:
		body, etag = v.gz, v.gzEtag
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Add("Vary", "Accept-Encoding")
	if v.m.EventStatus == evently.EventDraft {
		h.Set("Cache-Control", "private, no-cache")
	} else {
		h.Set("Cache-Control", "public, max-age=1")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && catalogETagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gzipped {
		h.Set("Content-Encoding", "gzip") // already compressed: the Compress middleware leaves it
	}
	if filtered {
		body = renderSeatMap(v.m, func(st *evently.MapSeat) bool {
			return (section == "" || st.Section == section) && (status == "" || st.Status == status)
		})
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
