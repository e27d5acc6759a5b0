package acrapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests drive acre with the official Azure SDK for Go (azcontainerregistry
// v0.2.3), unchanged, as an ACR user would.

// fakeClock returns a settable time, so tests control timestamps (and ties).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	t      *testing.T
	srv    *registrytest.Server
	client *azcontainerregistry.Client
	blobs  *azcontainerregistry.BlobClient
	clock  *fakeClock
}

func newEnv(t *testing.T, opts ...registrytest.Option) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2024, 1, 24, 6, 16, 1, 534509000, time.UTC)}
	opts = append([]registrytest.Option{registrytest.With(func(s *registrytest.Settings) { s.Registry.Core.Now = clock.Now })}, opts...)
	srv := registrytest.New(t, opts...)
	copts := azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}
	client, err := azcontainerregistry.NewClient(srv.URL, nil, &azcontainerregistry.ClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azcontainerregistry.NewBlobClient(srv.URL, nil, &azcontainerregistry.BlobClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, client: client, blobs: blobs, clock: clock}
}

// uploadBlob uploads data with the SDK's chunked upload, in chunks of chunkSize.
func (e *env) uploadBlob(repo string, data []byte, chunkSize int) digest.Digest {
	e.t.Helper()
	ctx := context.Background()
	start, err := e.blobs.StartUpload(ctx, repo, nil)
	if err != nil {
		e.t.Fatalf("StartUpload: %v", err)
	}
	calc := azcontainerregistry.NewBlobDigestCalculator()
	loc := *start.Location
	for off := 0; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		res, err := e.blobs.UploadChunk(ctx, loc, bytes.NewReader(data[off:end]), calc, &azcontainerregistry.BlobClientUploadChunkOptions{
			RangeStart: to.Ptr(int32(off)), RangeEnd: to.Ptr(int32(end - 1)),
		})
		if err != nil {
			e.t.Fatalf("UploadChunk: %v", err)
		}
		loc = *res.Location
	}
	done, err := e.blobs.CompleteUpload(ctx, loc, calc, nil)
	if err != nil {
		e.t.Fatalf("CompleteUpload: %v", err)
	}
	if d := digest.FromBytes(data); *done.DockerContentDigest != string(d) {
		e.t.Fatalf("CompleteUpload digest %s, want %s", *done.DockerContentDigest, d)
	}
	return digest.Digest(*done.DockerContentDigest)
}

// pushImage pushes a one-layer image for a platform and tags it (tag may be empty).
func (e *env) pushImage(repo, tag, arch string, layer []byte) (digest.Digest, []byte) {
	e.t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":%q,"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, arch))
	cd := e.uploadBlob(repo, cfg, 1<<20)
	ld := e.uploadBlob(repo, layer, 1<<20)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd, len(cfg), ocispec.MediaTypeImageLayer, ld, len(layer))
	ref := tag
	if ref == "" {
		ref = string(digest.FromString(m))
	}
	res, err := e.client.UploadManifest(context.Background(), repo, ref, azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
		streaming.NopCloser(bytes.NewReader([]byte(m))), nil)
	if err != nil {
		e.t.Fatalf("UploadManifest %s:%s: %v", repo, tag, err)
	}
	return digest.Digest(*res.DockerContentDigest), []byte(m)
}

func (e *env) listTags(repo string, opts *azcontainerregistry.ClientListTagsOptions) []*azcontainerregistry.TagAttributes {
	e.t.Helper()
	var out []*azcontainerregistry.TagAttributes
	pager := e.client.NewListTagsPager(repo, opts)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatalf("list tags: %v", err)
		}
		out = append(out, page.Tags...)
	}
	return out
}

func (e *env) listManifests(repo string, opts *azcontainerregistry.ClientListManifestsOptions) []*azcontainerregistry.ManifestAttributes {
	e.t.Helper()
	var out []*azcontainerregistry.ManifestAttributes
	pager := e.client.NewListManifestsPager(repo, opts)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatalf("list manifests: %v", err)
		}
		out = append(out, page.Attributes...)
	}
	return out
}

func (e *env) listRepositories(n int32) []string {
	e.t.Helper()
	var out []string
	pager := e.client.NewListRepositoriesPager(&azcontainerregistry.ClientListRepositoriesOptions{MaxNum: to.Ptr(n)})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatalf("list repositories: %v", err)
		}
		for _, r := range page.Names {
			out = append(out, *r)
		}
	}
	return out
}

