package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/evently/evently"
)

// Every piece of text a client sends passes one of two gates before any
// handler sees it: decode (JSON bodies) walks the decoded value, and
// checkInput (query strings and the headers Evently stores) looks at each
// parameter. Both refuse, with 422 naming the field, what PostgreSQL would
// turn into a 500 or what nothing legitimate needs: invalid UTF-8, NUL
// (U+0000, which a PostgreSQL text column cannot hold), text longer than
// maxText, and numbers that are not finite or beyond maxNumber. Per-field
// rules (lengths of names, ranges of prices) stay with the domain; these
// gates make the whole class of "odd bytes reach the database" impossible
// whichever handler forgets.
const (
	// maxText bounds one JSON string (bytes); the longest legitimate field,
	// an event description, is 5,000 characters.
	maxText = 20_000
	// maxQueryValue bounds one query-string value or header (bytes).
	maxQueryValue = 1024
	// maxNumber bounds every JSON number: beyond 2^53 float64 loses whole
	// numbers, and nothing in the API counts that high.
	maxNumber = 1e15
)

// storedHeaders are request headers whose values are kept (Redis,
// PostgreSQL), so they pass the same text gate as query values.
var storedHeaders = []string{"Idempotency-Key"}

// checkInput refuses requests whose path, query string or stored headers
// hold text that textProblem rejects: 400 for a query string that does not
// parse, 422 naming each bad parameter.
func checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad := map[string]string{}
		if m := evently.TextProblem(r.URL.Path, 2048); m != "" {
			bad["path"] = m
		}
		if r.URL.RawQuery != "" {
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				httpError(w, r, http.StatusBadRequest, "malformed", "The query string is not valid URL encoding.")
				return
			}
			for k, vs := range q {
				if m := evently.TextProblem(k, 100); m != "" {
					bad["query"] = "parameter names " + m
					continue
				}
				// No parameter is a list, and handlers read the first
				// value only: a second would be silently ignored.
				if len(vs) > 1 {
					bad[k] = "is given more than once; send it once"
					continue
				}
				for _, v := range vs {
					if m := evently.TextProblem(v, maxQueryValue); m != "" {
						bad[k] = m
					}
				}
			}
		}
		for _, h := range storedHeaders {
			for _, v := range r.Header.Values(h) {
				if m := evently.TextProblem(v, 255); m != "" {
					bad[h] = m
				}
			}
		}
		if len(bad) > 0 {
			Error(w, r, evently.Invalid(bad))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkDecoded walks a decoded JSON value and returns per-field problems
// (keyed by JSON path, "layout.sections[0].x") for text and numbers that
// the gate refuses.
func checkDecoded(v any) map[string]string {
	bad := map[string]string{}
	walkValue(reflect.ValueOf(v), "", bad)
	return bad
}

func walkValue(v reflect.Value, path string, bad map[string]string) {
	if len(bad) >= 20 {
		return // enough to fix; do not build a huge answer
	}
	field := path
	if field == "" {
		field = "body"
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkValue(v.Elem(), path, bad)
		}
	case reflect.String:
		if m := evently.TextProblem(v.String(), maxText); m != "" {
			bad[field] = m
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxNumber {
			bad[field] = fmt.Sprintf("must be a finite number between -%g and %g", maxNumber, maxNumber)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n > maxNumber || n < -maxNumber {
			bad[field] = fmt.Sprintf("must be between -%g and %g", maxNumber, maxNumber)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > maxNumber {
			bad[field] = fmt.Sprintf("must be at most %g", maxNumber)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte and UUIDs: not text
		}
		for i := 0; i < v.Len(); i++ {
			walkValue(v.Index(i), path+"["+strconv.Itoa(i)+"]", bad)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := fmt.Sprint(it.Key().Interface())
			if it.Key().Kind() == reflect.String {
				if m := evently.TextProblem(k, 200); m != "" {
					bad[field] = "keys " + m
					continue
				}
			}
			walkValue(it.Value(), join(path, k), bad)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walkValue(v.Field(i), path, bad)
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkValue(v.Field(i), join(path, name), bad)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// invalidUTF8Field reports whether body holds invalid UTF-8 (which
// encoding/json would silently turn into U+FFFD) and, if so, the JSON path
// of the key or value holding the first invalid byte ("body" when the body
// is not JSON that far).
func invalidUTF8Field(body []byte) (string, bool) {
	if utf8.Valid(body) {
		return "", false
	}
	at := 0
	for at < len(body) {
		r, n := utf8.DecodeRune(body[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		array bool
		index int
		key   string
	}
	var stack []frame
	expectKey := false
	pathOf := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else if f.key != "" {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "body", true
		}
		end := int(dec.InputOffset())
		top := len(stack) - 1
		d, isDelim := tok.(json.Delim)
		if isDelim && (d == '}' || d == ']') {
			stack = stack[:top]
			expectKey = len(stack) > 0 && !stack[len(stack)-1].array
			continue
		}
		if top >= 0 && !stack[top].array && expectKey {
			stack[top].key, _ = tok.(string)
			expectKey = false
			if end > at {
				return pathOf(), true
			}
			continue
		}
		if top >= 0 && stack[top].array {
			stack[top].index++
		}
		switch {
		case isDelim && d == '{':
			stack = append(stack, frame{})
			expectKey = true
		case isDelim && d == '[':
			stack = append(stack, frame{array: true, index: -1})
		default:
			if end > at {
				return pathOf(), true
			}
			expectKey = top >= 0 && !stack[top].array
		}
	}
}

// readBody reads a bounded body; the error is an *http.MaxBytesError when
// too large.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
}

// queryLimit reads the page size of a list (the query parameter limit, 1
// to max, def when absent); false after a 422 for anything else.
func queryLimit(w http.ResponseWriter, r *http.Request, def, max int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		Error(w, r, evently.Invalid(map[string]string{"limit": fmt.Sprintf("Use a number from 1 to %d.", max)}))
		return 0, false
	}
	return n, true
}
