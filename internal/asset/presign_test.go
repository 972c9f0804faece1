package asset

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSignerVerify(t *testing.T) {
	t.Parallel()
	s, err := NewSigner(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	q, _ := url.ParseQuery(s.Sign("up1", 3, now.Add(time.Hour)))
	sig, exp, err := s.Verify("up1", 3, q, now)
	if err != nil || sig != q.Get("sig") || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("Verify = %q %v %v", sig, exp, err)
	}
	if q2, _ := url.ParseQuery(s.Sign("up1", 3, now.Add(time.Hour))); q2.Get("sig") == q.Get("sig") {
		t.Error("two URLs for the same chunk share a signature; they must be distinct to be single-use")
	}

	tamper := func(k, v string) url.Values {
		c := url.Values{}
		for key, vals := range q {
			c[key] = append([]string(nil), vals...)
		}
		c.Set(k, v)
		return c
	}
	later := strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10)
	for name, tc := range map[string]struct {
		id    string
		index int
		q     url.Values
	}{
		"other chunk":      {"up1", 4, q},
		"other upload":     {"up2", 3, q},
		"expiry moved":     {"up1", 3, tamper("expires", later)},
		"nonce changed":    {"up1", 3, tamper("nonce", "0000000000000000")},
		"signature edited": {"up1", 3, tamper("sig", "00"+q.Get("sig")[2:])},
		"no signature":     {"up1", 3, tamper("sig", "")},
		"bad expiry":       {"up1", 3, tamper("expires", "soon")},
	} {
		if _, _, err := s.Verify(tc.id, tc.index, tc.q, now); !errors.Is(err, errBadSignature) {
			t.Errorf("%s: Verify err = %v, want a bad signature", name, err)
		}
	}
	if _, _, err := s.Verify("up1", 3, q, now.Add(time.Hour)); !errors.Is(err, errExpired) {
		t.Errorf("at expiry: err = %v, want expired", err)
	}
	other, _ := NewSigner(bytes.Repeat([]byte("j"), 32))
	if _, _, err := other.Verify("up1", 3, q, now); !errors.Is(err, errBadSignature) {
		t.Errorf("another secret accepted the URL: %v", err)
	}
}

func TestLoadSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "secret")
	a, err := LoadSecret(path)
	if err != nil || len(a) < 32 {
		t.Fatalf("LoadSecret = %q, %v", a, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", fi.Mode(), err)
	}
	b, err := LoadSecret(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load = %q, %v; want the same secret", b, err)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := LoadSecret(path); err == nil {
		t.Error("a short secret was accepted")
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("NewSigner accepted a short secret")
	}
}

func TestSignerMedia(t *testing.T) {
	t.Parallel()
	s, _ := NewSigner(bytes.Repeat([]byte("k"), 32))
	now := time.Unix(1_800_000_000, 0)
	q, _ := url.ParseQuery(s.SignMedia("acme", "task1", now.Add(time.Hour)))
	if acct, err := s.VerifyMedia("task1", q, now); err != nil || acct != "acme" {
		t.Fatalf("VerifyMedia = %q, %v; want acme", acct, err)
	}
	if _, err := s.VerifyMedia("task1", q, now.Add(time.Hour)); !errors.Is(err, ErrMediaExpired) {
		t.Errorf("at expiry: err = %v, want expired", err)
	}
	other := url.Values{"account": {"other"}, "expires": q["expires"], "sig": q["sig"]}
	for name, tc := range map[string]struct {
		id string
		q  url.Values
	}{
		"other task":    {"task2", q},
		"other account": {"task1", other},
		"no signature":  {"task1", url.Values{"account": {"acme"}, "expires": q["expires"]}},
	} {
		if _, err := s.VerifyMedia(tc.id, tc.q, now); !errors.Is(err, ErrMediaSignature) {
			t.Errorf("%s: err = %v, want a bad signature", name, err)
		}
	}
	// An upload signature never verifies as a media one.
	up, _ := url.ParseQuery(s.Sign("task1", 0, now.Add(time.Hour)))
	up.Set("account", "")
	if _, err := s.VerifyMedia("task1", up, now); !errors.Is(err, ErrMediaSignature) {
		t.Errorf("an upload URL's signature verified as media: %v", err)
	}
}
