package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/route"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/sqlite"
	"github.com/go-jose/go-jose/v4"
)

const host = "reg.example"

// clock is a settable time source shared by the signer and the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

type fixture struct {
	svc   *auth.Service
	cfg   auth.Config
	clk   *clock
	key   *ecdsa.PrivateKey
	meta  store.MetadataStore
	entra *ecdsa.PrivateKey
}

// newFixture builds a token service on a fresh metadata store with a fake clock.
// By default it is open (AllowOpen, nothing configured).
func newFixture(t *testing.T, edit func(f *fixture, c *auth.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	meta, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close() })
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clk: &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, key: key, meta: meta}
	signer, err := auth.NewSigner(key, f.clk.now)
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{Signer: signer, Metadata: meta, AllowOpen: true, Now: f.clk.now, Logger: slog.New(slog.DiscardHandler)}
	if edit != nil {
		edit(f, &cfg)
	}
	f.cfg = cfg
	if f.svc, err = auth.NewService(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

var pullX = []route.Scope{{Type: "repository", Name: "x", Actions: []route.Action{route.ActionPull}}}

// authorize runs Authorize for a request to host with a bearer token.
func (f *fixture) authorize(tok string, scopes []route.Scope) error {
	r := httptest.NewRequest(http.MethodGet, "http://"+host+"/v2/x/manifests/v1", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	_, err := f.svc.Authorize(context.Background(), r, scopes)
	return err
}

// login gets an access token (and a refresh token) as docker does, anonymously.
func (f *fixture) login(t *testing.T) auth.TokenResponse {
	t.Helper()
	res, err := f.svc.TokenBasic(context.Background(), url.Values{"service": {host}, "scope": {"repository:x:pull"}}, host, "", "", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken == "" || res.RefreshToken == "" {
		t.Fatalf("login: %+v", res)
	}
	return res
}

func (f *fixture) refresh(rt string) (auth.TokenResponse, error) {
	return f.svc.Token(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"service": {host}, "scope": {"repository:x:pull"}}, host)
}

// expectInvalid checks that Authorize asked the client to authenticate again (401
// with a challenge), not that the token lacks an action.
func expectInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var ch *auth.Challenge
	if !errors.As(err, &ch) {
		t.Fatalf("%s: %v, want a *Challenge", what, err)
	}
	want := `Bearer realm="http://` + host + `/oauth2/token",service="` + host + `",scope="repository:x:pull"`
	if ch.InsufficientScope || ch.Header != want {
		t.Fatalf("%s: challenge %q (insufficient %v), want %q", what, ch.Header, ch.InsufficientScope, want)
	}
}

func TestTokenLifetimes(t *testing.T) {
	f := newFixture(t, nil)
	res := f.login(t)
	if err := f.authorize(res.AccessToken, pullX); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	f.clk.add(auth.AccessTokenLifetime - time.Minute)
	if err := f.authorize(res.AccessToken, pullX); err != nil {
		t.Fatalf("token before its expiry: %v", err)
	}
	f.clk.add(3 * time.Minute) // past the expiry and the one-minute skew allowance
	expectInvalid(t, "expired access token", f.authorize(res.AccessToken, pullX))

	// The refresh token lives longer, and gets a working access token.
	again, err := f.refresh(res.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := f.authorize(again.AccessToken, pullX); err != nil {
		t.Fatalf("refreshed token: %v", err)
	}
	f.clk.add(auth.RefreshTokenLifetime)
	if _, err := f.refresh(res.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("expired refresh token: %v, want ErrUnauthorized", err)
	}

	// A token from the future (a replica whose clock is ahead) is refused too.
	future := f.login(t)
	f.clk.add(-5 * time.Minute)
	expectInvalid(t, "not yet valid access token", f.authorize(future.AccessToken, pullX))
	if _, err := f.refresh(future.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("not yet valid refresh token: %v, want ErrUnauthorized", err)
	}
}

// TestVerifiedTokensAreCheckedOnEveryUse checks that the signer's cache of verified
// tokens skips the signature check only: the type and the time window of a token
// seen before are checked again on every use.
func TestVerifiedTokensAreCheckedOnEveryUse(t *testing.T) {
	f := newFixture(t, nil)
	res := f.login(t)
	for range 2 { // verified, then from the cache
		if err := f.authorize(res.AccessToken, pullX); err != nil {
			t.Fatalf("access token: %v", err)
		}
		if _, err := f.refresh(res.RefreshToken); err != nil {
			t.Fatalf("refresh token: %v", err)
		}
	}
	// Both are cached now, each as the type it is: neither serves as the other.
	expectInvalid(t, "cached refresh token as an access token", f.authorize(res.RefreshToken, pullX))
	if _, err := f.svc.Token(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {res.AccessToken},
		"service": {host}, "scope": {"repository:x:pull"}}, host); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("cached access token as a refresh token: %v, want ErrUnauthorized", err)
	}
	// One character changed in the signature: not the cached token.
	sig := []byte(res.AccessToken)
	sig[len(sig)-2] ^= 'A' ^ 'B'
	expectInvalid(t, "altered cached token", f.authorize(string(sig), pullX))
	// And a cached token expires like any other.
	f.clk.add(auth.AccessTokenLifetime + 2*time.Minute)
	expectInvalid(t, "expired cached access token", f.authorize(res.AccessToken, pullX))
}

