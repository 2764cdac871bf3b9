package evently

import (
	"strings"
	"testing"
)

func TestTextProblem(t *testing.T) {
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"plain", "changed my plans", true},
		{"empty", "", true},
		{"non-ASCII", "plans changed — désolé", true},
		{"NUL", "a\x00b", false},
		{"invalid UTF-8", "\xff\xfe", false},
		{"at the limit", strings.Repeat("x", MaxReasonLength), true},
		{"over the limit", strings.Repeat("x", MaxReasonLength+1), false},
	}
	for _, tt := range tests {
		if got := TextProblem(tt.s, MaxReasonLength); (got == "") != tt.ok {
			t.Errorf("%s: %q, want ok=%v", tt.name, got, tt.ok)
		}
	}
}
