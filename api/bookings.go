package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/evently/evently"
)

// HoldService takes and releases seat holds.
type HoldService interface {
	Take(ctx context.Context, eventID, userID uuid.UUID, seats []string) (*evently.Hold, error)
	Get(ctx context.Context, holdID uuid.UUID) (*evently.Hold, error)
	Claim(ctx context.Context, hold *evently.Hold, bookingID uuid.UUID) error
	// ClaimID claims a hold by id for a booking of user (asForOthers: an
	// admin's) and returns it: 404 unknown or expired, 403 someone
	// else's, 409 claimed already.
	ClaimID(ctx context.Context, holdID, user uuid.UUID, asForOthers bool, bookingID uuid.UUID) (*evently.Hold, error)
	Release(ctx context.Context, hold *evently.Hold) error
	// GiveUp is Release for the holder: refused (409) once a booking
	// claimed the hold.
	GiveUp(ctx context.Context, hold *evently.Hold) error
	// Warm prepares what holds on the event need, in the background.
	Warm(ctx context.Context, eventID uuid.UUID)
}

// BookingReader reads bookings from the truth.
type BookingReader interface {
	Get(ctx context.Context, id uuid.UUID) (*evently.Booking, error)
	ListByUser(ctx context.Context, user uuid.UUID, before *uuid.UUID, limit int) ([]evently.Booking, error)
	// History returns a booking's status changes, oldest first.
	History(ctx context.Context, id uuid.UUID) ([]evently.HistoryEntry, error)
}

// StatusFeed is the fast status record and live stream of bookings.
type StatusFeed interface {
	SetPending(ctx context.Context, c evently.StatusChange) error
	// Durable clears the in-flight mark of a booking's pending record once
	// its command is durable; it fails when the record was taken over as
	// abandoned meanwhile (or the store did not answer).
	Durable(ctx context.Context, id uuid.UUID) error
	Forget(ctx context.Context, id uuid.UUID) error
	Current(ctx context.Context, id uuid.UUID) (*evently.StatusChange, error)
	Watch(ctx context.Context, id uuid.UUID) (<-chan evently.StatusChange, func())
	// MayHaveForgotten says whether the record of a booking with this id
	// may have been lost (Redis restarted empty since the id was made).
	MayHaveForgotten(ctx context.Context, id uuid.UUID) (bool, error)
}

// CommandQueue puts a message on a stream and returns once it is durable.
type CommandQueue interface {
	Enqueue(ctx context.Context, stream, key, typ string, payload any) error
}

// IdempotencyKeys remembers which booking a client key produced.
type IdempotencyKeys interface {
	Reserve(ctx context.Context, user uuid.UUID, key, bodyHash string, booking uuid.UUID) (*uuid.UUID, string, error)
	// Forget releases the key while it still names booking.
	Forget(ctx context.Context, user uuid.UUID, key string, booking uuid.UUID) error
}

// HoldAdmission admits a booking on a hold in as few round trips as the
// store can: the idempotency key, the claim and the pending record.
type HoldAdmission interface {
	Admit(ctx context.Context, a evently.Admission) (evently.Admitted, error)
}

// BookingWithdrawal makes a book command whose queueing failed harmless, or
// finds that the booking worker wrote it already (accepted).
type BookingWithdrawal interface {
	Withdraw(ctx context.Context, cmd *evently.BookCommand) (accepted bool, err error)
}

// UnknownOutcomes keeps the submissions whose outcome is not known (their
// produce and their withdrawal both failed) until withdrawing them again
// tells what they became.
type UnknownOutcomes interface {
	Mark(ctx context.Context, pending evently.StatusChange, u evently.UnknownOutcome) error
	// Resolve returns the booking the submission left in PostgreSQL
	// (failed/not_accepted when it was withdrawn; its hold and key are then
	// given back); EUNAVAILABLE while that cannot be known.
	Resolve(ctx context.Context, u *evently.UnknownOutcome) (*evently.Booking, error)
	// TakeOver makes an in-flight pending record whose request died an
	// unknown outcome (nil: its command was marked durable meanwhile).
	TakeOver(ctx context.Context, c *evently.StatusChange) (*evently.UnknownOutcome, error)
}

