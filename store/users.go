package store

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
)

// Users stores accounts. Emails are unique regardless of case (the index
// users_email_key on lower(email)), so the database, not a prior lookup,
// decides which of two concurrent registrations wins.
type Users struct{ DB *sqlx.DB }

const userColumns = `id, email, full_name, role, disabled, password_hash, created_at, updated_at`

var errEmailTaken = evently.Errorf(evently.ECONFLICT, "An account with this email already exists.")

// CreateUser inserts u and fills its timestamps.
func (s *Users) CreateUser(ctx context.Context, u *evently.User) error {
	err := s.DB.QueryRowxContext(ctx,
		`INSERT INTO users (id, email, full_name, role, disabled, password_hash)
		 VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at, updated_at`,
		u.ID, u.Email, u.FullName, u.Role, u.Disabled, u.PasswordHash).Scan(&u.CreatedAt, &u.UpdatedAt)
	if isUniqueViolation(err, "users_email_key") {
		return errEmailTaken
	}
	return translate(err, "user")
}

// UserByEmail finds an account by email, ignoring case.
func (s *Users) UserByEmail(ctx context.Context, email string) (evently.User, error) {
	var u evently.User
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		// PostgreSQL text cannot hold these, so no account has them.
		return u, evently.Errorf(evently.ENOTFOUND, "user not found.")
	}
	err := s.DB.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email)
	return u, translate(err, "user")
}

// UserByID finds an account by id.
func (s *Users) UserByID(ctx context.Context, id uuid.UUID) (evently.User, error) {
	var u evently.User
	err := s.DB.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	return u, translate(err, "user")
}

// UpdateProfile changes the full name and/or the password hash; nil leaves
// a value as it is.
func (s *Users) UpdateProfile(ctx context.Context, id uuid.UUID, fullName *string, passwordHash []byte) (evently.User, error) {
	var hash any // NULL keeps the old hash
	if len(passwordHash) > 0 {
		hash = passwordHash
	}
	var u evently.User
	err := s.DB.GetContext(ctx, &u,
		`UPDATE users SET full_name = COALESCE($2, full_name), password_hash = COALESCE($3, password_hash), updated_at = now()
		 WHERE id = $1 RETURNING `+userColumns, id, fullName, hash)
	return u, translate(err, "user")
}

// UpdateAccess changes the role and/or the disabled flag (nil leaves a value
// as it is) and returns the account before and after, for the audit log.
func (s *Users) UpdateAccess(ctx context.Context, id uuid.UUID, role *evently.Role, disabled *bool) (before, after evently.User, err error) {
	err = inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &before, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		return tx.GetContext(ctx, &after,
			`UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), updated_at = now()
			 WHERE id = $1 RETURNING `+userColumns, id, role, disabled)
	})
	return before, after, translate(err, "user")
}

// ListUsers returns up to limit accounts after the cursor id (uuid.Nil:
// from the start) in id order, which is creation order for UUIDv7 ids. role
// and q (a substring of email or name) filter when not empty.
func (s *Users) ListUsers(ctx context.Context, role evently.Role, q string, after uuid.UUID, limit int) ([]evently.User, error) {
	pattern := ""
	if q != "" {
		pattern = "%" + escapeLike(q) + "%"
	}
	users := []evently.User{}
	err := s.DB.SelectContext(ctx, &users,
		`SELECT `+userColumns+` FROM users
		 WHERE ($1 = '' OR role = $1)
		   AND ($2 = '' OR email ILIKE $2 OR full_name ILIKE $2)
		   AND id > $3
		 ORDER BY id LIMIT $4`, string(role), pattern, after, limit)
	return users, translate(err, "user")
}

// escapeLike makes s match literally inside a LIKE pattern (backslash is
// PostgreSQL's default escape character).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
