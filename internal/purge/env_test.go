package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// clock is a settable clock for the registry, so that tests choose the
// lastUpdateTime of what they push.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// base is "now" for the tests: what they pass as Options.Now.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// env is a registry with a client, and helpers that push images, indexes and
// referrers at chosen times.
type env struct {
	t      testing.TB
	srv    *registrytest.Server
	client *acr.Client
	blobs  *acr.BlobClient
	clock  *clock
	ready  map[string]bool // repositories with the shared config and layer
	config ocispec.Descriptor
	layer  ocispec.Descriptor
}

func newEnv(t testing.TB, opts ...registrytest.Option) *env {
	t.Helper()
	c := &clock{t: base.Add(-365 * day)}
	opts = append([]registrytest.Option{registrytest.With(func(s *registrytest.Settings) { s.Registry.Core.Now = c.Now })}, opts...)
	srv := registrytest.New(t, opts...)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("a layer shared by every test image")
	e := &env{t: t, srv: srv, clock: c, ready: map[string]bool{},
		config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		layer:  ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))},
	}
	e.connect(srv.URL, nil, policy.RetryOptions{MaxRetries: -1})
	return e
}

// connect points the clients at endpoint.
func (e *env) connect(endpoint string, cred azcore.TokenCredential, retry policy.RetryOptions) {
	e.t.Helper()
	copts := azcore.ClientOptions{Retry: retry}
	var err error
	if e.client, err = acr.NewClient(endpoint, cred, &acr.ClientOptions{ClientOptions: copts}); err != nil {
		e.t.Fatal(err)
	}
	if e.blobs, err = acr.NewBlobClient(endpoint, cred, &acr.BlobClientOptions{ClientOptions: copts}); err != nil {
		e.t.Fatal(err)
	}
}

// wrap serves the registry behind middleware and points the clients there.
func (e *env) wrap(mw func(http.Handler) http.Handler, cred azcore.TokenCredential, retry policy.RetryOptions) {
	hs := httptest.NewServer(mw(e.srv.Registry))
	e.t.Cleanup(hs.Close)
	e.connect(hs.URL, cred, retry)
}

// at sets the registry's clock to base plus offset (offsets are negative: ago).
func (e *env) at(offset time.Duration) *env {
	e.clock.Set(base.Add(offset))
	return e
}

