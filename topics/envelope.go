package topics

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
)

// EnvelopeVersion is the wire format's version; consumers reject newer ones
// to the DLQ rather than guess.
const EnvelopeVersion = 1

// Envelope wraps every message on every topic.
type Envelope struct {
	ID         uuid.UUID       `json:"id"`
	Type       string          `json:"type"`
	Version    int             `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Payload    json.RawMessage `json:"payload"`
}

// NewEnvelope wraps payload with a fresh id.
func NewEnvelope(typ string, payload any) (Envelope, error) {
	return NewEnvelopeID(evently.NewID(), typ, payload)
}

// NewEnvelopeID wraps payload with a given id: derived ids make a message
// that is re-emitted after a crash deduplicate downstream.
func NewEnvelopeID(id uuid.UUID, typ string, payload any) (Envelope, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("envelope %s: %w", typ, err)
	}
	return Envelope{ID: id, Type: typ, Version: EnvelopeVersion,
		OccurredAt: time.Now().UTC(), Payload: b}, nil
}

// Marshal returns the wire form.
func (e Envelope) Marshal() []byte {
	b, _ := json.Marshal(e) // only json.RawMessage and plain fields: cannot fail
	return b
}

// Decode parses a wire message and checks the envelope; a message that fails
// here is poison.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, evently.Errorf(evently.EINVALID, "envelope: %v", err)
	}
	switch {
	case e.ID == uuid.Nil:
		return e, evently.Errorf(evently.EINVALID, "envelope: missing id")
	case e.Type == "":
		return e, evently.Errorf(evently.EINVALID, "envelope: missing type")
	case e.Version < 1 || e.Version > EnvelopeVersion:
		return e, evently.Errorf(evently.EINVALID, "envelope: unsupported version %d", e.Version)
	}
	return e, nil
}

// Unpack decodes the payload into v.
func (e Envelope) Unpack(v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return evently.Errorf(evently.EINVALID, "%s payload: %v", e.Type, err)
	}
	return nil
}

// TraceHeader is the message header that carries a message's trace, as a
// W3C traceparent: in the headers rather than the envelope, so the wire
// format and its version stay as they are, and a message without it (from
// before, or from a tool) is simply untraced.
const TraceHeader = "traceparent"

// TraceID returns the trace id in m's headers, or "" when it has none (or
// a malformed one).
func TraceID(m kafka.Message) string {
	for _, h := range m.Headers {
		if h.Key == TraceHeader {
			id, _ := evently.ParseTraceparent(string(h.Value))
			return id
		}
	}
	return ""
}

// traceHeaders are the headers of a message of trace id ("": none).
func traceHeaders(traceID string) []kafka.Header {
	if traceID == "" {
		return nil
	}
	return []kafka.Header{{Key: TraceHeader, Value: []byte(evently.Traceparent(traceID))}}
}
