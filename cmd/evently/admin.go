package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/store"
)

const adminAbout = `For the first admin; later ones can be promoted with
PATCH /api/v1/admin/users/{id}. Bad input exits 2 before the database is
touched.`

func adminCommand(fs *flag.FlagSet, c *app.Config) action {
	email := fs.String("email", "", "the admin's email")
	password := fs.String("password", "", "the admin's password (10+ characters, two kinds)")
	name := fs.String("name", "", "the admin's full name")
	return func(ctx context.Context, out io.Writer, args []string) error {
		if len(args) == 0 || args[0] != "create" {
			return usageError{errors.New(`want admin create --email EMAIL --password PASSWORD --name "FULL NAME"`)}
		}
		if len(args) > 1 {
			return usageError{fmt.Errorf("unexpected argument %q", args[1])}
		}
		return createAdmin(ctx, *c, out, *email, *password, *name)
	}
}

// createAdmin creates an admin account from the command line.
func createAdmin(ctx context.Context, c app.Config, out io.Writer, email, password, name string) error {
	email, name = strings.TrimSpace(email), strings.TrimSpace(name)
	var problems []string
	if m := api.CheckEmail(email); m != "" {
		problems = append(problems, "--email "+m)
	}
	if m := api.CheckPassword(email, password); m != "" {
		problems = append(problems, "--password "+m)
	}
	if m := api.CheckFullName(name); m != "" {
		problems = append(problems, "--name "+m)
	}
	if len(problems) > 0 {
		return usageError{errors.New(strings.Join(problems, "; "))}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), c.Auth.BcryptCost)
	if err != nil {
		return usageError{fmt.Errorf("EVENTLY_BCRYPT_COST: %w", err)}
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	u := evently.User{ID: evently.NewID(), Email: email, FullName: name, Role: evently.RoleAdmin, PasswordHash: hash}
	if err := (&store.Users{DB: db}).CreateUser(ctx, &u); err != nil {
		if evently.ErrorCode(err) == evently.ECONFLICT {
			return fmt.Errorf("an account with email %s already exists; promote it with PATCH /api/v1/admin/users/{id}", email)
		}
		return err
	}
	if err := (&store.Audit{DB: db}).Record(ctx, store.AuditEntry{Action: api.AuditAdminCreated, Target: u.ID.String(), IP: "cli"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "admin %s created with id %s\n", u.Email, u.ID)
	return nil
}
