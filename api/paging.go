package api

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/evently/evently"
)

// idPage reads the limit (1 to 100, default 20) and cursor (the last id of
// the previous page) of a list paged by UUIDv7 ids, newest first; it
// answers 422 itself, naming each bad parameter.
func idPage(w http.ResponseWriter, r *http.Request) (limit int, before *uuid.UUID, ok bool) {
	q, bad := r.URL.Query(), map[string]string{}
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			bad["limit"] = "Use a number from 1 to 100."
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			bad["cursor"] = "Use the next_cursor of the previous page."
		}
		before = &id
	}
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return 0, nil, false
	}
	return limit, before, true
}

// writeIDPage answers {items, next_cursor}: a full page's last id is the
// cursor of the next (which may be empty); a shorter page is the last.
func writeIDPage[T any](w http.ResponseWriter, items []T, limit int, id func(T) uuid.UUID) {
	var next *string
	if len(items) == limit && limit > 0 {
		c := id(items[len(items)-1]).String()
		next = &c
	}
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}
