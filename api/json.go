package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBody bounds request bodies; a venue layout for a large arena is the
// biggest legitimate one.
const maxBody = 1 << 20

// errHandled means decode already answered the request.
var errHandled = errors.New("answered")

// decode reads a JSON body into v: 415 for another content type, 413 when
// too large, 400 when malformed, unknown fields or trailing data. On error
// it has already written the answer.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			httpError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
			return errHandled
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			httpError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The body is larger than %d bytes.", maxBody))
		case errors.Is(err, io.EOF):
			httpError(w, r, http.StatusBadRequest, "malformed", "The body is empty; send a JSON object.")
		case errors.As(err, &syn):
			httpError(w, r, http.StatusBadRequest, "malformed", fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset))
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
	return nil
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