// BookingDeps are the booking area's services.
type BookingDeps struct {
	// Withdrawals settles a submission whose produce failed (nil: the
	// hold and key are simply given back).
	Withdrawals BookingWithdrawal
	// Outcomes keeps a submission neither accepted nor withdrawn (nil: its
	// record is kept unmarked and answered pending).
	Outcomes UnknownOutcomes
	// Admissions, when set, admits bookings on a hold (else the separate
	// Idempotency, Holds and Feed steps do).
	Admissions  HoldAdmission
	Holds       HoldService
	Bookings    BookingReader
	Feed        StatusFeed
	Queue       CommandQueue
	Idempotency IdempotencyKeys
	// EventStarts returns when an event starts (for the cancellation cut-off).
	EventStarts func(ctx context.Context, eventID uuid.UUID) (time.Time, error)
	// CancelCutoff is how long before the event confirmed bookings can no
	// longer be cancelled.
	CancelCutoff time.Duration
	// SubmitWait is how long POST /bookings waits for the outcome before it
	// answers 202 (a client's `Prefer: wait=N` overrides it, up to MaxWait);
	// 0 answers 202 at once.
	SubmitWait time.Duration
	// Room admits hold requests while the pipeline has room (nil: no
	// waiting room); RoomMaxWait bounds a buyer's wait there (default 5s).
	Room        *WaitingRoom
	RoomMaxWait time.Duration
	// InFlightFor is the longest a live submission takes from recording
	// its booking to marking its command durable (default inFlightFor). A
	// retry or read that meets a record still in flight waits that long
	// from its acceptance, then takes its request for dead.
	InFlightFor time.Duration
}

// inFlightFor: the producer gives a write 5 s (topics.Producer), and the
// durable mark follows it.
const inFlightFor = 6 * time.Second

// MaxWait bounds `Prefer: wait=N` and `?wait=N`.
const MaxWait = 30 * time.Second

var (
	mHoldSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "evently_hold_seconds", Help: "Time to take a seat hold.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
	})
	mHoldOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_hold_requests_total", Help: "Hold requests by outcome.",
	}, []string{"outcome"})
	mAccepted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "evently_bookings_accepted_total", Help: "Booking commands durably queued (202s).",
	})
)

// mountBookings mounts holds, bookings and their streams.
func (s *Server) mountBookings(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireUser, s.bookingsReady)
		r.With(s.limit(ClassHolds)).Post(eventPath+"/holds", s.takeHold)
		r.With(s.limit(ClassReads)).Get("/holds/{id}", s.getHold)
		r.With(s.limit(ClassHolds)).Delete("/holds/{id}", s.releaseHold)
		r.With(s.limit(ClassBookings)).Post("/bookings", s.submitBooking)
		r.With(s.limit(ClassReads)).Get("/bookings", s.listBookings)
		r.With(s.limit(ClassReads)).Get("/bookings/{id}", s.getBooking)
		r.With(s.limit(ClassReads)).Get("/bookings/{id}/events", s.streamBooking)
		r.With(s.limit(ClassBookings)).Post("/bookings/{id}/confirm", s.confirmBooking)
		r.With(s.limit(ClassBookings)).Post("/bookings/{id}/cancel", s.cancelBooking)
	})
}

// bookingsReady answers 503 on an instance wired without the booking
// services, instead of failing on a nil one.
func (s *Server) bookingsReady(next http.Handler) http.Handler {
	b := &s.Bookings
	return wired("Bookings are", func() bool {
		return b.Holds != nil && b.Bookings != nil && b.Feed != nil && b.Queue != nil && b.Idempotency != nil
	})(next)
}

// wired answers 503 ("<what> not available on this instance") while
// present reports that a part of the API was not wired on this process.
func wired(what string, present func() bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !present() {
				Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, Message: what + " not available on this instance.", RetryAfter: 5})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// pathID parses a UUID path parameter; a malformed one is simply not found.
func pathID(w http.ResponseWriter, r *http.Request, what string) (uuid.UUID, bool) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "%s not found.", what))
		return uuid.Nil, false
	}
	return id, true
}

type holdRequest struct {
	SeatIDs []string `json:"seat_ids"`
}

func (s *Server) takeHold(w http.ResponseWriter, r *http.Request) {
	eventID, ok := pathID(w, r, "Event")
	if !ok {
		return
	}
	var req holdRequest
	if decode(w, r, &req) != nil {
		return
	}
	p, ok := s.enterWaitingRoom(w, r)
	if !ok {
		return
	}
	start := time.Now()
	hold, err := s.Bookings.Holds.Take(r.Context(), eventID, actor(r).UserID, req.SeatIDs)
	mHoldSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		p.leave()
		mHoldOutcomes.WithLabelValues(evently.ErrorCode(err)).Inc()
		Error(w, r, err)
		return
	}
	s.Bookings.Room.Keep(hold.ID, p)
	mHoldOutcomes.WithLabelValues("ok").Inc()
	w.Header().Set("Location", "/api/v1/holds/"+hold.ID.String())
	writeJSON(w, http.StatusCreated, holdView(hold))
}

