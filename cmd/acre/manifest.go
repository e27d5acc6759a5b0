package main

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/acre-dev/acre/acr"
	"github.com/spf13/cobra"
)

// parseImageRef parses host/repository:tag or host/repository@digest.
func parseImageRef(s string) (refT, error) {
	ref, err := parseRef(s)
	if err == nil && ref.Tag == "" && ref.Digest == "" {
		err = usageError{fmt.Errorf("%q: want host/repository:tag or host/repository@digest", s)}
	}
	return ref, err
}

func newManifestCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "manifest", Short: "List, show, update and delete manifests (images and artifacts)"}
	var orderby string
	list := &cobra.Command{
		Use:     "list REGISTRY/REPOSITORY [--orderby timedesc|timeasc]",
		Short:   "List a repository's manifests with their tags",
		Example: "  acre manifest list localhost:5000/hello --orderby timedesc",
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
			opts := &acr.ClientListManifestsOptions{}
			if order != nil {
				opts.OrderBy = to.Ptr(acr.ArtifactManifestOrderBy(*order))
			}
			ms, err := allPages(cmd.Context(), client.NewListManifestsPager(ref.Repository, opts),
				func(p acr.ClientListManifestsResponse) []*acr.ManifestAttributes { return p.Attributes })
			if err != nil {
				return fmt.Errorf("manifest list %s: %w", ref, err)
			}
			return printList(cmd, g, ms, manifestHeader, manifestRow)
		},
	}
	list.Flags().StringVar(&orderby, "orderby", "", "order: timedesc (newest first), timeasc or none (by digest)")
	show := &cobra.Command{
		Use:   "show REGISTRY/REPOSITORY:TAG|@DIGEST",
		Short: "Show a manifest's properties",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, client, err := g.open(cmd, args[0], parseImageRef)
			if err != nil {
				return err
			}
			p, err := client.GetManifestProperties(cmd.Context(), ref.Repository, ref.Reference(), nil)
			if err != nil {
				return fmt.Errorf("manifest show %s: %w", ref, err)
			}
			return printManifest(cmd, g, p.ArtifactManifestProperties)
		},
	}
	var attrs attrFlags
	update := &cobra.Command{
		Use:   "update REGISTRY/REPOSITORY:TAG|@DIGEST --write-enabled=false ...",
		Short: "Change a manifest's changeable attributes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, d, r, l, any := attrs.changed(cmd)
			if !any {
				return errNoAttributes
			}
			ref, client, err := g.open(cmd, args[0], parseImageRef)
			if err != nil {
				return err
			}
			p, err := client.UpdateManifestProperties(cmd.Context(), ref.Repository, ref.Reference(), &acr.ClientUpdateManifestPropertiesOptions{
				Value: &acr.ManifestWriteableProperties{CanWrite: w, CanDelete: d, CanRead: r, CanList: l}})
			if err != nil {
				return fmt.Errorf("manifest update %s: %w", ref, err)
			}
			return printManifest(cmd, g, p.ArtifactManifestProperties)
		},
	}
	addAttrFlags(update, &attrs)
	del := &cobra.Command{
		Use:   "delete REGISTRY/REPOSITORY:TAG|@DIGEST",
		Short: "Delete a manifest and every tag that points at it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, client, err := g.open(cmd, args[0], parseImageRef)
			if err != nil {
				return err
			}
			// Resolve (and check existence): deleting a missing manifest is not an
			// error for the API, but it is news for the user.
			p, err := client.GetManifestProperties(cmd.Context(), ref.Repository, ref.Reference(), nil)
			if err != nil {
				return fmt.Errorf("manifest delete %s: %w", ref, err)
			}
			d := str(p.Manifest.Digest)
			if _, err := client.DeleteManifest(cmd.Context(), ref.Repository, d, nil); err != nil {
				return fmt.Errorf("manifest delete %s: %w", ref, err)
			}
			return done(cmd, g, "deleted "+ref.Registry+"/"+ref.Repository+"@"+d)
		},
	}
	cmd.AddCommand(list, show, update, del)
	return cmd
}

