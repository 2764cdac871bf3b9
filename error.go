// Package evently is the domain of Evently, an event-ticketing backend built
// for the on-sale rush: its types, the booking state machine, the domain
// errors and the small interfaces that the adapters (api, workers, topics,
// store) implement. It imports nothing of the project.
package evently

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the api package and to one
// exit code on the command line; nothing else decides.
const (
	EINVALID  = "invalid"
	ENOTFOUND = "not_found"
	ECONFLICT = "conflict"
	// ESEATSAVAILABLE is a conflict with a reason a client acts on: the
	// event can seat the party now, so it should book instead of waiting.
	ESEATSAVAILABLE = "seats_available"
	EUNAUTHORIZED   = "unauthorized"
	EFORBIDDEN      = "forbidden"
	ERATELIMITED    = "rate_limited"
	EUNAVAILABLE    = "unavailable"
	EINTERNAL       = "internal"
)

// Error is a domain error: a stable machine code, a message safe to show to
// the caller, and optional per-field messages for validation failures.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	// Conflicts lists the ids that caused a conflict (seats already held or
	// sold), so a client can pick others without another round trip.
	Conflicts []string
	// RetryAfter, when set, tells the caller how many seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error with per-field messages.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: "The request is not valid.", Fields: fields}
}

// ErrorCode returns the code of a domain error; anything else is internal.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err. Internal errors never
// leak their text.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// AsError unwraps a domain error, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