// enterWaitingRoom waits for a place in the waiting room, at most
// RoomMaxWait; a buyer still waiting then is told to come back, with
// nothing held.
func (s *Server) enterWaitingRoom(w http.ResponseWriter, r *http.Request) (*pass, bool) {
	maxWait := s.Bookings.RoomMaxWait
	if maxWait <= 0 {
		maxWait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxWait)
	defer cancel()
	p, err := s.Bookings.Room.Enter(ctx)
	if err != nil {
		if r.Context().Err() == nil {
			mHoldOutcomes.WithLabelValues("waiting_room_full").Inc()
			Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 1,
				Message: "The on-sale is busy and the waiting room is full; nothing was held. Try again in a moment."})
		}
		return nil, false
	}
	return p, true
}

func holdView(h *evently.Hold) map[string]any {
	return map[string]any{"id": h.ID, "event_id": h.EventID, "seat_ids": h.SeatIDs, "expires_at": h.ExpiresAt}
}

// ownHold loads a hold the caller owns: 404 when unknown or expired, 403
// when it is someone else's.
func (s *Server) ownHold(w http.ResponseWriter, r *http.Request, id uuid.UUID) (*evently.Hold, bool) {
	hold, err := s.Bookings.Holds.Get(r.Context(), id)
	if err != nil {
		Error(w, r, err)
		return nil, false
	}
	if a := actor(r); hold.UserID != a.UserID && !a.IsAdmin() {
		Error(w, r, evently.Errorf(evently.EFORBIDDEN, "This hold belongs to someone else."))
		return nil, false
	}
	return hold, true
}

func (s *Server) getHold(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Hold")
	if !ok {
		return
	}
	if hold, ok := s.ownHold(w, r, id); ok {
		writeJSON(w, http.StatusOK, holdView(hold))
	}
}

func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Hold")
	if !ok {
		return
	}
	hold, ok := s.ownHold(w, r, id)
	if !ok {
		return
	}
	if s.Waitlist != nil { // an offer declined goes to the next party, not on sale
		if declined, err := s.Waitlist.DeclineOffer(r.Context(), hold); err != nil || declined {
			if err != nil {
				Error(w, r, err)
			} else {
				w.WriteHeader(http.StatusNoContent)
			}
			return
		}
	}
	if err := s.Bookings.Holds.GiveUp(r.Context(), hold); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type paymentInput struct {
	Token string `json:"token"`
}

type bookingRequest struct {
	HoldID  *uuid.UUID    `json:"hold_id"`
	EventID *uuid.UUID    `json:"event_id"`
	SeatIDs []string      `json:"seat_ids"`
	Payment *paymentInput `json:"payment"`
}

func (req bookingRequest) validate() error {
	f := map[string]string{}
	switch {
	case req.HoldID != nil && (req.EventID != nil || req.SeatIDs != nil):
		f["hold_id"] = "Send either hold_id, or event_id with seat_ids, not both."
	case req.HoldID == nil && req.EventID == nil:
		f["hold_id"] = "Send hold_id, or event_id with seat_ids."
	case req.HoldID == nil && len(req.SeatIDs) == 0:
		f["seat_ids"] = "Choose at least one seat."
	}
	if req.Payment != nil && !validToken(req.Payment.Token) {
		f["payment.token"] = "A payment token is 1 to 200 printable characters."
	}
	if len(f) > 0 {
		return evently.Invalid(f)
	}
	return nil
}

// validToken: a payment token, 1 to 200 printable ASCII characters.
func validToken(s string) bool { return printableASCII(s, 200) }

