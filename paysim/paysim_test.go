package paysim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/paysim"
)

type bundle struct {
	sim *paysim.Server
	url string
}

func setup(t *testing.T, o paysim.Options) bundle {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 7
	}
	sim := paysim.New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // runs first: wakes hanging requests so srv.Close need not wait
	return bundle{sim: sim, url: srv.URL}
}

// call sends a request and decodes the JSON answer into a map.
func (b bundle) call(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: decode: %v", method, path, err)
	}
	return resp.StatusCode, out
}

func charge(token, ref string, amount int64) map[string]any {
	return map[string]any{"amount_cents": amount, "currency": "USD", "token": token, "reference": ref}
}

func chargesIn(l []paysim.LedgerEntry) int {
	n := 0
	for _, e := range l {
		if e.Kind == paysim.KindCharge {
			n++
		}
	}
	return n
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token       string
		wantStatus  int
		wantCharge  string // charge status, or "" when no charge is made
		wantDecline string
		wantCode    string
	}{
		{paysim.TokenVisa, 201, paysim.StatusSucceeded, "", ""},
		{paysim.TokenOK, 201, paysim.StatusSucceeded, "", ""},
		{paysim.TokenDecline, 201, paysim.StatusDeclined, paysim.DeclineInsufficientFunds, ""},
		{paysim.TokenExpired, 201, paysim.StatusDeclined, paysim.DeclineExpiredCard, ""},
		{paysim.TokenError, 500, "", "", paysim.CodeProcessingError},
		{paysim.TokenSlow, 201, paysim.StatusSucceeded, "", ""},
		{"tok_bogus", 422, "", "", paysim.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{SlowDelay: 50 * time.Millisecond})
			status, out := b.call(t, "POST", "/charges", "k-"+tt.token, charge(tt.token, "booking-1", 1500))
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tt.wantStatus, out)
			}
			ledger := b.sim.Ledger("")
			if tt.wantCharge == "" {
				if out["code"] != tt.wantCode {
					t.Errorf("code %v, want %s", out["code"], tt.wantCode)
				}
				if len(ledger) != 0 {
					t.Errorf("ledger has %d entries, want none", len(ledger))
				}
				return
			}
			if out["status"] != tt.wantCharge || out["amount_cents"] != 1500.0 || out["currency"] != "USD" || out["reference"] != "booking-1" {
				t.Errorf("charge %v", out)
			}
			if got, _ := out["decline_code"].(string); got != tt.wantDecline {
				t.Errorf("decline_code %q, want %q", got, tt.wantDecline)
			}
			if len(ledger) != 1 || ledger[0].Status != tt.wantCharge || ledger[0].ID != out["id"] {
				t.Errorf("ledger %+v", ledger)
			}
		})
	}
}

// tok_slow: the client gives up, the charge happens anyway, and the lookup
// by key shows it pending, then succeeded.
func TestSlowChargeHappensAfterClientTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{SlowDelay: 300 * time.Millisecond})
	raw, _ := json.Marshal(charge(paysim.TokenSlow, "booking-slow", 900))
	req, _ := http.NewRequest("POST", b.url+"/charges", bytes.NewReader(raw))
	req.Header.Set("Idempotency-Key", "charge:slow")
	client := &http.Client{Timeout: 50 * time.Millisecond}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the client got an answer (%d) before its timeout", resp.StatusCode)
	}
	status, out := b.call(t, "GET", "/charges?idempotency_key=charge:slow", "", nil)
	if status != 200 || out["status"] != paysim.StatusPending {
		t.Fatalf("lookup while processing: %d %v, want 200 pending", status, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out["status"] == paysim.StatusPending && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, out = b.call(t, "GET", "/charges?idempotency_key=charge:slow", "", nil)
	}
	if out["status"] != paysim.StatusSucceeded {
		t.Fatalf("charge %v, want succeeded", out)
	}
	if n := chargesIn(b.sim.Ledger("booking-slow")); n != 1 {
		t.Errorf("%d charges, want 1", n)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		second     map[string]any
		wantStatus int
		wantCode   string
	}{
		{"same body returns the same charge", charge(paysim.TokenVisa, "b-1", 1000), 201, ""},
		{"different amount", charge(paysim.TokenVisa, "b-1", 2000), 422, paysim.CodeIdempotencyReused},
		{"different reference", charge(paysim.TokenVisa, "b-2", 1000), 422, paysim.CodeIdempotencyReused},
		{"different token", charge(paysim.TokenOK, "b-1", 1000), 422, paysim.CodeIdempotencyReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{})
			status, first := b.call(t, "POST", "/charges", "charge:b-1", charge(paysim.TokenVisa, "b-1", 1000))
			if status != 201 {
				t.Fatalf("first: %d %v", status, first)
			}
			status, second := b.call(t, "POST", "/charges", "charge:b-1", tt.second)
			if status != tt.wantStatus {
				t.Fatalf("second: %d %v, want %d", status, second, tt.wantStatus)
			}
			if tt.wantCode != "" && second["code"] != tt.wantCode {
				t.Errorf("code %v, want %s", second["code"], tt.wantCode)
			}
			if tt.wantStatus == 201 && second["id"] != first["id"] {
				t.Errorf("second charge %v, want the first %v", second["id"], first["id"])
			}
			if n := len(b.sim.Ledger("")); n != 1 {
				t.Errorf("ledger has %d entries, want 1", n)
			}
		})
	}
}