// sign signs arbitrary claims as acre does (ES256), with any key.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(claims) // encoding/json: numbers as they came
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// payload decodes a token's claims, keeping numbers as they were.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAuthorizeRefusesForgedTokens(t *testing.T) {
	f := newFixture(t, nil)
	res := f.login(t)
	kid, _ := header(t, res.AccessToken)["kid"].(string)
	claims := payload(t, res.AccessToken)
	with := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{}
		for k, v := range claims {
			m[k] = v
		}
		edit(m)
		return m
	}
	// The helper signs as acre does: an untouched copy is accepted.
	if err := f.authorize(sign(t, jose.ES256, f.key, kid, claims), pullX); err != nil {
		t.Fatalf("re-signed genuine claims: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(res.AccessToken, ".")[1] + "."

	cases := []struct{ name, token string }{
		{"refresh token", res.RefreshToken},
		{"alg none", none},
		{"HS256 keyed with the public key (DER)", sign(t, jose.HS256, der, kid, claims)},
		{"HS256 keyed with the public key (PEM)", sign(t, jose.HS256, pemKey, kid, claims)},
		{"other key, same kid", sign(t, jose.ES256, other, kid, claims)},
		{"ES384", sign(t, jose.ES384, mustKey(t, elliptic.P384()), kid, claims)},
		{"other issuer", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["iss"] = "Azure Container Registry" }))},
		{"other audience", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["aud"] = "other.example" }))},
		{"no type", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { delete(m, "acre_typ") }))},
		{"no expiry", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { delete(m, "exp") }))},
		{"unknown kind", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["acre_kind"] = "root" }))},
		{"admin, none configured", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["acre_kind"] = auth.KindAdmin; m["sub"] = "admin" }))},
		{"token, none stored", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["acre_kind"] = auth.KindToken; m["sub"] = "ghost" }))},
		{"aad, Entra off", sign(t, jose.ES256, f.key, kid, with(func(m map[string]any) { m["acre_kind"] = auth.KindEntra }))},
		{"not a JWT", "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { expectInvalid(t, tc.name, f.authorize(tc.token, pullX)) })
	}

	// Signed right but without the action: insufficient scope, not invalid.
	err = f.authorize(res.AccessToken, []route.Scope{{Type: "repository", Name: "x", Actions: []route.Action{route.ActionPull, route.ActionPush}}})
	var ch *auth.Challenge
	if !errors.As(err, &ch) || !ch.InsufficientScope || !strings.HasSuffix(ch.Header, `,scope="repository:x:pull,push",error="insufficient_scope"`) {
		t.Fatalf("token without push: %v", err)
	}
}

func mustKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestOpenRegistryClosesWithFirstToken checks that creating a repository-scoped
// token ends open mode, and with it the tokens open mode handed out.
func TestOpenRegistryClosesWithFirstToken(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if !f.svc.IsOpen(ctx) {
		t.Fatal("a registry with nothing configured and AllowOpen is not open")
	}
	res := f.login(t)
	_, hash, err := auth.GeneratePassword()
	if err != nil {
		t.Fatal(err)
	}
	err = f.meta.Update(ctx, func(tx store.MetadataTx) error {
		return tx.PutToken(ctx, store.Token{Name: "ci", PasswordHashes: [][]byte{hash}, Enabled: true,
			Scopes: []store.TokenScope{{Repository: "x", Actions: []string{auth.ContentRead}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.add(5 * time.Second) // past the cache of the open/closed decision
	if f.svc.IsOpen(ctx) {
		t.Fatal("still open with a repository-scoped token")
	}
	expectInvalid(t, "open-mode token after closing", f.authorize(res.AccessToken, pullX))
	if _, err := f.refresh(res.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("open-mode refresh token after closing: %v", err)
	}

	closed := newFixture(t, func(_ *fixture, c *auth.Config) { c.AllowOpen = false })
	if closed.svc.IsOpen(ctx) {
		t.Fatal("open without AllowOpen")
	}
}

// TestAnonymousPullTurnedOff checks that access tokens issued under anonymous pull
// stop pulling when a restarted server no longer allows it.
func TestAnonymousPullTurnedOff(t *testing.T) {
	f := newFixture(t, func(_ *fixture, c *auth.Config) { c.AllowOpen, c.AnonymousPull = false, true })
	res, err := f.svc.Token(context.Background(), url.Values{"grant_type": {"password"}, "refresh_token": {""},
		"service": {host}, "scope": {"repository:x:pull"}}, host)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.authorize(res.AccessToken, pullX); err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	cfg := f.cfg
	cfg.AnonymousPull = false
	svc, err := auth.NewService(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	err = f.authorize(res.AccessToken, pullX)
	var ch *auth.Challenge
	if !errors.As(err, &ch) || !ch.InsufficientScope {
		t.Fatalf("anonymous token after anonymous pull was turned off: %v", err)
	}
}

func TestChallengeUsesLoginServer(t *testing.T) {
	f := newFixture(t, func(_ *fixture, c *auth.Config) { c.LoginServer = "myreg.azurecr.io" })
	r := httptest.NewRequest(http.MethodGet, "http://"+host+"/v2/x/manifests/v1", nil)
	_, err := f.svc.Authorize(context.Background(), r, pullX)
	var ch *auth.Challenge
	if !errors.As(err, &ch) {
		t.Fatalf("no challenge: %v", err)
	}
	if want := `Bearer realm="http://` + host + `/oauth2/token",service="myreg.azurecr.io",scope="repository:x:pull"`; ch.Header != want {
		t.Fatalf("challenge %q, want %q", ch.Header, want)
	}
}

// sdkDecode reads a refresh token as the official Go SDK does: the payload
// segment, padded with '=', decoded with the standard base64 alphabet.
func sdkDecode(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	v := parts[1]
	if n := len(v) % 4; n > 0 {
		v += strings.Repeat("=", 4-n)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

// TestRefreshTokenPayloadDecodesWithStdEncoding issues refresh tokens for many
// subjects and tenants (Entra object ids are client data here: any string) and
// reads each back as the SDK does.
func TestRefreshTokenPayloadDecodesWithStdEncoding(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *auth.Config) {
		// Entra signs with RS256; ES256 (also accepted) keeps this test fast.
		k := mustKey(t, elliptic.P256())
		f.entra = k
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Use: "sig"}}})
		path := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c.Entra = &auth.EntraConfig{JWKS: path}
	})
	ctx := context.Background()
	alphabet := []rune("abcXYZ019 ?~>\x7f\"\\/<&'-_=+é€ÿĀ日本😀\u2028\u2029\t")
	rng := mrand.New(mrand.NewPCG(1, 2))
	randomString := func() string {
		r := make([]rune, 1+rng.IntN(12))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	subjects := []string{"ad?~>min\u00e9", "?", "~", ">", "??", "~~~", ">>>>", "é", "😀"}
	for range 300 {
		subjects = append(subjects, randomString())
	}
	for _, sub := range subjects {
		tenant := randomString()
		now := f.clk.now()
		at := sign(t, jose.ES256, f.entra, "k1", map[string]any{"aud": "https://containerregistry.azure.net", "oid": sub, "tid": tenant,
			"iss": "https://sts.windows.net/x/", "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})
		res, err := f.svc.Exchange(ctx, url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {at}}, host)
		if err != nil {
			t.Fatalf("exchange for %q: %v", sub, err)
		}
		m, err := sdkDecode(res.RefreshToken)
		if err != nil {
			t.Fatalf("subject %q: the SDK cannot decode the refresh token: %v", sub, err)
		}
		if m["sub"] != sub || m["tenant"] != tenant || m["exp"] != float64(now.Add(auth.RefreshTokenLifetime).Unix()) {
			t.Fatalf("subject %q tenant %q: decoded %v", sub, tenant, m)
		}
		// The rewritten payload is still what was signed.
		if _, err := f.refresh(res.RefreshToken); err != nil {
			t.Fatalf("subject %q: refresh: %v", sub, err)
		}
	}
}

func TestGrant(t *testing.T) {
	perms, err := auth.PermissionsFromScopes([]store.TokenScope{
		{Repository: "team/*", Actions: []string{auth.ContentRead, auth.ContentWrite}},
		{Repository: "app", Actions: []string{auth.ContentRead}},
		{Repository: "app", Actions: []string{auth.ContentDelete, auth.MetadataRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		scope string
		want  []string // granted actions; nil for nothing
	}{
		{"repository:team/x:pull,push", []string{"pull", "push"}},
		{"repository:team/y/z:push,delete", []string{"push"}},
		{"repository:team:pull", nil},
		{"repository:teamx:pull", nil},
		{"repository:other/team/x:pull", nil},
		{"repository:app:pull,push,delete,metadata_read,metadata_write", []string{"pull", "delete", "metadata_read"}},
		{"repository:app:*", []string{"pull", "delete", "metadata_read"}},
		{"repository:app/sub:pull", nil},
		{"registry:catalog:*", nil},
		{"repository:Bad Name:pull", nil},
	}
	for _, tc := range cases {
		got := perms.Grant(auth.ParseScopes([]string{tc.scope}))
		var acts []string
		for _, a := range got {
			acts = append(acts, a.Actions...)
		}
		if !slices.Equal(acts, tc.want) {
			t.Errorf("%s: granted %v, want %v", tc.scope, acts, tc.want)
		}
	}
	for _, bad := range []store.TokenScope{
		{Repository: "team*", Actions: []string{auth.ContentRead}},
		{Repository: "a/*/b", Actions: []string{auth.ContentRead}},
		{Repository: "*/x", Actions: []string{auth.ContentRead}},
		{Repository: "app", Actions: []string{"content/admin"}},
	} {
		if _, err := auth.PermissionsFromScopes([]store.TokenScope{bad}); err == nil {
			t.Errorf("scope map %+v accepted", bad)
		}
	}
}
