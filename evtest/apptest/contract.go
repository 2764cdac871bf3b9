package apptest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	// libopenapi-validator (MIT) holds an answer to an OpenAPI 3.1
	// document: status, content type, body schema and headers of the
	// operation the request routes to. Writing that by hand would mean a
	// JSON Schema 2020-12 engine and OpenAPI's path matching of our own.
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/evently/evently/api"
)

// contract is the validator of the embedded OpenAPI document, built once per
// test binary: parsing and compiling the schemas costs far more than a check.
var contract struct {
	once sync.Once
	v    validator.Validator
	err  error
}

func contractValidator() (validator.Validator, error) {
	contract.once.Do(func() {
		doc, err := libopenapi.NewDocument(api.OpenAPI())
		if err != nil {
			contract.err = fmt.Errorf("openapi.yaml: %w", err)
			return
		}
		// Formats too: a uuid that is not one, or a date-time that is
		// not RFC 3339, is an answer the document does not allow.
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			contract.err = fmt.Errorf("openapi.yaml: %v", errs)
			return
		}
		contract.v = v
	})
	return contract.v, contract.err
}

// CheckResponse holds an answer to the document: its status must be
// documented for the operation, and a documented body must have the content
// type and schema given, documented headers theirs. It returns what
// disagrees, nil when nothing does. The request itself is not checked
// (tests send bad ones on purpose), and a refusal before routing
// (beforeRouting) is the right answer to a route or method the document
// lacks. A nil body checks the status and
// headers only (an event stream, read as it comes).
func CheckResponse(req *http.Request, status int, header http.Header, body []byte) []string {
	if api.BesideTheAPI(req.URL.Path) || isPreflight(req) {
		return nil
	}
	v, err := contractValidator()
	if err != nil {
		return []string{err.Error()}
	}
	if header.Get("Content-Encoding") == "gzip" && len(body) > 0 {
		// A test that asked for gzip itself gets it undecoded; the schema
		// is about what is inside. (A 304 has no body to decode.)
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return []string{"gzip: " + err.Error()}
		}
		if body, err = io.ReadAll(zr); err != nil {
			return []string{"gzip: " + err.Error()}
		}
	}
	var msgs []string
	if body != nil && len(body) == 0 && strings.Contains(header.Get("Content-Type"), "json") {
		// The validator takes an empty body for an absent value, which
		// every schema allows; no JSON client would.
		msgs = append(msgs, "an empty body as "+header.Get("Content-Type"))
	}
	res := &http.Response{StatusCode: status, Header: header, Body: http.NoBody, Request: req}
	if body != nil {
		res.Body = io.NopCloser(bytes.NewReader(body))
	}
	_, errs := v.ValidateHttpResponse(req, res)
	logCheck(req, status)
	for _, e := range errs {
		if unknownRoute(e) && beforeRouting[status] {
			if ct := header.Get("Content-Type"); ct != "application/problem+json" {
				msgs = append(msgs, fmt.Sprintf("%d to a route the document lacks as %q, not problem+json", status, ct))
			}
			continue
		}
		msgs = append(msgs, describe(e))
	}
	return msgs
}

// beforeRouting are the answers a path or method the document lacks may
// rightly get, as problem+json: the router's 404 and 405, and what the
// layers in front of it refuse before any route is chosen (the input
// gate's 400, 413, 415 and 422 — a path that is no UTF-8, say — a bad
// token's 401, the limiter's 429, a dependency's 503).
var beforeRouting = map[int]bool{
	http.StatusBadRequest: true, http.StatusUnauthorized: true, http.StatusNotFound: true,
	http.StatusMethodNotAllowed: true, http.StatusRequestEntityTooLarge: true,
	http.StatusUnsupportedMediaType: true, http.StatusUnprocessableEntity: true,
	http.StatusTooManyRequests: true, http.StatusServiceUnavailable: true,
}

// isPreflight tells a CORS preflight, answered by the CORS layer before
// any route (api/identity_cors.go): browsers send it, not API clients, so
// the document has no OPTIONS operations.
func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != ""
}

// unknownRoute tells an error about the path or method, which the document
// does not have, from one about the answer.
func unknownRoute(e *verrors.ValidationError) bool {
	return e.IsPathMissingError() || e.IsOperationMissingError()
}

// describe names what disagrees: the message, and for a schema failure
// each field with its reason ("$.expires_in: got string, want integer").
func describe(e *verrors.ValidationError) string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Reason != "" && len(e.SchemaValidationErrors) == 0 {
		b.WriteString(": " + e.Reason)
	}
	for _, s := range e.SchemaValidationErrors {
		field := s.FieldPath
		if field == "" {
			field = s.FieldName
		}
		fmt.Fprintf(&b, "; %s: %s", field, s.Reason)
	}
	return b.String()
}

// contractLog, when EVENTLY_CONTRACT_LOG names a file, gets a line per
// answer checked, so a run can tell how many and which it held to the
// document.
var contractLog = sync.OnceValue(func() *os.File {
	name := os.Getenv("EVENTLY_CONTRACT_LOG")
	if name == "" {
		return nil
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil
	}
	return f
})

func logCheck(req *http.Request, status int) {
	if f := contractLog(); f != nil {
		// One write per line: O_APPEND keeps lines of parallel tests and
		// packages whole.
		_, _ = fmt.Fprintf(f, "%s %s %d\n", req.Method, req.URL.Path, status)
	}
}

// Contract fails the test (without stopping it) when the answer to req
// disagrees with the document: for tests that send requests of their own
// rather than through Do (streams, a second server, raw bytes).
func Contract(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if msgs := CheckResponse(req, status, header, body); len(msgs) > 0 {
		t.Errorf("%s %s: %d disagrees with openapi.yaml:\n\t%s\nbody: %.500s",
			req.Method, req.URL.Path, status, strings.Join(msgs, "\n\t"), body)
	}
}

func (a *App) checkResponse(req *http.Request, r Response) {
	a.t.Helper()
	Contract(a.t, req, r.Status, r.Header, r.Body)
}
