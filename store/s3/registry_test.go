package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/sqlite"
)

// replicaStores returns two stores on the same bucket and prefix.
func replicaStores(t *testing.T) (store.BlobStore, store.BlobStore) {
	opts := testBucket(t)
	a, b := newTestStore(t, opts, "registry/", 0), newTestStore(t, opts, "registry/", 0)
	t.Cleanup(func() { checkNoLeftovers(t, a) })
	return a, b
}

// TestRegistryReplicas pushes a blob through two registry replicas that share this
// blob store and one metadata store: the session starts on one, its PATCHes
// alternate between both, it completes on the other, and both serve the blob,
// through the OCI API over HTTP.
func TestRegistryReplicas(t *testing.T) {
	a, b := replicaStores(t)
	meta, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close() })
	replica := func(blobs store.BlobStore) *registrytest.Server {
		return registrytest.New(t, registrytest.WithoutAuth(), registrytest.With(func(s *registrytest.Settings) {
			s.Registry.Blobs, s.Registry.Metadata = blobs, meta
		}))
	}
	servers := []*registrytest.Server{replica(a), replica(b)}

	content := make([]byte, 3<<20+12345)
	if _, err := io.ReadFull(newPattern(int64(len(content))), content); err != nil {
		t.Fatal(err)
	}
	dgst := digest.FromBytes(content)
	do := func(srv *registrytest.Server, method, path string, body []byte, hdr map[string]string, want int) *http.Response {
		t.Helper()
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, u.ResolveReference(ref).String(), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("%s %s: %s %s, want %d", method, path, resp.Status, msg, want)
		}
		return resp
	}

	resp := do(servers[0], http.MethodPost, "/v2/e2e/repo/blobs/uploads/", nil, nil, http.StatusAccepted)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	var off int
	for i, size := range []int{1 << 20, 100, 2 << 20, 12245} {
		chunk := content[off : off+size]
		resp := do(servers[i%2], http.MethodPatch, loc, chunk, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", off, off+size-1),
		}, http.StatusAccepted)
		resp.Body.Close()
		loc = resp.Header.Get("Location")
		off += size
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp = do(servers[1], http.MethodPut, loc+sep+"digest="+url.QueryEscape(dgst.String()), nil, nil, http.StatusCreated)
	resp.Body.Close()

	for i, srv := range servers {
		resp := do(srv, http.MethodGet, "/v2/e2e/repo/blobs/"+dgst.String(), nil, nil, http.StatusOK)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("GET from replica %d: %d bytes (err %v), want the %d pushed", i, len(got), err, len(content))
		}
	}
}
