package s3

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store/sqlite"
)

// TestRegistryRedirect checks the registry's optional 307 for blob GETs: the client
// is sent to a signed URL on the object store, which serves the blob (and ranges).
func TestRegistryRedirect(t *testing.T) {
	blobs := newTestStore(t, testBucket(t), "registry/", 0)
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
