package evently

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Webhook is a user's subscription: notifications of the chosen types are
// POSTed, signed with the secret, to the URL. The secret is shown once,
// when the webhook is made; it is kept as is (HMAC needs the key itself),
// so it never appears in a listing or a log.
type Webhook struct {
	ID     uuid.UUID          `json:"id"`
	UserID uuid.UUID          `json:"-"`
	URL    string             `json:"url"`
	Events []NotificationType `json:"events"`
	// Secret signs deliveries (Evently-Signature); never serialised.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// WebhookAllEvents subscribes to every notification type, those added
// later included.
const WebhookAllEvents NotificationType = "*"

// Wants reports whether the webhook subscribes to notifications of type t.
func (w Webhook) Wants(t NotificationType) bool {
	return slices.Contains(w.Events, t) || slices.Contains(w.Events, WebhookAllEvents)
}

// Limits of a subscription.
const (
	MaxWebhookURL     = 2048
	MaxWebhooksByUser = 20
)

// ValidateWebhook checks a subscription request and returns its event
// types deduplicated in NotificationTypes order ("*" alone when asked for).
// Whether the URL's host is a public address needs DNS, so the adapters
// check that (PublicAddr) when the webhook is made and on every delivery.
func ValidateWebhook(rawURL string, events []string) ([]NotificationType, error) {
	fields := map[string]string{}
	if m := webhookURLProblem(rawURL); m != "" {
		fields["url"] = m
	}
	var types []NotificationType
	switch {
	case len(events) == 0:
		fields["events"] = `Choose at least one notification type, or "*" for all of them.`
	default:
		// Every entry is checked, "*" or not: a misspelt type beside "*"
		// is a mistake to tell, not one to drop silently.
		for _, e := range events {
			if e != string(WebhookAllEvents) && !NotificationType(e).Valid() {
				fields["events"] = fmt.Sprintf("%.64q is not a notification type; use %s, or \"*\".", e, typeList())
				break
			}
		}
		if slices.Contains(events, string(WebhookAllEvents)) {
			types = []NotificationType{WebhookAllEvents}
			break
		}
		for _, t := range NotificationTypes {
			if slices.Contains(events, string(t)) {
				types = append(types, t)
			}
		}
	}
	if len(fields) > 0 {
		return nil, Invalid(fields)
	}
	return types, nil
}

func webhookURLProblem(raw string) string {
	if raw == "" {
		return "Give the http(s) URL to deliver to."
	}
	if len(raw) > MaxWebhookURL {
		return fmt.Sprintf("Use a URL of at most %d characters.", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "This is not a valid URL."
	case u.Scheme != "http" && u.Scheme != "https":
		return "Use an absolute http:// or https:// URL."
	case u.Opaque != "" || u.Hostname() == "":
		return "Use an absolute URL with a host."
	case u.User != nil:
		return "A URL with a user name or password is not accepted; deliveries are signed instead."
	case u.Fragment != "":
		return "A URL with a #fragment is not accepted."
	}
	return ""
}

func typeList() string {
	s := make([]string, len(NotificationTypes))
	for i, t := range NotificationTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// nonPublic are ranges no webhook may reach besides those netip names
// (loopback, private, link-local, multicast, unspecified): "this network",
// carrier-grade NAT, IETF protocol assignments, benchmarking, reserved and
// broadcast, documentation, and IPv6 discard.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052).
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether a webhook may be delivered to a: not
// loopback, private, link-local, unspecified, multicast or reserved, in
// IPv4 or IPv6, IPv4-mapped and NAT64 forms judged by their IPv4 address.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // due, in flight or waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // a 2xx answer; never sent again
	DeliveryFailed    DeliveryStatus = "failed"    // no 2xx within the retry window; POST .../retry queues it again
)

// WebhookAttempt is one POST of a delivery.
type WebhookAttempt struct {
	Attempt    int       `db:"attempt" json:"attempt"`
	At         time.Time `db:"attempted_at" json:"at"`
	StatusCode *int      `db:"status_code" json:"status_code"`
	Error      *string   `db:"error" json:"error"`
	DurationMS int       `db:"duration_ms" json:"duration_ms"`
}

// WebhookDelivery is one notification for one webhook, with its attempts.
type WebhookDelivery struct {
	ID             uuid.UUID        `db:"id" json:"id"`
	WebhookID      uuid.UUID        `db:"webhook_id" json:"webhook_id"`
	NotificationID uuid.UUID        `db:"notification_id" json:"notification_id"`
	Type           NotificationType `db:"type" json:"type"`
	Status         DeliveryStatus   `db:"status" json:"status"`
	Attempts       int              `db:"attempts" json:"attempts"`
	LastStatusCode *int             `db:"last_status_code" json:"last_status_code"`
	LastError      *string          `db:"last_error" json:"last_error"`
	NextAttemptAt  *time.Time       `db:"next_attempt_at" json:"next_attempt_at"`
	DeliveredAt    *time.Time       `db:"delivered_at" json:"delivered_at"`
	CreatedAt      time.Time        `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time        `db:"updated_at" json:"updated_at"`
	Log            []WebhookAttempt `db:"-" json:"log"`
}

// WebhookBody is what a delivery POSTs: the notification without its
// user (the webhook's owner) or read state.
type WebhookBody struct {
	ID        uuid.UUID        `json:"id"`
	Type      NotificationType `json:"type"`
	CreatedAt time.Time        `json:"created_at"`
	Data      any              `json:"data"`
}

// NewWebhookBody is the body delivered for n.
func NewWebhookBody(n Notification) WebhookBody {
	var data any = n.Data
	if len(n.Data) == 0 {
		data = map[string]any{}
	}
	return WebhookBody{ID: n.ID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(), Data: data}
}

// WebhookRetry is when a failed delivery is tried again: exponential
// backoff with full jitter (a uniform wait between 0 and min(Max, Base ×
// 2^(attempt-1))), so receivers that come back are not hit by every sender
// at once; no attempt later than Window after the first.
type WebhookRetry struct {
	Base, Max, Window time.Duration
}

// Next returns when to try again after the attempt-th attempt (1 for the
// first) failed, or give up.
func (p WebhookRetry) Next(attempt int, first, now time.Time, rnd func(n int64) int64) (time.Time, bool) {
	ceiling := p.Max
	if attempt < 1 {
		attempt = 1
	}
	if shift := attempt - 1; shift < 40 {
		if d := p.Base << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	var wait time.Duration
	if ceiling > 0 {
		wait = time.Duration(rnd(int64(ceiling) + 1))
	}
	at := now.Add(wait)
	if at.Sub(first) > p.Window {
		return time.Time{}, true
	}
	return at, false
}
