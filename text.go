package evently

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxReasonLength bounds a cancellation's free-text reason (bytes).
const MaxReasonLength = 500

// TextProblem says what is wrong with s as text to store (PostgreSQL
// refuses invalid UTF-8 and NUL in text), or "" when nothing is: the API
// refuses such input up front, and the booking worker checks what reaches
// it past the API.
func TextProblem(s string, limit int) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL (U+0000)"
	case len(s) > limit:
		return fmt.Sprintf("must be at most %d bytes", limit)
	}
	return ""
}
