// Command acre is the acre registry server and a command-line client for ACR and any
// OCI registry.
//
//	acre serve                      run an ACR-compatible registry on 127.0.0.1:5000
//	acre login REGISTRY             store credentials (docker-compatible config.json)
//	acre repo|tag|manifest ...      browse, inspect, update, delete
//	acre lock|unlock REF            lock an image against changes and deletion
//
// Exit codes: 0 success, 1 other failure, 2 bad usage, 3 authentication or
// permission refused, 4 not found, 5 refused by a lock or policy, 6 the registry
// was unavailable or throttled.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitFailure     = 1
	exitUsage       = 2
	exitAuth        = 3
	exitNotFound    = 4
	exitRefused     = 5
	exitUnavailable = 6
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acre: "+describe(err))
		os.Exit(exitCode(err))
	}
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "acre",
		Short: "A toolkit for registries that speak the Azure Container Registry API",
		Long: `acre runs an ACR-compatible registry (acre serve) and works with ACR, acre and any
OCI registry: browse, lock, push, pull and copy.

References are host[:port]/repository[:tag|@digest]. Loopback hosts use plain
HTTP; other hosts use HTTPS unless --plain-http is given.

Exit codes: 0 success, 1 other failure, 2 bad usage, 3 authentication or
permission refused, 4 not found, 5 refused by a lock or policy, 6 the registry
was unavailable or throttled.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.validate()
		},
	}
	addGlobalFlags(root, g)
	root.AddCommand(
		newServeCommand(),
		newTokenCommand(g),
		newLoginCommand(g),
		newLogoutCommand(),
		newRepoCommand(g),
		newTagCommand(g),
		newManifestCommand(g),
		newLockCommand(g, true),
		newLockCommand(g, false),
		newPushCommand(g),
		newPullCommand(g),
		newCopyCommand(g),
		newPurgeCommand(g),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return root
}

// envDefault returns the environment variable's value, or def when it is unset.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// registryError extracts the status, code and message of a registry's answer.
func registryError(err error) (status int, code, message string, ok bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return 0, "", "", false
	}
	code = re.ErrorCode
	if re.RawResponse != nil && re.RawResponse.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(re.RawResponse.Body, 64<<10))
		re.RawResponse.Body = io.NopCloser(bytes.NewReader(b)) // readable again for the next caller
		var body struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
			message = body.Errors[0].Message
			if code == "" {
				code = body.Errors[0].Code
			}
		}
	}
	return re.StatusCode, code, message, true
}

// describe renders an error on one line, naming the registry's error code.
func describe(err error) string {
	var ctxPrefix string
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		// Keep our context ("tag show x:") but replace azcore's multi-line text.
		full := err.Error()
		if i := strings.Index(full, re.Error()); i > 0 {
			ctxPrefix = full[:i]
		}
		status, code, message, _ := registryError(err)
		if code == "" {
			code = http.StatusText(status)
		}
		s := fmt.Sprintf("%s%s (HTTP %d)", ctxPrefix, code, status)
		if message != "" {
			s += ": " + message
		}
		return s
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	var a authError
	if errors.As(err, &a) {
		return exitAuth
	}
	status, code, _, ok := registryError(err)
	if !ok {
		return exitFailure
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return exitAuth
	case status == http.StatusNotFound:
		return exitNotFound
	case code == "REGISTRY_DISALLOWED_OPERATION" || status == http.StatusMethodNotAllowed || status == http.StatusConflict:
		return exitRefused
	case status == http.StatusTooManyRequests || status >= 500:
		return exitUnavailable
	}
	return exitFailure
}
