package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acre-dev/acre/registry"
	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/store"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	addr              string
	data              string
	tlsCert           string
	tlsKey            string
	logFormat         string
	allowSparse       bool
	shutdownWait      time.Duration
	loginServer       string
	signingKey        string
	adminUser         string
	adminPasswordFile string
	anonymousPull     bool
	insecureOpen      bool
	aadJWKS           string
	aadIssuer         string
	aadScopes         []string
	metadataURL       string
	storageURL        string
	uploadTTL         time.Duration
	pprofAddr         string
	blobRedirect      time.Duration
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry server",
		Long: `Run an ACR-compatible registry: the OCI distribution API v1.1 under /v2/, ACR's
metadata API under /acr/v1/ and ACR's token service under /oauth2/.

With no flags it listens on 127.0.0.1:5000 and keeps everything (blobs, the
embedded metadata database and the token signing key) under ./acre-data.

Authentication works as in ACR: every request needs a token, which clients get
from /oauth2/token after a 401 challenge. Identities:
  --admin-user NAME            admin user; password from $ACRE_ADMIN_PASSWORD or
                               --admin-password-file
  acre token create ...        repository-scoped tokens with scope maps
  --aad-jwks FILE|URL          Microsoft Entra ID access tokens signed by these keys
  --anonymous-pull             anyone may pull, nobody may push anonymously
With none of them configured the registry is open: anyone may do anything. That
is allowed on a loopback address only, unless --insecure-open is given.

Scaling out: several replicas behind any HTTP load balancer share one PostgreSQL
(--metadata) and one object store (--storage), and one token signing key
(--token-signing-key); they keep no other state. For three replicas:

  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt > key.pem
  export ACRE_METADATA=postgres://acre@db.internal/acre?sslmode=verify-full
  export ACRE_STORAGE='s3://registry?endpoint=https://s3.internal'   # with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
  acre serve --addr :5000 --login-server registry.example.com --token-signing-key key.pem --admin-user admin   # on each of the 3 hosts

and point the load balancer at the three; /healthz says a replica is alive,
/readyz that it can reach both stores.`,
		Example: `  # zero configuration, open, loopback only
  acre serve

  # an admin user, anonymous pull, TLS, on every interface
  ACRE_ADMIN_PASSWORD=s3cret acre serve --addr :5443 --admin-user admin \
      --anonymous-pull --tls-cert cert.pem --tls-key key.pem

  # accept Entra ID tokens from one tenant
  acre serve --aad-jwks https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys \
      --aad-issuer https://sts.windows.net/<tenant>/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", envDefault("ACRE_ADDR", "127.0.0.1:5000"), "address to listen on (env ACRE_ADDR)")
	f.StringVar(&o.data, "data", envDefault("ACRE_DATA", "./acre-data"), "directory holding blobs, metadata and the signing key (env ACRE_DATA)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS with --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&o.allowSparse, "allow-sparse-manifests", false, "accept manifests whose layers or child manifests are not in the repository")
	f.DurationVar(&o.shutdownWait, "shutdown-timeout", 30*time.Second, "how long to let requests finish on SIGINT/SIGTERM")
	f.StringVar(&o.loginServer, "login-server", "", "host name clients use (token audience and challenge service); default: the Host of each request")
	f.StringVar(&o.signingKey, "token-signing-key", "", "PEM ECDSA P-256 key that signs tokens (share it between replicas); default: created in the data directory")
	f.StringVar(&o.adminUser, "admin-user", "", "name of the admin user (password from $ACRE_ADMIN_PASSWORD or --admin-password-file)")
	f.StringVar(&o.adminPasswordFile, "admin-password-file", "", "file holding the admin password")
	f.BoolVar(&o.anonymousPull, "anonymous-pull", false, "let clients without credentials pull and read every repository")
	f.BoolVar(&o.insecureOpen, "insecure-open", false, "allow an open registry (no identity configured) on a non-loopback address")
	f.StringVar(&o.aadJWKS, "aad-jwks", "", "file or URL of the JSON Web Key Set that signs accepted Microsoft Entra ID tokens")
	f.StringVar(&o.aadIssuer, "aad-issuer", "", "required issuer (iss) of Entra ID tokens")
	f.StringArrayVar(&o.aadScopes, "aad-scope", nil, "what Entra ID principals may do, as PATTERN:ACTION[,ACTION] (repeatable; default: everything)")
	f.StringVar(&o.metadataURL, "metadata", envDefault("ACRE_METADATA", ""), "metadata store: postgres://USER@HOST/DB?... (env ACRE_METADATA); default: SQLite in the data directory")
	f.StringVar(&o.storageURL, "storage", envDefault("ACRE_STORAGE", ""), "blob store: azblob://CONTAINER?account=NAME, s3://BUCKET?endpoint=URL, or a directory (env ACRE_STORAGE); default: DATA/blobs")
	f.DurationVar(&o.uploadTTL, "upload-ttl", 24*time.Hour, "discard upload sessions untouched for this long")
	f.DurationVar(&o.blobRedirect, "blob-redirect", 0, "with object storage: answer blob GETs with a 307 to a signed URL valid this long (e.g. 10m) instead of streaming")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go's pprof profiles at /debug/pprof/ on this loopback address, e.g. 127.0.0.1:6060 (default off)")
	return cmd
}

func newLogger(format string) (*slog.Logger, slog.Handler, error) {
	var handler slog.Handler
	switch format {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(handler), handler, nil
}

// adminFromOptions reads the admin password and hashes it; it is never kept in clear.
func adminFromOptions(o serveOptions) (*auth.Admin, error) {
	if o.adminUser == "" {
		if o.adminPasswordFile != "" {
			return nil, errors.New("--admin-password-file needs --admin-user")
		}
		return nil, nil
	}
	password := os.Getenv("ACRE_ADMIN_PASSWORD")
	if o.adminPasswordFile != "" {
		b, err := os.ReadFile(o.adminPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("read admin password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if password == "" {
		return nil, errors.New("--admin-user needs a password in $ACRE_ADMIN_PASSWORD or --admin-password-file")
	}
	hash, err := auth.HashChosenPassword(password)
	if err != nil {
		return nil, err
	}
	return &auth.Admin{Name: o.adminUser, PasswordHash: hash}, nil
}

// parseScopeFlags reads PATTERN:ACTION[,ACTION] values.
func parseScopeFlags(values []string) ([]store.TokenScope, error) {
	var out []store.TokenScope
	for _, v := range values {
		i := strings.LastIndexByte(v, ':')
		if i < 0 {
			return nil, fmt.Errorf("scope %q: want PATTERN:ACTION[,ACTION], e.g. 'samples/*:content/read,content/write'", v)
		}
		sc := store.TokenScope{Repository: v[:i], Actions: strings.Split(v[i+1:], ",")}
		if _, err := auth.PermissionsFromScopes([]store.TokenScope{sc}); err != nil {
			return nil, fmt.Errorf("scope %q: %w", v, err)
		}
		out = append(out, sc)
	}
	return out, nil
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func runServe(ctx context.Context, o serveOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	log, handler, err := newLogger(o.logFormat)
	if err != nil {
		return err
	}
	admin, err := adminFromOptions(o)
	if err != nil {
		return err
	}
	if o.pprofAddr != "" {
		stop, err := servePprof(o.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var entra *auth.EntraConfig
	if o.aadJWKS != "" {
		entra = &auth.EntraConfig{JWKS: o.aadJWKS, Issuer: o.aadIssuer}
		if len(o.aadScopes) > 0 {
			scopes, err := parseScopeFlags(o.aadScopes)
			if err != nil {
				return fmt.Errorf("--aad-scope: %w", err)
			}
			perms, _ := auth.PermissionsFromScopes(scopes)
			perms.Catalog = true
			entra.Permissions = &perms
		}
	} else if o.aadIssuer != "" || len(o.aadScopes) > 0 {
		return errors.New("--aad-issuer and --aad-scope need --aad-jwks")
	}

	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	blobs, blobsDesc, err := openBlobStore(o.storageURL, o.data)
	if err != nil {
		return err
	}
	meta, metaDesc, err := openMetadataStore(ctx, o.metadataURL, o.data)
	if err != nil {
		return err
	}
	defer meta.Close()
	shared := o.metadataURL != ""
	if shared && o.signingKey == "" {
		log.Warn("shared metadata store without --token-signing-key: each replica signs tokens with its own key, so a token from one replica is refused by the others")
	}
	keyPath := o.signingKey
	var signer *auth.Signer
	if keyPath != "" {
		key, err := auth.LoadKey(keyPath)
		if err != nil {
			return err
		}
		signer, err = auth.NewSigner(key, nil)
		if err != nil {
			return err
		}
	} else {
		key, err := auth.LoadOrCreateKey(filepath.Join(o.data, "token-signing-key.pem"))
		if err != nil {
			return err
		}
		signer, err = auth.NewSigner(key, nil)
		if err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	defer ln.Close()
	loopback := isLoopback(ln.Addr())
	tokens, err := auth.NewService(ctx, auth.Config{
		Signer:        signer,
		Metadata:      meta,
		Admin:         admin,
		Entra:         entra,
		AnonymousPull: o.anonymousPull,
		AllowOpen:     loopback || o.insecureOpen,
		LoginServer:   o.loginServer,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	open := tokens.IsOpen(ctx)
	if !open && admin == nil && entra == nil && !o.anonymousPull && !loopback && !o.insecureOpen {
		if n, err := countTokens(ctx, meta); err == nil && n == 0 {
			return fmt.Errorf("refusing to serve an open registry on %s, a non-loopback address: configure an identity (--admin-user, acre token create, --aad-jwks) or pass --insecure-open", ln.Addr())
		}
	}

	host := ln.Addr().String()
	srv, err := registry.New(registry.Config{
		Blobs:    blobs,
		Metadata: meta,
		Tokens:   tokens,
		Logger:   log,
		Core:     core.Options{LoginServer: o.loginServer, AllowSparseManifests: o.allowSparse, BlobRedirectTTL: o.blobRedirect},
	})
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	abs, _ := filepath.Abs(o.data)
	fmt.Fprintf(os.Stderr, "acre registry listening on %s://%s/ (data in %s)\n", scheme, host, abs)
	fmt.Fprintf(os.Stderr, "storage: metadata in %s, blobs in %s\n", metaDesc, blobsDesc)
	printAuthHelp(os.Stderr, scheme, host, open, admin, entra != nil, o.anonymousPull)

	go expireUploads(ctx, srv, o.uploadTTL, log)

	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: letting requests finish", "timeout", o.shutdownWait)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// servePprof serves the runtime profiles on addr, which must be a loopback address:
// profiles reveal request paths and timing, so they are never exposed. It returns
// a function that stops the listener.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	if !isLoopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("--pprof-addr %s: profiles are served on a loopback address only", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("serving pprof profiles", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = hs.Close() }, nil
}

func countTokens(ctx context.Context, meta store.MetadataStore) (int, error) {
	var n int
	err := meta.View(ctx, func(tx store.MetadataTx) error {
		t, err := tx.ListTokens(ctx)
		n = len(t)
		return err
	})
	return n, err
}

func printAuthHelp(w *os.File, scheme, host string, open bool, admin *auth.Admin, entra, anonymousPull bool) {
	if open {
		fmt.Fprintln(w, "")
		fmt.Fprintln(w, "  WARNING: this registry is OPEN: no identity is configured, so every client")
		fmt.Fprintln(w, "  gets full access (after the usual token challenge). Fine for local use; add")
		fmt.Fprintln(w, "  --admin-user or `acre token create` before sharing it.")
		fmt.Fprintln(w, "")
		fmt.Fprintf(w, "authentication: none needed; e.g. oras push --plain-http %s/hello:v1 file.txt\n", host)
		return
	}
	fmt.Fprintln(w, "authentication:")
	if admin != nil {
		fmt.Fprintf(w, "  admin user %q: docker login %s -u %s\n", admin.Name, host, admin.Name)
	}
	fmt.Fprintf(w, "  repository-scoped tokens: acre token create NAME --scope 'REPO:content/read' (then docker login with NAME and its password)\n")
	if entra {
		fmt.Fprintf(w, "  Microsoft Entra ID: any azidentity credential with the official Azure SDKs (endpoint %s://%s)\n", scheme, host)
	}
	if anonymousPull {
		fmt.Fprintln(w, "  anonymous pull: on (no credentials needed to pull)")
	}
}

// expireUploads discards abandoned upload sessions every so often.
func expireUploads(ctx context.Context, srv *registry.Server, ttl time.Duration, log *slog.Logger) {
	if ttl <= 0 {
		return
	}
	tick := time.NewTicker(min(ttl/4, 15*time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n, err := srv.Registry().ExpireUploads(ctx, ttl)
			if err != nil && ctx.Err() == nil {
				log.Warn("expire upload sessions", "error", err)
			} else if n > 0 {
				log.Info("expired upload sessions", "count", n)
			}
		}
	}
}
