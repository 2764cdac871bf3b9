package api

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// WaitingRoom is the on-sale's front door. It admits buyers to take holds,
// first come first served, only while fewer than Capacity bookings are
// between their hold and their answer in this API process. In a rush the
// machine is busy either way; the room decides where a buyer waits: before
// a hold, where waiting costs nothing and nobody's seats are tied up, and
// not after "buy", where every queued booking also slows the booking
// worker, its transactions and its charges. A booking submitted always
// counts, and is never made to wait or refused here.
//
// A pass is taken when a hold is requested and returned when the booking on
// that hold is answered, when the hold fails, or, for a buyer who holds and
// goes away, after PassTTL.
type WaitingRoom struct {
	// Capacity bounds bookings in flight (holds taken through the room and
	// not yet submitted and answered); 0 or less admits everyone.
	Capacity int
	// PassTTL is how long a granted hold counts without a submission.
	PassTTL time.Duration

	mu     sync.Mutex
	inside int
	queue  []chan struct{}
	passes map[uuid.UUID]*pass
}

type pass struct {
	room  *WaitingRoom
	once  sync.Once
	timer *time.Timer
}

var (
	mRoomInside = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "evently_waiting_room_inside", Help: "Bookings in flight through the waiting room (held and not yet answered).",
	})
	mRoomWaiting = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "evently_waiting_room_waiting", Help: "Buyers waiting to be let in to take a hold.",
	})
	mRoomWait = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "evently_waiting_room_wait_seconds", Help: "Time a hold request waited in the waiting room.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

// Enter waits, in arrival order, until the room has space or ctx ends. The
// returned pass is given back with leave; leave may be called any number
// of times.
func (w *WaitingRoom) Enter(ctx context.Context) (*pass, error) {
	p := &pass{room: w}
	if w == nil || w.Capacity <= 0 {
		return p, nil
	}
	start := time.Now()
	defer func() { mRoomWait.Observe(time.Since(start).Seconds()) }()
	w.mu.Lock()
	if w.inside < w.Capacity && len(w.queue) == 0 {
		w.inside++
		mRoomInside.Set(float64(w.inside))
		w.mu.Unlock()
		return p, nil
	}
	ready := make(chan struct{})
	w.queue = append(w.queue, ready)
	mRoomWaiting.Set(float64(len(w.queue)))
	w.mu.Unlock()
	select {
	case <-ready:
		return p, nil // the one who left handed its place over
	case <-ctx.Done():
		w.mu.Lock()
		for i, q := range w.queue {
			if q == ready {
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				mRoomWaiting.Set(float64(len(w.queue)))
				w.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		w.mu.Unlock()
		p.leave() // let in at the same moment: pass the place on
		return nil, ctx.Err()
	}
}

// Keep keeps a granted hold's pass until the booking on it is submitted
// (Submitted) or PassTTL passes.
func (w *WaitingRoom) Keep(hold uuid.UUID, p *pass) {
	if w == nil || w.Capacity <= 0 {
		return
	}
	w.mu.Lock()
	if w.passes == nil {
		w.passes = map[uuid.UUID]*pass{}
	}
	w.passes[hold] = p
	w.mu.Unlock()
	ttl := w.PassTTL
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	p.timer = time.AfterFunc(ttl, func() {
		w.mu.Lock()
		if w.passes[hold] == p {
			delete(w.passes, hold)
		}
		w.mu.Unlock()
		p.leave()
	})
}

// Submitted takes over the pass of the hold a booking is submitted on, or
// counts the booking without waiting when there is none; the caller gives
// it back once the booking is answered.
func (w *WaitingRoom) Submitted(hold *uuid.UUID) *pass {
	if w == nil || w.Capacity <= 0 {
		return &pass{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if hold != nil {
		if p := w.passes[*hold]; p != nil {
			delete(w.passes, *hold)
			if p.timer != nil {
				p.timer.Stop()
			}
			return p
		}
	}
	w.inside++
	mRoomInside.Set(float64(w.inside))
	return &pass{room: w}
}

// leave gives the place back: to the first one waiting, or to the room.
func (p *pass) leave() {
	if p == nil || p.room == nil {
		return
	}
	p.once.Do(func() {
		w := p.room
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.queue) > 0 {
			next := w.queue[0]
			w.queue = w.queue[1:]
			mRoomWaiting.Set(float64(len(w.queue)))
			close(next)
			return
		}
		w.inside--
		mRoomInside.Set(float64(w.inside))
	})
}
