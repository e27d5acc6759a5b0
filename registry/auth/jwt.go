package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// Token lifetimes, as ACR has them.
const (
	RefreshTokenLifetime = 3 * time.Hour
	AccessTokenLifetime  = 75 * time.Minute
)

// issuer names acre in the tokens it signs.
const issuer = "acre"

// clockSkew is the tolerance for nbf and exp between replicas and clients.
const clockSkew = time.Minute

// Token types, in the acre_typ claim, so a refresh token can never serve as an
// access token or the other way round.
const (
	typRefresh = "refresh"
	typAccess  = "access"
)

// Principal kinds, in the acre_kind claim.
const (
	KindAdmin     = "admin"
	KindToken     = "token"
	KindEntra     = "aad"
	KindAnonymous = "anonymous"
	KindOpen      = "open"
)

// Claims are the claims of the tokens acre issues, modelled on ACR's.
type Claims struct {
	ID        string   `json:"jti"`
	Subject   string   `json:"sub"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	Issuer    string   `json:"iss"`
	Audience  string   `json:"aud"`
	Version   string   `json:"version"`
	GrantType string   `json:"grant_type"`
	Tenant    string   `json:"tenant,omitempty"`
	Type      string   `json:"acre_typ"`
	Kind      string   `json:"acre_kind"`
	Access    []Access `json:"access,omitempty"`
	// Generation identifies which token of a name the claims were issued to.
	Generation int64 `json:"acre_gen,omitempty"`
}

// Signer signs and verifies acre's tokens with one ECDSA P-256 key (ES256).
type Signer struct {
	key *ecdsa.PrivateKey
	kid string
	now func() time.Time

	// verified remembers the claims of tokens whose signature checked out, by the
	// token's exact text. Clients send the same access token with every request,
	// and an ES256 verification costs about 100 µs of CPU, more than serving a
	// manifest, so each token's signature is checked once. Everything else about a
	// token (its time window, issuer and type) is checked on every use, and the
	// principal behind it is re-derived by the caller as before.
	verifiedMu sync.RWMutex
	verified   map[string]Claims
}

// maxVerified bounds the verified-token cache; at most about 1 MiB of tokens.
const maxVerified = 1024

// NewSigner returns a Signer for key. now may be nil (time.Now).
func NewSigner(key *ecdsa.PrivateKey, now func() time.Time) (*Signer, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("token signing key must be ECDSA P-256")
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, kid: hex.EncodeToString(sum[:8]), now: now, verified: map[string]Claims{}}, nil
}

// LoadKey reads a PEM-encoded ECDSA P-256 private key (PKCS#8 or SEC 1).
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("token signing key %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("token signing key %s: unexpected PEM type %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("token signing key %s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("token signing key %s: want an ECDSA P-256 key", path)
	}
	return ec, nil
}

// LoadOrCreateKey loads the key at path, creating it (mode 0600) on first use.
// Two processes starting at once agree on one key: the file is published with a
// hard link, which fails if another process published first.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadKey(path)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode token signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadKey(path)
		}
		return nil, fmt.Errorf("publish token signing key: %w", err)
	}
	return key, nil
}

// sign issues a token for the claims (the time claims are filled in here).
func (s *Signer) sign(c Claims, lifetime time.Duration) (string, error) {
	now := s.now().UTC()
	c.IssuedAt, c.NotBefore, c.Expiry = now.Unix(), now.Unix(), now.Add(lifetime).Unix()
	c.Issuer, c.Version = issuer, "1.0"
	var id [16]byte
	_, _ = rand.Read(id[:])
	c.ID = hex.EncodeToString(id[:])
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": s.kid})
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	signingInput := b64(header) + "." + b64(stdBase64Safe(payload))
	digest := sha256.Sum256([]byte(signingInput))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return signingInput + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// stdBase64Safe rewrites a JSON document so that its base64url encoding contains
// neither '-' nor '_', which makes it decode with the standard alphabet too: the
// official Azure SDK reads the expiry of ACR refresh tokens with
// base64.StdEncoding. In base64, only the last character of a 3-byte group can be
// 62 or 63 for ASCII input, and only when the group's third byte is '>', '?', '~' or
// DEL; non-ASCII bytes can produce them anywhere. Those characters only occur
// inside JSON strings (encoding/json already escapes '>'), where a \u escape means
// the same.
func stdBase64Safe(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '?' || c == '~' || c == 0x7f:
			out = fmt.Appendf(out, `\u%04x`, c)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(doc[i:])
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
			i += size
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// ErrInvalidToken is wrapped by every verification failure.
var ErrInvalidToken = errors.New("invalid token")

// verify checks a token's signature (ES256 with this signer's key only), its time
// window, issuer and type, and returns its claims.
func (s *Signer) verify(token, typ string) (Claims, error) {
	s.verifiedMu.RLock()
	c, cached := s.verified[token]
	s.verifiedMu.RUnlock()
	if !cached {
		jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		payload, err := jws.Verify(&s.key.PublicKey)
		if err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			return c, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
		}
	}
	now := s.now()
	switch {
	case c.Issuer != issuer:
		return c, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Issuer)
	case c.Type != typ:
		return c, fmt.Errorf("%w: a %s token where a %s token is needed", ErrInvalidToken, c.Type, typ)
	case now.Add(clockSkew).Unix() < c.NotBefore:
		return c, fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	case now.Add(-clockSkew).Unix() >= c.Expiry:
		return c, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if !cached {
		s.remember(token, c, now)
	}
	// The caller gets its own copy of the one slice in the claims.
	c.Access = slices.Clone(c.Access)
	return c, nil
}

// remember adds a verified token to the cache, first dropping expired tokens when
// the cache is full, and then, if it is still full, arbitrary ones.
func (s *Signer) remember(token string, c Claims, now time.Time) {
	s.verifiedMu.Lock()
	defer s.verifiedMu.Unlock()
	if len(s.verified) >= maxVerified {
		for t, v := range s.verified {
			if now.Add(-clockSkew).Unix() >= v.Expiry {
				delete(s.verified, t)
			}
		}
		for t := range s.verified {
			if len(s.verified) < maxVerified*3/4 {
				break
			}
			delete(s.verified, t)
		}
	}
	s.verified[token] = c
}

// trimBearer returns the token of an "Authorization: Bearer" header value.
func trimBearer(h string) (string, bool) {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}
