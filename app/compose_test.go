package app

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docker-compose.yml ships no usable JWT secret: every service takes it
// from the environment and compose stops when it is unset.
func TestComposeShipsNoJWTSecret(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	values := regexp.MustCompile(`(?m)^\s*EVENTLY_JWT_SECRET:\s*(.+)$`).FindAllStringSubmatch(string(b), -1)
	if len(values) == 0 {
		t.Fatal("no EVENTLY_JWT_SECRET in docker-compose.yml")
	}
	for _, v := range values {
		if !strings.HasPrefix(strings.TrimSpace(v[1]), "${EVENTLY_JWT_SECRET:?") {
			t.Errorf("docker-compose.yml sets EVENTLY_JWT_SECRET to %q; require it from the environment", v[1])
		}
	}
}
