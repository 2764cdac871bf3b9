package store

import "github.com/google/uuid"

// Keys builds Redis key names. Every key of one event carries the hash tag
// {ev:<id>} so the Lua scripts touching several of them keep working on
// Redis Cluster; Prefix isolates deployments and tests.
type Keys struct{ Prefix string }

// Event returns the hash-tagged base of an event's keys.
func (k Keys) Event(eventID uuid.UUID) string { return k.Prefix + "{ev:" + eventID.String() + "}" }

// Key returns a key outside any event (rate limits, idempotency, tokens).
func (k Keys) Key(parts ...string) string {
	s := k.Prefix
	for i, p := range parts {
		if i > 0 {
			s += ":"
		}
		s += p
	}
	return s
}
