package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acre-dev/acre/acr"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

// Media types of files pushed as artifacts, as oras uses them, so that oras pulls
// what acre pushes and the other way round.
const (
	fileLayerMediaType   = "application/vnd.oci.image.layer.v1.tar"
	defaultArtifactType  = "application/vnd.unknown.artifact.v1"
	emptyConfigMediaType = "application/vnd.oci.empty.v1+json"
)

var emptyConfig = []byte("{}")

func parseAnnotations(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("annotation %q: want key=value", v)}
		}
		out[k] = val
	}
	return out, nil
}

func newPushCommand(g *globalOptions) *cobra.Command {
	var artifactType string
	var annotations []string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "push REGISTRY/REPOSITORY[:TAG] FILE...",
		Short: "Push files as an OCI artifact (compatible with oras)",
		Long: `Push files as an OCI artifact: one layer per file, named by its
org.opencontainers.image.title annotation, with an empty config and the given
artifact type, as oras does; oras pull and acre pull both read it back.`,
		Example: `  acre push localhost:5000/docs:v1 README.md LICENSE
  acre push myregistry.azurecr.io/sbom:v1 sbom.json --artifact-type application/spdx+json -a org.example.team=platform`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			if ref.Digest != "" {
				return usageError{errors.New("push to a tag, not a digest")}
			}
			ann, err := parseAnnotations(annotations)
			if err != nil {
				return err
			}
			files := args[1:]
			seen := map[string]bool{}
			for _, f := range files {
				name := filepath.Base(f)
				if seen[name] {
					return usageError{fmt.Errorf("two files named %s: names must be unique in an artifact", name)}
				}
				seen[name] = true
				if st, err := os.Stat(f); err != nil {
					return usageError{err}
				} else if !st.Mode().IsRegular() {
					return usageError{fmt.Errorf("%s is not a regular file", f)}
				}
			}
			if artifactType == "" {
				artifactType = defaultArtifactType
			}
			return push(cmd, g, ref, files, artifactType, ann, concurrency)
		},
	}
	cmd.Flags().StringVar(&artifactType, "artifact-type", "", "artifact type (default "+defaultArtifactType+")")
	cmd.Flags().StringArrayVarP(&annotations, "annotation", "a", nil, "manifest annotation key=value (repeatable)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "files uploaded in parallel")
	return cmd
}

func push(cmd *cobra.Command, g *globalOptions, ref refT, files []string, artifactType string, ann map[string]string, concurrency int) error {
	ctx := cmd.Context()
	client, blobs, err := g.clients(ctx, ref.Registry)
	if err != nil {
		return err
	}
	prog := newProgress(cmd.ErrOrStderr())
	layers := make([]ocispec.Descriptor, len(files))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(max(concurrency, 1))
	for i, path := range files {
		eg.Go(func() error {
			d, err := pushFile(ectx, blobs, ref.Repository, path, prog)
			layers[i] = d
			return err
		})
	}
	cfg, cfgErr := blobs.UploadBlob(ctx, ref.Repository, strings.NewReader(string(emptyConfig)), &acr.UploadBlobOptions{
		Size: int64(len(emptyConfig)), Digest: string(digest.FromBytes(emptyConfig))})
	err = eg.Wait()
	prog.wait()
	if err = errors.Join(err, cfgErr); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if ann == nil {
		ann = map[string]string{}
	}
	if _, ok := ann[ocispec.AnnotationCreated]; !ok {
		ann[ocispec.AnnotationCreated] = time.Now().UTC().Format(time.RFC3339)
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.Descriptor{MediaType: emptyConfigMediaType, Digest: digest.Digest(cfg.Digest), Size: cfg.Size, Data: emptyConfig},
		Layers:       layers,
		Annotations:  ann,
	}
	res, err := client.SetManifest(ctx, ref.Repository, m, &acr.SetManifestOptions{Tag: ref.Tag})
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if g.output == "json" {
		return writeJSONOut(cmd.OutOrStdout(), map[string]any{"reference": ref.String(), "digest": res.Digest, "mediaType": res.MediaType, "layers": layers})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %s\ndigest: %s\n", ref, res.Digest)
	return nil
}

func pushFile(ctx context.Context, blobs *acr.BlobClient, repo, path string, prog *progress) (ocispec.Descriptor, error) {
	f, err := os.Open(path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	name := filepath.Base(path)
	res, err := blobs.UploadBlob(ctx, repo, f, &acr.UploadBlobOptions{Size: st.Size(), Progress: prog.bar(name, st.Size())})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("upload %s: %w", path, err)
	}
	return ocispec.Descriptor{
		MediaType:   fileLayerMediaType,
		Digest:      digest.Digest(res.Digest),
		Size:        res.Size,
		Annotations: map[string]string{ocispec.AnnotationTitle: name},
	}, nil
}

func newPullCommand(g *globalOptions) *cobra.Command {
	var outDir string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "pull REGISTRY/REPOSITORY[:TAG|@DIGEST] [-o DIR]",
		Short: "Pull the files of an artifact (compatible with oras)",
		Long: `Pull the files of an artifact pushed with acre push or oras push: every layer
with an org.opencontainers.image.title annotation is written to that name in the
output directory. Each file is checked against its digest and written atomically.`,
		Example: "  acre pull localhost:5000/docs:v1 -o ./docs",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseImageRef(args[0])
			if err != nil {
				return err
			}
			return pull(cmd, g, ref, outDir, concurrency)
		},
	}
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", ".", "directory to write the files to")
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "files downloaded in parallel")
	return cmd
}

