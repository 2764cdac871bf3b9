package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/evently/evently/app"
)

// runCLI runs the command line and returns the exit code, standard output
// and standard error.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Every command's help lists its flags, exits 0 and needs no valid
// environment: help is what someone reads while fixing one.
func TestHelpForEveryCommand(t *testing.T) {
	t.Setenv("EVENTLY_HOLD_TTL", "soon")
	t.Setenv("DATABASE_URL", "mysql://nope")
	flags := map[string][]string{
		"api":       nil,
		"work":      {"kinds", "addr", "batch-size", "batch-wait"},
		"dev":       nil,
		"migrate":   nil,
		"seed":      {"large"},
		"admin":     {"email", "password", "name"},
		"reconcile": {"gateway"},
		"audit":     {"accepted", "events", "settle-wait", "gateway"},
		"config":    {"json"},
		"version":   nil,
	}
	for _, cmd := range commands() {
		want, ok := flags[cmd.name]
		if !ok {
			t.Errorf("command %s has no row in this test", cmd.name)
			continue
		}
		// Whatever the table says, every flag the command defines is shown.
		fs, _ := newFlagSet(cmd, new(app.Config))
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.Contains(want, f.Name) {
				want = append(want, f.Name)
			}
		})
		invocations := [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}, {"help", cmd.name}}
		switch cmd.name {
		case "admin":
			invocations = append(invocations, []string{"admin", "create", "--help"}, []string{"admin", "create", "--email", "a@example.com", "-h"})
		case "migrate":
			invocations = append(invocations, []string{"migrate", "status", "-h"})
		}
		for _, args := range invocations {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, args...)
				if code != exitOK || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if !strings.HasPrefix(out, "usage: evently "+cmd.name) {
					t.Errorf("help does not start with the usage line:\n%s", out)
				}
				if !strings.Contains(out, upperFirst(cmd.summary)) {
					t.Errorf("help lacks the one-line description %q:\n%s", cmd.summary, out)
				}
				for _, f := range want {
					if !strings.Contains(out, "  -"+f+" ") && !strings.Contains(out, "  -"+f+"\n") {
						t.Errorf("help does not mention -%s:\n%s", f, out)
					}
				}
				if len(want) == 0 && !strings.Contains(out, "flags: none") {
					t.Errorf("help does not say there are no flags:\n%s", out)
				}
			})
		}
	}
}

func TestTopLevelHelpAndUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}, {"help", "help"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, cmd := range commands() {
			if !strings.Contains(out, "\n  "+cmd.name) {
				t.Errorf("%v: usage does not list %s:\n%s", args, cmd.name, out)
			}
		}
	}
	// No command at all is a usage error: the usage goes to stderr.
	code, out, errOut := runCLI(t)
	if code != exitUsage || out != "" || !strings.Contains(errOut, "usage: evently <command>") {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A bad command line is one line on stderr and exit 2, before any server
// is needed.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"--fly"}, "unknown flag --fly"},
		{[]string{"help", "fly"}, `unknown command "fly"`},
		{[]string{"work", "-batch-size", "many"}, `invalid value "many" for flag -batch-size`},
		{[]string{"audit", "-settle-wait"}, "flag needs an argument: -settle-wait"},
		{[]string{"api", "extra"}, `unexpected argument "extra"`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
	}
	for _, cmd := range commands() {
		tests = append(tests, struct {
			args []string
			want string
		}{[]string{cmd.name, "-nope"}, "evently " + cmd.name + ": flag provided but not defined: -nope"})
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", errOut, tt.want)
			}
		})
	}
}

// version needs no configuration: it is what a bug report asks for.
func TestVersion(t *testing.T) {
	t.Setenv("EVENTLY_PARTITIONS", "many")
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.HasPrefix(out, "evently ") || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: %q, want one line with evently and %s", args, out, runtime.Version())
		}
	}
}

