package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/client/webhook"
)

const secret = "whsec_test"

var body = []byte(`{"id":"whe_1","type":"analyze.task.ready","data":{"id":"t1","status":"ready"}}`)

// The signature is computed as §8 of the spec says, independently of Sign.
func TestSignMatchesSpec(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 0)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := webhook.Sign(secret, at, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	good := webhook.Sign(secret, now, body)
	other := webhook.Sign("whsec_other", now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid within tolerance", good, body, now.Add(4 * time.Minute), nil},
		{"clock behind within tolerance", good, body, now.Add(-4 * time.Minute), nil},
		{"rotated secret, second v1 matches", other + ",v1=" + strings.SplitN(good, "v1=", 2)[1], body, now, nil},
		{"spaces after commas", strings.ReplaceAll(good, ",", ", "), body, now, nil},
		{"unknown scheme ignored", good + ",v0=abc", body, now, nil},
		{"too old", good, body, now.Add(6 * time.Minute), webhook.ErrTimestamp},
		{"from the future", good, body, now.Add(-6 * time.Minute), webhook.ErrTimestamp},
		{"body changed", good, append([]byte(" "), body...), now, webhook.ErrSignature},
		{"wrong secret", other, body, now, webhook.ErrSignature},
		{"timestamp changed", strings.Replace(good, "t=1700000000", "t=1700000001", 1), body, now, webhook.ErrSignature},
		{"missing", "", body, now, webhook.ErrHeader},
		{"no v1", "t=1700000000", body, now, webhook.ErrHeader},
		{"no t", "v1=" + strings.SplitN(good, "v1=", 2)[1], body, now, webhook.ErrHeader},
		{"short v1", "t=1700000000,v1=abcd", body, now, webhook.ErrHeader},
		{"t not a number", "t=soon,v1=" + strings.SplitN(good, "v1=", 2)[1], body, now, webhook.ErrHeader},
		{"two t", good + ",t=1", body, now, webhook.ErrHeader},
		{"garbage", "hello", body, now, webhook.ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.VerifyAt(secret, tt.header, tt.body, 0, tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyAt = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	ev, err := webhook.Parse(secret, webhook.Sign(secret, time.Now(), body), body, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "whe_1" || ev.Type != webhook.EventTaskReady || ev.Data.ID != "t1" || ev.Data.Status != "ready" {
		t.Fatalf("event = %+v", ev)
	}
	if _, err := webhook.Parse(secret, webhook.Sign("x", time.Now(), body), body, time.Minute); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("Parse with a wrong secret = %v", err)
	}
}

// FuzzParseHeader: the parser never panics, and whatever it accepts
// round-trips: a header it parses verifies only with the right MAC.
func FuzzParseHeader(f *testing.F) {
	f.Add(webhook.Sign(secret, time.Unix(1700000000, 0), body))
	f.Add("t=1,v1=00")
	f.Add("t=,v1=")
	f.Add(",,,=")
	f.Add("t=1700000000,v1=" + strings.Repeat("a", 64) + ",v1=" + strings.Repeat("b", 64))
	f.Fuzz(func(t *testing.T, header string) {
		ts, sigs, err := webhook.ParseHeader(header)
		if err != nil {
			if !errors.Is(err, webhook.ErrHeader) {
				t.Fatalf("error %v is not ErrHeader", err)
			}
			return
		}
		if ts <= 0 || len(sigs) == 0 {
			t.Fatalf("accepted %q with t=%d and %d signatures", header, ts, len(sigs))
		}
		for _, s := range sigs {
			if len(s) != sha256.Size {
				t.Fatalf("signature of %d bytes accepted", len(s))
			}
		}
		err = webhook.VerifyAt(secret, header, body, time.Hour, time.Unix(ts, 0))
		want, _ := hex.DecodeString(strings.SplitN(webhook.Sign(secret, time.Unix(ts, 0), body), "v1=", 2)[1])
		found := false
		for _, s := range sigs {
			found = found || hmac.Equal(s, want)
		}
		if (err == nil) != found {
			t.Fatalf("%q: verify error %v, right signature present %v", header, err, found)
		}
	})
}

func ExampleVerify() {
	secret := "whsec_…" // from "framewise webhooks add"
	body := []byte(`{"id":"whe_0","type":"analyze.task.ready","data":{"id":"6650c1a2b3c4d5e6f7a8b9c0","status":"ready"}}`)
	header := webhook.Sign(secret, time.Now(), body) // what the server sends in TL-Signature
	if err := webhook.Verify(secret, header, body, webhook.DefaultTolerance); err != nil {
		fmt.Println("refuse:", err)
		return
	}
	fmt.Println("verified")
	// Output: verified
}
