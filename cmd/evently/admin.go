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

const adminUsage = `usage: evently admin create --email EMAIL --password PASSWORD --name "FULL NAME"

Creates an admin account (for the first admin; later ones can be promoted
with PATCH /api/v1/admin/users/{id}).`

// runAdmin manages accounts from the command line.
func runAdmin(ctx context.Context, c app.Config, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{errors.New("want admin create (" + strings.ReplaceAll(adminUsage, "\n", " ") + ")")}
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one line
	email := fs.String("email", "", "the admin's email")
	password := fs.String("password", "", "the admin's password (10+ characters, two kinds)")
	name := fs.String("name", "", "the admin's full name")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{fmt.Errorf("%v (%s)", err, "usage: evently admin create --email EMAIL --password PASSWORD --name NAME")}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	*email, *name = strings.TrimSpace(*email), strings.TrimSpace(*name)
	var problems []string
	if m := api.CheckEmail(*email); m != "" {
		problems = append(problems, "--email "+m)
	}
	if m := api.CheckPassword(*email, *password); m != "" {
		problems = append(problems, "--password "+m)
	}
	if m := api.CheckFullName(*name); m != "" {
		problems = append(problems, "--name "+m)
	}
	if len(problems) > 0 {
		return usageError{errors.New(strings.Join(problems, "; "))}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(*password), c.Auth.BcryptCost)
	if err != nil {
		return usageError{fmt.Errorf("EVENTLY_BCRYPT_COST: %w", err)}
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	u := evently.User{ID: evently.NewID(), Email: *email, FullName: *name, Role: evently.RoleAdmin, PasswordHash: hash}
	if err := (&store.Users{DB: db}).CreateUser(ctx, &u); err != nil {
		if evently.ErrorCode(err) == evently.ECONFLICT {
			return fmt.Errorf("an account with email %s already exists; promote it with PATCH /api/v1/admin/users/{id}", *email)
		}
		return err
	}
	if err := (&store.Audit{DB: db}).Record(ctx, store.AuditEntry{Action: api.AuditAdminCreated, Target: u.ID.String(), IP: "cli"}); err != nil {
		return err
	}
	fmt.Printf("admin %s created with id %s\n", u.Email, u.ID)
	return nil
}
