package evtest

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/evently/evently/topics"
)

// SecureBroker is a throwaway broker that also listens as a managed Kafka
// does: with SASL (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, one user known
// to all three) over plaintext and over TLS, its certificate signed by a CA
// of the test's own. The plaintext listener (Addr) stays open: the broker
// talks to itself there, and the helper uses it to create the SCRAM user.
type SecureBroker struct {
	*Broker
	SASLAddr string // SASL_PLAINTEXT
	TLSAddr  string // SASL_SSL
	// CAFile holds the PEM certificate of the CA that signed TLSAddr's.
	CAFile   string
	User     string
	Password string
}

// StartSecureBroker starts a SecureBroker (a few seconds) and stops it when
// the test ends.
func StartSecureBroker(t testing.TB) *SecureBroker {
	t.Helper()
	b := &Broker{t: t, dir: t.TempDir(), port: freePort(t), cport: freePort(t)}
	b.Addr = "127.0.0.1:" + strconv.Itoa(b.port)
	sb := &SecureBroker{Broker: b, SASLAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		TLSAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)), User: "evently", Password: "pw-" + Suffix()}
	keystore := filepath.Join(b.dir, "keystore.pem")
	sb.CAFile = filepath.Join(b.dir, "ca.pem")
	WriteTLSFiles(t, sb.CAFile, keystore)
	jaas := map[string]string{
		"plain":         fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required user_%s="%s";`, sb.User, sb.Password),
		"scram-sha-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"scram-sha-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
	}
	props := []string{
		fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d,SASL_PLAINTEXT://%s,SASL_SSL://%s", b.Addr, b.cport, sb.SASLAddr, sb.TLSAddr),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://%s,SASL_PLAINTEXT://%s,SASL_SSL://%s", b.Addr, sb.SASLAddr, sb.TLSAddr),
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + keystore,
	}
	for _, l := range []string{"sasl_plaintext", "sasl_ssl"} {
		for mech, cfg := range jaas {
			props = append(props, fmt.Sprintf("listener.name.%s.%s.sasl.jaas.config=%s", l, mech, cfg))
		}
	}
	b.env = []string{"EVENTLY_KAFKA_PROPS=" + strings.Join(props, "\n")}
	b.Start()
	t.Cleanup(b.Stop)
	sb.addScramUser()
	return sb
}

// Conn returns how to reach the SASL_PLAINTEXT listener with mechanism and
// password (the broker's user).
func (sb *SecureBroker) Conn(mechanism, password string) topics.Conn {
	sb.t.Helper()
	m, err := topics.NewSASL(mechanism, sb.User, password)
	if err != nil {
		sb.t.Fatal(err)
	}
	return topics.Conn{Brokers: []string{sb.SASLAddr}, SASL: m}
}

// addScramUser gives the user its SCRAM credentials, then waits until the
// broker accepts them (they travel through the metadata log).
func (sb *SecureBroker) addScramUser() {
	sb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ups []kafka.UserScramCredentialsUpsertion
	for _, m := range []struct {
		mech kafka.ScramMechanism
		h    func() hash.Hash
		size int
	}{{kafka.ScramMechanismSha256, sha256.New, sha256.Size}, {kafka.ScramMechanismSha512, sha512.New, sha512.Size}} {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		const iterations = 4096 // Kafka's minimum
		salted, err := pbkdf2.Key(m.h, sb.Password, salt, iterations, m.size)
		if err != nil {
			sb.t.Fatal(err)
		}
		ups = append(ups, kafka.UserScramCredentialsUpsertion{Name: sb.User, Mechanism: m.mech,
			Iterations: iterations, Salt: salt, SaltedPassword: salted})
	}
	cl := &kafka.Client{Addr: kafka.TCP(sb.Addr), Timeout: 10 * time.Second}
	for _, up := range ups { // one user once per request, says the broker
		res, err := cl.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{Upsertions: []kafka.UserScramCredentialsUpsertion{up}})
		if err == nil {
			for _, r := range res.Results {
				if r.Error != nil {
					err = r.Error
				}
			}
		}
		if err != nil {
			sb.t.Fatalf("evtest: SCRAM credentials: %v", err)
		}
	}
	for _, mech := range []string{"scram-sha-256", "scram-sha-512"} {
		for {
			err := topics.Reachable(ctx, sb.Conn(mech, sb.Password))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				sb.t.Fatalf("evtest: the broker refuses the new %s credentials: %v", mech, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
