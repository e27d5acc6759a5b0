// Package registry assembles the acre registry server: an http.Handler that routes
// each request, authorises it, and hands it to the handler set of its API surface:
// the OCI distribution API under /v2/, ACR's metadata API under /acr/v1/ and ACR's
// token service under /oauth2/.
//
//	client ──▶ log ──▶ route ──▶ auth ──▶ handler ──▶ core (rules) ──▶ stores
package registry

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/registry/acrapi"
	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/registry/oauth"
	"github.com/acre-dev/acre/registry/oci"
	"github.com/acre-dev/acre/registry/route"
	"github.com/acre-dev/acre/store"
)

// Config holds what a Server is built from.
type Config struct {
	Blobs    store.BlobStore
	Metadata store.MetadataStore
	// Tokens is the token service: it authorises every request and serves /oauth2.
	Tokens *auth.Service
	// Authorizer replaces Tokens' authorisation when set (for embedding the registry
	// behind another authentication layer). With neither, every request is allowed.
	Authorizer auth.Authorizer
	// Core options (sparse manifests, login server name, clock).
	Core core.Options
	// Logger for request logs and diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the registry's HTTP handler.
type Server struct {
	core  *core.Registry
	auth  auth.Authorizer
	oci   *oci.Handler
	acr   *acrapi.Handler
	oauth http.Handler
	log   *slog.Logger
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Blobs == nil || cfg.Metadata == nil {
		return nil, errors.New("registry: a blob store and a metadata store are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Core.Logger == nil {
		cfg.Core.Logger = log
	}
	az := cfg.Authorizer
	var oauthHandler http.Handler = http.NotFoundHandler()
	if cfg.Tokens != nil {
		oauthHandler = &oauth.Handler{Service: cfg.Tokens, Logger: log}
		if az == nil {
			az = cfg.Tokens
		}
	}
	if az == nil {
		az = auth.AllowAll{}
	}
	reg := core.New(cfg.Blobs, cfg.Metadata, cfg.Core)
	return &Server{
		core:  reg,
		auth:  az,
		oci:   &oci.Handler{Registry: reg, Logger: log},
		acr:   &acrapi.Handler{Registry: reg, LoginServer: cfg.Core.LoginServer, Logger: log},
		oauth: oauthHandler,
		log:   log,
	}, nil
}

// Registry returns the domain the server serves.
func (s *Server) Registry() *core.Registry { return s.core }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	defer func() {
		s.logRequest(r, rec, start)
	}()
	hd := rec.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	path := r.URL.EscapedPath()
	switch {
	case path == "/v2" || strings.HasPrefix(path, "/v2/"):
		rt, err := route.ParseV2(path)
		if errors.Is(err, route.ErrNotFound) {
			http.NotFound(rec, r)
			return
		}
		if err != nil {
			hd.Set("Docker-Distribution-Api-Version", "registry/2.0")
			drain(r)
			errcode.Write(rec, err)
			return
		}
		hd.Set("Docker-Distribution-Api-Version", "registry/2.0")
		if !s.authorize(rec, r, rt.Scopes(r.Method, r.URL.Query())) {
			return
		}
		s.oci.ServeRoute(rec, r, rt)
	case strings.HasPrefix(path, "/acr/v1/"):
		rt, err := route.ParseACR(path)
		if errors.Is(err, route.ErrNotFound) {
			// As ACR: a path that is not a route (say, a malformed digest) is a plain
			// 404 before any authentication.
			http.NotFound(rec, r)
			return
		}
		hd.Set("Docker-Distribution-Api-Version", "registry/2.0")
		if err != nil {
			drain(r)
			errcode.Write(rec, err)
			return
		}
		if !s.authorize(rec, r, rt.Scopes(r.Method, r.URL.Query())) {
			return
		}
		s.acr.ServeRoute(rec, r, rt)
	case strings.HasPrefix(path, "/oauth2/"):
		s.oauth.ServeHTTP(rec, r)
	case path == "/healthz":
		// Alive: the process answers. Whether it can serve is /readyz.
		rec.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rec, "ok\n")
	case path == "/readyz":
		rec.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.core.Ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "error", err)
			rec.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(rec, "not ready\n")
			return
		}
		_, _ = io.WriteString(rec, "ok\n")
	default:
		http.NotFound(rec, r)
	}
}

// authorize runs the authorizer and answers a refusal itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scopes []route.Scope) bool {
	_, err := s.auth.Authorize(r.Context(), r, scopes)
	if err == nil {
		return true
	}
	// Read what the client sent (bounded) before refusing: a client whose body is
	// cut off mid-send may resend it with a corrupted running digest.
	drain(r)
	var ch *auth.Challenge
	if errors.As(err, &ch) {
		w.Header().Set("WWW-Authenticate", ch.Header)
		detail := make([]map[string]string, 0, len(ch.Scopes))
		for _, sc := range ch.Scopes {
			for _, a := range sc.Actions {
				detail = append(detail, map[string]string{"Type": sc.Type, "Name": sc.Name, "Action": string(a)})
			}
		}
		e := errcode.New(errcode.Unauthorized, "authentication required, visit https://aka.ms/acr/authorization for more information.")
		if len(detail) > 0 {
			e = e.WithDetail(detail)
		}
		errcode.Write(w, e)
		return false
	}
	s.log.ErrorContext(r.Context(), "authorization failed", "error", err)
	errcode.Write(w, err)
	return false
}

// maxDrain bounds how much of a refused request's body is read.
const maxDrain = 64 << 20

func drain(r *http.Request) {
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, maxDrain)
	}
}

func (s *Server) logRequest(r *http.Request, rec *recorder, start time.Time) {
	// Only method, path and outcome: never headers, so no credential reaches the log.
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", rec.status),
		slog.Int64("bytes_out", rec.written),
		slog.Int64("bytes_in", max(r.ContentLength, 0)),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	)
}

// recorder captures the status and size of a response for the request log.
type recorder struct {
	http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
}

func (w *recorder) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's sendfile fast path available through the wrapper.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	w.wroteHeader = true
	n, err := io.Copy(w.ResponseWriter, src)
	w.written += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
