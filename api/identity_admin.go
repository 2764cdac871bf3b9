package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently"
)

// Page sizes of the admin listings.
const (
	defaultPage = 50
	maxPage     = 200
)

// pageLimit reads ?limit=, recording a problem in fields.
func pageLimit(q url.Values, fields map[string]string) int {
	v := q.Get("limit")
	if v == "" {
		return defaultPage
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		fields["limit"] = "must be a number from 1 to 200"
	}
	return n
}

// checkFilter returns what is wrong with a text filter, or "".
func checkFilter(v string) string {
	if len(v) > 200 || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "must be at most 200 characters of text"
	}
	return ""
}

// page is a cursor-paginated listing.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// listUsers lists accounts in creation order; ?role= and ?q= (a part of the
// email or name) filter, ?cursor= continues where next_cursor left off.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields := map[string]string{}
	limit := pageLimit(q, fields)
	role := evently.Role(q.Get("role"))
	if role != "" && !role.Valid() {
		fields["role"] = "must be user, organizer or admin"
	}
	if m := checkFilter(q.Get("q")); m != "" {
		fields["q"] = m
	}
	var after uuid.UUID
	if c := q.Get("cursor"); c != "" {
		id, err := uuid.Parse(c)
		if err != nil {
			fields["cursor"] = "is not a cursor this listing returned"
		}
		after = id
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	users, err := s.Auth.Users.ListUsers(r.Context(), role, q.Get("q"), after, limit+1)
	if err != nil {
		Error(w, r, err)
		return
	}
	p := page[evently.User]{Items: users}
	if len(users) > limit {
		p.Items = users[:limit]
		p.NextCursor = users[limit-1].ID.String()
	}
	writeJSON(w, http.StatusOK, p)
}

// updateUser changes a user's role or disabled flag. Either change refuses
// the user's access tokens issued so far (the role is a claim in them);
// disabling also ends every session.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "user not found."))
		return
	}
	var in struct {
		Role     *evently.Role `json:"role"`
		Disabled *bool         `json:"disabled"`
	}
	if decode(w, r, &in) != nil {
		return
	}
	fields := map[string]string{}
	if in.Role == nil && in.Disabled == nil {
		fields["role"] = "send role and/or disabled to change"
	}
	if in.Role != nil && !in.Role.Valid() {
		fields["role"] = "must be user, organizer or admin"
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	a := actor(r)
	if id == a.UserID && ((in.Role != nil && *in.Role != evently.RoleAdmin) || (in.Disabled != nil && *in.Disabled)) {
		// Guards against locking the last admin out; another admin can do it.
		Error(w, r, evently.Errorf(evently.ECONFLICT, "Admins cannot demote or disable themselves; ask another admin."))
		return
	}
	before, after, err := s.Auth.Users.UpdateAccess(r.Context(), id, in.Role, in.Disabled)
	if err != nil {
		Error(w, r, err)
		return
	}
	roleChanged, disabledChanged := before.Role != after.Role, before.Disabled != after.Disabled
	if after.Disabled && disabledChanged {
		if err := s.Auth.Sessions.EndAll(r.Context(), id); err != nil {
			Error(w, r, err)
			return
		}
	}
	if roleChanged || (after.Disabled && disabledChanged) {
		if err := s.Auth.Revocations.RevokeUser(r.Context(), id, time.Now()); err != nil {
			// The change is stored; repeating the request revokes again.
			Error(w, r, unavailable(err))
			return
		}
	}
	if roleChanged {
		s.audit(r, a.UserID, AuditRoleChanged, id.String(), map[string]any{"from": before.Role, "to": after.Role})
	}
	if disabledChanged {
		action := AuditUserEnabled
		if after.Disabled {
			action = AuditUserDisabled
		}
		s.audit(r, a.UserID, action, id.String(), nil)
	}
	writeJSON(w, http.StatusOK, after)
}

// listAudit lists the audit log newest first; ?action= and ?actor= filter,
// ?cursor= continues where next_cursor left off.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	if s.Auth.Audit == nil {
		Error(w, r, errAuthDown)
		return
	}
	q := r.URL.Query()
	fields := map[string]string{}
	limit := pageLimit(q, fields)
	var actorID uuid.UUID
	if v := q.Get("actor"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["actor"] = "must be a user id"
		}
		actorID = id
	}
	var before int64
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			fields["cursor"] = "is not a cursor this listing returned"
		}
		before = n
	}
	if m := checkFilter(q.Get("action")); m != "" {
		fields["action"] = m
	}
	if len(fields) > 0 {
		Error(w, r, evently.Invalid(fields))
		return
	}
	entries, err := s.Auth.Audit.ListAudit(r.Context(), q.Get("action"), actorID, before, limit+1)
	if err != nil {
		Error(w, r, err)
		return
	}
	p := page[AuditEntry]{Items: entries}
	if len(entries) > limit {
		p.Items = entries[:limit]
		p.NextCursor = strconv.FormatInt(entries[limit-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, p)
}
