package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/internal/reference"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// globalOptions are the flags every registry command shares.
type globalOptions struct {
	output    string // text or json
	plainHTTP bool
	username  string
	password  string
}

func addGlobalFlags(cmd *cobra.Command, g *globalOptions) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.output, "output", "text", "output format: text or json")
	f.BoolVar(&g.plainHTTP, "plain-http", false, "use plain HTTP for non-loopback registries (loopback hosts always use it)")
	f.StringVarP(&g.username, "username", "u", "", "user name (overrides the stored credentials)")
	f.StringVarP(&g.password, "password", "p", "", "password or token (prefer $ACRE_PASSWORD or acre login)")
}

func (g *globalOptions) validate() error {
	switch g.output {
	case "text", "json":
		return nil
	}
	return usageError{fmt.Errorf("--output %q: want text or json", g.output)}
}

// registryHost is a registry address as users write it: host[:port].
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// endpoint returns the URL of a registry host: loopback hosts use plain HTTP with
// no extra flag, other hosts HTTPS unless --plain-http.
func (g *globalOptions) endpoint(host string) string {
	if isLoopbackHost(host) || g.plainHTTP {
		return "http://" + host
	}
	return "https://" + host
}

// credentialStore opens the docker-compatible credential store (config.json and
// credential helpers), so docker, oras and acre share logins.
func credentialStore() (credentials.Store, error) {
	s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{AllowPlaintextPut: true})
	if err != nil {
		return nil, fmt.Errorf("open docker credential store: %w", err)
	}
	return s, nil
}

// credential returns what to authenticate to host with: explicit flags, then the
// stored login, then for *.azurecr.io the ambient Microsoft Entra identity, else
// anonymous (nil).
func (g *globalOptions) credential(ctx context.Context, host string) (azcore.TokenCredential, error) {
	password := g.password
	if password == "" {
		password = os.Getenv("ACRE_PASSWORD")
	}
	if g.username != "" || password != "" {
		if g.username == "" {
			return acr.NewRefreshTokenCredential(password), nil
		}
		return acr.NewBasicCredential(g.username, password), nil
	}
	if store, err := credentialStore(); err == nil {
		c, err := store.Get(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("read stored credentials for %s: %w", host, err)
		}
		switch {
		case c.RefreshToken != "":
			return acr.NewRefreshTokenCredential(c.RefreshToken), nil
		case c.Username != "" || c.Password != "":
			if c.Username == acrAnonymousUser {
				return acr.NewRefreshTokenCredential(c.Password), nil
			}
			return acr.NewBasicCredential(c.Username, c.Password), nil
		}
	}
	if strings.HasSuffix(strings.ToLower(hostOnly(host)), ".azurecr.io") {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err == nil {
			return cred, nil
		}
	}
	return nil, nil
}

// acrAnonymousUser is the user name ACR logins use with a refresh token as password.
const acrAnonymousUser = "00000000-0000-0000-0000-000000000000"

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// clients returns the metadata and blob clients for a registry host.
func (g *globalOptions) clients(ctx context.Context, host string) (*acr.Client, *acr.BlobClient, error) {
	return g.clientsWith(ctx, host, nil)
}

// clientsWith is clients with azcore options (retries, transport) for both
// clients; nil means azcore's defaults, as clients uses.
func (g *globalOptions) clientsWith(ctx context.Context, host string, opts *azcore.ClientOptions) (*acr.Client, *acr.BlobClient, error) {
	cred, err := g.credential(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	var co *acr.ClientOptions
	var bo *acr.BlobClientOptions
	if opts != nil {
		co, bo = &acr.ClientOptions{ClientOptions: *opts}, &acr.BlobClientOptions{ClientOptions: *opts}
	}
	c, err := acr.NewClient(g.endpoint(host), cred, co)
	if err != nil {
		return nil, nil, err
	}
	b, err := acr.NewBlobClient(g.endpoint(host), cred, bo)
	if err != nil {
		return nil, nil, err
	}
	return c, b, nil
}

// parseRef parses host[:port]/repository[:tag|@digest].
func parseRef(s string) (reference.Reference, error) {
	ref, err := reference.Parse(s)
	if err != nil {
		return ref, usageError{err}
	}
	return ref, nil
}

// parseRepoRef parses host[:port]/repository and refuses a tag or digest.
func parseRepoRef(s string) (reference.Reference, error) {
	ref, err := parseRef(s)
	if err == nil && (ref.Tag != "" || ref.Digest != "") {
		err = usageError{fmt.Errorf("%q: want host/repository without a tag or digest", s)}
	}
	return ref, err
}

// parseRegistry parses a registry address host[:port], tolerating a scheme.
func parseRegistry(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.ContainsAny(s, "/@ ") {
		return "", usageError{fmt.Errorf("%q: want a registry host[:port]", s)}
	}
	return s, nil
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

var errNothingToDo = errors.New("nothing to do")

// refT is a parsed reference.
type refT = reference.Reference

// open parses a command's reference argument with parse and returns it with a
// client for its registry.
func (g *globalOptions) open(cmd *cobra.Command, arg string, parse func(string) (refT, error)) (refT, *acr.Client, error) {
	ref, err := parse(arg)
	if err != nil {
		return ref, nil, err
	}
	client, _, err := g.clients(cmd.Context(), ref.Registry)
	return ref, client, err
}

// allPages reads every page of a listing.
func allPages[P, T any](ctx context.Context, pager *runtime.Pager[P], items func(P) []T) ([]T, error) {
	out := []T{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, items(page)...)
	}
	return out, nil
}

// printList prints a listing as JSON or as a table with one row per item.
func printList[T any](cmd *cobra.Command, g *globalOptions, items []T, header []string, row func(T) []string) error {
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), items)
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return table(cmd.OutOrStdout(), header, rows)
}
