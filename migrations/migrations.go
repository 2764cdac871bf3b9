// Package migrations holds Evently's SQL schema migrations (goose format),
// embedded into the binary so `evently migrate` needs no files on disk.
package migrations

import "embed"

// FS holds every migration, in order of their numeric prefix.
//
//go:embed *.sql
var FS embed.FS
