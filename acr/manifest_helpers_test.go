package acr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/registrytest"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testRegistry is a registry under test with clients for it.
type testRegistry struct {
	url    string
	client *acr.Client
	blobs  *acr.BlobClient
}

// quickRetry keeps the pipeline's retries but not its long waits.
var quickRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}

func clientsFor(t *testing.T, url string) *testRegistry {
	t.Helper()
	o := azcore.ClientOptions{Retry: quickRetry}
	c, err := acr.NewClient(url, nil, &acr.ClientOptions{ClientOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	b, err := acr.NewBlobClient(url, nil, &acr.BlobClientOptions{ClientOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{url: url, client: c, blobs: b}
}

// startAcre starts an acre registry (auth on, open mode) and, when wrap is given,
// serves it through wrap on a front server.
func startAcre(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	srv := registrytest.New(t)
	if wrap == nil {
		return clientsFor(t, srv.URL)
	}
	front := httptest.NewServer(wrap(srv.Registry))
	t.Cleanup(front.Close)
	return clientsFor(t, front.URL)
}

// startGGCR starts go-containerregistry's in-process registry: no auth, no ?tag=
// parameters, and the referrers API only when asked for (which it then serves
// without applying filters).
func startGGCR(t *testing.T, referrers bool, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	var h http.Handler = ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)), ggcr.WithReferrersSupport(referrers))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return clientsFor(t, srv.URL)
}

func (r *testRegistry) repo(name string) acr.Repository {
	return acr.Repository{Client: r.client, Name: name}
}

// pushBlob uploads data and returns its descriptor.
func (r *testRegistry) pushBlob(t *testing.T, repo, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	res, err := r.blobs.UploadBlob(context.Background(), repo, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("upload blob: %v", err)
	}
	if res.Digest != string(digest.FromBytes(data)) {
		t.Fatalf("upload blob: digest %s", res.Digest)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.Digest(res.Digest), Size: int64(len(data))}
}

// imageSpec describes a test image.
type imageSpec struct {
	platform ocispec.Platform
	layers   [][]byte
	docker   bool // Docker media types instead of OCI ones
	tag      string
}

// pushImage uploads an image's blobs and manifest and returns the manifest's
// descriptor with the platform set, ready for an index.
func (r *testRegistry) pushImage(t *testing.T, repo string, spec imageSpec) ocispec.Descriptor {
	t.Helper()
	mt, cfgType, layerType := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerGzip
	if spec.docker {
		mt, cfgType, layerType = "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: spec.platform, RootFS: ocispec.RootFS{Type: "layers"}})
	m := ocispec.Manifest{MediaType: mt, Config: r.pushBlob(t, repo, cfgType, cfg)}
	m.SchemaVersion = 2
	for _, l := range spec.layers {
		m.Layers = append(m.Layers, r.pushBlob(t, repo, layerType, l))
	}
	res, err := r.client.SetManifest(context.Background(), repo, m, &acr.SetManifestOptions{Tag: spec.tag})
	if err != nil {
		t.Fatalf("set manifest: %v", err)
	}
	p := spec.platform
	return ocispec.Descriptor{MediaType: res.MediaType, Digest: digest.Digest(res.Digest), Size: res.Size, Platform: &p}
}

// pushIndex uploads an index of the given manifests.
func (r *testRegistry) pushIndex(t *testing.T, repo, tag string, docker bool, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	if docker {
		ix.MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
	}
	ix.SchemaVersion = 2
	res, err := r.client.SetManifest(context.Background(), repo, &ix, &acr.SetManifestOptions{Tag: tag})
	if err != nil {
		t.Fatalf("set index: %v", err)
	}
	return ocispec.Descriptor{MediaType: res.MediaType, Digest: digest.Digest(res.Digest), Size: res.Size}
}

// pushReferrer uploads an artifact whose subject is subject. Its config has the
// artifact type as media type too, because go-containerregistry reports that as
// the artifact type.
func (r *testRegistry) pushReferrer(t *testing.T, repo string, subject ocispec.Descriptor, artifactType string, payload []byte) ocispec.Descriptor {
	t.Helper()
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       r.pushBlob(t, repo, artifactType, []byte("{}")),
		Layers:       []ocispec.Descriptor{r.pushBlob(t, repo, "application/octet-stream", payload)},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  map[string]string{"org.example.payload": string(payload)},
	}
	m.SchemaVersion = 2
	res, err := r.client.SetManifest(context.Background(), repo, m, nil)
	if err != nil {
		t.Fatalf("set referrer: %v", err)
	}
	return ocispec.Descriptor{MediaType: res.MediaType, Digest: digest.Digest(res.Digest), Size: res.Size, ArtifactType: artifactType}
}

// requestCounter counts requests that match, and the most in flight at once.
type requestCounter struct {
	match func(*http.Request) bool
	delay time.Duration

	mu       sync.Mutex
	n        int
	inFlight int
	max      int
	seen     []string
}

func (c *requestCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.match == nil || !c.match(r) {
			h.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		c.n++
		c.inFlight++
		c.max = max(c.max, c.inFlight)
		c.seen = append(c.seen, r.Method+" "+r.URL.RequestURI())
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.inFlight--
			c.mu.Unlock()
		}()
		if c.delay > 0 {
			time.Sleep(c.delay)
		}
		h.ServeHTTP(w, r)
	})
}

func (c *requestCounter) counts() (n, maxInFlight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.max
}

// rewriter buffers the answers to matching requests and lets edit change them
// before they are sent.
func rewriter(match func(*http.Request) bool, edit func(r *http.Request, h http.Header, status int, body []byte) (int, []byte)) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !match(r) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			res := rec.Result()
			length := res.Header.Get("Content-Length")
			status, body := edit(r, res.Header, res.StatusCode, rec.Body.Bytes())
			for k, v := range res.Header {
				w.Header()[k] = v
			}
			if l := w.Header().Get("Content-Length"); l != "" && l == length && r.Method != http.MethodHead {
				// Keep the length right unless edit changed it on purpose.
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		})
	}
}

func isManifestPath(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }
