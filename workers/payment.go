package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/topics"
)

// Payer is the payment worker of the saga: it consumes payment.requests,
// calls the gateway (timeouts, retries and a circuit breaker live in the
// gateway client) and answers on payment.replies keyed by event id. The
// idempotency key sent to the gateway derives from the booking, so a
// redelivered request or a crashed worker never charges twice.
type Payer struct {
	cfg   Config
	log   *slog.Logger
	gw    *gateway.Client
	group *topics.Group
	// InFlight bounds concurrent gateway calls per partition.
	InFlight int
}

func newPayer(cfg Config) (Runner, error) {
	if cfg.Gateway == nil {
		return nil, errors.New("no payment gateway configured")
	}
	p := &Payer{cfg: cfg, log: cfg.Logger.With("worker", "payment"), gw: cfg.Gateway, InFlight: 32}
	g, err := topics.NewGroup(topics.GroupConfig{
		Conn: cfg.Kafka, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupPayment,
		Topics: []string{topics.PaymentRequests}, Handle: p.handle,
		BatchSize: 64, BatchWait: cfg.BatchWait, MaxAttempts: cfg.MaxAttempts,
		// A batch may wait on a slow gateway: time-outs, retries and backoff.
		HandleTimeout:  30 * time.Second,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger, ClientID: cfg.Instance, DLQ: cfg.Producer,
		// While the gateway is down, failures are its fault, not the
		// messages': nothing is dead-lettered, so no refund is ever dropped.
		Ready: p.gatewayReady,
	})
	if err != nil {
		return nil, err
	}
	p.group = g
	return p, nil
}

// Run consumes until ctx ends.
func (p *Payer) Run(ctx context.Context) error { return p.group.Run(ctx) }

// Assigned reports the partitions owned now.
func (p *Payer) Assigned() map[string][]int { return p.group.Assigned() }

func (p *Payer) gatewayReady(ctx context.Context) error {
	if p.gw.BreakerState() == gateway.BreakerOpen {
		return gateway.ErrBreakerOpen
	}
	_, err := p.gw.FindCharge(ctx, "readiness-probe")
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	return err
}

type paymentJob struct {
	typ   string
	req   evently.PaymentRequest
	trace string // the request's, and so its reply's
}

