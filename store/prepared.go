package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// statements keeps the pool's prepared statements by their text, for the
// statements of the on-sale's hot path. Sent unprepared, each was parsed and
// planned again on every call: in the on-sale benchmark planning the batch
// read and write took about as long as running them. Prepared, PostgreSQL
// plans a statement a few times, then reuses a generic plan. database/sql
// prepares a statement on each connection the first time it runs there.
type statements struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxStatements bounds the cache: the hot path has a handful of texts (the
// batch write's text depends on which kinds of rows a batch writes), and
// any text past the bound runs unprepared.
const maxStatements = 64

func (s *statements) get(ctx context.Context, db *sqlx.DB, query string) *sql.Stmt {
	s.mu.Lock()
	st, ok := s.m[query]
	full := len(s.m) >= maxStatements
	s.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	// Prepared outside the lock: a round trip must not hold up the
	// statements already prepared.
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared, and the error shows there
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if had, ok := s.m[query]; ok {
		st.Close() // prepared meanwhile by another caller
		return had
	}
	if len(s.m) >= maxStatements {
		st.Close()
		return nil
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	return st
}

// on returns a querier that runs its statements prepared, on q: the pool
// db, or a transaction of it.
func (s *statements) on(db *sqlx.DB, q querier) querier {
	if p, ok := q.(preparedOn); ok {
		return p
	}
	return preparedOn{s: s, db: db, q: q}
}

type preparedOn struct {
	s  *statements
	db *sqlx.DB
	q  querier
}

func (p preparedOn) stmt(ctx context.Context, query string) *sql.Stmt {
	st := p.s.get(ctx, p.db, query)
	if st == nil {
		return nil
	}
	if tx, ok := p.q.(*sqlx.Tx); ok {
		return tx.StmtContext(ctx, st) // closed with the transaction
	}
	return st
}

func (p preparedOn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.q.QueryContext(ctx, query, args...)
}

func (p preparedOn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.q.QueryRowContext(ctx, query, args...)
}

// selectAll is sqlx's SelectContext for a statement run prepared on db.
func (s *statements) selectAll(ctx context.Context, db *sqlx.DB, dest any, query string, args ...any) error {
	rows, err := s.on(db, db).QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlx.StructScan(rows, dest)
}
