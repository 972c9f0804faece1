package asset

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Signer signs and verifies presigned chunk URLs. A URL names one chunk of
// one session, an expiry and a random nonce (so every URL handed out is
// distinct and can be used once); its signature is
// HMAC-SHA256(secret, "framewise-upload-v1\n" + upload id + "\n" + chunk
// index + "\n" + expiry unix seconds + "\n" + nonce) in hex. The host is
// not signed, so a proxy in front of framewise may rewrite it.
type Signer struct{ key []byte }

// NewSigner returns a Signer with the given secret (at least 32 bytes).
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("asset: signing secret must be at least 32 bytes")
	}
	return &Signer{key: secret}, nil
}

// LoadSecret reads the server secret from path, creating it with 32
// random bytes (hex, mode 0600) when the file does not exist. The file
// must not be readable by others: it authorizes chunk uploads.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, err
		}
		secret := []byte(hex.EncodeToString(raw[:]))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadSecret(path) // another process created it first
		}
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		_, werr := f.Write(append(secret, '\n'))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("secret: %w", werr)
		}
		return secret, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < 32 {
		return nil, fmt.Errorf("secret: %s holds %d bytes, want at least 32; delete it to make a new one (outstanding upload URLs stop working)", path, len(secret))
	}
	return secret, nil
}

func (s *Signer) mac(uploadID string, index int, expires int64, nonce string) string {
	return s.sum(fmt.Sprintf("framewise-upload-v1\n%s\n%d\n%d\n%s", uploadID, index, expires, nonce))
}

// sum is the hex HMAC-SHA256 of msg under the secret. Each kind of URL
// signs a message with its own first line, so that a signature of one
// kind never verifies as another.
func (s *Signer) sum(msg string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the query string of a URL for PUT of chunk index of
// uploadID, valid until expires.
func (s *Signer) Sign(uploadID string, index int, expires time.Time) string {
	var n [8]byte
	_, _ = rand.Read(n[:])
	nonce := hex.EncodeToString(n[:])
	exp := expires.Unix()
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("nonce", nonce)
	q.Set("sig", s.mac(uploadID, index, exp, nonce))
	return q.Encode()
}

// Errors of Verify.
var (
	errBadSignature = errors.New("bad signature")
	errExpired      = errors.New("expired")
)

// Verify checks the query of a chunk PUT. It returns the signature (the
// URL's single-use token) and its expiry, or errBadSignature /
// errExpired.
func (s *Signer) Verify(uploadID string, index int, q url.Values, now time.Time) (sig string, expires time.Time, err error) {
	sig, nonce := q.Get("sig"), q.Get("nonce")
	exp, perr := strconv.ParseInt(q.Get("expires"), 10, 64)
	if sig == "" || nonce == "" || perr != nil {
		return "", time.Time{}, errBadSignature
	}
	want := s.mac(uploadID, index, exp, nonce)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) != 1 {
		return "", time.Time{}, errBadSignature
	}
	expires = time.Unix(exp, 0).UTC()
	if !now.Before(expires) {
		return want, expires, errExpired
	}
	return want, expires, nil
}

// mediaMAC is the signature of a media URL: HMAC-SHA256(secret,
// "framewise-media-v1\n" + account + "\n" + task id + "\n" + expiry unix
// seconds) in hex.
func (s *Signer) mediaMAC(account, taskID string, expires int64) string {
	return s.sum(fmt.Sprintf("framewise-media-v1\n%s\n%s\n%d", account, taskID, expires))
}

// SignMedia returns the query string of a URL that reads the source video
// of task taskID of account until expires. Unlike an upload URL it may be
// used any number of times until then: a video player sends many range
// requests.
func (s *Signer) SignMedia(account, taskID string, expires time.Time) string {
	exp := expires.Unix()
	q := url.Values{}
	q.Set("account", account)
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("sig", s.mediaMAC(account, taskID, exp))
	return q.Encode()
}

// Errors of VerifyMedia.
var (
	ErrMediaSignature = errors.New("bad media URL signature")
	ErrMediaExpired   = errors.New("media URL expired")
)

// VerifyMedia checks the query of a media URL for taskID and returns the
// account it was signed for, or ErrMediaSignature / ErrMediaExpired.
func (s *Signer) VerifyMedia(taskID string, q url.Values, now time.Time) (account string, err error) {
	account, sig := q.Get("account"), q.Get("sig")
	exp, perr := strconv.ParseInt(q.Get("expires"), 10, 64)
	if sig == "" || perr != nil {
		return "", ErrMediaSignature
	}
	want := s.mediaMAC(account, taskID, exp)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) != 1 {
		return "", ErrMediaSignature
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", ErrMediaExpired
	}
	return account, nil
}
