package authe2e_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"
)

// syncBuffer is a bytes.Buffer the server's goroutines may write to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInLogs runs logins that succeed and fail, with every kind of
// credential, against a server logging at debug level, and checks that no
// password and no token reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	// One run, logged in both formats (JSON escapes differ from text quoting).
	var buf syncBuffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	logger := slog.New(slog.NewMultiHandler(slog.NewTextHandler(&buf, opts), slog.NewJSONHandler(&buf, opts)))
	e := newEntra(t)
	var meta store.MetadataStore
	srv := registrytest.New(t, withAdmin(adminUser), e.option(), withMetadata(&meta),
		registrytest.With(func(s *registrytest.Settings) { s.Registry.Logger, s.Auth.Logger = logger, logger }))
	tokenPW := createToken(t, meta, "tok-log", scope("logs/*", auth.ContentRead, auth.ContentWrite))
	wrongPW := "Wr0ng-but-still-secret"
	rec := newRecorder(srv)
	c, base := &http.Client{Transport: rec}, srv.URL
	entraValid := e.sign(t, e.claims("log-oid"))
	entraExpired := e.sign(t, func() map[string]any {
		m := e.claims("log-oid")
		m["exp"] = time.Now().Add(-time.Hour).Unix()
		return m
	}())
	secrets := []string{adminPassword, tokenPW, wrongPW, entraValid, entraExpired}

	// Successful logins of every kind.
	im := newImage(t, 512)
	rawPush(t, &http.Client{Transport: &registrytest.Transport{Base: rec, Username: adminUser, Password: adminPassword}}, base, "logs/app", "v1", im)
	repo := orasRepo(t, srv, "logs/app", orasClient(srv, rec, &orasauth.Credential{Username: "tok-log", Password: tokenPW}, true))
	if _, err := orasPull(repo, "v1"); err != nil {
		t.Fatalf("pull with the repository-scoped token: %v", err)
	}
	q := url.Values{"service": {srv.Host}, "scope": {"repository:logs/app:pull"}, "offline_token": {"true"}}
	login := decodeTokenBody(t, do(t, c, base, get("/oauth2/token?"+q.Encode()).withBasic("tok-log", tokenPW)))
	do(t, c, base, get("/v2/logs/app/manifests/v1").withBasic(auth.AnonymousUser, login.RefreshToken))
	sdk := newSDK(t, srv, &entraCredential{token: entraValid}, rec)
	if _, err := sdk.client.GetManifest(context.Background(), "logs/app", "v1", nil); err != nil {
		t.Fatalf("SDK GetManifest: %v", err)
	}

	// Failures of every kind.
	refresh := func(rt string) request {
		return form(http.MethodPost, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"service": {srv.Host}, "scope": {"repository:logs/app:pull"}})
	}
	fails := []request{
		get("/oauth2/token?service="+srv.Host).withBasic(adminUser, wrongPW),
		get("/oauth2/token?service="+srv.Host).withBasic("tok-log", wrongPW),
		get("/oauth2/token?service="+srv.Host).withBasic("tok-log", adminPassword),
		get("/oauth2/token?service="+srv.Host).withBasic(auth.AnonymousUser, login.AccessToken),
		get("/oauth2/token?service="+srv.Host).withBasic(auth.AnonymousUser, flipSignature(login.RefreshToken)),
		get("/v2/logs/app/manifests/v1").withBasic(adminUser, wrongPW),
		get("/v2/logs/app/manifests/v1").withBasic(wrongPW, adminPassword),
		get("/v2/logs/app/manifests/v1").withBearer(login.RefreshToken),
		get("/v2/logs/app/manifests/v1").withBearer(flipSignature(login.AccessToken)),
		get("/v2/logs/app/manifests/v1").withBearer(reencode(t, login.AccessToken, func(m map[string]any) { m["sub"] = "x" })),
		form(http.MethodPost, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {adminUser},
			"password": {wrongPW}, "service": {srv.Host}}),
		refresh(login.AccessToken),
		refresh(flipSignature(login.RefreshToken)),
		form(http.MethodPost, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {srv.Host}, "access_token": {entraExpired}}),
		form(http.MethodPost, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {"other"}, "access_token": {entraValid}}),
		form(http.MethodPost, "/oauth2/exchange", url.Values{"grant_type": {adminPassword}, "service": {srv.Host}, "access_token": {entraValid}}),
		form(http.MethodPost, "/oauth2/exchange", url.Values{"grant_type": {"refresh_token"}, "service": {srv.Host}, "refresh_token": {login.AccessToken}}),
	}
	for _, f := range fails {
		if r := do(t, c, base, f); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", f.method, f.path, r.status)
		}
	}

	logs := buf.String()
	for _, want := range []string{"request", "refused", "/oauth2/token", "/oauth2/exchange"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %q: is the scenario logged at all?\n%s", want, logs)
		}
	}
	issued := rec.issued()
	issued = append(issued, login.AccessToken, login.RefreshToken)
	if len(issued) < 5 {
		t.Fatalf("only %d tokens issued", len(issued))
	}
	for _, s := range append(secrets, issued...) {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains a secret %.12s…", s)
			continue
		}
		// Nor any part of a token.
		if parts := strings.Split(s, "."); len(parts) == 3 {
			for _, p := range parts[1:] {
				if len(p) >= 16 && strings.Contains(logs, p) {
					t.Errorf("the log contains a segment of the token %.12s…", s)
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}
