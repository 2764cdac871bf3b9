package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	users := &store.Users{DB: db}
	u := newUser("refresh@example.com")
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tokens := &store.RefreshTokens{DB: db, TTL: time.Hour}

	t.Run("only a hash is stored", func(t *testing.T) {
		_, tok, err := tokens.Start(ctx, u.ID)
		if err != nil || len(tok) != 43 {
			t.Fatalf("token %q %v", tok, err)
		}
		var plain, hashed int
		if err := db.Get(&plain, `SELECT count(*) FROM refresh_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0`, tok); err != nil || plain != 0 {
			t.Fatalf("plain token stored: %d %v", plain, err)
		}
		if err := db.Get(&hashed, `SELECT count(*) FROM refresh_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, tok); err != nil || hashed != 1 {
			t.Fatalf("SHA-256 of the token stored %d times (%v)", hashed, err)
		}
	})

	t.Run("rotation and reuse", func(t *testing.T) {
		family, t1, _ := tokens.Start(ctx, u.ID)
		uid, fam, t2, err := tokens.Rotate(ctx, t1)
		if err != nil || uid != u.ID || fam != family || t2 == "" || t2 == t1 {
			t.Fatalf("rotate: %v %v %q %v", uid, fam, t2, err)
		}
		_, fam, _, err = tokens.Rotate(ctx, t1)
		if evently.ErrorCode(err) != evently.EUNAUTHORIZED || fam != family {
			t.Fatalf("reuse: family %v, err %v", fam, err)
		}
		if _, _, _, err := tokens.Rotate(ctx, t2); evently.ErrorCode(err) != evently.EUNAUTHORIZED {
			t.Fatalf("successor after reuse: %v", err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		past := &store.RefreshTokens{DB: db, TTL: time.Hour, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
		_, tok, _ := past.Start(ctx, u.ID)
		if _, _, _, err := tokens.Rotate(ctx, tok); evently.ErrorCode(err) != evently.EUNAUTHORIZED {
			t.Fatalf("expired: %v", err)
		}
	})

	t.Run("end family and end all", func(t *testing.T) {
		f1, a, _ := tokens.Start(ctx, u.ID)
		_, b, _ := tokens.Start(ctx, u.ID)
		if err := tokens.EndFamily(ctx, f1); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := tokens.Rotate(ctx, a); err == nil {
			t.Fatal("ended family still rotates")
		}
		_, _, b2, err := tokens.Rotate(ctx, b)
		if err != nil {
			t.Fatalf("other family: %v", err)
		}
		if err := tokens.EndAll(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := tokens.Rotate(ctx, b2); err == nil {
			t.Fatal("token rotates after EndAll")
		}
	})

	t.Run("concurrent use of one token", func(t *testing.T) {
		_, tok, _ := tokens.Start(ctx, u.ID)
		errs := make([]error, 5)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, _, _, errs[i] = tokens.Rotate(ctx, tok) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if evently.ErrorCode(err) != evently.EUNAUTHORIZED {
				t.Fatalf("error %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d rotations succeeded, want 1", ok)
		}
	})

	for _, bad := range []string{"", "nope", string(make([]byte, 1000)), "\x00\xff"} {
		if _, _, _, err := tokens.Rotate(ctx, bad); evently.ErrorCode(err) != evently.EUNAUTHORIZED {
			t.Fatalf("bad token %q: %v", bad, err)
		}
	}
}