// config redacts secrets: the JWT secret and the Kafka password entirely,
// passwords in URLs.
func TestConfigRedactsSecrets(t *testing.T) {
	const secret = "jwt-secret-jwt-secret-jwt-secret-0123"
	t.Setenv("EVENTLY_JWT_SECRET", secret)
	t.Setenv("DATABASE_URL", "postgres://evently:db-hunter2@db.example:5432/evently?sslmode=disable")
	t.Setenv("REDIS_URL", "redis://:redis-hunter2@cache.example:6379/0")
	t.Setenv("EVENTLY_BATCH_SIZE", "77")
	t.Setenv("KAFKA_SASL_MECHANISM", "scram-sha-512")
	t.Setenv("KAFKA_SASL_USERNAME", "evently")
	t.Setenv("KAFKA_SASL_PASSWORD", "kafka-hunter2")
	for _, k := range []string{"EVENTLY_HOLD_TTL", "EVENTLY_CORS_ORIGINS", "KAFKA_BROKERS"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)  // unset, whatever the environment running the tests says
	}
	code, out, errOut := runCLI(t, "config")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, leaked := range []string{secret, "db-hunter2", "redis-hunter2", "kafka-hunter2"} {
		if strings.Contains(out, leaked) {
			t.Errorf("config prints %q:\n%s", leaked, out)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, want := range []string{
		"EVENTLY_JWT_SECRET=(set, redacted)",
		"DATABASE_URL=postgres://evently:xxxxx@db.example:5432/evently?sslmode=disable",
		"REDIS_URL=redis://:xxxxx@cache.example:6379/0",
		"EVENTLY_BATCH_SIZE=77", // set
		"EVENTLY_HOLD_TTL=5m0s", // default
		"EVENTLY_CORS_ORIGINS=", // empty, no default
		"KAFKA_BROKERS=127.0.0.1:19092",
		"KAFKA_SASL_USERNAME=evently",
		"KAFKA_SASL_PASSWORD=(set, redacted)",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("config lacks the line %q:\n%s", want, out)
		}
	}
	if !slices.IsSorted(lines) {
		t.Errorf("lines not sorted:\n%s", out)
	}
	for _, l := range lines {
		if name, _, ok := strings.Cut(l, "="); !ok || name == "" || strings.ContainsAny(name, " \t") {
			t.Errorf("line %q is not NAME=value", l)
		}
	}

	code, out, _ = runCLI(t, "config", "-json")
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); code != exitOK || err != nil {
		t.Fatalf("config -json: exit %d, %v: %s", code, err, out)
	}
	if m["EVENTLY_JWT_SECRET"] != "(set, redacted)" || m["EVENTLY_BATCH_SIZE"] != "77" || strings.Contains(out, secret) {
		t.Errorf("config -json: %s", out)
	}

	t.Setenv("EVENTLY_JWT_SECRET", "")
	if _, out, _ := runCLI(t, "config"); !strings.Contains(out, "\nEVENTLY_JWT_SECRET=(unset)\n") {
		t.Errorf("unset secret not shown as (unset):\n%s", out)
	}
}

// A malformed configuration fails config as it fails every command.
func TestConfigMalformed(t *testing.T) {
	t.Setenv("EVENTLY_PARTITIONS", "many")
	code, out, errOut := runCLI(t, "config")
	if code != exitUsage || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if errOut != "evently: configuration: EVENTLY_PARTITIONS is not a valid int\n" {
		t.Errorf("stderr %q", errOut)
	}
}

// config lists exactly the variables the env package reads, so a new one
// shows up without touching the command, and the built-in defaults parse
// (help relies on them).
func TestConfigListsEveryVariable(t *testing.T) {
	t.Parallel()
	var c app.Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		t.Fatalf("built-in defaults: %v", err)
	}
	params, err := env.GetFieldParams(&c)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, p := range params {
		want = append(want, p.Key)
	}
	for _, s := range settings(defaultConfig()) {
		got = append(got, s.name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("config lists\n%v\nthe env package reads\n%v", got, want)
	}
}

func TestConfigRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, value, want string }{
		{"EVENTLY_JWT_SECRET", "s3cret", "(set, redacted)"},
		{"EVENTLY_JWT_SECRET", "", "(unset)"},
		{"EVENTLY_API_TOKEN", "t", "(set, redacted)"},
		{"EVENTLY_SIGNING_KEY", "k", "(set, redacted)"},
		{"KAFKA_SASL_PASSWORD", "p", "(set, redacted)"},
		{"DATABASE_URL", "postgres://u:p@h/db", "postgres://u:xxxxx@h/db"},
		{"DATABASE_URL", "postgres://u@h/db?password=p&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"DATABASE_URL", "postgres://h/db?sslmode=disable", "postgres://h/db?sslmode=disable"},
		{"EVENTLY_PAYMENT_URL", "http://a:b@gw,http://c:d@gw2", "http://a:xxxxx@gw,http://c:xxxxx@gw2"},
		{"EVENTLY_HTTP_ADDR", "127.0.0.1:8080", "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		if got := redact(tt.name, tt.value); got != tt.want {
			t.Errorf("redact(%s, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}
