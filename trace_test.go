package evently

import (
	"context"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name string
		h    string
		want string // "" means not ok
	}{
		{"sampled", "00-" + id + "-00f067aa0ba902b7-01", id},
		{"not sampled", "00-" + id + "-00f067aa0ba902b7-00", id},
		{"surrounding space", " 00-" + id + "-00f067aa0ba902b7-01 ", id},
		{"later version, longer", "01-" + id + "-00f067aa0ba902b7-01-what-comes-next", id},
		{"later version, same length", "cc-" + id + "-00f067aa0ba902b7-01", id},
		{"empty", "", ""},
		{"version ff", "ff-" + id + "-00f067aa0ba902b7-01", ""},
		{"version 00, longer", "00-" + id + "-00f067aa0ba902b7-01-x", ""},
		{"later version, no dash after flags", "01-" + id + "-00f067aa0ba902b7-01x", ""},
		{"all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"all-zero parent id", "00-" + id + "-0000000000000000-01", ""},
		{"uppercase trace id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", ""},
		{"short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", ""},
		{"wrong separators", "00_" + id + "_00f067aa0ba902b7_01", ""},
		{"flags not hex", "00-" + id + "-00f067aa0ba902b7-0z", ""},
		{"bare trace id", id, ""},
	}
	for _, tt := range tests {
		got, ok := ParseTraceparent(tt.h)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: ParseTraceparent(%q) = %q, %v; want %q", tt.name, tt.h, got, ok, tt.want)
		}
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	id := NewTraceID()
	if !ValidTraceID(id) {
		t.Fatalf("NewTraceID() = %q: not a trace id", id)
	}
	h := Traceparent(id)
	if got, ok := ParseTraceparent(h); !ok || got != id {
		t.Fatalf("ParseTraceparent(Traceparent(%q)) = %q, %v (header %q)", id, got, ok, h)
	}
	if got := TraceIDFrom(WithTraceID(context.Background(), id)); got != id {
		t.Fatalf("TraceIDFrom = %q, want %q", got, id)
	}
	if got := TraceIDFrom(context.Background()); got != "" {
		t.Fatalf("TraceIDFrom(no trace) = %q, want empty", got)
	}
}
