package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/acre-dev/acre/registry"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/store/fs"
	"github.com/acre-dev/acre/store/sqlite"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	addr         string
	data         string
	tlsCert      string
	tlsKey       string
	logFormat    string
	allowSparse  bool
	shutdownWait time.Duration
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry server",
		Long: `Run an ACR-compatible registry: the OCI distribution API v1.1 under /v2/.

With no flags it listens on 127.0.0.1:5000 and keeps everything (blobs and the
embedded metadata database) under ./acre-data.`,
		Example: `  # zero configuration, loopback only
  acre serve

  # another port and data directory, with TLS
  acre serve --addr :5443 --data /var/lib/acre --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", envDefault("ACRE_ADDR", "127.0.0.1:5000"), "address to listen on (env ACRE_ADDR)")
	f.StringVar(&o.data, "data", envDefault("ACRE_DATA", "./acre-data"), "directory holding blobs and metadata (env ACRE_DATA)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS with --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&o.logFormat, "log-format", "text", "request log format: text or json")
	f.BoolVar(&o.allowSparse, "allow-sparse-manifests", false, "accept manifests whose layers or child manifests are not in the repository")
	f.DurationVar(&o.shutdownWait, "shutdown-timeout", 30*time.Second, "how long to let requests finish on SIGINT/SIGTERM")
	return cmd
}

func runServe(ctx context.Context, o serveOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var handler slog.Handler
	switch o.logFormat {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	log := slog.New(handler)

	if err := os.MkdirAll(o.data, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	blobs, err := fs.New(filepath.Join(o.data, "blobs"))
	if err != nil {
		return fmt.Errorf("open blob store: %w", err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(o.data, "metadata.db"))
	if err != nil {
		return fmt.Errorf("open metadata store: %w", err)
	}
	defer meta.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	host := ln.Addr().String()
	srv, err := registry.New(registry.Config{
		Blobs:    blobs,
		Metadata: meta,
		Logger:   log,
		Core:     core.Options{LoginServer: host, AllowSparseManifests: o.allowSparse},
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
	fmt.Fprintf(os.Stderr, "authentication: none; every client has full access. Use it on trusted machines only.\n")
	fmt.Fprintf(os.Stderr, "try: curl %s://%s/v2/\n", scheme, host)

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