// safeName checks that a title names a file inside the output directory.
func safeName(title string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(title))
	if title == "" || filepath.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("refusing to write %q outside the output directory", title)
	}
	return clean, nil
}

func pull(cmd *cobra.Command, g *globalOptions, ref refT, outDir string, concurrency int) error {
	ctx := cmd.Context()
	client, blobs, err := g.clients(ctx, ref.Registry)
	if err != nil {
		return err
	}
	m, err := client.FetchManifest(ctx, ref.Repository, ref.Reference(), nil)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if m.Manifest == nil {
		return fmt.Errorf("pull %s: %s is not an artifact of files (it is a %s)", ref, m.Digest, m.MediaType)
	}
	type file struct {
		desc ocispec.Descriptor
		name string
	}
	var files []file
	for _, l := range m.Manifest.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		if title == "" {
			continue
		}
		name, err := safeName(title)
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		files = append(files, file{l, name})
	}
	if len(files) == 0 {
		return fmt.Errorf("pull %s: no layer carries a file name (org.opencontainers.image.title)", ref)
	}
	prog := newProgress(cmd.ErrOrStderr())
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(max(concurrency, 1))
	for _, f := range files {
		eg.Go(func() error {
			return pullFile(ectx, blobs, ref.Repository, f.desc, filepath.Join(outDir, f.name), prog)
		})
	}
	err = eg.Wait()
	prog.wait()
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if g.output == "json" {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = filepath.Join(outDir, f.name)
		}
		return writeJSONOut(cmd.OutOrStdout(), map[string]any{"reference": ref.String(), "digest": m.Digest, "files": names})
	}
	for _, f := range files {
		fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(outDir, f.name))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pulled %s\ndigest: %s\n", ref, m.Digest)
	return nil
}

// pullFile downloads one blob to path through a temporary file, renamed into place
// only once the digest checked out.
func pullFile(ctx context.Context, blobs *acr.BlobClient, repo string, d ocispec.Descriptor, path string, prog *progress) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	res, err := blobs.DownloadBlob(ctx, repo, string(d.Digest), &acr.DownloadBlobOptions{Progress: prog.bar(filepath.Base(path), d.Size)})
	if err != nil {
		return fmt.Errorf("download %s: %w", path, err)
	}
	defer res.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, res.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("download %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newCopyCommand(g *globalOptions) *cobra.Command {
	var referrers bool
	var platforms []string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "copy SOURCE DESTINATION",
		Short: "Copy an image or index (with its referrers on request) to another repository or registry",
		Long: `Copy an image, a multi-arch index or any artifact, with every manifest and blob
it references, between repositories and registries. Blobs that are already there
are skipped; within one registry they are mounted instead of copied.`,
		Example: `  acre copy localhost:5000/hello:v1 localhost:5000/mirror/hello:v1
  acre copy myregistry.azurecr.io/app:1.0 localhost:5000/app:1.0 --referrers --platform linux/amd64`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseImageRef(args[0])
			if err != nil {
				return err
			}
			dst, err := parseRef(args[1])
			if err != nil {
				return err
			}
			if dst.Digest != "" {
				return usageError{errors.New("the destination takes a tag, not a digest")}
			}
			var plats []ocispec.Platform
			for _, p := range platforms {
				pl, err := parsePlatform(p)
				if err != nil {
					return err
				}
				plats = append(plats, pl)
			}
			ctx := cmd.Context()
			sc, sb, err := g.clients(ctx, src.Registry)
			if err != nil {
				return err
			}
			dc, db, err := g.clients(ctx, dst.Registry)
			if err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr())
			bars := map[digest.Digest]acr.Progress{}
			opts := &acr.CopyOptions{Referrers: referrers, Platforms: plats, Concurrency: concurrency,
				BlobProgress: func(blob ocispec.Descriptor, transferred, total int64) {
					bar, ok := bars[blob.Digest]
					if !ok {
						bar = prog.bar(blob.Digest.Encoded()[:12], total)
						bars[blob.Digest] = bar
					}
					if bar != nil {
						bar(transferred, total)
					}
				}}
			res, err := acr.Copy(ctx, acr.Repository{Client: sc, Blobs: sb, Name: src.Repository}, src.Reference(),
				acr.Repository{Client: dc, Blobs: db, Name: dst.Repository}, dst.Tag, opts)
			prog.wait()
			if err != nil {
				return fmt.Errorf("copy %s to %s: %w", src, dst, err)
			}
			if g.output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s\ndigest: %s (%d manifests; blobs: %d copied, %d mounted, %d already there; %s transferred)\n",
				src, dst, res.Digest, res.Manifests, res.BlobsCopied, res.BlobsMounted, res.BlobsSkipped, humanBytes(res.BytesCopied))
			return nil
		},
	}
	cmd.Flags().BoolVar(&referrers, "referrers", false, "also copy signatures, SBOMs and other referrers")
	cmd.Flags().StringArrayVar(&platforms, "platform", nil, "copy only these platforms of an index, os/arch[/variant] (repeatable)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "blobs transferred in parallel")
	return cmd
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, usageError{fmt.Errorf("platform %q: want os/arch[/variant]", s)}
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
