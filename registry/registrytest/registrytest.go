// Package registrytest runs an in-process acre registry for tests: a real server on
// a loopback port, backed by the default stores in a temporary directory, torn
// down when the test ends.
//
//	srv := registrytest.New(t)
//	client, _ := acr.NewClient(srv.URL, nil, nil)
package registrytest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/acre-dev/acre/registry"
	"github.com/acre-dev/acre/store/fs"
	"github.com/acre-dev/acre/store/sqlite"
)

// Server is a running test registry.
type Server struct {
	*httptest.Server
	// Registry is the handler under test.
	Registry *registry.Server
	// Host is the host:port clients address (the login server).
	Host string
	// Dir is the data directory.
	Dir string
}

// Option changes the configuration of a test server.
type Option func(*registry.Config)

// WithConfig lets a test adjust the server configuration before it starts.
func WithConfig(f func(*registry.Config)) Option { return Option(f) }

// New starts a registry with embedded storage in t.TempDir(). Request logs go to
// t.Log only when the test fails or runs verbosely.
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
	cfg := registry.Config{
		Blobs:    blobs,
		Metadata: meta,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	hs := httptest.NewUnstartedServer(nil)
	host := hs.Listener.Addr().String()
	if cfg.Core.LoginServer == "" {
		cfg.Core.LoginServer = host
	}
	srv, err := registry.New(cfg)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		_ = meta.Close()
	})
	u, _ := url.Parse(hs.URL)
	return &Server{Server: hs, Registry: srv, Host: u.Host, Dir: dir}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
