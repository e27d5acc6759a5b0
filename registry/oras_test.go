package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"testing"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
)

// These tests drive the server with oras-go, a registry client written by others,
// exactly as an OCI user would.

func newRepo(t *testing.T, srv *registrytest.Server, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(srv.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

func pushBytes(t *testing.T, s content.Pusher, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatalf("push %s: %v", mediaType, err)
	}
	return desc
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// buildImage puts a config and layers into s and returns the image manifest.
func buildImage(t *testing.T, s content.Storage, arch string, layerSizes ...int) ocispec.Descriptor {
	t.Helper()
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{Architecture: arch, OS: "linux"}})
	config := pushBytes(t, s, ocispec.MediaTypeImageConfig, cfg)
	var layers []ocispec.Descriptor
	for _, n := range layerSizes {
		layers = append(layers, pushBytes(t, s, ocispec.MediaTypeImageLayer, randomBytes(t, n)))
	}
	man, err := oras.PackManifest(context.Background(), s, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config, Layers: layers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return man
}

// sameGraph checks that every node reachable from root in want is in got, byte for byte.
func sameGraph(t *testing.T, want, got content.ReadOnlyStorage, root ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		w, err := content.FetchAll(ctx, want, d)
		if err != nil {
			t.Fatalf("fetch %s from source: %v", d.Digest, err)
		}
		g, err := content.FetchAll(ctx, got, d)
		if err != nil {
			t.Fatalf("fetch %s from copy: %v", d.Digest, err)
		}
		if !bytes.Equal(w, g) {
			t.Fatalf("%s differs after the round trip", d.Digest)
		}
		children, err := content.Successors(ctx, want, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range children {
			walk(c)
		}
	}
	walk(root)
}

func TestORASImageRoundTrip(t *testing.T) {
	srv := registrytest.New(t)
	ctx := context.Background()
	src := memory.New()
	man := buildImage(t, src, "amd64", 1<<20, 1234, 0)
	if err := src.Tag(ctx, man, "v1"); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t, srv, "library/hello-world")
	if _, err := oras.Copy(ctx, src, "v1", repo, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push: %v", err)
	}

	dst := memory.New()
	got, err := oras.Copy(ctx, repo, "v1", dst, "v1", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if got.Digest != man.Digest || got.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("pulled %s %s, want %s", got.MediaType, got.Digest, man.Digest)
	}
	sameGraph(t, src, dst, man)

	var tags []string
	if err := repo.Tags(ctx, "", func(page []string) error { tags = append(tags, page...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("tags = %v, want [v1]", tags)
	}
	reg, _ := remote.NewRegistry(srv.Host)
	reg.PlainHTTP = true
	var repos []string
	if err := reg.Repositories(ctx, "", func(page []string) error { repos = append(repos, page...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0] != "library/hello-world" {
		t.Fatalf("catalog = %v", repos)
	}
}

func TestORASIndexRoundTrip(t *testing.T) {
	srv := registrytest.New(t)
	ctx := context.Background()
	src := memory.New()
	amd := buildImage(t, src, "amd64", 4096)
	arm := buildImage(t, src, "arm64", 4096)
	amd.Platform = &ocispec.Platform{Architecture: "amd64", OS: "linux"}
	arm.Platform = &ocispec.Platform{Architecture: "arm64", OS: "linux"}
	idx, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd, arm},
	})
	idxDesc := pushBytes(t, src, ocispec.MediaTypeImageIndex, idx)
	if err := src.Tag(ctx, idxDesc, "multi"); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t, srv, "team/app")
	if _, err := oras.Copy(ctx, src, "multi", repo, "multi", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push index: %v", err)
	}
	dst := memory.New()
	got, err := oras.Copy(ctx, repo, "multi", dst, "multi", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	if got.Digest != idxDesc.Digest {
		t.Fatalf("pulled %s, want %s", got.Digest, idxDesc.Digest)
	}
	sameGraph(t, src, dst, idxDesc)

	// One platform, by digest.
	desc, rc, err := repo.FetchReference(ctx, string(arm.Digest))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if desc.Digest != arm.Digest || digest.FromBytes(b) != arm.Digest {
		t.Fatalf("fetched %s, want %s", desc.Digest, arm.Digest)
	}
}

func TestORASReferrers(t *testing.T) {
	srv := registrytest.New(t)
	ctx := context.Background()
	repo := newRepo(t, srv, "signed")
	subject := buildImage(t, repo, "amd64", 100)
	if err := repo.Tag(ctx, subject, "latest"); err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"application/vnd.example.sbom", "application/vnd.example.signature"} {
		sig := pushBytes(t, repo, "application/vnd.example.blob", []byte("payload of "+at))
		_, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, at, oras.PackManifestOptions{
			Subject: &subject, Layers: []ocispec.Descriptor{sig},
			ManifestAnnotations: map[string]string{"kind": at},
		})
		if err != nil {
			t.Fatalf("push referrer %s: %v", at, err)
		}
	}
	var all, sboms []ocispec.Descriptor
	if err := repo.Referrers(ctx, subject, "", func(r []ocispec.Descriptor) error { all = append(all, r...); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := repo.Referrers(ctx, subject, "application/vnd.example.sbom", func(r []ocispec.Descriptor) error { sboms = append(sboms, r...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(sboms) != 1 || sboms[0].ArtifactType != "application/vnd.example.sbom" || sboms[0].Annotations["kind"] != "application/vnd.example.sbom" {
		t.Fatalf("referrers: all=%v sboms=%v", all, sboms)
	}
	// Copying the subject with its referrers to another repository keeps the graph.
	dst := newRepo(t, srv, "mirror")
	if _, err := oras.ExtendedCopy(ctx, repo, "latest", dst, "latest", oras.DefaultExtendedCopyOptions); err != nil {
		t.Fatalf("extended copy: %v", err)
	}
	var copied []ocispec.Descriptor
	if err := dst.Referrers(ctx, subject, "", func(r []ocispec.Descriptor) error { copied = append(copied, r...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(copied) != 2 {
		t.Fatalf("referrers after copy = %d, want 2", len(copied))
	}
}

func TestORASDeleteManifestAndTag(t *testing.T) {
	srv := registrytest.New(t)
	ctx := context.Background()
	repo := newRepo(t, srv, "deleteme")
	man := buildImage(t, repo, "amd64", 10)
	for _, tag := range []string{"a", "b"} {
		if err := repo.Tag(ctx, man, tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Manifests().Delete(ctx, man); err != nil {
		t.Fatalf("delete manifest: %v", err)
	}
	for _, ref := range []string{"a", "b", string(man.Digest)} {
		if _, err := repo.Resolve(ctx, ref); err == nil {
			t.Errorf("%s still resolves after the manifest was deleted", ref)
		}
	}
}
