package app

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evently/evently/evtest"
)

// The Kafka variables make one topics.Conn: plaintext by default, TLS with
// a private CA or the system's roots, SASL by mechanism name.
func TestKafkaConn(t *testing.T) {
	dir := t.TempDir()
	caFile, keystore := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "keystore.pem")
	evtest.WriteTLSFiles(t, caFile, keystore)

	c := loadConfig(t, nil)
	if conn, err := c.KafkaConn(); err != nil || conn.TLS != nil || conn.SASL != nil || len(conn.Brokers) != 1 {
		t.Errorf("defaults: %+v, %v; want plaintext to the stack's broker", conn, err)
	}

	c = loadConfig(t, map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": caFile,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"})
	conn, err := c.KafkaConn()
	if err != nil {
		t.Fatal(err)
	}
	if conn.SASL == nil || conn.SASL.Name() != "SCRAM-SHA-512" {
		t.Errorf("SASL %v, want SCRAM-SHA-512", conn.SASL)
	}
	// The broker's certificate (signed by the file's CA) verifies against
	// the pool built from the file, and only against it.
	ks, err := os.ReadFile(keystore)
	if err != nil {
		t.Fatal(err)
	}
	var leaf *x509.Certificate
	for rest := ks; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			if leaf, err = x509.ParseCertificate(b.Bytes); err != nil {
				t.Fatal(err)
			}
		}
	}
	if leaf == nil {
		t.Fatal("no certificate in the key store")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: conn.TLS.RootCAs, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the CA file's pool does not verify the broker: %v", err)
	}
	c = loadConfig(t, map[string]string{"KAFKA_TLS": "true"})
	if conn, err := c.KafkaConn(); err != nil || conn.TLS == nil || conn.TLS.RootCAs != nil || conn.TLS.InsecureSkipVerify {
		t.Errorf("KAFKA_TLS alone: %+v, %v; want the system's roots", conn.TLS, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1"}); err == nil {
		t.Error("the system's roots verify the test's CA")
	}
}

// Bad combinations fail LoadConfig, each with a line that names the
// variable, and never show the password.
func TestKafkaConfigProblems(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KAFKA_SASL_MECHANISM": "gssapi", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
			`KAFKA_SASL_MECHANISM must be plain, scram-sha-256, scram-sha-512, or empty for none, not "gssapi"`},
		{map[string]string{"KAFKA_SASL_MECHANISM": "scram-sha-256"},
			"KAFKA_SASL_MECHANISM scram-sha-256 needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u"},
			"KAFKA_SASL_MECHANISM plain needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"},
		{map[string]string{"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
			"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "scram-sha-256", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "bell\a-secret"},
			"KAFKA_SASL_MECHANISM scram-sha-256: the username or password has a character SCRAM refuses (SASLprep)"},
		{map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"},
			"KAFKA_TLS_CA_FILE must be a readable file of PEM certificates: open /nonexistent/ca.pem: no such file or directory"},
		{map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": notPEM},
			"KAFKA_TLS_CA_FILE must be a readable file of PEM certificates: " + notPEM + " holds no PEM certificate"},
		{map[string]string{"KAFKA_TLS_CA_FILE": notPEM}, "KAFKA_TLS_CA_FILE needs KAFKA_TLS=true"},
		{map[string]string{"KAFKA_TLS": "yes please"}, "KAFKA_TLS is not a valid bool"},
	} {
		setKafkaEnv(t, tt.env)
		_, err := LoadConfig()
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v: %v\nwant %s", tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: the error shows the password: %v", tt.env, err)
		}
	}
}

// loadConfig runs LoadConfig with env as the Kafka security variables.
func loadConfig(t *testing.T, env map[string]string) Config {
	t.Helper()
	setKafkaEnv(t, env)
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setKafkaEnv sets the Kafka security variables in env and unsets the
// others, until the test ends.
func setKafkaEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} {
		t.Setenv(k, env[k]) // restored when the test ends
		if _, ok := env[k]; !ok {
			os.Unsetenv(k)
		}
	}
}
