package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/evently/evently"
)

// maxBody bounds request bodies; a venue layout for a large arena is the
// biggest legitimate one.
const maxBody = 1 << 20

// errHandled means decode already answered the request.
var errHandled = errors.New("answered")

// decode reads a JSON body into v: 415 for another content type, 413 when
// too large, 400 when malformed, unknown fields or trailing data, 422 naming
// the field for invalid UTF-8, NUL, overlong text and numbers that are out
// of range or not finite (see input.go). On error it has already written
// the answer.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			httpError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
			return errHandled
		}
	}
	body, err := readBody(w, r)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The body is larger than %d bytes.", maxBody))
		return errHandled
	} else if err != nil {
		httpError(w, r, http.StatusBadRequest, "malformed", "The body cannot be read.")
		return errHandled
	}
	if field, bad := invalidUTF8Field(body); bad {
		Error(w, r, evently.Invalid(map[string]string{field: "must be valid UTF-8"}))
		return errHandled
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			httpError(w, r, http.StatusBadRequest, "malformed", "The body is empty; send a JSON object.")
		case errors.As(err, &syn):
			httpError(w, r, http.StatusBadRequest, "malformed", fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset))
		case errors.As(err, &typ) && strings.HasPrefix(typ.Value, "number") && isNumber(typ.Type):
			// A number too large (or fractional) for its field: the
			// request is well-formed, its value is not.
			field := typ.Field
			if field == "" {
				field = "body"
			}
			Error(w, r, evently.Invalid(map[string]string{field: "is out of range or not a whole number"}))
		case errors.As(err, &typ):
			httpError(w, r, http.StatusBadRequest, "malformed", fmt.Sprintf("Field %q must be of type %s.", typ.Field, typ.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			httpError(w, r, http.StatusBadRequest, "malformed", "Unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field ")+".")
		default:
			httpError(w, r, http.StatusBadRequest, "malformed", "The body is not valid JSON.")
		}
		return errHandled
	}
	if dec.More() {
		httpError(w, r, http.StatusBadRequest, "malformed", "The body must hold exactly one JSON object.")
		return errHandled
	}
	if bad := checkDecoded(v); len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return errHandled
	}
	return nil
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// writeJSON answers with v as JSON. It encodes before writing the status,
// so a value that cannot be encoded (a NaN) becomes a 500 problem, never a
// success with an empty body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		writeProblem(w, Problem{Type: "https://evently.dev/problems/" + evently.EINTERNAL, Title: http.StatusText(500),
			Status: 500, Detail: "Internal error.", Code: evently.EINTERNAL})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
