package evently

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	const secret = "whsec_test"
	body := []byte(`{"id":"1","type":"booking.confirmed"}`)
	at := time.Unix(1_700_000_000, 0)
	good := Sign(secret, body, at)
	if want := "t=1700000000,v1="; !strings.HasPrefix(good, want) || len(good) != len(want)+64 {
		t.Fatalf("Sign = %q", good)
	}
	other := Sign("whsec_other", body, at)
	v1 := strings.TrimPrefix(good, "t=1700000000,")
	for _, c := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, good, body, at, nil},
		{"valid within tolerance", secret, good, body, at.Add(299 * time.Second), nil},
		{"clock slightly behind", secret, good, body, at.Add(-299 * time.Second), nil},
		{"spaces and unknown keys", secret, "t=1700000000, v0=ab, " + v1 + ", v2=zz", body, at, nil},
		{"one of several v1 (rotation)", secret, other + "," + v1, body, at, nil},
		{"replayed later", secret, good, body, at.Add(301 * time.Second), ErrSignatureExpired},
		{"from the future", secret, good, body, at.Add(-301 * time.Second), ErrSignatureExpired},
		{"other secret", "whsec_wrong", good, body, at, ErrSignatureMismatch},
		{"body changed", secret, good, []byte(`{"id":"2","type":"booking.confirmed"}`), at, ErrSignatureMismatch},
		{"time changed", secret, "t=1700000001," + v1, body, at, ErrSignatureMismatch},
		{"empty", secret, "", body, at, ErrSignatureFormat},
		{"no t", secret, v1, body, at, ErrSignatureFormat},
		{"no v1", secret, "t=1700000000", body, at, ErrSignatureFormat},
		{"t not a number", secret, "t=soon," + v1, body, at, ErrSignatureFormat},
		{"v1 not hex", secret, "t=1700000000,v1=xyz", body, at, ErrSignatureFormat},
		{"v1 too short", secret, "t=1700000000,v1=abcd", body, at, ErrSignatureFormat},
		{"no equals sign", secret, "t=1700000000,garbage," + v1, body, at, ErrSignatureFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySignature(c.secret, c.header, c.body, c.now, 5*time.Minute)
			if !errors.Is(err, c.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, c.want)
			}
			if err != nil && ErrorCode(err) != EUNAUTHORIZED {
				t.Fatalf("code %s", ErrorCode(err))
			}
		})
	}
}

