package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/acre-dev/acre/acr"
	"github.com/spf13/cobra"
)

// attrFlags are the changeable attributes a command may set.
type attrFlags struct {
	write, delete, read, list bool
}

func addAttrFlags(cmd *cobra.Command, a *attrFlags) {
	f := cmd.Flags()
	f.BoolVar(&a.write, "write-enabled", true, "allow overwriting (and, when false, block deletion too)")
	f.BoolVar(&a.delete, "delete-enabled", true, "allow deletion")
	f.BoolVar(&a.read, "read-enabled", true, "allow pulls")
	f.BoolVar(&a.list, "list-enabled", true, "show in listings")
}

// changed returns pointers for the flags the user set, nil for the others.
func (a *attrFlags) changed(cmd *cobra.Command) (write, delete, read, list *bool, any bool) {
	pick := func(name string, v bool) *bool {
		if cmd.Flags().Changed(name) {
			any = true
			return to.Ptr(v)
		}
		return nil
	}
	write, delete, read, list = pick("write-enabled", a.write), pick("delete-enabled", a.delete), pick("read-enabled", a.read), pick("list-enabled", a.list)
	return
}

var errNoAttributes = usageError{errors.New("nothing to change: give --write-enabled, --delete-enabled, --read-enabled or --list-enabled")}

func newRepoCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "List, show, update and delete repositories"}
	list := &cobra.Command{
		Use:     "list REGISTRY",
		Short:   "List the repositories of a registry",
		Example: "  acre repo list myregistry.azurecr.io\n  acre repo list localhost:5000 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, err := parseRegistry(args[0])
			if err != nil {
				return err
			}
			client, _, err := g.clients(cmd.Context(), host)
			if err != nil {
				return err
			}
			names, err := allPages(cmd.Context(), client.NewListRepositoriesPager(nil), func(p acr.ClientListRepositoriesResponse) []string {
				out := make([]string, len(p.Names))
				for i, n := range p.Names {
					out[i] = *n
				}
				return out
			})
			if err != nil {
				return fmt.Errorf("repo list %s: %w", host, err)
			}
			if g.output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), names)
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show REGISTRY/REPOSITORY",
		Short: "Show a repository's properties",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, client, err := g.open(cmd, args[0], parseRepoRef)
			if err != nil {
				return err
			}
			p, err := client.GetRepositoryProperties(cmd.Context(), ref.Repository, nil)
			if err != nil {
				return fmt.Errorf("repo show %s: %w", ref, err)
			}
			return printRepo(cmd, g, p.ContainerRepositoryProperties)
		},
	}
	var attrs attrFlags
	update := &cobra.Command{
		Use:     "update REGISTRY/REPOSITORY --write-enabled=false ...",
		Short:   "Change a repository's changeable attributes",
		Example: "  acre repo update localhost:5000/hello --write-enabled=false",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, d, r, l, any := attrs.changed(cmd)
			if !any {
				return errNoAttributes
			}
			ref, client, err := g.open(cmd, args[0], parseRepoRef)
			if err != nil {
				return err
			}
			p, err := client.UpdateRepositoryProperties(cmd.Context(), ref.Repository, &acr.ClientUpdateRepositoryPropertiesOptions{
				Value: &acr.RepositoryWriteableProperties{CanWrite: w, CanDelete: d, CanRead: r, CanList: l}})
			if err != nil {
				return fmt.Errorf("repo update %s: %w", ref, err)
			}
			return printRepo(cmd, g, p.ContainerRepositoryProperties)
		},
	}
	addAttrFlags(update, &attrs)
	var yes bool
	del := &cobra.Command{
		Use:   "delete REGISTRY/REPOSITORY --yes",
		Short: "Delete a repository with all its images",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{fmt.Errorf("deleting %s removes every image in it: confirm with --yes", args[0])}
			}
			ref, client, err := g.open(cmd, args[0], parseRepoRef)
			if err != nil {
				return err
			}
			if _, err := client.DeleteRepository(cmd.Context(), ref.Repository, nil); err != nil {
				return fmt.Errorf("repo delete %s: %w", ref, err)
			}
			return done(cmd, g, "deleted "+ref.String())
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	cmd.AddCommand(list, show, update, del)
	return cmd
}

func done(cmd *cobra.Command, g *globalOptions, msg string) error {
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), map[string]string{"result": msg})
	}
	fmt.Fprintln(cmd.OutOrStdout(), msg)
	return nil
}

func printRepo(cmd *cobra.Command, g *globalOptions, p acr.ContainerRepositoryProperties) error {
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), p)
	}
	return table(cmd.OutOrStdout(), []string{"REPOSITORY", "MANIFESTS", "TAGS", "CREATED", "UPDATED", "LOCKS"}, [][]string{{
		str(p.Name), strconv.Itoa(int(deref32(p.ManifestCount))), strconv.Itoa(int(deref32(p.TagCount))),
		when(p.CreatedOn), when(p.LastUpdatedOn), repoLocks(p.ChangeableAttributes),
	}})
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func parseOrder(s string) (*string, error) {
	switch s {
	case "", "none":
		return nil, nil
	case "timedesc", "timeasc":
		return &s, nil
	}
	return nil, usageError{fmt.Errorf("--orderby %q: want timedesc, timeasc or none", s)}
}

func newTagCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "tag", Short: "List, show, update and delete tags"}
	var orderby string
	list := &cobra.Command{
		Use:     "list REGISTRY/REPOSITORY [--orderby timedesc|timeasc]",
		Short:   "List a repository's tags",
		Example: "  acre tag list localhost:5000/hello --orderby timedesc",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			order, err := parseOrder(orderby)
			if err != nil {
				return err
			}
			ref, client, err := g.open(cmd, args[0], parseRepoRef)
			if err != nil {
				return err
			}
			opts := &acr.ClientListTagsOptions{}
			if order != nil {
				opts.OrderBy = to.Ptr(acr.ArtifactTagOrderBy(*order))
			}
			tags, err := allPages(cmd.Context(), client.NewListTagsPager(ref.Repository, opts),
				func(p acr.ClientListTagsResponse) []*acr.TagAttributes { return p.Tags })
			if err != nil {
				return fmt.Errorf("tag list %s: %w", ref, err)
			}
			return printList(cmd, g, tags, []string{"TAG", "DIGEST", "UPDATED", "LOCKS"}, func(t *acr.TagAttributes) []string {
				return []string{str(t.Name), str(t.Digest), when(t.LastUpdatedOn), tagLocks(t.ChangeableAttributes)}
			})
		},
	}
	list.Flags().StringVar(&orderby, "orderby", "", "order: timedesc (newest first), timeasc or none (by name)")
	show := &cobra.Command{
		Use:   "show REGISTRY/REPOSITORY:TAG",
		Short: "Show a tag's properties",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, client, err := g.open(cmd, args[0], parseTagRef)
			if err != nil {
				return err
			}
			p, err := client.GetTagProperties(cmd.Context(), ref.Repository, ref.Tag, nil)
			if err != nil {
				return fmt.Errorf("tag show %s: %w", ref, err)
			}
			return printTag(cmd, g, p.ArtifactTagProperties)
		},
	}
	var attrs attrFlags
	update := &cobra.Command{
		Use:   "update REGISTRY/REPOSITORY:TAG --write-enabled=false ...",
		Short: "Change a tag's changeable attributes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, d, r, l, any := attrs.changed(cmd)
			if !any {
				return errNoAttributes
			}
			ref, client, err := g.open(cmd, args[0], parseTagRef)
			if err != nil {
				return err
			}
			p, err := client.UpdateTagProperties(cmd.Context(), ref.Repository, ref.Tag, &acr.ClientUpdateTagPropertiesOptions{
				Value: &acr.TagWriteableProperties{CanWrite: w, CanDelete: d, CanRead: r, CanList: l}})
			if err != nil {
				return fmt.Errorf("tag update %s: %w", ref, err)
			}
			return printTag(cmd, g, p.ArtifactTagProperties)
		},
	}
	addAttrFlags(update, &attrs)
	del := &cobra.Command{
		Use:   "delete REGISTRY/REPOSITORY:TAG",
		Short: "Delete a tag (the image stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, client, err := g.open(cmd, args[0], parseTagRef)
			if err != nil {
				return err
			}
			// Check first: the API treats deleting a missing tag as done, a user wants to know.
			if _, err := client.GetTagProperties(cmd.Context(), ref.Repository, ref.Tag, nil); err != nil {
				return fmt.Errorf("tag delete %s: %w", ref, err)
			}
			if _, err := client.DeleteTag(cmd.Context(), ref.Repository, ref.Tag, nil); err != nil {
				return fmt.Errorf("tag delete %s: %w", ref, err)
			}
			return done(cmd, g, "deleted "+ref.String())
		},
	}
	cmd.AddCommand(list, show, update, del)
	return cmd
}

func parseTagRef(s string) (refT, error) {
	ref, err := parseRef(s)
	if err == nil && (ref.Tag == "" || ref.Digest != "") {
		err = usageError{fmt.Errorf("%q: want host/repository:tag", s)}
	}
	return ref, err
}

func printTag(cmd *cobra.Command, g *globalOptions, p acr.ArtifactTagProperties) error {
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), p)
	}
	t := p.Tag
	if t == nil {
		return errors.New("registry answered without a tag")
	}
	return table(cmd.OutOrStdout(), []string{"TAG", "DIGEST", "CREATED", "UPDATED", "LOCKS"}, [][]string{{
		str(t.Name), str(t.Digest), when(t.CreatedOn), when(t.LastUpdatedOn), tagLocks(t.ChangeableAttributes)}})
}
