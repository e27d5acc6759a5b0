package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// EntraAudiences are the audiences ACR accepts in Microsoft Entra access tokens.
var EntraAudiences = []string{"https://containerregistry.azure.net", "https://management.azure.com"}

// EntraConfig configures acceptance of Microsoft Entra ID (AAD) access tokens at
// /oauth2/exchange.
type EntraConfig struct {
	// JWKS is a file path or an https URL of the JSON Web Key Set whose keys sign
	// the tokens (Entra publishes https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys).
	JWKS string
	// Issuer, if set, must equal the token's iss claim.
	Issuer string
	// Permissions are granted to every principal with a valid token (default FullAccess).
	Permissions *Permissions
	// HTTPClient fetches a JWKS URL; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// entraVerifier checks Entra access tokens against a key set it caches.
type entraVerifier struct {
	cfg EntraConfig
	now func() time.Time

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
}

// jwksRefresh is how long a fetched key set is used before fetching it again, and
// jwksMinRefetch how soon an unknown key id may trigger another fetch.
const (
	jwksRefresh    = time.Hour
	jwksMinRefetch = time.Minute
)

func newEntraVerifier(ctx context.Context, cfg EntraConfig, now func() time.Time) (*entraVerifier, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	v := &entraVerifier{cfg: cfg, now: now}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// load reads the key set from its file or URL.
func (v *entraVerifier) load(ctx context.Context) error {
	var data []byte
	var err error
	if strings.HasPrefix(v.cfg.JWKS, "https://") || strings.HasPrefix(v.cfg.JWKS, "http://") {
		data, err = v.fetch(ctx)
	} else {
		data, err = os.ReadFile(v.cfg.JWKS)
	}
	if err != nil {
		return fmt.Errorf("load Entra key set %s: %w", v.cfg.JWKS, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("parse Entra key set %s: %w", v.cfg.JWKS, err)
	}
	if len(set.Keys) == 0 {
		return fmt.Errorf("Entra key set %s has no keys", v.cfg.JWKS)
	}
	v.keys, v.fetchedAt = set, v.now()
	return nil
}

func (v *entraVerifier) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKS, nil)
	if err != nil {
		return nil, err
	}
	res, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", res.Status)
	}
	return io.ReadAll(io.LimitReader(res.Body, 1<<20))
}

// key returns the verification key with the given id, refreshing the set when it
// is stale or does not know the id (Entra rotates its keys).
func (v *entraVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	find := func() *jose.JSONWebKey {
		for i := range v.keys.Keys {
			k := &v.keys.Keys[i]
			if (kid == "" || k.KeyID == kid) && k.Use != "enc" {
				return k
			}
		}
		return nil
	}
	age := v.now().Sub(v.fetchedAt)
	k := find()
	if age > jwksRefresh || (k == nil && age > jwksMinRefetch) {
		if err := v.load(ctx); err == nil {
			k = find()
		}
	}
	if k == nil {
		return nil, fmt.Errorf("%w: unknown signing key %q", ErrInvalidToken, kid)
	}
	return k, nil
}

// entraClaims are the claims acre reads from an Entra access token.
type entraClaims struct {
	jwt.Claims
	ObjectID string `json:"oid"`
	TenantID string `json:"tid"`
	AppID    string `json:"appid"`
}

// verify checks an Entra access token and returns its principal's id and tenant.
func (v *entraVerifier) verify(ctx context.Context, token string) (subject, tenant string, err error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return "", "", fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	k, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return "", "", err
	}
	var c entraClaims
	if err := tok.Claims(k.Key, &c); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	expected := jwt.Expected{Time: v.now()}
	if v.cfg.Issuer != "" {
		expected.Issuer = v.cfg.Issuer
	}
	if err := c.ValidateWithLeeway(expected, clockSkew); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Expiry == nil {
		return "", "", fmt.Errorf("%w: no expiry", ErrInvalidToken)
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool {
		return slices.Contains(EntraAudiences, strings.TrimSuffix(a, "/"))
	}) {
		return "", "", fmt.Errorf("%w: audience %v is not the container registry", ErrInvalidToken, c.Audience)
	}
	subject = c.ObjectID
	if subject == "" {
		subject = c.Subject
	}
	if subject == "" {
		return "", "", errors.Join(ErrInvalidToken, errors.New("no subject"))
	}
	return subject, c.TenantID, nil
}