// Many concurrent requests with one key charge once, and all that get an
// answer get the same charge (the others are told to retry).
func TestIdempotencyUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{LatencyP50Ms: 5}})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[any]int{}
	)
	for range 20 {
		wg.Go(func() {
			status, out := b.call(t, "POST", "/charges", "charge:same", charge(paysim.TokenOK, "b-same", 700))
			mu.Lock()
			defer mu.Unlock()
			switch status {
			case 201:
				ids[out["id"]]++
			case 409:
				if out["code"] != paysim.CodeIdempotencyBusy {
					t.Errorf("409 code %v", out["code"])
				}
			default:
				t.Errorf("status %d %v", status, out)
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Errorf("answers name %d charges, want 1: %v", len(ids), ids)
	}
	if n := chargesIn(b.sim.Ledger("")); n != 1 {
		t.Errorf("%d charges in the ledger, want 1", n)
	}
}

func TestMissingIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{})
	status, out := b.call(t, "POST", "/charges", "", charge(paysim.TokenVisa, "b", 100))
	if status != 400 || out["code"] != paysim.CodeIdempotencyMissing {
		t.Errorf("%d %v, want 400 %s", status, out, paysim.CodeIdempotencyMissing)
	}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	type refund struct {
		key      string
		charge   string // "ok" or "declined" or an explicit id
		amount   int64
		status   int
		wantCode string
	}
	tests := []struct {
		name    string
		refunds []refund
	}{
		{"full refund", []refund{{"r1", "ok", 1000, 201, ""}}},
		{"two partial refunds", []refund{{"r1", "ok", 400, 201, ""}, {"r2", "ok", 600, 201, ""}}},
		{"more than charged", []refund{{"r1", "ok", 1001, 422, paysim.CodeRefundTooLarge}}},
		{"more than what is left", []refund{{"r1", "ok", 600, 201, ""}, {"r2", "ok", 600, 422, paysim.CodeRefundTooLarge}}},
		{"same key refunds once", []refund{{"r1", "ok", 1000, 201, ""}, {"r1", "ok", 1000, 201, ""}}},
		{"same key different amount", []refund{{"r1", "ok", 500, 201, ""}, {"r1", "ok", 400, 422, paysim.CodeIdempotencyReused}}},
		{"declined charge", []refund{{"r1", "declined", 1000, 409, paysim.CodeChargeNotRefunded}}},
		{"unknown charge", []refund{{"r1", "ch_nope", 1000, 404, paysim.CodeNotFound}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{})
			_, ok := b.call(t, "POST", "/charges", "c-ok", charge(paysim.TokenVisa, "b-ok", 1000))
			_, declined := b.call(t, "POST", "/charges", "c-declined", charge(paysim.TokenDecline, "b-declined", 1000))
			ids := map[string]any{"ok": ok["id"], "declined": declined["id"]}
			refunded := int64(0)
			seen := map[any]bool{}
			for i, r := range tt.refunds {
				id, known := ids[r.charge]
				if !known {
					id = r.charge
				}
				status, out := b.call(t, "POST", "/refunds", r.key, map[string]any{"charge_id": id, "amount_cents": r.amount})
				if status != r.status {
					t.Fatalf("refund %d: %d %v, want %d", i, status, out, r.status)
				}
				if r.wantCode != "" && out["code"] != r.wantCode {
					t.Errorf("refund %d: code %v, want %s", i, out["code"], r.wantCode)
				}
				if status == 201 && !seen[out["id"]] {
					seen[out["id"]] = true
					refunded += r.amount
					if out["status"] != paysim.StatusSucceeded || out["charge_id"] != id || out["reference"] != "b-ok" {
						t.Errorf("refund %d: %v", i, out)
					}
				}
			}
			_, c := b.call(t, "GET", "/charges/"+ok["id"].(string), "", nil)
			if c["refunded_cents"] != float64(refunded) {
				t.Errorf("refunded_cents %v, want %d", c["refunded_cents"], refunded)
			}
			var inLedger int64
			for _, e := range b.sim.Ledger("b-ok") {
				if e.Kind == paysim.KindRefund {
					inLedger += e.AmountCents
				}
			}
			if inLedger != refunded {
				t.Errorf("ledger refunds %d, want %d", inLedger, refunded)
			}
		})
	}
}

// The outage switch: every request 503 at once, nothing charged; off again,
// charging works.
func TestOutageSwitch(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{})
	status, out := b.call(t, "POST", "/admin/behaviour", "", map[string]any{"outage": true})
	if status != 200 || out["outage"] != true {
		t.Fatalf("switch on: %d %v", status, out)
	}
	for _, path := range []string{"/charges", "/refunds"} {
		status, out = b.call(t, "POST", path, "k"+path, charge(paysim.TokenVisa, "b", 100))
		if status != 503 || out["code"] != paysim.CodeUnavailable {
			t.Errorf("%s during outage: %d %v, want 503", path, status, out)
		}
	}
	if status, _ = b.call(t, "GET", "/charges?idempotency_key=x", "", nil); status != 503 {
		t.Errorf("lookup during outage: %d, want 503", status)
	}
	if n := len(b.sim.Ledger("")); n != 0 {
		t.Errorf("ledger has %d entries after an outage, want 0", n)
	}
	if status, _ = b.call(t, "POST", "/admin/behaviour", "", map[string]any{"outage": false}); status != 200 {
		t.Fatalf("switch off: %d", status)
	}
	if status, out = b.call(t, "POST", "/charges", "after", charge(paysim.TokenVisa, "b", 100)); status != 201 {
		t.Errorf("after the outage: %d %v", status, out)
	}
}

func TestBehaviourEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"latency", map[string]any{"latency_ms_p50": 20, "latency_ms_p99": 200}, 200},
		{"rates", map[string]any{"error_rate": 0.3, "timeout_rate": 0.01}, 200},
		{"rate above one", map[string]any{"error_rate": 1.5}, 422},
		{"negative latency", map[string]any{"latency_ms_p50": -1}, 422},
		{"unknown field", map[string]any{"speed": "fast"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{LatencyP50Ms: 1}})
			status, out := b.call(t, "POST", "/admin/behaviour", "", tt.body)
			if status != tt.status {
				t.Fatalf("%d %v, want %d", status, out, tt.status)
			}
			_, got := b.call(t, "GET", "/admin/behaviour", "", nil)
			for k, v := range tt.body {
				want, _ := json.Marshal(v)
				have, _ := json.Marshal(got[k])
				if (tt.status == 200) != bytes.Equal(want, have) {
					t.Errorf("%s: now %s after sending %s (status %d)", k, have, want, status)
				}
			}
			if tt.status == 200 && got["latency_ms_p50"] == nil {
				t.Errorf("fields not sent were lost: %v", got)
			}
		})
	}
}

// An injected 503 is decided before charging: nothing lands in the ledger,
// and a retry with the same key charges once.
func TestErrorRateIsSafeToRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{ErrorRate: 0.5}})
	for i := range 20 {
		key := "charge:" + string(rune('a'+i))
		var status int
		for attempt := 0; attempt < 50; attempt++ {
			status, _ = b.call(t, "POST", "/charges", key, charge(paysim.TokenVisa, key, 100))
			if status != 503 {
				break
			}
		}
		if status != 201 {
			t.Fatalf("%s: %d", key, status)
		}
		if n := chargesIn(b.sim.Ledger(key)); n != 1 {
			t.Errorf("%s: %d charges, want 1", key, n)
		}
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{})
	_, c := b.call(t, "POST", "/charges", "charge:b-9", charge(paysim.TokenVisa, "b-9", 100))
	tests := []struct {
		path   string
		status int
		id     any
	}{
		{"/charges?idempotency_key=charge:b-9", 200, c["id"]},
		{"/charges?idempotency_key=charge:unknown", 404, nil},
		{"/charges", 400, nil},
		{"/charges/" + c["id"].(string), 200, c["id"]},
		{"/charges/ch_nope", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			status, out := b.call(t, "GET", tt.path, "", nil)
			if status != tt.status || (tt.id != nil && out["id"] != tt.id) {
				t.Errorf("%d %v, want %d id %v", status, out, tt.status, tt.id)
			}
		})
	}
}

func TestLedgerEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{})
	_, c := b.call(t, "POST", "/charges", "charge:a", charge(paysim.TokenVisa, "a", 100))
	b.call(t, "POST", "/charges", "charge:b", charge(paysim.TokenDecline, "b", 200))
	b.call(t, "POST", "/refunds", "refund:a", map[string]any{"charge_id": c["id"], "amount_cents": 100})
	tests := []struct {
		query string
		kinds []string
	}{
		{"", []string{"charge", "charge", "refund"}},
		{"?reference=a", []string{"charge", "refund"}},
		{"?reference=b", []string{"charge"}},
		{"?reference=zzz", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Get(b.url + "/ledger" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct{ Entries []paysim.LedgerEntry }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if len(out.Entries) != len(tt.kinds) {
				t.Fatalf("%d entries, want %d: %+v", len(out.Entries), len(tt.kinds), out.Entries)
			}
			for i, e := range out.Entries {
				if e.Kind != tt.kinds[i] || e.IdempotencyKey == "" || e.CreatedAt.IsZero() || e.AmountCents == 0 {
					t.Errorf("entry %d: %+v", i, e)
				}
			}
		})
	}
}

// The same seed gives the same ids.
func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	var ids []any
	for range 2 {
		b := setup(t, paysim.Options{Seed: 42})
		_, c := b.call(t, "POST", "/charges", "k", charge(paysim.TokenVisa, "r", 100))
		ids = append(ids, c["id"])
	}
	if ids[0] != ids[1] {
		t.Errorf("ids %v differ with one seed", ids)
	}
}