// printableASCII: 1 to max characters from ! to ~, as the contract's
// patterns for tokens and Idempotency-Key say.
func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// submitBooking accepts a booking: it answers 202 only once the book
// command is durably in Kafka, and releases the hold when it cannot.
func (s *Server) submitBooking(w http.ResponseWriter, r *http.Request) {
	var req bookingRequest
	if decode(w, r, &req) != nil {
		return
	}
	if err := req.validate(); err != nil {
		Error(w, r, err)
		return
	}
	// The booking counts in the waiting room until it is answered.
	defer s.Bookings.Room.Submitted(req.HoldID).leave()
	ctx, a := r.Context(), actor(r)
	bookingID := evently.NewID()
	key := r.Header.Get("Idempotency-Key")
	var bodyHash string
	if key != "" {
		if !printableASCII(key, 255) {
			Error(w, r, evently.Invalid(map[string]string{"Idempotency-Key": "Use 1 to 255 printable characters."}))
			return
		}
		body, _ := json.Marshal(req)
		sum := sha256.Sum256(body)
		bodyHash = hex.EncodeToString(sum[:])
	}
	// earlier answers a retry whose key named an earlier booking.
	earlier := func(prev *uuid.UUID, prevHash string) {
		if prevHash != bodyHash {
			Error(w, r, evently.Invalid(map[string]string{"Idempotency-Key": "This key was used for a different request."}))
			return
		}
		s.answerExisting(w, r, *prev, a.UserID, key)
	}
	forgetKey := func() {
		if key != "" {
			_ = s.Bookings.Idempotency.Forget(context.WithoutCancel(ctx), a.UserID, key, bookingID)
		}
	}
	now := time.Now().UTC()
	var hold *evently.Hold
	var pending evently.StatusChange
	recorded := false
	var token string
	if req.Payment != nil {
		token = req.Payment.Token
	}
	if req.HoldID != nil && s.Bookings.Admissions != nil {
		adm, err := s.Bookings.Admissions.Admit(ctx, evently.Admission{UserID: a.UserID, AsForOthers: a.IsAdmin(),
			HoldID: *req.HoldID, BookingID: bookingID, IdempotencyKey: key, BodyHash: bodyHash, PaymentToken: token, At: now})
		if err != nil {
			Error(w, r, err)
			return
		}
		if adm.Earlier != nil {
			earlier(adm.Earlier, adm.EarlierHash)
			return
		}
		hold, pending, recorded = adm.Hold, adm.Pending, true
	} else {
		if key != "" {
			prev, prevHash, err := s.Bookings.Idempotency.Reserve(ctx, a.UserID, key, bodyHash, bookingID)
			if err != nil {
				Error(w, r, err)
				return
			}
			if prev != nil {
				earlier(prev, prevHash)
				return
			}
		}
		var err error
		if req.HoldID != nil {
			hold, err = s.Bookings.Holds.ClaimID(ctx, *req.HoldID, a.UserID, a.IsAdmin(), bookingID)
		} else {
			hold, err = s.Bookings.Holds.Take(ctx, *req.EventID, a.UserID, req.SeatIDs)
			if err == nil {
				err = s.Bookings.Holds.Claim(ctx, hold, bookingID)
			}
		}
		if err != nil {
			forgetKey()
			Error(w, r, err)
			return
		}
		pending = evently.StatusChange{BookingID: bookingID, UserID: a.UserID, EventID: hold.EventID, HoldID: &hold.ID,
			Status: evently.BookingPending, SeatIDs: hold.SeatIDs, At: now, AcceptedAt: now,
			InFlight: &evently.Submission{IdempotencyKey: key, PaymentToken: token}}
	}
	cmd := evently.BookCommand{BookingID: bookingID, UserID: a.UserID, EventID: hold.EventID, HoldID: &hold.ID,
		SeatIDs: hold.SeatIDs, HoldExpiresAt: hold.ExpiresAt, IdempotencyKey: key, PaymentToken: token, AcceptedAt: now}
	wait, preferred := preferWait(r, s.Bookings.SubmitWait)
	var changes <-chan evently.StatusChange
	if wait > 0 {
		// Watch before the command is queued, so no news is missed.
		var stop func()
		changes, stop = s.Bookings.Feed.Watch(ctx, bookingID)
		defer stop()
	}
	var err error
	if !recorded {
		err = s.Bookings.Feed.SetPending(ctx, pending)
	}
	queued := false
	if err == nil {
		queued = true // from here on the command may reach the queue
		err = s.Bookings.Queue.Enqueue(ctx, evently.StreamBookingCommands, hold.EventID.String(), evently.CmdBook, cmd)
	}
	if err == nil {
		// Durable: say so on the record before the answer, so a retry or a
		// read never takes this request for dead and withdraws what it said
		// was accepted. A mark refused (the record was taken over) or lost
		// is handled as a failed produce: withdrawn, or found accepted.
		// Not the client's context: one that hung up must not undo this.
		err = s.Bookings.Feed.Durable(context.WithoutCancel(ctx), bookingID)
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		if queued && s.Bookings.Withdrawals != nil {
			// The produce failed, but it may have written the command
			// (a timeout after the write): make it harmless before saying
			// nothing was accepted, or find it was accepted after all.
			accepted, werr := s.Bookings.Withdrawals.Withdraw(bg, &cmd)
			switch {
			case werr != nil:
				// Neither known nor made harmless: keep the hold, the key and
				// the pending record, marked, so a retry with the same key, a
				// read of the booking or the reaper withdraws it again and
				// learns the truth, instead of answering pending.
				if s.Bookings.Outcomes != nil {
					u := evently.UnknownOutcome{Command: cmd, Hold: *hold, Since: time.Now().UTC()}
					if merr := s.Bookings.Outcomes.Mark(bg, pending, u); merr != nil {
						s.Logger.Warn("unknown booking outcome not recorded", "booking", bookingID, traceAttr(r), "err", merr)
					}
				}
				// Location lets a client without a key read the truth too.
				w.Header().Set("Location", "/api/v1/bookings/"+bookingID.String())
				hint := retryHint
				if key == "" {
					hint = "read the booking at Location shortly."
				}
				Error(w, r, outcomeUnknown(hint))
				return
			case accepted:
				err = nil // the booking worker has it: the truth is a booking
			}
		}
		if err != nil {
			// Not stored, or made harmless: nothing was accepted, nothing is kept.
			_ = s.Bookings.Holds.Release(bg, hold)
			_ = s.Bookings.Feed.Forget(bg, bookingID)
			forgetKey()
			Error(w, r, err)
			return
		}
	}
	mAccepted.Inc()
	w.Header().Set("Location", "/api/v1/bookings/"+bookingID.String())
	if preferred {
		w.Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	}
	if wait > 0 {
		// The buyer is told the outcome in this answer when it comes in time:
		// settled, or reserved when there is nothing to pay with yet.
		done := func(st evently.BookingStatus) bool {
			return st.Settled() || (cmd.PaymentToken == "" && st.Stage() >= evently.BookingReserved.Stage())
		}
		if c := s.awaitStatus(ctx, bookingID, changes, wait, done); c != nil {
			writeJSON(w, http.StatusCreated, statusView(c))
			return
		}
	}
	writeJSON(w, http.StatusAccepted, statusView(&pending))
}

// preferWait reads RFC 7240's `Prefer: wait=N` (seconds, capped at
// MaxWait); without one the default applies. preferred reports whether the
// client asked, so the answer can say Preference-Applied.
func preferWait(r *http.Request, def time.Duration) (wait time.Duration, preferred bool) {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 0 {
				continue // a preference the server cannot read is ignored (RFC 7240 section 2)
			}
			return min(time.Duration(n)*time.Second, MaxWait), true
		}
	}
	return def, false
}

// awaitStatus waits up to d for a status change of the booking that done
// accepts, from pub/sub or the status record; nil when none came in time.
func (s *Server) awaitStatus(ctx context.Context, id uuid.UUID, changes <-chan evently.StatusChange, d time.Duration, done func(evently.BookingStatus) bool) *evently.StatusChange {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-changes:
			if done(c.Status) {
				return &c
			}
		case <-timer.C:
			// Pub/sub may have dropped the news: the record has it.
			if c, err := s.Bookings.Feed.Current(ctx, id); err == nil && c != nil && done(c.Status) {
				return c
			}
			return nil
		}
	}
}

// outcomeUnknown is the answer while a submission's outcome is unknown;
// hint says how to find it out.
func outcomeUnknown(hint string) error {
	return &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
		Message: "It is not known yet whether the booking was accepted; " + hint}
}

// Hints of outcomeUnknown.
const (
	retryHint = "retry with the same Idempotency-Key."
	readHint  = "try again shortly."
)

// resolve finds out what a submission of unknown outcome became (c is its
// marked pending record): the booking, or outcomeUnknown while that cannot
// be known. Never pending: that would promise a booking that may not exist.
func (s *Server) resolve(ctx context.Context, c *evently.StatusChange, hint string) (*evently.Booking, error) {
	if s.Bookings.Outcomes == nil {
		return nil, outcomeUnknown(hint)
	}
	bk, err := s.Bookings.Outcomes.Resolve(ctx, c.Unknown)
	if err != nil {
		return nil, outcomeUnknown(hint)
	}
	return bk, nil
}

// answerExisting repeats the answer for an idempotent retry whose key
// (of user) names the booking id: its true state, waited for while the
// first request is still running (see settle), never a placeholder.
func (s *Server) answerExisting(w http.ResponseWriter, r *http.Request, id, user uuid.UUID, key string) {
	w.Header().Set("Location", "/api/v1/bookings/"+id.String())
	ctx := r.Context()
	bk, err := s.Bookings.Bookings.Get(ctx, id)
	if err == nil {
		writeJSON(w, http.StatusAccepted, bk)
		return
	}
	c, err := s.Bookings.Feed.Current(ctx, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	bk, c, err = s.settle(ctx, id, c, retryHint, true)
	switch {
	case err != nil:
		Error(w, r, err)
	case bk != nil:
		writeJSON(w, http.StatusAccepted, bk)
	case c != nil:
		writeJSON(w, http.StatusAccepted, statusView(c))
	default:
		if lost, lerr := s.Bookings.Feed.MayHaveForgotten(ctx, id); lost || lerr != nil {
			Error(w, r, statusForgotten)
			return
		}
		// The first request was refused, or died before recording the
		// booking: nothing exists, and the key is free for a fresh start.
		_ = s.Bookings.Idempotency.Forget(context.WithoutCancel(ctx), user, key, id)
		w.Header().Del("Location")
		Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 1,
			Message: "The earlier request with this Idempotency-Key was not accepted; nothing was booked. Retry to start afresh."})
	}
}

// statusForgotten answers a booking that may have been accepted before its
// status store restarted empty and is not committed yet: never "not found".
var statusForgotten = &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
	Message: "This booking's status is not known right now (its status store restarted); try again shortly."}

// settle returns what a booking's pending record c (nil: none) truly
// stands for (evently.StandingOf): c when it can be answered as it stands;
// the booking PostgreSQL has once the record went (its request ended) or
// once it was resolved; an error while that cannot be known; neither when
// there is no booking at all. A record in flight is polled until its
// request finishes, or until its bound passes: then the request died, and
// the record is taken over and resolved as an unknown outcome, which
// withdraws its command unless the booking worker has it. awaitRecord
// also waits, within the bound from the id's time, for a record not
// written yet (a retry can overtake its first request).
func (s *Server) settle(ctx context.Context, id uuid.UUID, c *evently.StatusChange, hint string, awaitRecord bool) (*evently.Booking, *evently.StatusChange, error) {
	bound := s.Bookings.InFlightFor
	if bound <= 0 {
		bound = inFlightFor
	}
	made := time.Unix(id.Time().UnixTime())
	pause := 5 * time.Millisecond
	for {
		var until time.Time // when to look again; zero: at once
		switch {
		case c == nil && awaitRecord && time.Now().Before(made.Add(bound)):
			until = made.Add(bound)
		case c == nil:
			bk, err := s.Bookings.Bookings.Get(ctx, id)
			if evently.ErrorCode(err) == evently.ENOTFOUND {
				return nil, nil, nil
			}
			return bk, nil, err
		default:
			awaitRecord = false // seen: once it goes, its request has ended
			switch evently.StandingOf(c, time.Now(), bound) {
			case evently.StandingTrue:
				return nil, c, nil
			case evently.StandingInFlight:
				until = c.AcceptedAt.Add(bound)
			case evently.StandingUnknown:
				if c.Unknown == nil {
					if s.Bookings.Outcomes == nil {
						return nil, nil, outcomeUnknown(hint)
					}
					u, err := s.Bookings.Outcomes.TakeOver(ctx, c)
					if err != nil {
						return nil, nil, outcomeUnknown(hint)
					}
					c.Unknown = u // nil: marked durable meanwhile, read it again
				}
				if c.Unknown != nil {
					bk, err := s.resolve(ctx, c, hint)
					return bk, nil, err
				}
			}
		}
		if !until.IsZero() {
			t := time.NewTimer(min(pause, max(time.Until(until), 0)))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil, outcomeUnknown(hint)
			case <-t.C:
			}
			pause = min(2*pause, 100*time.Millisecond)
		}
		var err error
		if c, err = s.Bookings.Feed.Current(ctx, id); err != nil {
			return nil, nil, err
		}
	}
}

// statusView shows a booking from its status record: the fields of the
// booking that the record carries (no version or created_at).
func statusView(c *evently.StatusChange) map[string]any {
	v := map[string]any{"id": c.BookingID, "user_id": c.UserID, "event_id": c.EventID, "hold_id": c.HoldID,
		"status": c.Status, "seat_ids": c.SeatIDs, "updated_at": c.At}
	if !c.AcceptedAt.IsZero() {
		v["accepted_at"] = c.AcceptedAt
	}
	if c.Reason != "" {
		v["reason"] = c.Reason
	}
	if c.Currency != "" {
		v["amount_cents"], v["currency"] = c.AmountCents, c.Currency
	}
	if c.ExpiresAt != nil {
		v["expires_at"] = c.ExpiresAt
	}
	return v
}

// loadBooking returns the caller's booking from PostgreSQL or, before the
// worker wrote it, its pending record. committed is nil while pending.
func (s *Server) loadBooking(w http.ResponseWriter, r *http.Request) (committed *evently.Booking, pending *evently.StatusChange, ok bool) {
	id, ok := pathID(w, r, "Booking")
	if !ok {
		return nil, nil, false
	}
	a := actor(r)
	bk, err := s.Bookings.Bookings.Get(r.Context(), id)
	if err == nil {
		if bk.UserID != a.UserID && !a.IsAdmin() {
			Error(w, r, evently.Errorf(evently.EFORBIDDEN, "This booking belongs to someone else."))
			return nil, nil, false
		}
		return bk, nil, true
	}
	if evently.ErrorCode(err) != evently.ENOTFOUND {
		Error(w, r, err)
		return nil, nil, false
	}
	c, ferr := s.Bookings.Feed.Current(r.Context(), id)
	if ferr != nil || c == nil {
		// In neither store: unknown, unless Redis lost the pending record
		// of a booking accepted and not committed yet, which must never be
		// called "not found".
		if lost, lerr := s.Bookings.Feed.MayHaveForgotten(r.Context(), id); lost || lerr != nil {
			Error(w, r, statusForgotten)
			return nil, nil, false
		}
		Error(w, r, err)
		return nil, nil, false
	}
	if c.UserID != a.UserID && !a.IsAdmin() {
		Error(w, r, evently.Errorf(evently.EFORBIDDEN, "This booking belongs to someone else."))
		return nil, nil, false
	}
	bk, c, err = s.settle(r.Context(), id, c, readHint, false)
	switch {
	case err != nil:
		Error(w, r, err)
		return nil, nil, false
	case bk == nil && c == nil:
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "Booking not found."))
		return nil, nil, false
	}
	return bk, c, true
}

// getBooking answers a poll from the booking's status record in Redis (one
// read, no PostgreSQL); a booking whose record is gone (older than its TTL,
// or Redis lost it) is read from PostgreSQL. With `?wait=N` (or
// `Prefer: wait=N`) an unsettled booking is answered when its status next
// changes, or after N seconds: a long poll.
func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("include") {
	case "":
	case "history":
		s.getBookingHistory(w, r)
		return
	default:
		Error(w, r, evently.Invalid(map[string]string{"include": "The only value is history."}))
		return
	}
	id, ok := pathID(w, r, "Booking")
	if !ok {
		return
	}
	wait, _ := preferWait(r, 0)
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
			Error(w, r, evently.Invalid(map[string]string{"wait": fmt.Sprintf("Use whole seconds from 0 to %d.", int(MaxWait/time.Second))}))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	ctx, a := r.Context(), actor(r)
	var changes <-chan evently.StatusChange
	if wait > 0 {
		var stop func()
		changes, stop = s.Bookings.Feed.Watch(ctx, id)
		defer stop()
	}
	c, err := s.Bookings.Feed.Current(ctx, id)
	if err != nil || c == nil {
		bk, pending, ok := s.loadBooking(w, r)
		switch {
		case !ok:
		case bk != nil:
			writeJSON(w, http.StatusOK, bk)
		default:
			writeJSON(w, http.StatusOK, statusView(pending))
		}
		return
	}
	if c.UserID != a.UserID && !a.IsAdmin() {
		Error(w, r, evently.Errorf(evently.EFORBIDDEN, "This booking belongs to someone else."))
		return
	}
	bk, c, err := s.settle(ctx, id, c, readHint, false)
	switch {
	case err != nil:
		Error(w, r, err)
		return
	case bk != nil:
		writeJSON(w, http.StatusOK, bk)
		return
	case c == nil:
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "Booking not found."))
		return
	}
	if wait > 0 && !c.Status.Settled() {
		from := c.Status
		if next := s.awaitStatus(ctx, id, changes, wait, func(st evently.BookingStatus) bool { return st.Stage() > from.Stage() }); next != nil {
			c = next
		}
	}
	writeJSON(w, http.StatusOK, statusView(c))
}

// bookingWithHistory is a booking with its status changes.
type bookingWithHistory struct {
	*evently.Booking
	History []evently.HistoryEntry `json:"history"`
}

// getBookingHistory answers `?include=history` from PostgreSQL, where the
// history is (the status record in Redis has none), at once: a wait is
// not applied. A booking the worker has not written yet is answered from
// its pending record with an empty history.
func (s *Server) getBookingHistory(w http.ResponseWriter, r *http.Request) {
	bk, pending, ok := s.loadBooking(w, r)
	if !ok {
		return
	}
	if bk == nil {
		v := statusView(pending)
		v["history"] = []evently.HistoryEntry{}
		writeJSON(w, http.StatusOK, v)
		return
	}
	h, err := s.Bookings.Bookings.History(r.Context(), bk.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bookingWithHistory{Booking: bk, History: h})
}

func (s *Server) listBookings(w http.ResponseWriter, r *http.Request) {
	limit, before, ok := idPage(w, r)
	if !ok {
		return
	}
	items, err := s.Bookings.Bookings.ListByUser(r.Context(), actor(r).UserID, before, limit)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeIDPage(w, items, limit, func(b evently.Booking) uuid.UUID { return b.ID })
}

// streamBooking sends server-sent events of status changes until the
// booking settles. Redis pub/sub pushes changes; a slow poll of the truth
// covers messages pub/sub may drop.
func (s *Server) streamBooking(w http.ResponseWriter, r *http.Request) {
	bk, pending, ok := s.loadBooking(w, r)
	if !ok {
		return
	}
	id := pending.BookingIDOr(bk)
	ctx := r.Context()
	changes, stop := s.Bookings.Feed.Watch(ctx, id)
	defer stop()
	es, ok := startEventStream(w, r)
	if !ok {
		return
	}
	defer es.stop()

	last := evently.BookingStatus("")
	send := func(ev statusEvent) bool {
		if last != "" && ev.Status.Stage() <= last.Stage() {
			return false // already shown, or older news from a lagging source
		}
		last = ev.Status
		b, _ := json.Marshal(ev)
		es.send("", "status", b)
		return ev.Status.Settled()
	}
	// The truth, for the first event and on each slow tick.
	current := func() bool {
		if b, err := s.Bookings.Bookings.Get(ctx, id); err == nil {
			return send(bookingEvent(b))
		}
		if c, err := s.Bookings.Feed.Current(ctx, id); err == nil && c != nil {
			return send(changeEvent(c))
		}
		return false
	}
	if bk != nil {
		if send(bookingEvent(bk)) {
			return
		}
	} else if send(changeEvent(pending)) {
		return
	}
	// A change committed between the read above and the watch is in the
	// status record already (it is written before it is published).
	if c, err := s.Bookings.Feed.Current(ctx, id); err == nil && c != nil && send(changeEvent(c)) {
		return
	}
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-changes:
			if send(changeEvent(&c)) {
				return
			}
		case <-poll.C:
			if current() {
				return
			}
		case <-es.beats():
			es.keepAlive()
		}
	}
}

