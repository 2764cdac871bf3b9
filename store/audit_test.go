package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	audit := &store.Audit{DB: evtest.DB(t)}
	actor := evently.NewID()
	for i, action := range []string{"register", "login_failed", "role_changed", "login_failed", "user_disabled"} {
		e := store.AuditEntry{Action: action, Target: "t", IP: "127.0.0.1"}
		if i%2 == 0 {
			e.ActorID = &actor
			e.Detail = json.RawMessage(`{"from":"user","to":"admin"}`)
		}
		if err := audit.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		action string
		actor  uuid.UUID
		want   []string
	}{
		{"all, newest first", "", uuid.Nil, []string{"user_disabled", "login_failed", "role_changed", "login_failed", "register"}},
		{"by action", "login_failed", uuid.Nil, []string{"login_failed", "login_failed"}},
		{"by actor", "", actor, []string{"user_disabled", "role_changed", "register"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var before int64
			for {
				page, err := audit.ListAudit(ctx, tt.action, tt.actor, before, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.Action)
				}
				if len(page) < 2 {
					break
				}
				before = page[len(page)-1].ID
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
