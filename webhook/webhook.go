// Package webhook is Evently's outbound HTTP adapter for webhooks: it
// POSTs signed deliveries and keeps them off private networks. The API
// uses CheckURL when a webhook is made and the webhooks worker uses Post;
// both go through the same address rule (evently.PublicAddr), and Post
// checks the address it actually dials, since DNS may answer differently
// later than it did when the webhook was made.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/evently/evently"
)

// Delivery headers besides Evently-Signature.
const (
	DeliveryHeader = "Evently-Delivery" // the delivery's id: the same on every attempt
	TypeHeader     = "Evently-Type"     // the notification type
	UserAgent      = "Evently-Webhooks/1"
)

// Options configure a Client.
type Options struct {
	// Timeout bounds one attempt: connecting, sending and the answer's
	// headers and (drained) body.
	Timeout time.Duration
	// AllowPrivate lets webhooks reach loopback and private addresses
	// (local development); production refuses them.
	AllowPrivate bool
}

// Client posts deliveries and checks webhook URLs.
type Client struct {
	http         *http.Client
	allowPrivate bool
	resolver     *net.Resolver
}

// New builds a Client. Its transport ignores proxy settings (a proxy
// would make the dialed address the proxy's, defeating the check), and it
// never follows a redirect: a 3xx is an answer like any other non-2xx.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c := &Client{allowPrivate: o.AllowPrivate, resolver: net.DefaultResolver}
	dialer := &net.Dialer{Timeout: o.Timeout, Control: c.control}
	c.http = &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   o.Timeout,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// errPrivate is refused at dial time.
var errPrivate = errors.New("refused: the address is not public (EVENTLY_WEBHOOK_ALLOW_PRIVATE is off)")

// control runs after DNS, just before each connect, on the address being
// dialed.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	if c.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !evently.PublicAddr(ap.Addr()) {
		return fmt.Errorf("%s: %w", address, errPrivate)
	}
	return nil
}

// CheckURL refuses (invalid, field url) a webhook URL whose host is, or
// resolves to, an address that is not public, unless private ones are
// allowed. Run evently.ValidateWebhook first.
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	if c.allowPrivate {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return evently.Invalid(map[string]string{"url": "This is not a valid URL."})
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = c.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return evently.Invalid(map[string]string{"url": fmt.Sprintf("The host %.100q does not resolve.", host)})
		}
	}
	for _, a := range addrs {
		if !evently.PublicAddr(a) {
			return evently.Invalid(map[string]string{"url": fmt.Sprintf(
				"The host %.100q is or resolves to %s, a loopback, private, link-local or reserved address; webhooks go to public addresses only.", host, a)})
		}
	}
	return nil
}

// Post is one delivery attempt to send.
type Post struct {
	URL, Secret string
	DeliveryID  string
	Type        string
	Body        []byte
}

// Result is what an attempt got: the status code (0 when there was no
// answer) or the error.
type Result struct {
	StatusCode int
	Err        error
	Duration   time.Duration
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// maxDrain bounds how much of an answer's body is read (to reuse the
// connection); the rest is dropped with the connection.
const maxDrain = 64 << 10

// Send makes one attempt, signed now.
func (c *Client) Send(ctx context.Context, p Post) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return Result{Err: err, Duration: time.Since(start)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(DeliveryHeader, p.DeliveryID)
	req.Header.Set(TypeHeader, p.Type)
	req.Header.Set(evently.SignatureHeader, evently.Sign(p.Secret, p.Body, start))
	res, err := c.http.Do(req)
	if err != nil {
		return Result{Err: err, Duration: time.Since(start)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	res.Body.Close()
	r := Result{StatusCode: res.StatusCode, Duration: time.Since(start)}
	if !r.OK() {
		r.Err = errors.New("answered " + strconv.Itoa(res.StatusCode) + " " + http.StatusText(res.StatusCode))
	}
	return r
}
