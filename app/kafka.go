package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/evently/evently/topics"
)

// KafkaSecurityConfig secures the connections to Kafka (a managed Kafka
// asks for TLS and SASL); the defaults are plaintext without
// authentication, as `make stack` runs it. There is deliberately no way to
// skip verifying the brokers' certificates: a private CA goes in
// KAFKA_TLS_CA_FILE, and an unverified TLS connection would hand the SASL
// password to whoever answers.
type KafkaSecurityConfig struct {
	TLS bool `env:"KAFKA_TLS" envDefault:"false"`
	// TLSCAFile holds the PEM certificates of a private CA, trusted instead
	// of the system's roots.
	TLSCAFile string `env:"KAFKA_TLS_CA_FILE" envDefault:""`
	// SASLMechanism is plain, scram-sha-256 or scram-sha-512; empty is no
	// authentication.
	SASLMechanism string `env:"KAFKA_SASL_MECHANISM" envDefault:""`
	SASLUsername  string `env:"KAFKA_SASL_USERNAME" envDefault:""`
	SASLPassword  string `env:"KAFKA_SASL_PASSWORD" envDefault:""`
}

// KafkaConn returns how to reach Kafka: KAFKA_BROKERS with the TLS and SASL
// settings. Every problem is named, as LoadConfig names them.
func (c Config) KafkaConn() (topics.Conn, error) {
	conn, problems := c.kafkaConn()
	if len(problems) > 0 {
		return conn, errors.New(strings.Join(problems, "; "))
	}
	return conn, nil
}

func (c Config) kafkaConn() (topics.Conn, []string) {
	s := c.KafkaSecurity
	conn := topics.Conn{Brokers: c.KafkaBrokers}
	var problems []string
	switch {
	case s.TLSCAFile != "" && !s.TLS:
		problems = append(problems, "KAFKA_TLS_CA_FILE needs KAFKA_TLS=true")
	case s.TLS:
		tc, err := topics.NewTLS(s.TLSCAFile)
		if err != nil {
			problems = append(problems, fmt.Sprintf("KAFKA_TLS_CA_FILE must be a readable file of PEM certificates: %v", err))
		}
		conn.TLS = tc
	}
	switch {
	case s.SASLMechanism == "":
		if s.SASLUsername != "" || s.SASLPassword != "" {
			problems = append(problems, "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM")
		}
	case !slices.Contains(topics.Mechanisms, strings.ToLower(s.SASLMechanism)):
		problems = append(problems, fmt.Sprintf("KAFKA_SASL_MECHANISM must be %s, or empty for none, not %q",
			strings.Join(topics.Mechanisms, ", "), s.SASLMechanism))
	case s.SASLUsername == "" || s.SASLPassword == "":
		problems = append(problems, fmt.Sprintf("KAFKA_SASL_MECHANISM %s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", s.SASLMechanism))
	default:
		m, err := topics.NewSASL(s.SASLMechanism, s.SASLUsername, s.SASLPassword)
		if err != nil {
			problems = append(problems, fmt.Sprintf("KAFKA_SASL_MECHANISM %s: %v", s.SASLMechanism, err))
		}
		conn.SASL = m
	}
	return conn, problems
}