// statusEvent is what a booking stream sends: one shape, whichever source
// (PostgreSQL, the status record, pub/sub) told the news.
type statusEvent struct {
	ID      uuid.UUID             `json:"id"`
	Status  evently.BookingStatus `json:"status"`
	Reason  string                `json:"reason,omitempty"`
	SeatIDs []string              `json:"seat_ids"`
	At      time.Time             `json:"at"`
}

func bookingEvent(b *evently.Booking) statusEvent {
	ev := statusEvent{ID: b.ID, Status: b.Status, SeatIDs: b.SeatIDs, At: b.UpdatedAt}
	if b.Reason != nil {
		ev.Reason = *b.Reason
	}
	return ev
}

func changeEvent(c *evently.StatusChange) statusEvent {
	return statusEvent{ID: c.BookingID, Status: c.Status, Reason: c.Reason, SeatIDs: c.SeatIDs, At: c.At}
}

type confirmRequest struct {
	Payment *paymentInput `json:"payment"`
}

func (s *Server) confirmBooking(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if decode(w, r, &req) != nil {
		return
	}
	if req.Payment == nil || !validToken(req.Payment.Token) {
		Error(w, r, evently.Invalid(map[string]string{"payment.token": "A payment token is 1 to 200 printable characters."}))
		return
	}
	bk, ok := s.committedBooking(w, r)
	if !ok {
		return
	}
	if bk.UserID != actor(r).UserID {
		Error(w, r, evently.Errorf(evently.EFORBIDDEN, "Only the booking's owner can pay for it."))
		return
	}
	if err := bk.Payable(time.Now()); err != nil {
		Error(w, r, err)
		return
	}
	s.requestChange(w, r, bk, evently.CmdConfirm, evently.BookingRef{BookingID: bk.ID, EventID: bk.EventID, PaymentToken: req.Payment.Token})
}

type cancelRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelBooking(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if r.ContentLength != 0 && decode(w, r, &req) != nil {
		return
	}
	if len(req.Reason) > evently.MaxReasonLength {
		Error(w, r, evently.Invalid(map[string]string{"reason": "Keep the reason under 500 characters."}))
		return
	}
	bk, ok := s.committedBooking(w, r)
	if !ok {
		return
	}
	var starts time.Time
	if bk.Status == evently.BookingConfirmed && s.Bookings.EventStarts != nil && s.Bookings.CancelCutoff > 0 {
		var err error
		if starts, err = s.Bookings.EventStarts(r.Context(), bk.EventID); err != nil {
			Error(w, r, err)
			return
		}
	}
	if err := bk.Cancellable(time.Now(), starts, s.Bookings.CancelCutoff); err != nil {
		Error(w, r, err)
		return
	}
	a := actor(r)
	s.requestChange(w, r, bk, evently.CmdCancel, evently.BookingRef{BookingID: bk.ID, EventID: bk.EventID, ActorID: &a.UserID, Reason: strings.TrimSpace(req.Reason)})
}

// committedBooking loads the caller's booking once the worker has written
// it; before that, changes to it are refused with 409 and Retry-After.
func (s *Server) committedBooking(w http.ResponseWriter, r *http.Request) (*evently.Booking, bool) {
	bk, _, ok := s.loadBooking(w, r)
	if !ok {
		return nil, false
	}
	if bk == nil {
		Error(w, r, &evently.Error{Code: evently.ECONFLICT, Message: "The booking is still being processed; try again in a moment.", RetryAfter: 1})
		return nil, false
	}
	return bk, true
}

// requestChange sends a command about a booking through its event's
// partition, where the booking worker decides, and answers 202.
func (s *Server) requestChange(w http.ResponseWriter, r *http.Request, bk *evently.Booking, typ string, ref evently.BookingRef) {
	if err := s.Bookings.Queue.Enqueue(r.Context(), evently.StreamBookingCommands, bk.EventID.String(), typ, ref); err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": bk.ID, "status": bk.Status, "requested": typ})
}
