package api

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Password policy. bcrypt reads at most 72 bytes, so a longer password
// would be silently cut; it is refused instead.
const (
	minPasswordChars = 10
	maxPasswordBytes = 72
	maxEmailBytes    = 254
	maxNameChars     = 200
)

// CheckEmail returns what is wrong with an email address, or "".
func CheckEmail(email string) string {
	switch {
	case email == "":
		return "is required"
	case len(email) > maxEmailBytes:
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(email)
	// A bare address only: no display name, no comments, no angle brackets.
	if err != nil || a.Address != email || a.Name != "" {
		return "must be an email address such as ada@example.com"
	}
	if _, domain, _ := strings.Cut(email, "@"); !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return "must be an email address such as ada@example.com"
	}
	return ""
}

// CheckPassword returns what is wrong with a password for the account
// email, or "".
func CheckPassword(email, password string) string {
	switch {
	case password == "":
		return "is required"
	case len(password) > maxPasswordBytes:
		return "must be at most 72 bytes"
	case utf8.RuneCountInString(password) < minPasswordChars:
		return "must be at least 10 characters"
	case !utf8.ValidString(password):
		return "must be valid UTF-8"
	}
	if local, _, _ := strings.Cut(email, "@"); email != "" && (strings.EqualFold(password, email) || strings.EqualFold(password, local)) {
		return "must not be your email address"
	}
	if passwordClasses(password) < 2 {
		return "must mix at least two of: lower-case letters, upper-case letters, digits, other characters"
	}
	return ""
}

func passwordClasses(p string) int {
	var lower, upper, digit, other int
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	return lower + upper + digit + other
}

// CheckFullName returns what is wrong with a full name, or "".
func CheckFullName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "is required"
	case utf8.RuneCountInString(name) > maxNameChars:
		return "must be at most 200 characters"
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "must be printable text"
	}
	return ""
}
