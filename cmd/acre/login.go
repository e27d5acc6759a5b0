package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/acre-dev/acre/acr"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

func newLoginCommand(g *globalOptions) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login REGISTRY [-u USER] [-p PASSWORD | --password-stdin]",
		Short: "Store credentials for a registry (docker-compatible)",
		Long: `Store credentials for a registry in docker's config.json (or its credential
helper), where docker and oras find them too. The credentials are checked first.

For *.azurecr.io without a user name, acre signs in with Microsoft Entra ID
(DefaultAzureCredential: environment, workload or managed identity, Azure CLI) and
stores an ACR refresh token, as az acr login does.`,
		Example: `  acre login localhost:5000 -u admin --password-stdin < password.txt
  acre login myregistry.azurecr.io`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, err := parseRegistry(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			password := g.password
			if passwordStdin {
				if password != "" {
					return usageError{errors.New("--password and --password-stdin go alone")}
				}
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("read password: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if password == "" {
				password = os.Getenv("ACRE_PASSWORD")
			}
			var cred auth.Credential
			switch {
			case g.username != "" && password != "":
				cred = auth.Credential{Username: g.username, Password: password}
			case g.username == "" && password == "" && strings.HasSuffix(strings.ToLower(hostOnly(host)), ".azurecr.io"):
				rt, err := entraRefreshToken(ctx, g.endpoint(host), host)
				if err != nil {
					return fmt.Errorf("login %s: %w", host, err)
				}
				cred = auth.Credential{Username: acrAnonymousUser, Password: rt}
			default:
				return usageError{errors.New("give a user name and a password (-u and -p, --password-stdin or $ACRE_PASSWORD)")}
			}
			if err := checkLogin(ctx, g, host, cred); err != nil {
				return fmt.Errorf("login %s: %w", host, err)
			}
			store, err := credentialStore()
			if err != nil {
				return err
			}
			if err := store.Put(ctx, host, cred); err != nil {
				return fmt.Errorf("login %s: store credentials: %w", host, err)
			}
			return done(cmd, g, "Login Succeeded")
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

// entraRefreshToken signs in with Microsoft Entra ID and exchanges the token for an
// ACR refresh token.
func entraRefreshToken(ctx context.Context, endpoint, host string) (string, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return "", fmt.Errorf("Microsoft Entra sign-in: %w", err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://containerregistry.azure.net/.default"}})
	if err != nil {
		return "", fmt.Errorf("Microsoft Entra sign-in: %w", err)
	}
	ac, err := acr.NewAuthenticationClient(endpoint, nil)
	if err != nil {
		return "", err
	}
	res, err := ac.ExchangeAADAccessTokenForACRRefreshToken(ctx, acr.PostContentSchemaGrantTypeAccessToken, hostOnly(host),
		&acr.AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions{AccessToken: &tok.Token})
	if err != nil {
		return "", fmt.Errorf("exchange for an ACR refresh token: %w", err)
	}
	if res.RefreshToken == nil {
		return "", errors.New("the registry returned no refresh token")
	}
	return *res.RefreshToken, nil
}

// checkLogin verifies credentials with the docker token flow against /v2/.
func checkLogin(ctx context.Context, g *globalOptions, host string, cred auth.Credential) error {
	client := &auth.Client{
		Credential: auth.StaticCredential(host, cred),
		Cache:      auth.NewCache(),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.endpoint(host)+"/v2/", nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		var er *errcode.ErrorResponse
		if errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden) {
			return authError{errors.New("credentials refused")}
		}
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return authError{fmt.Errorf("credentials refused: %s", res.Status)}
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("unexpected answer from %s: %s", host, res.Status)
	}
	return nil
}

// authError marks refused credentials (exit code 3).
type authError struct{ error }

func (a authError) Unwrap() error { return a.error }

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove stored credentials for a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, err := parseRegistry(args[0])
			if err != nil {
				return err
			}
			store, err := credentialStore()
			if err != nil {
				return err
			}
			if err := store.Delete(cmd.Context(), host); err != nil {
				return fmt.Errorf("logout %s: %w", host, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", host)
			return nil
		},
	}
}
