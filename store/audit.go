package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// AuditEntry is one line of the audit log: who did what to whom, from where.
type AuditEntry struct {
	ID        int64           `db:"id" json:"id"`
	ActorID   *uuid.UUID      `db:"actor_id" json:"actor_id,omitempty"`
	Action    string          `db:"action" json:"action"`
	Target    string          `db:"target" json:"target,omitempty"`
	IP        string          `db:"ip" json:"ip,omitempty"`
	Detail    json.RawMessage `db:"detail" json:"detail,omitempty"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
}

// Audit is the append-only audit log.
type Audit struct{ DB *sqlx.DB }

// Record appends e; its ID and CreatedAt are assigned by the database.
func (a *Audit) Record(ctx context.Context, e AuditEntry) error {
	detail := "{}"
	if len(e.Detail) > 0 {
		detail = string(e.Detail) // as text: lib/pq sends []byte in binary format
	}
	_, err := a.DB.ExecContext(ctx,
		`INSERT INTO audit_log (actor_id, action, target, ip, detail) VALUES ($1, $2, $3, $4, $5::jsonb)`,
		e.ActorID, e.Action, e.Target, e.IP, detail)
	return translate(err, "audit entry")
}

// ListAudit returns up to limit entries older than the cursor id (0: from
// the newest), newest first; action and actor filter when set.
func (a *Audit) ListAudit(ctx context.Context, action string, actor uuid.UUID, before int64, limit int) ([]AuditEntry, error) {
	entries := []AuditEntry{}
	err := a.DB.SelectContext(ctx, &entries,
		`SELECT id, actor_id, action, target, ip, detail, created_at FROM audit_log
		 WHERE ($1 = '' OR action = $1)
		   AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR actor_id = $2)
		   AND ($3 = 0 OR id < $3)
		 ORDER BY id DESC LIMIT $4`, action, actor, before, limit)
	return entries, translate(err, "audit entry")
}