// wantCode checks that err is an *azcore.ResponseError with this status and OCI code.
func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want *azcore.ResponseError %d %s", err, status, code)
	}
	if re.StatusCode != status {
		t.Fatalf("status %d, want %d (%v)", re.StatusCode, status, err)
	}
	if code != "" {
		var body struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		b, _ := io.ReadAll(re.RawResponse.Body)
		if json.Unmarshal(b, &body) != nil || len(body.Errors) == 0 || body.Errors[0].Code != code {
			t.Fatalf("error body %s, want code %s", b, code)
		}
	}
}

func names(tags []*azcontainerregistry.TagAttributes) []string {
	var out []string
	for _, t := range tags {
		out = append(out, *t.Name)
	}
	return out
}

func TestClientProperties(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	amd, _ := e.pushImage("library/hello-world", "", "amd64", []byte("amd64 layer"))
	arm, _ := e.pushImage("library/hello-world", "", "arm64", []byte("arm64 layer!"))
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":1,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":%q,"digest":%q,"size":1,"platform":{"architecture":"arm64","os":"linux"}}]}`,
		ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, amd, ocispec.MediaTypeImageManifest, arm)
	up, err := e.client.UploadManifest(ctx, "library/hello-world", "latest", azcontainerregistry.ContentType(ocispec.MediaTypeImageIndex),
		streaming.NopCloser(bytes.NewReader([]byte(idx))), nil)
	if err != nil {
		t.Fatal(err)
	}
	idxDigest := *up.DockerContentDigest
	if *up.Location != "/v2/library/hello-world/manifests/"+idxDigest {
		t.Errorf("UploadManifest Location %q", *up.Location)
	}

	t.Run("repository", func(t *testing.T) {
		p, err := e.client.GetRepositoryProperties(ctx, "library/hello-world", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *p.Name != "library/hello-world" || *p.ManifestCount != 3 || *p.TagCount != 1 || *p.RegistryLoginServer != e.srv.Host ||
			!*p.ChangeableAttributes.CanWrite || !p.CreatedOn.Equal(e.clock.Now()) {
			t.Fatalf("repository properties: %+v", p.ContainerRepositoryProperties)
		}
		_, err = e.client.GetRepositoryProperties(ctx, "wrong-name", nil)
		wantCode(t, err, 404, "NAME_UNKNOWN")
		if got := e.listRepositories(1); !slices.Equal(got, []string{"library/hello-world"}) {
			t.Fatalf("repositories %v", got)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		p, err := e.client.GetManifestProperties(ctx, "library/hello-world", idxDigest, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := p.Manifest
		if *m.MediaType != ocispec.MediaTypeImageIndex || len(m.Tags) != 1 || *m.Tags[0] != "latest" || len(m.RelatedArtifacts) != 2 ||
			*m.RelatedArtifacts[1].Architecture != "arm64" || *m.RelatedArtifacts[1].OperatingSystem != "linux" {
			t.Fatalf("index properties: %+v", m)
		}
		child, err := e.client.GetManifestProperties(ctx, "library/hello-world", string(amd), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := child.Manifest
		if *c.Architecture != "amd64" || *c.OperatingSystem != "linux" || *c.ConfigMediaType != ocispec.MediaTypeImageConfig || *c.Size <= int64(len("amd64 layer")) {
			t.Fatalf("image properties: arch %v os %v config %v size %v", *c.Architecture, *c.OperatingSystem, *c.ConfigMediaType, *c.Size)
		}
		if *m.Size <= *c.Size {
			t.Fatalf("index size %d should include its images' (%d)", *m.Size, *c.Size)
		}
		_, err = e.client.GetManifestProperties(ctx, "library/hello-world", "sha256:"+fmt.Sprint(digest.FromString("x").Encoded()), nil)
		wantCode(t, err, 404, "MANIFEST_UNKNOWN")
		// A value that is not a digest is not a route at all, as in ACR.
		_, err = e.client.GetManifestProperties(ctx, "library/hello-world", "wrong-digest", nil)
		wantCode(t, err, 404, "")
	})
	t.Run("get manifest", func(t *testing.T) {
		res, err := e.client.GetManifest(ctx, "library/hello-world", "latest", &azcontainerregistry.ClientGetManifestOptions{Accept: to.Ptr(ocispec.MediaTypeImageIndex)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := azcontainerregistry.NewDigestValidationReader(*res.DockerContentDigest, res.ManifestData)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil || string(b) != idx {
			t.Fatalf("GetManifest: %v %s", err, b)
		}
		// An index is not served to a client that accepts only image manifests.
		_, err = e.client.GetManifest(ctx, "library/hello-world", "latest", &azcontainerregistry.ClientGetManifestOptions{Accept: to.Ptr(ocispec.MediaTypeImageManifest)})
		wantCode(t, err, 404, "MANIFEST_UNKNOWN")
		_, err = e.client.GetManifest(ctx, "library/hello-world", "wrong-tag", nil)
		wantCode(t, err, 404, "MANIFEST_UNKNOWN")
	})
	t.Run("tag", func(t *testing.T) {
		p, err := e.client.GetTagProperties(ctx, "library/hello-world", "latest", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *p.Tag.Name != "latest" || *p.Tag.Digest != idxDigest || *p.RepositoryName != "library/hello-world" {
			t.Fatalf("tag properties %+v", p.Tag)
		}
		_, err = e.client.GetTagProperties(ctx, "library/hello-world", "wrong-tag", nil)
		wantCode(t, err, 404, "TAG_UNKNOWN")
		if got := e.listTags("library/hello-world", &azcontainerregistry.ClientListTagsOptions{Digest: to.Ptr(idxDigest)}); len(got) != 1 {
			t.Fatalf("tags of the index: %v", names(got))
		}
		if got := e.listTags("library/hello-world", &azcontainerregistry.ClientListTagsOptions{Digest: to.Ptr(string(amd))}); len(got) != 0 {
			t.Fatalf("tags of an untagged image: %v", names(got))
		}
		_, err = e.client.NewListTagsPager("wrong-name", nil).NextPage(ctx)
		wantCode(t, err, 404, "NAME_UNKNOWN")
	})
	t.Run("update keeps timestamps", func(t *testing.T) {
		before, _ := e.client.GetTagProperties(ctx, "library/hello-world", "latest", nil)
		e.clock.Set(e.clock.Now().Add(time.Hour))
		for _, attr := range []azcontainerregistry.TagWriteableProperties{{CanWrite: to.Ptr(false)}, {CanDelete: to.Ptr(false), CanWrite: to.Ptr(true)}} {
			res, err := e.client.UpdateTagProperties(ctx, "library/hello-world", "latest", &azcontainerregistry.ClientUpdateTagPropertiesOptions{Value: &attr})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Tag.LastUpdatedOn.Equal(*before.Tag.LastUpdatedOn) {
				t.Fatalf("PATCH moved lastUpdateTime from %v to %v", before.Tag.LastUpdatedOn, res.Tag.LastUpdatedOn)
			}
		}
		after, _ := e.client.GetTagProperties(ctx, "library/hello-world", "latest", nil)
		if *after.Tag.ChangeableAttributes.CanDelete || !*after.Tag.ChangeableAttributes.CanWrite || !*after.Tag.ChangeableAttributes.CanRead {
			t.Fatalf("attributes after PATCH %+v", after.Tag.ChangeableAttributes)
		}
		mres, err := e.client.UpdateManifestProperties(ctx, "library/hello-world", string(arm), &azcontainerregistry.ClientUpdateManifestPropertiesOptions{
			Value: &azcontainerregistry.ManifestWriteableProperties{CanList: to.Ptr(false)}})
		if err != nil || *mres.Manifest.ChangeableAttributes.CanList {
			t.Fatalf("UpdateManifestProperties: %v", err)
		}
		rres, err := e.client.UpdateRepositoryProperties(ctx, "library/hello-world", &azcontainerregistry.ClientUpdateRepositoryPropertiesOptions{
			Value: &azcontainerregistry.RepositoryWriteableProperties{CanRead: to.Ptr(true)}})
		if err != nil || !*rres.ChangeableAttributes.CanRead {
			t.Fatalf("UpdateRepositoryProperties: %v", err)
		}
		_, err = e.client.UpdateTagProperties(ctx, "library/hello-world", "wrong-tag", nil)
		wantCode(t, err, 404, "TAG_UNKNOWN")
		_, err = e.client.UpdateRepositoryProperties(ctx, "wrong-repo", nil)
		wantCode(t, err, 404, "NAME_UNKNOWN")
	})
}
