package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/sqlite"
	"github.com/spf13/cobra"
)

func newTokenCommand(g *globalOptions) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage repository-scoped tokens of a local acre registry",
		Long: `Manage repository-scoped tokens, as ACR has them: a name, a password, and a scope
map of repository patterns (name, prefix/*, or *) with the actions allowed on them:
content/read, content/write, content/delete, metadata/read, metadata/write.

Tokens are kept in the registry's data directory; a running server sees changes
at once. Use a token's name and password as credentials (docker login, Basic
auth, or /oauth2/token).`,
	}
	cmd.PersistentFlags().StringVar(&data, "data", envDefault("ACRE_DATA", "./acre-data"), "the registry's data directory (env ACRE_DATA)")
	cmd.AddCommand(newTokenCreateCommand(g, &data), newTokenListCommand(g, &data), newTokenDeleteCommand(&data))
	return cmd
}

func openMetadata(ctx context.Context, data string) (store.MetadataStore, error) {
	if url := os.Getenv("ACRE_METADATA"); url != "" {
		s, _, err := openMetadataStore(ctx, url, data)
		return s, err
	}
	path := filepath.Join(data, "metadata.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no registry data in %s (use --data, $ACRE_DATA or $ACRE_METADATA): %w", data, err)
	}
	return sqlite.Open(ctx, path)
}

func newTokenCreateCommand(g *globalOptions, data *string) *cobra.Command {
	var scopes []string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME --scope PATTERN:ACTION[,ACTION]...",
		Short: "Create a token and print its password (shown once)",
		Example: `  # push and pull everything under samples/
  acre token create ci --scope 'samples/*:content/read,content/write'

  # read-only access to one repository, for 30 days
  acre token create viewer --scope 'hello-world:content/read,metadata/read' --expires 720h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if err := validTokenName(name); err != nil {
				return err
			}
			if len(scopes) == 0 {
				return errors.New("at least one --scope is needed, e.g. --scope 'myrepo:content/read'")
			}
			sc, err := parseScopeFlags(scopes)
			if err != nil {
				return err
			}
			if expires < 0 {
				return errors.New("--expires must be positive")
			}
			password, hash, err := auth.GeneratePassword()
			if err != nil {
				return err
			}
			meta, err := openMetadata(ctx, *data)
			if err != nil {
				return err
			}
			defer meta.Close()
			now := time.Now().UTC()
			tk := store.Token{Name: name, PasswordHashes: [][]byte{hash}, Scopes: sc, Enabled: true, CreatedAt: now}
			if expires > 0 {
				tk.ExpiresAt = now.Add(expires)
			}
			err = meta.Update(ctx, func(tx store.MetadataTx) error {
				if _, err := tx.Token(ctx, name); err == nil {
					return fmt.Errorf("token %q already exists (delete it first)", name)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return tx.PutToken(ctx, tk)
			})
			if err != nil {
				return fmt.Errorf("create token %s: %w", name, err)
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				return writeJSON(out, map[string]any{"name": name, "password": password, "scopes": sc, "expires": tk.ExpiresAt})
			}
			fmt.Fprintf(out, "token %s created; its password (shown only now):\n%s\n", name, password)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "repository pattern and actions, PATTERN:ACTION[,ACTION] (repeatable)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "lifetime of the token (e.g. 720h); default: never expires")
	return cmd
}

func validTokenName(name string) error {
	// Token names are user names: keep them to what ACR allows (letters, digits, dashes).
	if len(name) == 0 || len(name) > 50 || name == auth.AnonymousUser {
		return fmt.Errorf("token name %q: want 1 to 50 letters, digits or dashes", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("token name %q: want 1 to 50 letters, digits or dashes", name)
		}
	}
	return nil
}

func newTokenListCommand(g *globalOptions, data *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens and their scope maps (never their passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			meta, err := openMetadata(ctx, *data)
			if err != nil {
				return err
			}
			defer meta.Close()
			var tokens []store.Token
			if err := meta.View(ctx, func(tx store.MetadataTx) error {
				tokens, err = tx.ListTokens(ctx)
				return err
			}); err != nil {
				return fmt.Errorf("list tokens: %w", err)
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				list := make([]map[string]any, 0, len(tokens))
				for _, t := range tokens {
					list = append(list, map[string]any{"name": t.Name, "enabled": t.Enabled, "scopes": t.Scopes,
						"created": t.CreatedAt, "expires": t.ExpiresAt})
				}
				return writeJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tENABLED\tCREATED\tEXPIRES\tSCOPES")
			for _, t := range tokens {
				exp := "never"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Format(time.RFC3339)
				}
				var sc []string
				for _, s := range t.Scopes {
					sc = append(sc, s.Repository+":"+strings.Join(s.Actions, ","))
				}
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", t.Name, t.Enabled, t.CreatedAt.Format(time.RFC3339), exp, strings.Join(sc, " "))
			}
			return tw.Flush()
		},
	}
	return cmd
}

func newTokenDeleteCommand(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a token; its credentials and the tokens issued to it stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			meta, err := openMetadata(ctx, *data)
			if err != nil {
				return err
			}
			defer meta.Close()
			err = meta.Update(ctx, func(tx store.MetadataTx) error { return tx.DeleteToken(ctx, args[0]) })
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("token %q does not exist", args[0])
			}
			if err != nil {
				return fmt.Errorf("delete token %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", args[0])
			return nil
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
