package evently

import "github.com/google/uuid"

// NewID returns a UUIDv7: ids handed to clients sort by creation time, which
// keeps index inserts local and cursors cheap.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