var manifestHeader = []string{"DIGEST", "TAGS", "MEDIA TYPE", "PLATFORM", "SIZE", "UPDATED", "LOCKS"}

func manifestRow(m *acr.ManifestAttributes) []string {
	var tags []string
	for _, t := range m.Tags {
		tags = append(tags, *t)
	}
	platform := ""
	if m.OperatingSystem != nil || m.Architecture != nil {
		platform = string(derefOS(m.OperatingSystem)) + "/" + string(derefArch(m.Architecture))
	}
	size := ""
	if m.Size != nil {
		size = humanBytes(*m.Size)
	}
	return []string{str(m.Digest), strings.Join(tags, ","), str(m.MediaType), platform, size, when(m.LastUpdatedOn), manifestLocks(m.ChangeableAttributes)}
}

func derefOS(p *acr.ArtifactOperatingSystem) acr.ArtifactOperatingSystem {
	if p == nil {
		return ""
	}
	return *p
}

func derefArch(p *acr.ArtifactArchitecture) acr.ArtifactArchitecture {
	if p == nil {
		return ""
	}
	return *p
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printManifest(cmd *cobra.Command, g *globalOptions, p acr.ArtifactManifestProperties) error {
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), p)
	}
	if p.Manifest == nil {
		return fmt.Errorf("registry answered without a manifest")
	}
	if err := table(cmd.OutOrStdout(), manifestHeader, [][]string{manifestRow(p.Manifest)}); err != nil {
		return err
	}
	if len(p.Manifest.RelatedArtifacts) > 0 {
		fmt.Fprintln(cmd.OutOrStdout())
		var rows [][]string
		for _, r := range p.Manifest.RelatedArtifacts {
			rows = append(rows, []string{str(r.Digest), string(derefOS(r.OperatingSystem)) + "/" + string(derefArch(r.Architecture))})
		}
		return table(cmd.OutOrStdout(), []string{"REFERENCES", "PLATFORM"}, rows)
	}
	return nil
}

// newLockCommand builds `acre lock` (lock=true) or `acre unlock`.
func newLockCommand(g *globalOptions, lock bool) *cobra.Command {
	use, short := "lock", "Lock an image, tag or repository against changes and deletion"
	if !lock {
		use, short = "unlock", "Lift a lock set with acre lock"
	}
	enabled := !lock
	return &cobra.Command{
		Use:   use + " REGISTRY/REPOSITORY[:TAG|@DIGEST]",
		Short: short,
		Long: short + `.

With a tag, the tag and the manifest it points at are locked (writeEnabled and
deleteEnabled set to false); with a digest, the manifest; with a repository
alone, the repository and so everything in it.`,
		Example: "  acre " + use + " localhost:5000/hello:v1\n  acre " + use + " localhost:5000/hello",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client, _, err := g.clients(ctx, ref.Registry)
			if err != nil {
				return err
			}
			w, d := to.Ptr(enabled), to.Ptr(enabled)
			switch {
			case ref.Tag == "" && ref.Digest == "":
				if _, err := client.UpdateRepositoryProperties(ctx, ref.Repository, &acr.ClientUpdateRepositoryPropertiesOptions{
					Value: &acr.RepositoryWriteableProperties{CanWrite: w, CanDelete: d}}); err != nil {
					return fmt.Errorf("%s %s: %w", use, ref, err)
				}
			default:
				if ref.Tag != "" && ref.Digest == "" {
					if _, err := client.UpdateTagProperties(ctx, ref.Repository, ref.Tag, &acr.ClientUpdateTagPropertiesOptions{
						Value: &acr.TagWriteableProperties{CanWrite: w, CanDelete: d}}); err != nil {
						return fmt.Errorf("%s %s: %w", use, ref, err)
					}
				}
				if _, err := client.UpdateManifestProperties(ctx, ref.Repository, ref.Reference(), &acr.ClientUpdateManifestPropertiesOptions{
					Value: &acr.ManifestWriteableProperties{CanWrite: w, CanDelete: d}}); err != nil {
					return fmt.Errorf("%s %s: %w", use, ref, err)
				}
			}
			return done(cmd, g, use+"ed "+ref.String())
		},
	}
}
