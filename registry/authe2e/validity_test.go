package authe2e_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/go-jose/go-jose/v4"
)

// TestEntraExchange checks /oauth2/exchange against Entra access tokens that are
// not valid: every one gets ACR's answer, 401 with an empty body.
func TestEntraExchange(t *testing.T) {
	e := newEntra(t)
	srv := registrytest.New(t, e.option())
	now := time.Now()
	with := func(edit func(m map[string]any)) map[string]any {
		m := e.claims("5a6b7c8d-0000-4000-8000-000000000001")
		edit(m)
		return m
	}
	valid := e.sign(t, with(func(map[string]any) {}))
	pub, err := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})

	t.Run("valid", func(t *testing.T) {
		for name, tok := range map[string]string{
			"containerregistry audience": valid,
			"management audience": e.sign(t, with(func(m map[string]any) {
				m["aud"] = "https://management.azure.com/"
			})),
			"audience list": e.sign(t, with(func(m map[string]any) {
				m["aud"] = []string{"api://other", "https://containerregistry.azure.net"}
			})),
		} {
			r := exchange(t, srv, tok)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d, want 200", name, r.status)
			}
			rt := decodeTokenBody(t, r).RefreshToken
			c := claimsOf(t, rt)
			if c.Subject != "5a6b7c8d-0000-4000-8000-000000000001" || c.Kind != auth.KindEntra || c.Tenant != e.tenant || c.Audience != srv.Host {
				t.Fatalf("%s: refresh token claims %+v", name, c)
			}
		}
	})

	cases := []struct {
		name  string
		token string
		form  url.Values // overrides of the form fields
	}{
		{name: "expired", token: e.sign(t, with(func(m map[string]any) {
			m["iat"], m["nbf"], m["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}))},
		{name: "not yet valid", token: e.sign(t, with(func(m map[string]any) {
			m["iat"], m["nbf"], m["exp"] = now.Unix(), now.Add(10*time.Minute).Unix(), now.Add(2*time.Hour).Unix()
		}))},
		{name: "issued in the future", token: e.sign(t, with(func(m map[string]any) { m["iat"] = now.Add(10 * time.Minute).Unix() }))},
		{name: "no expiry", token: e.sign(t, with(func(m map[string]any) { delete(m, "exp") }))},
		{name: "tampered signature", token: flipSignature(valid)},
		{name: "tampered payload", token: reencode(t, valid, func(m map[string]any) { m["oid"] = "someone-else" })},
		{name: "tampered expiry", token: reencode(t, e.sign(t, with(func(m map[string]any) {
			m["exp"] = now.Add(-10 * time.Minute).Unix()
		})), func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() })},
		{name: "wrong issuer", token: e.sign(t, with(func(m map[string]any) { m["iss"] = "https://sts.windows.net/00000000-0000-0000-0000-000000000bad/" }))},
		{name: "no issuer", token: e.sign(t, with(func(m map[string]any) { delete(m, "iss") }))},
		{name: "wrong audience", token: e.sign(t, with(func(m map[string]any) { m["aud"] = "https://graph.microsoft.com" }))},
		{name: "audience prefix", token: e.sign(t, with(func(m map[string]any) { m["aud"] = "https://containerregistry.azure.net.evil.example" }))},
		{name: "no audience", token: e.sign(t, with(func(m map[string]any) { delete(m, "aud") }))},
		{name: "no subject", token: e.sign(t, with(func(m map[string]any) { delete(m, "oid"); delete(m, "sub") }))},
		{name: "alg none", token: algNone(t, valid, func(map[string]any) {})},
		{name: "HS256 with the public key (PEM)", token: signJWT(t, jose.HS256, jose.JSONWebKey{Key: pubPEM, KeyID: e.kid}, with(func(map[string]any) {}))},
		{name: "HS256 with the public key (DER)", token: signJWT(t, jose.HS256, jose.JSONWebKey{Key: pub, KeyID: e.kid}, with(func(map[string]any) {}))},
		{name: "unknown kid", token: signJWT(t, jose.RS256, jwkOf(foreignKey(), "unknown-kid"), with(func(map[string]any) {}))},
		{name: "known kid, other key", token: signJWT(t, jose.RS256, jwkOf(foreignKey(), e.kid), with(func(map[string]any) {}))},
		{name: "no kid, other key", token: signJWT(t, jose.RS256, foreignKey(), with(func(map[string]any) {}))},
		{name: "not a JWT", token: "not-a-jwt"},
		{name: "empty", token: ""},
		{name: "acre refresh token", token: "", form: url.Values{"access_token": {exchangeRefresh(t, srv, valid)}}},
		{name: "other tenant asked", token: valid, form: url.Values{"tenant": {"00000000-0000-0000-0000-000000000bad"}}},
		{name: "other service", token: valid, form: url.Values{"service": {"other.azurecr.io"}}},
		{name: "no service", token: valid, form: url.Values{"service": {""}}},
		{name: "unknown grant type", token: valid, form: url.Values{"grant_type": {"client_credentials"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{"grant_type": {"access_token"}, "service": {srv.Host}, "access_token": {tc.token}}
			for k, v := range tc.form {
				f[k] = v
			}
			r := do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/exchange", f))
			expectEmpty401(t, "exchange", r)
			if cl := r.header.Get("Content-Length"); cl != "0" {
				t.Errorf("Content-Length %q, want 0", cl)
			}
		})
	}
}

// exchangeRefresh exchanges a valid Entra token for an ACR refresh token.
func exchangeRefresh(t *testing.T, srv *registrytest.Server, entraToken string) string {
	t.Helper()
	return decodeTokenBody(t, exchange(t, srv, entraToken)).RefreshToken
}

// TestRefreshTokenDecodesLikeTheSDK checks refresh tokens for subjects with
// characters whose base64url encoding would contain '-' or '_': the official SDK
// decodes the payload with the standard alphabet and fails on those.
func TestRefreshTokenDecodesLikeTheSDK(t *testing.T) {
	t.Run("admin", func(t *testing.T) {
		name := "ad?~>min\u00e9"
		srv := registrytest.New(t, withAdmin(name))
		login := basicToken(t, srv, name, adminPassword, true, "repository:x:pull")
		checkSDKDecodes(t, login.RefreshToken, name)
		// Exchanged again (grant_type refresh_token), and used for access tokens.
		f := url.Values{"grant_type": {"refresh_token"}, "service": {srv.Host}, "refresh_token": {login.RefreshToken}}
		again := decodeTokenBody(t, do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/exchange", f))).RefreshToken
		checkSDKDecodes(t, again, name)
		f = url.Values{"grant_type": {"refresh_token"}, "service": {srv.Host}, "refresh_token": {again}, "scope": {"repository:x:pull"}}
		at := decodeTokenBody(t, do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/token", f))).AccessToken
		if r := do(t, srv.Client(), srv.URL, get("/v2/x/tags/list").withBearer(at)); r.status != http.StatusNotFound {
			t.Fatalf("tags/list with the access token: %d, want 404 (authorised, no such repository)", r.status)
		}
	})
	t.Run("Entra subjects", func(t *testing.T) {
		e := newEntra(t)
		srv := registrytest.New(t, e.option())
		subjects := []string{"?", "~", ">", "\x7f", "é", "日本", "😀", `"\`, "<&>", "\u2028", "ad?~>min\u00e9"}
		// Every offset within a 3-byte group, since that decides which sextet a byte lands in.
		for _, s := range []string{"?~>", "é😀", "~?"} {
			for pad := range 3 {
				subjects = append(subjects, strings.Repeat("x", pad)+s, s+strings.Repeat("y", pad))
			}
		}
		for _, sub := range subjects {
			rt := exchangeRefresh(t, srv, e.sign(t, e.claims(sub)))
			checkSDKDecodes(t, rt, sub)
		}
	})
}

func checkSDKDecodes(t *testing.T, rt, subject string) {
	t.Helper()
	m, err := sdkExpiry(rt)
	if err != nil {
		t.Fatalf("subject %q: the SDK cannot read the refresh token's expiry: %v", subject, err)
	}
	if m["sub"] != subject {
		t.Fatalf("subject %q: decoded sub %q", subject, m["sub"])
	}
	if exp := time.Unix(int64(m["exp"].(float64)), 0); time.Until(exp) < time.Hour {
		t.Fatalf("subject %q: expiry %v", subject, exp)
	}
}

// TestBearerTokenValidity sends acre's own tokens, valid or not, to the registry:
// anything but a valid token for this registry gets 401 and a challenge (the
// official SDK only fetches a new token after a 401; a 403 would be final).
func TestBearerTokenValidity(t *testing.T) {
	srv := registrytest.New(t, withAdmin(adminUser))
	im := newImage(t, 128)
	rawPush(t, adminClient(srv, adminUser), srv.URL, "app", "v1", im)
	login := basicToken(t, srv, adminUser, adminPassword, true, "repository:app:pull")
	pullOnly := login.AccessToken

	// A genuine token for another login server: same key, other audience.
	const otherHost = "other.azurecr.io"
	q := url.Values{"service": {otherHost}, "scope": {"repository:app:pull"}, "offline_token": {"true"}}
	r := do(t, srv.Client(), srv.URL, request{method: http.MethodGet, path: "/oauth2/token?" + q.Encode(), host: otherHost}.withBasic(adminUser, adminPassword))
	otherLogin := decodeTokenBody(t, r)
	otherAudience := otherLogin.AccessToken
	if r := do(t, srv.Client(), srv.URL, request{method: http.MethodGet, path: "/v2/app/manifests/v1", host: otherHost}.withBearer(otherAudience)); r.status != http.StatusOK {
		t.Fatalf("the other-audience token on its own audience: %d", r.status)
	}
	// Its refresh token is no good here either.
	for _, path := range []string{"/oauth2/token", "/oauth2/exchange"} {
		expectEmpty401(t, "other-audience refresh token at "+path, do(t, srv.Client(), srv.URL, form(http.MethodPost, path, url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {otherLogin.RefreshToken}, "service": {srv.Host}, "scope": {"repository:app:pull"}})))
	}
	expectEmpty401(t, "other-audience refresh token as a password", do(t, srv.Client(), srv.URL,
		get("/oauth2/token?service="+srv.Host).withBasic(auth.AnonymousUser, otherLogin.RefreshToken)))
	expectEmpty401(t, "other-audience refresh token in a password grant", do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/token", url.Values{
		"grant_type": {"password"}, "username": {auth.AnonymousUser}, "password": {otherLogin.RefreshToken}, "service": {srv.Host}})))
	expectInvalidToken(t, "other-audience refresh token as Basic", do(t, srv.Client(), srv.URL,
		get("/v2/app/manifests/v1").withBasic(auth.AnonymousUser, otherLogin.RefreshToken)))
	// A token from another acre (another key) for this registry's name.
	foreign := registrytest.New(t)
	q = url.Values{"service": {srv.Host}, "scope": {"repository:app:pull,push"}}
	r = do(t, foreign.Client(), foreign.URL, request{method: http.MethodGet, path: "/oauth2/token?" + q.Encode(), host: srv.Host})
	foreignToken := decodeTokenBody(t, r).AccessToken

	pull := get("/v2/app/manifests/v1")
	if r := do(t, srv.Client(), srv.URL, pull.withBearer(pullOnly)); r.status != http.StatusOK {
		t.Fatalf("valid token: %d", r.status)
	}
	expectInsufficient(t, "valid token lacking push", do(t, srv.Client(), srv.URL,
		request{method: http.MethodPost, path: "/v2/app/blobs/uploads/"}.withBearer(pullOnly)))

	cases := []struct{ name, token string }{
		{"refresh token", login.RefreshToken},
		{"other audience", otherAudience},
		{"other acre's key", foreignToken},
		{"tampered payload", reencode(t, pullOnly, func(m map[string]any) { m["sub"] = "root" })},
		{"tampered audience", reencode(t, otherAudience, func(m map[string]any) { m["aud"] = srv.Host })},
		{"tampered signature", flipSignature(pullOnly)},
		{"alg none", algNone(t, pullOnly, func(map[string]any) {})},
		{"alg none, access widened", algNone(t, pullOnly, func(m map[string]any) {
			m["access"] = []map[string]any{{"type": "repository", "name": "app", "actions": []string{"pull", "push", "delete"}}}
		})},
		{"Entra-looking token", signJWT(t, jose.RS256, jwkOf(entraKey(), "k"), map[string]any{"aud": srv.Host, "exp": time.Now().Add(time.Hour).Unix()})},
		{"garbage", "garbage"},
		{"two segments", "eyJhbGciOiJFUzI1NiJ9.e30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, q := range []request{pull, {method: http.MethodDelete, path: "/v2/app/manifests/" + im.manifD.String()}} {
				expectInvalidToken(t, q.method+" "+q.path, do(t, srv.Client(), srv.URL, q.withBearer(tc.token)))
			}
		})
	}
	if r := do(t, srv.Client(), srv.URL, pull.withBearer(pullOnly)); r.status != http.StatusOK {
		t.Fatalf("the manifest after the refused requests: %d", r.status)
	}
}
