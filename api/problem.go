package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/evently/evently"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[string]int{
	evently.EINVALID:        http.StatusUnprocessableEntity,
	evently.ENOTFOUND:       http.StatusNotFound,
	evently.ECONFLICT:       http.StatusConflict,
	evently.ESEATSAVAILABLE: http.StatusConflict,
	evently.EUNAUTHORIZED:   http.StatusUnauthorized,
	evently.EFORBIDDEN:      http.StatusForbidden,
	evently.ERATELIMITED:    http.StatusTooManyRequests,
	evently.EUNAVAILABLE:    http.StatusServiceUnavailable,
	evently.EINTERNAL:       http.StatusInternalServerError,
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Code      string            `json:"code"`
	Errors    map[string]string `json:"errors,omitempty"`
	Conflicts []string          `json:"conflicts,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	// TraceID is the request's trace (also its X-Trace-Id header), to
	// quote when reporting the problem.
	TraceID  string `json:"trace_id,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Error writes err as problem+json. Only internal errors are logged with
// their text; callers never see it.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := evently.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := Problem{
		Type:      "https://evently.dev/problems/" + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    evently.ErrorMessage(err),
		Code:      code,
		RequestID: middleware.GetReqID(r.Context()),
		TraceID:   evently.TraceIDFrom(r.Context()),
		Instance:  r.URL.Path,
	}
	if e := evently.AsError(err); e != nil {
		p.Errors, p.Conflicts = e.Fields, e.Conflicts
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
	}
	if code == evently.EINTERNAL {
		slog.ErrorContext(r.Context(), "internal error", "err", err, "path", r.URL.Path, "request_id", p.RequestID, traceAttr(r))
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "2")
	}
	writeProblem(w, p)
}

// httpError answers with a status that has no domain code of its own
// (400 malformed, 405, 413, 415).
func httpError(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	writeProblem(w, Problem{
		Type: "https://evently.dev/problems/" + code, Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, RequestID: middleware.GetReqID(r.Context()), TraceID: evently.TraceIDFrom(r.Context()),
		Instance: r.URL.Path,
	})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
