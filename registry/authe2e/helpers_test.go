// Package authe2e_test drives acre's token service end to end: the official Azure
// SDK, oras-go and raw HTTP clients against an in-process registry
// (registrytest.New), as the ACR clients people use would.
package authe2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ---- admin and repository-scoped tokens ----

const (
	adminUser     = "admin"
	adminPassword = "Adm1n-p@ssw0rd-chosen"
)

// adminHash is computed once: PBKDF2 is slow on purpose, and its output does not
// depend on the user name.
var adminHash = sync.OnceValue(func() string {
	h, err := auth.HashChosenPassword(adminPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// withAdmin configures an admin user with adminPassword.
func withAdmin(name string) registrytest.Option {
	return registrytest.With(func(s *registrytest.Settings) {
		s.Auth.Admin = &auth.Admin{Name: name, PasswordHash: adminHash()}
	})
}

// withMetadata hands out the server's metadata store, where tokens live.
func withMetadata(dst *store.MetadataStore) registrytest.Option {
	return registrytest.With(func(s *registrytest.Settings) { *dst = s.Auth.Metadata })
}

func scope(repo string, actions ...string) store.TokenScope {
	return store.TokenScope{Repository: repo, Actions: actions}
}

// createToken stores a repository-scoped token, as `acre token create` does, and
// returns its password.
func createToken(t *testing.T, meta store.MetadataStore, name string, scopes ...store.TokenScope) string {
	t.Helper()
	password, hash, err := auth.GeneratePassword()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = meta.Update(ctx, func(tx store.MetadataTx) error {
		return tx.PutToken(ctx, store.Token{Name: name, PasswordHashes: [][]byte{hash}, Scopes: scopes,
			Enabled: true, CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return password
}

// ---- raw HTTP ----

type result struct {
	method string
	status int
	header http.Header
	body   []byte
}

func (r result) challenge() string { return r.header.Get("WWW-Authenticate") }

func (r result) errorCode() string {
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

// request is one raw HTTP request.
type request struct {
	method, path string
	body         []byte
	header       http.Header
	host         string // overrides the Host header
	basic        []string
	bearer       string
}

func (q request) withBasic(user, password string) request {
	q.basic = []string{user, password}
	return q
}
func (q request) withBearer(tok string) request { q.bearer = tok; return q }

func get(path string) request { return request{method: http.MethodGet, path: path} }

func form(method, path string, v url.Values) request {
	return request{method: method, path: path, body: []byte(v.Encode()),
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
}

func do(t *testing.T, c *http.Client, base string, q request) result {
	t.Helper()
	var body io.Reader
	if q.body != nil {
		body = bytes.NewReader(q.body)
	}
	req, err := http.NewRequest(q.method, base+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range q.header {
		req.Header[k] = v
	}
	if q.host != "" {
		req.Host = q.host
	}
	if q.basic != nil {
		req.SetBasicAuth(q.basic[0], q.basic[1])
	}
	if q.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", q.method, q.path, err)
	}
	return result{q.method, res.StatusCode, res.Header, b}
}

// tokenBody is a token endpoint's JSON answer.
type tokenBody struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func decodeTokenBody(t *testing.T, r result) tokenBody {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, want 200 (body %q)", r.status, r.body)
	}
	var tb tokenBody
	if err := json.Unmarshal(r.body, &tb); err != nil {
		t.Fatalf("token endpoint body %q: %v", r.body, err)
	}
	return tb
}

// basicToken gets tokens the way docker and oras do: GET /oauth2/token with Basic
// credentials (none when user and password are empty).
func basicToken(t *testing.T, srv *registrytest.Server, user, password string, offline bool, scopes ...string) tokenBody {
	t.Helper()
	v := url.Values{"service": {srv.Host}, "scope": scopes}
	if offline {
		v.Set("offline_token", "true")
	}
	q := get("/oauth2/token?" + v.Encode())
	if user != "" || password != "" {
		q = q.withBasic(user, password)
	}
	return decodeTokenBody(t, do(t, srv.Client(), srv.URL, q))
}

// expectChallenge checks a 401 that asks the client to authenticate: the exact
// WWW-Authenticate value (when want is set) and the UNAUTHORIZED error body.
func expectChallenge(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("%s: status %d, want 401 (body %q)", what, r.status, r.body)
	}
	if want != "" && r.challenge() != want {
		t.Fatalf("%s: WWW-Authenticate\n got %s\nwant %s", what, r.challenge(), want)
	}
	if !strings.HasPrefix(r.challenge(), "Bearer ") {
		t.Fatalf("%s: WWW-Authenticate %q is not a Bearer challenge", what, r.challenge())
	}
	if r.method != http.MethodHead && r.errorCode() != "UNAUTHORIZED" {
		t.Fatalf("%s: error code %q, want UNAUTHORIZED (body %q)", what, r.errorCode(), r.body)
	}
}

// expectInvalidToken checks a 401 for a token that is not valid (as opposed to
// valid but lacking an action): a challenge without error="insufficient_scope".
func expectInvalidToken(t *testing.T, what string, r result) {
	t.Helper()
	expectChallenge(t, what, r, "")
	if strings.Contains(r.challenge(), "insufficient_scope") {
		t.Fatalf("%s: challenge %q says insufficient_scope for an invalid token", what, r.challenge())
	}
}

// expectInsufficient checks a 401 for a valid credential lacking an action.
func expectInsufficient(t *testing.T, what string, r result) {
	t.Helper()
	expectChallenge(t, what, r, "")
	if !strings.HasSuffix(r.challenge(), `,error="insufficient_scope"`) {
		t.Fatalf("%s: challenge %q lacks error=\"insufficient_scope\"", what, r.challenge())
	}
}

// expectEmpty401 checks a token endpoint refusal: 401 with an empty body, as ACR.
func expectEmpty401(t *testing.T, what string, r result) {
	t.Helper()
	if r.status != http.StatusUnauthorized || len(r.body) != 0 {
		t.Fatalf("%s: status %d body %q, want 401 with an empty body", what, r.status, r.body)
	}
}

// ---- JWTs ----

// segment decodes one base64url segment of a JWT.
func segment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("token segment %d: %v", i, err)
	}
	return b
}

// claimsOf decodes a token's payload without verifying it.
func claimsOf(t *testing.T, tok string) auth.Claims {
	t.Helper()
	var c auth.Claims
	if err := json.Unmarshal(segment(t, tok, 1), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// accessOf returns a token's access claim as "type:name" → sorted actions.
func accessOf(t *testing.T, tok string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, a := range claimsOf(t, tok).Access {
		acts := slices.Clone(a.Actions)
		slices.Sort(acts)
		out[a.Type+":"+a.Name] = append(out[a.Type+":"+a.Name], acts...)
	}
	return out
}

// sdkExpiry reads a refresh token's expiry exactly as the official Go SDK does
// (getJWTExpireTime): pad the middle segment with '=' and decode it with the
// standard base64 alphabet.
func sdkExpiry(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) < 3 {
		return nil, fmt.Errorf("%d segments", len(parts))
	}
	v := parts[1]
	if n := len(v) % 4; n > 0 {
		v += strings.Repeat("=", 4-n)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if _, ok := m["exp"].(float64); !ok {
		return nil, fmt.Errorf("no numeric exp in %s", b)
	}
	return m, nil
}

// reencode replaces a token's payload, keeping its header and signature.
func reencode(t *testing.T, tok string, edit func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(segment(t, tok, 1), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	parts := strings.Split(tok, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// algNone rewrites a token as an unsigned one (alg "none"), keeping its claims.
func algNone(t *testing.T, tok string, edit func(m map[string]any)) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	forged := reencode(t, tok, edit)
	parts := strings.Split(forged, ".")
	return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "."
}

// flipSignature changes a byte in the middle of a token's signature (the last
// character may only carry padding bits).
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + (len(tok)-strings.LastIndexByte(tok, '.'))/2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// ---- Microsoft Entra ID ----

var (
	entraKey   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	foreignKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// entra plays Microsoft Entra ID: it signs access tokens (RS256) with a key whose
// public half is in a JWKS file.
type entra struct {
	key    *rsa.PrivateKey
	kid    string
	jwks   string
	tenant string
	issuer string
}

func newEntra(t *testing.T) *entra {
	t.Helper()
	e := &entra{key: entraKey(), kid: "test-kid-1", tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47"}
	e.issuer = "https://sts.windows.net/" + e.tenant + "/"
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.key.PublicKey, KeyID: e.kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	e.jwks = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(e.jwks, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// option serves the registry with this Entra tenant, issuer pinned.
func (e *entra) option() registrytest.Option {
	return registrytest.WithEntra(auth.EntraConfig{JWKS: e.jwks, Issuer: e.issuer})
}

// claims are those of a valid Entra access token for the container registry.
func (e *entra) claims(oid string) map[string]any {
	now := time.Now()
	return map[string]any{
		"aud": "https://containerregistry.azure.net",
		"iss": e.issuer,
		"oid": oid,
		"sub": "sub-" + oid,
		"tid": e.tenant,
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func (e *entra) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signJWT(t, jose.RS256, jwkOf(e.key, e.kid), claims)
}

func jwkOf(k *rsa.PrivateKey, kid string) jose.JSONWebKey { return jose.JSONWebKey{Key: k, KeyID: kid} }

func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// exchange posts an Entra access token to /oauth2/exchange.
func exchange(t *testing.T, srv *registrytest.Server, accessToken string) result {
	t.Helper()
	return do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/exchange", url.Values{
		"grant_type": {"access_token"}, "service": {srv.Host}, "access_token": {accessToken}}))
}

// ---- content ----

// image is a small OCI image: a config, one layer and the manifest.
type image struct {
	config, layer, manifest []byte
	configD, layerD, manifD digest.Digest
}

func newImage(t *testing.T, layerSize int) image {
	t.Helper()
	var im image
	im.config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	im.layer = make([]byte, layerSize)
	if _, err := rand.Read(im.layer); err != nil {
		t.Fatal(err)
	}
	im.configD, im.layerD = digest.FromBytes(im.config), digest.FromBytes(im.layer)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: im.configD, Size: int64(len(im.config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: im.layerD, Size: int64(layerSize)}},
	}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	im.manifest, im.manifD = b, digest.FromBytes(b)
	return im
}

// adminClient is an HTTP client that answers challenges with the admin's Basic
// credentials at the token endpoint, as docker does.
func adminClient(srv *registrytest.Server, user string) *http.Client {
	return &http.Client{Transport: &registrytest.Transport{Base: srv.Client().Transport, Username: user, Password: adminPassword}}
}

// rawPush uploads an image with plain HTTP requests through c (which must answer
// challenges): POST + PUT per blob, then PUT of the manifest under tag.
func rawPush(t *testing.T, c *http.Client, base, repo, tag string, im image) {
	t.Helper()
	for _, b := range [][]byte{im.config, im.layer} {
		r := do(t, c, base, request{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/"})
		if r.status != http.StatusAccepted {
			t.Fatalf("start upload to %s: status %d (body %q)", repo, r.status, r.body)
		}
		loc := r.header.Get("Location")
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		r = do(t, c, base, request{method: http.MethodPut, path: loc + sep + "digest=" + digest.FromBytes(b).String(), body: b,
			header: http.Header{"Content-Type": {"application/octet-stream"}}})
		if r.status != http.StatusCreated {
			t.Fatalf("finish upload to %s: status %d (body %q)", repo, r.status, r.body)
		}
	}
	r := do(t, c, base, request{method: http.MethodPut, path: "/v2/" + repo + "/manifests/" + tag, body: im.manifest,
		header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}})
	if r.status != http.StatusCreated {
		t.Fatalf("put manifest %s:%s: status %d (body %q)", repo, tag, r.status, r.body)
	}
}

// ---- recording transport ----

// call is one request a client sent and what it got.
type call struct {
	method, path string
	status       int
	auth         string // "", "Bearer" or "Basic"
	bodyLen      int64
	challenge    string
	form         url.Values // the form of POST /oauth2/* requests
}

// recorder is an http.RoundTripper and an azcore policy.Transporter that records
// every call and collects every token the server hands out.
type recorder struct {
	base http.RoundTripper

	mu     sync.Mutex
	calls  []call
	tokens []string
}

func newRecorder(srv *registrytest.Server) *recorder { return &recorder{base: srv.Client().Transport} }

// Do implements policy.Transporter.
func (r *recorder) Do(req *http.Request) (*http.Response, error) { return r.RoundTrip(req) }

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{method: req.Method, path: req.URL.Path, bodyLen: req.ContentLength}
	if a := req.Header.Get("Authorization"); a != "" {
		c.auth, _, _ = strings.Cut(a, " ")
	}
	if strings.HasPrefix(req.URL.Path, "/oauth2/") && req.Body != nil && req.Method == http.MethodPost {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		c.form, _ = url.ParseQuery(string(b))
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	res, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.status, c.challenge = res.StatusCode, res.Header.Get("WWW-Authenticate")
	var issued []string
	if strings.HasPrefix(req.URL.Path, "/oauth2/") && res.StatusCode == http.StatusOK {
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for _, k := range []string{"token", "access_token", "refresh_token"} {
			if s, _ := m[k].(string); s != "" {
				issued = append(issued, s)
			}
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.tokens = append(r.tokens, issued...)
	r.mu.Unlock()
	return res, nil
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) issued() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

// count counts calls with this method and path prefix (and status, if not 0).
func (r *recorder) count(method, pathPrefix string, status int) int {
	n := 0
	for _, c := range r.snapshot() {
		if c.method == method && strings.HasPrefix(c.path, pathPrefix) && (status == 0 || c.status == status) {
			n++
		}
	}
	return n
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }
