package api

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The hash compared for unknown emails has the configured cost, so an
// unknown email takes as long as a wrong password.
func TestDummyHashUsesTheConfiguredCost(t *testing.T) {
	t.Parallel()
	for _, cost := range []int{4, 6} {
		s := &Server{Auth: AuthDeps{BcryptCost: cost}}
		got, err := bcrypt.Cost(dummyHash(s.bcryptCost()))
		if err != nil || got != cost {
			t.Fatalf("cost %d: dummy hash has cost %d (%v)", cost, got, err)
		}
	}
}
