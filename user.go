package evently

import (
	"time"

	"github.com/google/uuid"
)

// Role decides what a user may do.
type Role string

const (
	RoleUser      Role = "user"
	RoleOrganizer Role = "organizer"
	RoleAdmin     Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleOrganizer || r == RoleAdmin
}

// User is an account.
type User struct {
	ID           uuid.UUID `db:"id" json:"id"`
	Email        string    `db:"email" json:"email"`
	FullName     string    `db:"full_name" json:"full_name"`
	Role         Role      `db:"role" json:"role"`
	Disabled     bool      `db:"disabled" json:"disabled"`
	PasswordHash []byte    `db:"password_hash" json:"-"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
	UpdatedAt    time.Time `db:"updated_at" json:"updated_at"`
}

// Actor is who makes a request, as proven by an access token.
type Actor struct {
	UserID uuid.UUID
	Role   Role
	// TokenID is the access token's jti, used to deny it on logout.
	TokenID string
}

// IsAdmin reports whether the actor may act on everything.
func (a Actor) IsAdmin() bool { return a.Role == RoleAdmin }
