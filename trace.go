package evently

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
)

// A trace id names everything one request set off: its HTTP log lines, the
// messages it caused and the workers' log lines about them, and the history
// rows of the booking it changed. It is a W3C Trace Context trace-id: 32
// lowercase hex digits, not all zero. The empty string means "none".

// NewTraceID returns a random trace id.
func NewTraceID() string { return randomHex(16) }

// NewSpanID returns a random W3C parent-id (16 hex digits): what the
// traceparent a hop sends on names that hop by.
func NewSpanID() string { return randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// ParseTraceparent returns the trace id of a W3C traceparent header value
// ("00-<trace-id>-<parent-id>-<flags>"); ok is false for anything malformed,
// an all-zero id, or version ff, which the caller answers with a new id.
// Later versions are read as version 00 is, as the specification asks.
func ParseTraceparent(h string) (traceID string, ok bool) {
	h = strings.TrimSpace(h)
	if len(h) < 55 || (len(h) > 55 && (h[:2] == "00" || h[55] != '-')) {
		return "", false
	}
	version, trace, parent, flags := h[0:2], h[3:35], h[36:52], h[53:55]
	if h[2] != '-' || h[35] != '-' || h[52] != '-' || !lowerHex(version) || version == "ff" ||
		!ValidTraceID(trace) || !lowerHex(parent) || parent == "0000000000000000" || !lowerHex(flags) {
		return "", false
	}
	return trace, true
}

// Traceparent is the traceparent header value a hop of trace sends: a new
// parent-id names the hop. The sampled flag is set, since Evently's logs
// record every request.
func Traceparent(traceID string) string { return "00-" + traceID + "-" + NewSpanID() + "-01" }

// ValidTraceID reports whether s is a trace id: 32 lowercase hex digits,
// not all zero.
func ValidTraceID(s string) bool {
	return len(s) == 32 && lowerHex(s) && s != "00000000000000000000000000000000"
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type traceKey struct{}

// WithTraceID returns ctx carrying a trace id; the producer puts it on the
// messages it sends under ctx.
func WithTraceID(ctx context.Context, traceID string) context.Context {
	return context.WithValue(ctx, traceKey{}, traceID)
}

// TraceIDFrom returns ctx's trace id, or "".
func TraceIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(traceKey{}).(string)
	return s
}

// TraceAttr is the log attribute of a trace id, trace_id; none (an empty
// attribute, which handlers drop) when there is no trace.
func TraceAttr(traceID string) slog.Attr {
	if traceID == "" {
		return slog.Attr{}
	}
	return slog.String("trace_id", traceID)
}