func (e *env) ensureBlobs(repo string) {
	if e.ready[repo] {
		return
	}
	ctx := context.Background()
	for _, b := range [][]byte{
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`),
		[]byte("a layer shared by every test image"),
		[]byte("{}"), // ocispec.DescriptorEmptyJSON, the config of artifacts
	} {
		if _, err := e.blobs.UploadBlob(ctx, repo, bytes.NewReader(b), nil); err != nil {
			e.t.Fatalf("upload blob to %s: %v", repo, err)
		}
	}
	e.ready[repo] = true
}

// push uploads a manifest under ref (a tag, or "" for by digest) and returns its digest.
func (e *env) push(repo, ref, mediaType string, v any) string {
	e.t.Helper()
	e.ensureBlobs(repo)
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromBytes(b).String()
	if ref == "" {
		ref = d
	}
	if _, err := e.client.UploadManifest(context.Background(), repo, ref, acr.ContentType(mediaType),
		streaming.NopCloser(bytes.NewReader(b)), nil); err != nil {
		e.t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return d
}

// image pushes an OCI image, unique by seed, tagged tag ("" for untagged).
func (e *env) image(repo, tag, seed string) string {
	e.t.Helper()
	return e.push(repo, tag, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest,
		Config: e.config, Layers: []ocispec.Descriptor{e.layer},
		Annotations: map[string]string{"seed": seed},
	})
}

// dockerImage pushes a Docker schema 2 image, unique by seed.
func (e *env) dockerImage(repo, tag, seed string) string {
	e.t.Helper()
	cfg, layer := e.config, e.layer
	cfg.MediaType = "application/vnd.docker.container.image.v1+json"
	layer.MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	return e.push(repo, tag, mediaTypeDockerManifest, map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeDockerManifest, "config": cfg, "layers": []ocispec.Descriptor{layer},
		"annotations": map[string]string{"seed": seed}, // ignored by Docker, makes the digest unique
	})
}

// index pushes an OCI index of children (each an image or an index).
func (e *env) index(repo, tag, seed string, children ...string) string {
	e.t.Helper()
	return e.push(repo, tag, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specsV2, MediaType: ocispec.MediaTypeImageIndex,
		Manifests:   e.descriptors(repo, children),
		Annotations: map[string]string{"seed": seed},
	})
}

// referrer pushes an untagged OCI artifact whose subject is subject (which need not
// exist); with children it is an index.
func (e *env) referrer(repo, subject, seed string, children ...string) string {
	e.t.Helper()
	subj := &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(subject), Size: 100}
	if len(children) > 0 {
		return e.push(repo, "", ocispec.MediaTypeImageIndex, ocispec.Index{
			Versioned: specsV2, MediaType: ocispec.MediaTypeImageIndex, ArtifactType: "application/vnd.example.sbom",
			Manifests: e.descriptors(repo, children), Subject: subj, Annotations: map[string]string{"seed": seed},
		})
	}
	return e.push(repo, "", ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.signature",
		Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{e.layer}, Subject: subj,
		Annotations: map[string]string{"seed": seed},
	})
}

func (e *env) descriptors(repo string, digests []string) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range digests {
		p, err := e.client.GetManifestProperties(context.Background(), repo, d, nil)
		if err != nil {
			e.t.Fatalf("properties of %s: %v", d, err)
		}
		out = append(out, ocispec.Descriptor{MediaType: *p.Manifest.MediaType, Digest: digest.Digest(d), Size: 100})
	}
	return out
}

// tag points tag at an existing manifest.
func (e *env) tag(repo, tag, d string) {
	e.t.Helper()
	resp, err := e.client.GetManifest(context.Background(), repo, d, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.ManifestData)
	resp.ManifestData.Close()
	var m struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(b, &m)
	if _, err := e.client.UploadManifest(context.Background(), repo, tag, acr.ContentType(m.MediaType),
		streaming.NopCloser(bytes.NewReader(b)), nil); err != nil {
		e.t.Fatal(err)
	}
}

// lockTag and lockManifest set writeEnabled=false.
func (e *env) lockTag(repo, tag string) {
	e.t.Helper()
	if _, err := e.client.UpdateTagProperties(context.Background(), repo, tag, &acr.ClientUpdateTagPropertiesOptions{
		Value: &acr.TagWriteableProperties{CanWrite: to.Ptr(false)}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) lockManifest(repo, d string) {
	e.t.Helper()
	if _, err := e.client.UpdateManifestProperties(context.Background(), repo, d, &acr.ClientUpdateManifestPropertiesOptions{
		Value: &acr.ManifestWriteableProperties{CanDelete: to.Ptr(false)}}); err != nil {
		e.t.Fatal(err)
	}
}

// tags returns the repository's tag names, sorted.
func (e *env) tags(repo string) []string {
	e.t.Helper()
	var out []string
	pager := e.client.NewListTagsPager(repo, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, t := range page.Tags {
			out = append(out, *t.Name)
		}
	}
	slices.Sort(out)
	return out
}

// manifests returns the repository's manifest digests, sorted.
func (e *env) manifests(repo string) []string {
	e.t.Helper()
	var out []string
	pager := e.client.NewListManifestsPager(repo, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range page.Attributes {
			out = append(out, *m.Digest)
		}
	}
	slices.Sort(out)
	return out
}

// run purges with opts (Now defaults to base) and returns the summary and the
// actions, as "op kind repo:tag" or "op kind repo@digest" strings.
func (e *env) run(opts Options) (Summary, []string, error) {
	e.t.Helper()
	if opts.Now.IsZero() {
		opts.Now = base
	}
	var mu sync.Mutex
	var actions []string
	opts.Report = func(a Action) {
		mu.Lock()
		defer mu.Unlock()
		actions = append(actions, actionKey(a))
	}
	sum, err := Run(context.Background(), e.client, opts)
	slices.Sort(actions)
	return sum, actions, err
}

func actionKey(a Action) string {
	s := fmt.Sprintf("%s %s %s", a.Op, a.Kind, a.Repository)
	switch a.Kind {
	case KindTag:
		s += ":" + a.Tag
	case KindManifest:
		s += "@" + a.Digest
	}
	if a.Unlocked {
		s += " unlocked"
	}
	return s
}

func rule(t testing.TB, filters ...string) Rule {
	t.Helper()
	fs, err := ParseFilters(filters, false)
	if err != nil {
		t.Fatal(err)
	}
	return Rule{Filters: fs}
}

var specsV2 = specs.Versioned{SchemaVersion: 2}
