package api

import (
	"net/http"

	"github.com/evently/evently"
)

// traceRequests gives every request a trace id: the trace-id of a valid
// W3C traceparent header, else a new one. The id rides on the request's
// context (log lines, problem bodies, the messages the request produces)
// and is answered twice: as X-Trace-Id, the id alone for a client to
// quote, and as traceparent, naming this server's hop of the trace.
func traceRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := evently.ParseTraceparent(r.Header.Get("traceparent"))
		if !ok {
			id = evently.NewTraceID()
		}
		h := w.Header()
		h.Set("X-Trace-Id", id)
		h.Set("traceparent", evently.Traceparent(id))
		next.ServeHTTP(w, r.WithContext(evently.WithTraceID(r.Context(), id)))
	})
}

// traceAttr is the trace_id log attribute of r.
func traceAttr(r *http.Request) any { return evently.TraceAttr(evently.TraceIDFrom(r.Context())) }
