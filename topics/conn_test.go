package topics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/topics"
)

// Against a broker that wants SASL, over plaintext and over TLS with a
// private CA: with the right credentials Evently's producer, consumer
// group and admin requests all work, with every mechanism; with a wrong
// password, or a CA that did not sign the broker's certificate, nothing
// connects and the error says why.
func TestSecuredKafka(t *testing.T) {
	t.Parallel()
	sb := evtest.StartSecureBroker(t)
	tlsCfg, err := topics.NewTLS(sb.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	withTLS := func(c topics.Conn) topics.Conn {
		c.Brokers, c.TLS = []string{sb.TLSAddr}, tlsCfg
		return c
	}
	for _, tt := range []struct {
		name string
		conn topics.Conn
	}{
		{"plain", sb.Conn("plain", sb.Password)},
		{"scram-sha-256", sb.Conn("scram-sha-256", sb.Password)},
		{"scram-sha-512 over TLS", withTLS(sb.Conn("scram-sha-512", sb.Password))},
	} {
		t.Run(tt.name, func(t *testing.T) { roundTrip(t, tt.conn) })
	}

	t.Run("wrong password", func(t *testing.T) {
		for _, mech := range topics.Mechanisms {
			for _, conn := range []topics.Conn{sb.Conn(mech, "wrong"), withTLS(sb.Conn(mech, "wrong"))} {
				err := topics.Reachable(context.Background(), conn)
				if !topics.AuthFailed(err) || !strings.Contains(err.Error(), "refused the SASL credentials") {
					t.Errorf("%s to %s: Reachable = %v, want the credentials refused", mech, conn.Brokers[0], err)
				}
			}
		}
		conn := sb.Conn("scram-sha-256", "wrong")
		names := topics.Names{Prefix: "w" + evtest.Suffix() + "."}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// kafka-go's transport reports a refused login as "broker not
		// available"; app.Connect asks Reachable first, which names it.
		if err := topics.EnsureTopics(ctx, conn, names, 1, 1); err == nil {
			t.Error("EnsureTopics with a wrong password succeeded")
		}
		// The topic exists (made with the right password): only the
		// credentials stand in the way of the write.
		good := sb.Conn("scram-sha-256", sb.Password)
		if err := topics.EnsureTopics(ctx, good, names, 1, 1); err != nil {
			t.Fatal(err)
		}
		defer evtest.DropTopics(good, names)
		p := topics.NewProducer(conn, names)
		defer p.Close()
		env, _ := topics.NewEnvelope("test", map[string]int{"n": 1})
		err := p.Publish(context.Background(), topics.Message{Topic: topics.BookingCommands, Key: "k", Envelope: env})
		var ee *evently.Error
		if !errors.As(err, &ee) || ee.Code != evently.EUNAVAILABLE {
			t.Errorf("Publish = %v, want %s", err, evently.EUNAVAILABLE)
		}
	})

	t.Run("unknown CA", func(t *testing.T) {
		system, err := topics.NewTLS("") // the system's roots never signed the test's CA
		if err != nil {
			t.Fatal(err)
		}
		conn := withTLS(sb.Conn("scram-sha-256", sb.Password))
		conn.TLS = system
		err = topics.Reachable(context.Background(), conn)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Reachable = %v, want a certificate error", err)
		}
	})
}

// roundTrip makes topics, publishes, consumes them in a group, reads the
// group's lag and replays a dead letter, all through conn.
func roundTrip(t *testing.T, conn topics.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := topics.Reachable(ctx, conn); err != nil {
		t.Fatal(err)
	}
	names := topics.Names{Prefix: "s" + evtest.Suffix() + "."}
	if err := topics.EnsureTopics(ctx, conn, names, 2, 1); err != nil {
		t.Fatal(err)
	}
	defer evtest.DropTopics(conn, names)
	if err := topics.Ping(ctx, conn, names); err != nil {
		t.Fatal(err)
	}
	p := topics.NewProducer(conn, names)
	defer p.Close()
	rec := &recorder{seen: map[string]int{}}
	group := names.Prefix + "g"
	stop := startGroup(t, ctx, topics.GroupConfig{Conn: conn, Names: names, GroupID: group, ClientID: "secured",
		Topics: []string{topics.BookingCommands}, Handle: rec.handle, SessionTimeout: 6 * time.Second})
	publish(t, p, 0, 20)
	apptest.Eventually(t, "20 consumed", func() bool { return rec.count() == 20 })
	stop()
	apptest.Eventually(t, "offsets committed", func() bool {
		parts, err := topics.GroupLag(ctx, conn, names, group, topics.BookingCommands)
		if err != nil {
			t.Logf("lag: %v", err)
			return false
		}
		var lag int64
		for _, pl := range parts {
			lag += pl.Lag
		}
		return len(parts) == 2 && lag == 0
	})
	if st, err := topics.DescribeGroup(ctx, conn, names, group); err != nil {
		t.Errorf("describe group: %v", err)
	} else if len(st.Members) != 0 {
		t.Errorf("members after stop: %+v", st.Members)
	}

	env, _ := topics.NewEnvelope("test", map[string]int{"n": -1})
	dead := []topics.Message{{Topic: topics.BookingCommands + topics.DLQSuffix, Key: "dead", Envelope: env}}
	if err := p.Publish(ctx, dead...); err != nil {
		t.Fatal(err)
	}
	if n, err := topics.ReplayDLQ(ctx, conn, names, p, names.Prefix+"replay", topics.BookingCommands, 10); err != nil || n != 1 {
		t.Errorf("replay = %d, %v; want 1", n, err)
	}
}
