// Package registrytest runs an in-process acre registry for tests: a real server on
// a loopback port, backed by the default stores in a temporary directory, with the
// ACR token service in front, torn down when the test ends.
//
// By default the registry is open, as `acre serve` is on a loopback address: every
// request must still carry a token (the ACR challenge flow), but anyone may get one
// with full access. Options add an admin user, anonymous pull, Microsoft Entra
// tokens, or close the registry.
//
//	srv := registrytest.New(t)
//	client, _ := acr.NewClient(srv.URL, nil, nil)
package registrytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/acre-dev/acre/registry"
	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/store/fs"
	"github.com/acre-dev/acre/store/sqlite"
)

// Server is a running test registry.
type Server struct {
	*httptest.Server
	// Registry is the handler under test.
	Registry *registry.Server
	// Tokens is the token service (nil with WithoutAuth).
	Tokens *auth.Service
	// Host is the host:port clients address (the login server).
	Host string
	// Dir is the data directory.
	Dir string
}

// Settings are what options change before the server starts.
type Settings struct {
	Registry registry.Config
	Auth     auth.Config
	// NoAuth serves without the token service: every request is allowed.
	NoAuth bool
	// TLS, if set, serves HTTPS with this certificate instead of plain HTTP.
	TLS *tls.Certificate
}

// Option changes the settings of a test server.
type Option func(*Settings)

// WithAdmin configures an admin user.
func WithAdmin(user, password string) Option {
	return func(s *Settings) {
		h, err := auth.HashChosenPassword(password)
		if err != nil {
			panic(err)
		}
		s.Auth.Admin = &auth.Admin{Name: user, PasswordHash: h}
	}
}

// WithAnonymousPull lets clients without credentials pull.
func WithAnonymousPull() Option { return func(s *Settings) { s.Auth.AnonymousPull = true } }

// Closed refuses open mode: without an identity configured nobody gets access.
func Closed() Option { return func(s *Settings) { s.Auth.AllowOpen = false } }

// WithEntra accepts Microsoft Entra access tokens signed by a key in the JWKS file.
func WithEntra(cfg auth.EntraConfig) Option { return func(s *Settings) { s.Auth.Entra = &cfg } }

// WithTLSCertificate serves HTTPS with cert (the test decides which names it covers
// and who trusts it).
func WithTLSCertificate(cert tls.Certificate) Option { return func(s *Settings) { s.TLS = &cert } }

// WithoutAuth serves without the token service: every request is allowed.
func WithoutAuth() Option { return func(s *Settings) { s.NoAuth = true } }

// With lets a test adjust any setting.
func With(f func(*Settings)) Option { return Option(f) }

// New starts a registry with embedded storage in t.TempDir(). Its logs go to t.Log
// (warnings and errors only, unless the test changes the logger).
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatalf("registrytest: blob store: %v", err)
	}
	meta, err := sqlite.Open(context.Background(), filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatalf("registrytest: metadata store: %v", err)
	}
	t.Cleanup(func() { _ = meta.Close() })
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := Settings{
		Registry: registry.Config{Blobs: blobs, Metadata: meta, Logger: log},
		Auth:     auth.Config{Signer: signer, Metadata: meta, AllowOpen: true, Logger: log},
	}
	for _, o := range opts {
		o(&set)
	}
	hs := httptest.NewUnstartedServer(nil)
	host := hs.Listener.Addr().String()
	if set.Registry.Core.LoginServer == "" {
		set.Registry.Core.LoginServer = host
	}
	var tokens *auth.Service
	if !set.NoAuth {
		if set.Auth.Logger == nil {
			set.Auth.Logger = set.Registry.Logger
		}
		tokens, err = auth.NewService(context.Background(), set.Auth)
		if err != nil {
			t.Fatalf("registrytest: token service: %v", err)
		}
		set.Registry.Tokens = tokens
	}
	srv, err := registry.New(set.Registry)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	hs.Config.Handler = srv
	if set.TLS != nil {
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{*set.TLS}}
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	return &Server{Server: hs, Registry: srv, Tokens: tokens, Host: u.Host, Dir: dir}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
