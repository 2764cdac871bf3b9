package evently

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The webhook signature scheme, in one place so receivers can copy it
// (docs/webhooks.md): every delivery carries
//
//	Evently-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
//
// Signing the time with the body lets a receiver refuse replays: a
// captured delivery cannot be sent again later with a fresh t.
const SignatureHeader = "Evently-Signature"

// Why VerifySignature refused a delivery (each with code unauthorized).
var (
	ErrSignatureFormat   = &Error{Code: EUNAUTHORIZED, Message: "The Evently-Signature header is missing or malformed."}
	ErrSignatureExpired  = &Error{Code: EUNAUTHORIZED, Message: "The signature's time is outside the tolerance (a replay, or a skewed clock)."}
	ErrSignatureMismatch = &Error{Code: EUNAUTHORIZED, Message: "No signature matches the body under this secret."}
)

// Sign returns the Evently-Signature header value for body sent at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks an Evently-Signature header against the raw
// request body: its t must be within tolerance of now (either way) and one
// of its v1 values must be the HMAC of "<t>.<body>" under secret, compared
// in constant time. Unknown keys are ignored, so a later scheme (v2) can be
// sent beside v1.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureFormat
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureFormat
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return ErrSignatureExpired
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
