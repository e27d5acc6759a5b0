// Package registrysuite holds the tests every shared (object-storage) blob store
// must pass through a real registry: an upload whose requests alternate between two
// replicas, and blob GETs redirected to signed URLs. It is apart from storetest
// because it imports the registry, which imports the default stores.
package registrysuite

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/sqlite"
)

// Replicas pushes a blob through two registry replicas that share one metadata
// store and, through a and b, one blob store: the session starts on one, its
// PATCHes alternate between both, it completes on the other, and both serve the
// blob, through the OCI API over HTTP.
func Replicas(t *testing.T, a, b store.BlobStore) {
	t.Helper()
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
	for i := range content {
		content[i] = byte(i*7 + i>>9)
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

// Redirect checks the registry's optional 307 for blob GETs: the client
// is sent to a signed URL on the object store, which serves the blob (and ranges).
func Redirect(t *testing.T, blobs store.BlobStore) {
	t.Helper()
	meta, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close() })
	srv := registrytest.New(t, registrytest.WithoutAuth(), registrytest.With(func(s *registrytest.Settings) {
		s.Registry.Blobs, s.Registry.Metadata = blobs, meta
		s.Registry.Core.BlobRedirectTTL = time.Minute
	}))
	content := bytes.Repeat([]byte("redirected "), 10000)
	dgst := digest.FromBytes(content)
	res, err := http.Post(srv.URL+"/v2/r/blobs/uploads/?digest="+string(dgst), "application/octet-stream", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("push: %s", res.Status)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.Get(srv.URL + "/v2/r/blobs/" + string(dgst))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusTemporaryRedirect || loc == "" || res.Header.Get("Docker-Content-Digest") != string(dgst) {
		t.Fatalf("GET: %s, Location %q", res.Status, loc)
	}
	// Following it (what every client does) gets the bytes, and ranges work there.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/r/blobs/"+string(dgst), nil)
	req.Header.Set("Range", "bytes=11-21")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || string(got) != "redirected " {
		t.Fatalf("ranged GET through the redirect: %s %q", res.Status, got)
	}
	// A blob the repository does not hold is refused before any URL is signed.
	res, err = noFollow.Get(srv.URL + "/v2/other/blobs/" + string(dgst))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET from another repository: %s", res.Status)
	}
}
