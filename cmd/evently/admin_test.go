package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
)

// Bad input to `evently admin create` fails with one clear line and exit 2,
// before touching the database.
func TestAdminCreateBadInput(t *testing.T) {
	t.Parallel()
	ok := []string{"--email", "root@example.com", "--password", "Admin-pass-123", "--name", "Root"}
	with := func(flag, value string) []string {
		args := append([]string{"admin", "create"}, ok...)
		for i := range args {
			if args[i] == flag {
				args[i+1] = value
			}
		}
		return args
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"admin"}, "want admin create"},
		{"unknown subcommand", []string{"admin", "delete"}, "want admin create"},
		{"unknown flag", []string{"admin", "create", "--root"}, "flag provided but not defined"},
		{"stray argument", append(append([]string{"admin", "create"}, ok...), "extra"), `unexpected argument "extra"`},
		{"bad email", with("--email", "root"), "--email must be an email address"},
		{"weak password", with("--password", "short"), "--password must be at least 10 characters"},
		{"one-class password", with("--password", "aaaaaaaaaaaa"), "--password must mix"},
		{"no name", with("--name", " "), "--name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			code := run(tt.args, io.Discard, &stderr)
			out := strings.TrimSpace(stderr.String())
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, out)
			}
			if !strings.Contains(out, tt.want) || strings.Count(out, "\n") > 0 {
				t.Fatalf("stderr %q, want one line with %q", out, tt.want)
			}
			if strings.Contains(out, "Admin-pass-123") {
				t.Fatalf("password echoed: %q", out)
			}
		})
	}
}

func TestAdminCreate(t *testing.T) {
	t.Parallel()
	db, url := evtest.DBWithURL(t)
	c := app.Config{DatabaseURL: url, Auth: app.AuthConfig{BcryptCost: 4}}
	ctx := context.Background()
	if err := createAdmin(ctx, c, io.Discard, "Root@Example.com", "Admin-pass-123", "Root"); err != nil {
		t.Fatal(err)
	}
	var u struct {
		Role string `db:"role"`
		Hash []byte `db:"password_hash"`
	}
	if err := db.Get(&u, `SELECT role, password_hash FROM users WHERE lower(email) = 'root@example.com'`); err != nil {
		t.Fatal(err)
	}
	if u.Role != "admin" || bcrypt.CompareHashAndPassword(u.Hash, []byte("Admin-pass-123")) != nil {
		t.Fatalf("admin row %+v", u)
	}
	err := createAdmin(ctx, c, io.Discard, "root@EXAMPLE.com", "Admin-pass-123", "Root")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log WHERE action = 'admin_created'`); err != nil || n != 1 {
		t.Fatalf("audit entries %d (%v)", n, err)
	}
}
