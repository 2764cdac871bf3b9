package topics

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Conn is how to reach Kafka: the bootstrap brokers and, for a managed
// Kafka, TLS and SASL. The producer, the consumer groups, their readers and
// every admin request connect through it, so one setting applies to all.
type Conn struct {
	Brokers []string
	// TLS, when set, encrypts every connection and verifies the brokers'
	// certificates; nil is plaintext.
	TLS *tls.Config
	// SASL, when set, authenticates every connection (inside TLS when both
	// are set); nil is no authentication.
	SASL sasl.Mechanism
}

// Mechanisms are the SASL mechanisms NewSASL knows, as configured.
var Mechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

// NewSASL returns the SASL mechanism named (case-insensitive, one of
// Mechanisms) with the given credentials; "" is none.
func NewSASL(mechanism, username, password string) (sasl.Mechanism, error) {
	switch strings.ToLower(mechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: username, Password: password}, nil
	case "scram-sha-256":
		return scramMechanism(scram.SHA256, username, password)
	case "scram-sha-512":
		return scramMechanism(scram.SHA512, username, password)
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", mechanism)
}

func scramMechanism(algo scram.Algorithm, username, password string) (sasl.Mechanism, error) {
	m, err := scram.Mechanism(algo, username, password)
	if err != nil {
		// Not err itself: it quotes the password.
		return nil, errors.New("the username or password has a character SCRAM refuses (SASLprep)")
	}
	return m, nil
}

// NewTLS returns the TLS settings for brokers whose certificates chain to
// the CA certificates (PEM) in caFile, or to the system's roots when caFile
// is "". A private CA replaces the system's roots: trusting both would let
// any public CA vouch for the brokers.
func NewTLS(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	c.RootCAs = pool
	return c, nil
}

// AuthFailed reports whether err is a broker refusing the SASL credentials.
func AuthFailed(err error) bool { return errors.Is(err, kafka.SASLAuthenticationFailed) }

// dialer returns a dialer for single connections (a partition's reader, a
// consumer group's coordinator, Ping).
func (c Conn) dialer(clientID string, timeout time.Duration) *kafka.Dialer {
	return &kafka.Dialer{ClientID: clientID, Timeout: timeout, DualStack: true, TLS: c.TLS, SASLMechanism: c.SASL}
}

// client returns an admin client and what to call when done with it.
// Plaintext uses kafka-go's shared default transport, as before; a secured
// connection needs a transport of its own, closed after the request so that
// its pooled connections and metadata refresher do not outlive it (admin
// requests are rare: a fresh handshake each time costs nothing that
// matters).
func (c Conn) client(timeout time.Duration) (*kafka.Client, func()) {
	cl := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout}
	if c.TLS == nil && c.SASL == nil {
		return cl, func() {}
	}
	tr := &kafka.Transport{TLS: c.TLS, SASL: c.SASL}
	cl.Transport = tr
	return cl, tr.CloseIdleConnections
}
