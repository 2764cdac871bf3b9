package topics_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/topics"
)

// The golden file pins the wire format: a change to it breaks consumers
// still running the old code, so it must be deliberate.
func TestEnvelopeWireFormat(t *testing.T) {
	t.Parallel()
	env, err := topics.NewEnvelopeID(uuid.MustParse("0192f000-0000-7000-8000-000000000001"), "book",
		map[string]any{"booking_id": "0192f000-0000-7000-8000-000000000002", "seat_ids": []string{"A-1", "A-2"}})
	if err != nil {
		t.Fatal(err)
	}
	env.OccurredAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	got := env.Marshal()
	golden := filepath.Join("testdata", "envelope.golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("wire format changed:\n got %s\nwant %s", got, want)
	}
	back, err := topics.Decode(got)
	if err != nil || back.ID != env.ID || back.Type != "book" {
		t.Fatalf("decode: %+v, %v", back, err)
	}
}

func TestDecodeRejectsBadEnvelopes(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"not json":       `{`,
		"no id":          `{"type":"book","version":1,"payload":{}}`,
		"no type":        `{"id":"0192f000-0000-7000-8000-000000000001","version":1}`,
		"future version": `{"id":"0192f000-0000-7000-8000-000000000001","type":"book","version":99}`,
		"zero version":   `{"id":"0192f000-0000-7000-8000-000000000001","type":"book","version":0}`,
	} {
		if _, err := topics.Decode([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