func TestValidateWebhook(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxWebhookURL)
	for _, c := range []struct {
		url    string
		events []string
		want   []NotificationType
		bad    []string // fields refused
	}{
		{"https://example.com/hooks", []string{"booking.confirmed"}, []NotificationType{NotifyBookingConfirmed}, nil},
		{"http://example.com:8080/h?x=1", []string{"waitlist.offered", "booking.failed", "waitlist.offered"},
			[]NotificationType{NotifyBookingFailed, NotifyWaitlistOffered}, nil},
		{"https://example.com", []string{"*"}, []NotificationType{WebhookAllEvents}, nil},
		{"https://example.com", []string{"booking.failed", "*"}, []NotificationType{WebhookAllEvents}, nil},
		{"", []string{"*"}, nil, []string{"url"}},
		{"example.com/hooks", []string{"*"}, nil, []string{"url"}},
		{"/hooks", []string{"*"}, nil, []string{"url"}},
		{"ftp://example.com/", []string{"*"}, nil, []string{"url"}},
		{"javascript:alert(1)", []string{"*"}, nil, []string{"url"}},
		{"http:example.com", []string{"*"}, nil, []string{"url"}},
		{"https://user:pass@example.com/", []string{"*"}, nil, []string{"url"}},
		{"https://user@example.com/", []string{"*"}, nil, []string{"url"}},
		{"https://example.com/#frag", []string{"*"}, nil, []string{"url"}},
		{"https://exa mple.com/", []string{"*"}, nil, []string{"url"}},
		{"https:///path", []string{"*"}, nil, []string{"url"}},
		{long, []string{"*"}, nil, []string{"url"}},
		{"https://example.com", nil, nil, []string{"events"}},
		{"https://example.com", []string{"booking.exploded"}, nil, []string{"events"}},
		{"https://example.com", []string{"booking.confirmed", ""}, nil, []string{"events"}},
		{"https://example.com", []string{"*", "booking.exploded"}, nil, []string{"events"}},
		{"https://example.com", []string{"booking.confirmed", "*", ""}, nil, []string{"events"}},
		{"nope", []string{}, nil, []string{"url", "events"}},
	} {
		got, err := ValidateWebhook(c.url, c.events)
		if c.bad == nil {
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("ValidateWebhook(%.40q, %v) = %v, %v; want %v", c.url, c.events, got, err, c.want)
			}
			continue
		}
		e := AsError(err)
		if e == nil || e.Code != EINVALID || len(e.Fields) != len(c.bad) {
			t.Errorf("ValidateWebhook(%.40q, %v) = %v; want invalid %v", c.url, c.events, err, c.bad)
			continue
		}
		for _, f := range c.bad {
			if e.Fields[f] == "" {
				t.Errorf("ValidateWebhook(%.40q, %v): no message for %s in %v", c.url, c.events, f, e.Fields)
			}
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:93.184.216.34", true},
		{"64:ff9b::5db8:d822", true}, // NAT64 of 93.184.216.34
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"100.64.0.1", false},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"ff05::2", false},
		{"2001:db8::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
	} {
		a := netip.MustParseAddr(c.addr)
		if got := PublicAddr(a); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
	if PublicAddr(netip.Addr{}) {
		t.Error("the zero address is public")
	}
}

func TestWebhookRetry(t *testing.T) {
	p := WebhookRetry{Base: time.Second, Max: time.Minute, Window: 24 * time.Hour}
	first := time.Unix(1_700_000_000, 0)
	most := func(n int64) int64 { return n - 1 }
	for _, c := range []struct {
		attempt int
		ceiling time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {7, time.Minute}, {60, time.Minute}, {1000, time.Minute}} {
		at, giveUp := p.Next(c.attempt, first, first, most)
		if giveUp || at.Sub(first) != c.ceiling {
			t.Errorf("attempt %d: wait %v (give up %v), want at most %v", c.attempt, at.Sub(first), giveUp, c.ceiling)
		}
		if at, _ := p.Next(c.attempt, first, first, func(int64) int64 { return 0 }); !at.Equal(first) {
			t.Errorf("attempt %d: full jitter may wait 0, waited %v", c.attempt, at.Sub(first))
		}
	}
	// Jittered waits stay within [0, ceiling] and spread out.
	seen := map[time.Duration]bool{}
	for range 200 {
		at, _ := p.Next(3, first, first, nil)
		if w := at.Sub(first); w < 0 || w > 4*time.Second {
			t.Fatalf("wait %v outside [0, 4s]", w)
		}
		seen[at.Sub(first)] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 200: no jitter?", len(seen))
	}
	// Nothing is tried later than the window after the first attempt.
	late := first.Add(24*time.Hour - 30*time.Second)
	if _, giveUp := p.Next(40, first, late, most); !giveUp {
		t.Error("an attempt past the window was scheduled")
	}
	if at, giveUp := p.Next(40, first, late, func(int64) int64 { return int64(10 * time.Second) }); giveUp || !at.Equal(late.Add(10*time.Second)) {
		t.Errorf("an attempt inside the window was refused: %v %v", at, giveUp)
	}
}

func TestWebhookWants(t *testing.T) {
	w := Webhook{Events: []NotificationType{NotifyBookingConfirmed}}
	if !w.Wants(NotifyBookingConfirmed) || w.Wants(NotifyBookingFailed) {
		t.Error("a typed webhook")
	}
	all := Webhook{Events: []NotificationType{WebhookAllEvents}}
	for _, n := range NotificationTypes {
		if !all.Wants(n) {
			t.Errorf("* does not want %s", n)
		}
	}
}