// handle runs the batch's requests concurrently, one booking's requests in
// order, and replies; it returns once every reply is durable.
func (p *Payer) handle(ctx context.Context, b topics.Batch) error {
	byBooking := map[string][]paymentJob{}
	var order []string
	for _, m := range b.Messages {
		job, err := decodePayment(m)
		if err != nil {
			return err
		}
		k := job.req.BookingID.String()
		if _, ok := byBooking[k]; !ok {
			order = append(order, k)
		}
		byBooking[k] = append(byBooking[k], job)
	}
	var mu sync.Mutex
	var replies []topics.Message
	var firstErr error
	sem := make(chan struct{}, p.InFlight)
	var wg sync.WaitGroup
	for _, k := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(jobs []paymentJob) {
			defer wg.Done()
			defer func() { <-sem }()
			for _, j := range jobs {
				reply, err := p.process(ctx, j)
				if reply != nil {
					reply.TraceID = j.trace
				}
				p.logJob(ctx, j, reply, err)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if reply != nil {
					replies = append(replies, *reply)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}(byBooking[k])
	}
	wg.Wait()
	// Replies for the requests that finished go out even when others
	// failed: the batch is retried as a whole and duplicates are harmless.
	if len(replies) > 0 {
		if err := p.cfg.Producer.Publish(ctx, replies...); err != nil {
			return err
		}
	}
	return firstErr
}

func decodePayment(m kafka.Message) (paymentJob, error) {
	env, err := topics.Decode(m.Value)
	if err != nil {
		return paymentJob{}, topics.Poison(err)
	}
	j := paymentJob{typ: env.Type, trace: topics.TraceID(m)}
	if err := env.Unpack(&j.req); err != nil {
		return j, topics.Poison(err)
	}
	switch env.Type {
	case evently.PayCharge, evently.PayRefund, evently.PayResolve:
	default:
		return j, topics.Poison(fmt.Errorf("unknown payment request %q", env.Type))
	}
	if j.req.BookingID == uuid.Nil {
		return j, topics.Poison(errors.New("payment request without booking id"))
	}
	return j, nil
}

// logJob says, at debug level, what became of one request.
func (p *Payer) logJob(ctx context.Context, j paymentJob, reply *topics.Message, err error) {
	if !p.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	answer := "none"
	if reply != nil {
		answer = reply.Envelope.Type
	}
	p.log.Debug("payment request handled", "booking", j.req.BookingID, "request", j.typ, "reply", answer,
		evently.TraceAttr(j.trace), "err", err)
}

func (p *Payer) reply(typ string, req evently.PaymentRequest, r evently.PaymentReply) *topics.Message {
	r.BookingID, r.EventID = req.BookingID, req.EventID
	env, _ := topics.NewEnvelope(typ, r)
	return &topics.Message{Topic: topics.PaymentReplies, Key: req.EventID.String(), Envelope: env}
}

// process carries out one request. An error means "try again later".
func (p *Payer) process(ctx context.Context, j paymentJob) (*topics.Message, error) {
	if j.typ != evently.PayCharge {
		return p.giveBack(ctx, j.req)
	}
	req := j.req
	if !req.Deadline.IsZero() && time.Now().After(req.Deadline) {
		// Too late to charge: the booking worker fails it and resolves.
		return p.reply(evently.ReplyUnavailable, req, evently.PaymentReply{Detail: "deadline passed"}), nil
	}
	res, err := p.gw.Charge(ctx, gateway.ChargeRequest{BookingID: req.BookingID, AmountCents: req.AmountCents,
		Currency: req.Currency, Token: req.Token})
	if res.Outcome == gateway.Unknown {
		// The charge may have happened: ask the gateway before deciding.
		res, err = p.gw.FindCharge(ctx, gateway.ChargeKey(req.BookingID))
		if res.Outcome == gateway.NotFound {
			return p.reply(evently.ReplyUnavailable, req, evently.PaymentReply{Detail: "no charge was made"}), nil
		}
	}
	if typ, r, ok := finalCharge(res); ok {
		return p.reply(typ, req, r), nil
	}
	switch res.Outcome {
	case gateway.Unavailable, gateway.Unknown:
		// Nothing known to be charged; the same key makes a later try safe.
		detail := "gateway unavailable"
		if err != nil {
			detail = err.Error()
		}
		return p.reply(evently.ReplyUnavailable, req, evently.PaymentReply{Detail: detail}), nil
	}
	return nil, fmt.Errorf("charge %s: unexpected outcome %s: %v", req.BookingID, res.Outcome, err)
}

// finalCharge is the reply a final charge outcome makes: charged, or
// declined (a gateway rejection of the token counts as a decline); ok is
// false for anything else.
func finalCharge(res gateway.Result) (typ string, r evently.PaymentReply, ok bool) {
	switch res.Outcome {
	case gateway.Charged:
		return evently.ReplyCharged, evently.PaymentReply{ChargeID: res.ChargeID, AmountCents: res.AmountCents}, true
	case gateway.Declined, gateway.Rejected:
		code := res.DeclineCode
		if code == "" {
			code = res.Code
		}
		return evently.ReplyDeclined, evently.PaymentReply{ChargeID: res.ChargeID, DeclineCode: code}, true
	}
	return "", evently.PaymentReply{}, false
}

// giveBack refunds whatever was charged for a booking that did not confirm
// (or was cancelled after confirming). It retries until the gateway answers:
// money kept for nothing is never acceptable.
func (p *Payer) giveBack(ctx context.Context, req evently.PaymentRequest) (*topics.Message, error) {
	found, err := p.gw.FindCharge(ctx, gateway.ChargeKey(req.BookingID))
	switch {
	case found.Outcome == gateway.NotFound, found.Outcome == gateway.Declined:
		return nil, nil // nothing was charged
	case found.Outcome != gateway.Charged:
		return nil, fmt.Errorf("look up charge of %s: %w", req.BookingID, err)
	}
	res, err := p.gw.Refund(ctx, gateway.RefundRequest{BookingID: req.BookingID, ChargeID: found.ChargeID, AmountCents: found.AmountCents})
	if res.Outcome != gateway.Refunded {
		return nil, fmt.Errorf("refund %s: %s: %w", req.BookingID, res.Outcome, err)
	}
	return p.reply(evently.ReplyRefunded, req, evently.PaymentReply{ChargeID: found.ChargeID, AmountCents: res.AmountCents}), nil
}
