package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

func newUser(email string) *evently.User {
	return &evently.User{ID: evently.NewID(), Email: email, FullName: "Test", Role: evently.RoleUser, PasswordHash: []byte("hash")}
}

func TestUsersEmailIsUniqueInAnyCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	users := &store.Users{DB: evtest.DB(t)}
	if err := users.CreateUser(ctx, newUser("Ada@Example.com")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, email string
		code        string
	}{
		{"same", "Ada@Example.com", evently.ECONFLICT},
		{"lower", "ada@example.com", evently.ECONFLICT},
		{"upper", "ADA@EXAMPLE.COM", evently.ECONFLICT},
		{"other", "grace@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code := evently.ErrorCode(users.CreateUser(ctx, newUser(tt.email))); code != tt.code {
				t.Fatalf("code %q, want %q", code, tt.code)
			}
		})
	}
	u, err := users.UserByEmail(ctx, "aDa@exAMPLE.cOm")
	if err != nil || u.Email != "Ada@Example.com" {
		t.Fatalf("by email: %+v %v", u, err)
	}
	if _, err := users.UserByEmail(ctx, "a\x00@example.com"); evently.ErrorCode(err) != evently.ENOTFOUND {
		t.Fatalf("NUL email: %v", err)
	}
}

func TestUsersConcurrentCreateOneWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	users := &store.Users{DB: evtest.DB(t)}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = users.CreateUser(ctx, newUser(strings.Repeat("X", i%2+1)+"@race.example.com")) })
	}
	wg.Wait()
	won := map[bool]int{}
	for _, err := range errs {
		if err != nil && evently.ErrorCode(err) != evently.ECONFLICT {
			t.Fatalf("unexpected error %v", err)
		}
		won[err == nil]++
	}
	if won[true] != 2 { // one per distinct address
		t.Fatalf("winners %d, want 2", won[true])
	}
}

func TestUsersUpdateAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	users := &store.Users{DB: evtest.DB(t)}
	var ids []uuid.UUID
	for _, e := range []string{"a_1@x.io", "a%2@x.io", "b3@x.io"} {
		u := newUser(e)
		if err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	organizer, yes := evently.RoleOrganizer, true
	before, after, err := users.UpdateAccess(ctx, ids[0], &organizer, &yes)
	if err != nil || before.Role != evently.RoleUser || after.Role != organizer || !after.Disabled || before.Disabled {
		t.Fatalf("update access: %+v %+v %v", before, after, err)
	}
	if _, _, err := users.UpdateAccess(ctx, evently.NewID(), &organizer, nil); evently.ErrorCode(err) != evently.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
	name := "Renamed"
	u, err := users.UpdateProfile(ctx, ids[1], &name, nil)
	if err != nil || u.FullName != name || string(u.PasswordHash) != "hash" {
		t.Fatalf("update profile: %+v %v", u, err)
	}
	tests := []struct {
		name  string
		role  evently.Role
		q     string
		after uuid.UUID
		want  int
	}{
		{"all", "", "", uuid.Nil, 3},
		{"by role", evently.RoleOrganizer, "", uuid.Nil, 1},
		{"underscore is literal", "", "a_", uuid.Nil, 1},
		{"percent is literal", "", "%", uuid.Nil, 1},
		{"by name, any case", "", "renAMED", uuid.Nil, 1},
		{"after a cursor", "", "", ids[0], 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := users.ListUsers(ctx, tt.role, tt.q, tt.after, 10)
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d users (%v), want %d", len(got), err, tt.want)
			}
		})
	}
}
