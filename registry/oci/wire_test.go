package oci_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests pin the wire details clients depend on: status codes, relative
// Location and Link headers, %2F in names, Content-Range forms, the error JSON.

type client struct {
	t   *testing.T
	srv *registrytest.Server
}

func newClient(t *testing.T) *client {
	srv := registrytest.New(t)
	// Answer the token challenge as every registry client does.
	srv.Client().Transport = &registrytest.Transport{Base: srv.Client().Transport}
	return &client{t: t, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path string, body []byte, headers ...string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (r resp) errorCode() string {
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

func (c *client) expect(r resp, status int, code string) {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if code != "" && r.errorCode() != code {
		c.t.Fatalf("error code %q, want %q (body %s)", r.errorCode(), code, r.body)
	}
}

func checkRelative(t *testing.T, loc string) {
	t.Helper()
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "://") ||
		strings.Contains(loc, "/../") || strings.Contains(loc[1:], "//") {
		t.Fatalf("Location %q is not a clean host-relative path", loc)
	}
}

func randomBlob(t *testing.T, n int) ([]byte, digest.Digest) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, digest.FromBytes(b)
}

// pushBlob uploads with POST ?digest= and returns the digest.
func (c *client) pushBlob(name string, data []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(data)
	r := c.do("POST", "/v2/"+name+"/blobs/uploads/?digest="+string(d), data, "Content-Type", "application/octet-stream")
	c.expect(r, http.StatusCreated, "")
	return d
}

func (c *client) pushImage(name, tag string) (digest.Digest, []byte) {
	c.t.Helper()
	cfg := []byte(`{"architecture":"arm64","os":"linux"}`)
	layer, _ := randomBlob(c.t, 100)
	cd, ld := c.pushBlob(name, cfg), c.pushBlob(name, layer)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":100}]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd, len(cfg), ocispec.MediaTypeImageLayer, ld)
	r := c.do("PUT", "/v2/"+name+"/manifests/"+tag, []byte(m), "Content-Type", ocispec.MediaTypeImageManifest)
	c.expect(r, http.StatusCreated, "")
	return digest.FromString(m), []byte(m)
}

func TestPing(t *testing.T) {
	c := newClient(t)
	r := c.do("GET", "/v2/", nil)
	c.expect(r, 200, "")
	if r.header.Get("Docker-Distribution-Api-Version") != "registry/2.0" || string(r.body) != "{}" {
		t.Fatalf("ping: %v %s", r.header, r.body)
	}
}

func TestChunkedUpload(t *testing.T) {
	c := newClient(t)
	data, d := randomBlob(t, 3000)
	r := c.do("POST", "/v2/library%2Fchunky/blobs/uploads/", nil)
	c.expect(r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	checkRelative(t, loc)
	if r.header.Get("Range") != "0-0" || r.header.Get("Docker-Upload-UUID") == "" || !strings.HasPrefix(loc, "/v2/library/chunky/blobs/uploads/") {
		t.Fatalf("start: %v", r.header)
	}
	// Both Content-Range forms clients send.
	for i, cr := range []string{"0-999", "bytes 1000-1999"} {
		r = c.do("PATCH", loc, data[i*1000:(i+1)*1000], "Content-Range", cr, "Content-Type", "application/octet-stream")
		c.expect(r, http.StatusAccepted, "")
		loc = r.header.Get("Location")
		checkRelative(t, loc)
		if want := fmt.Sprintf("0-%d", (i+1)*1000-1); r.header.Get("Range") != want {
			t.Fatalf("Range after chunk %d = %q, want %q", i, r.header.Get("Range"), want)
		}
	}
	// A gap is refused and changes nothing.
	r = c.do("PATCH", loc, data[2000:], "Content-Range", "2500-2999")
	c.expect(r, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_RANGE_INVALID")
	r = c.do("GET", loc, nil)
	c.expect(r, http.StatusNoContent, "")
	if r.header.Get("Range") != "0-1999" || r.header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("status: %v", r.header)
	}
	// The rest goes with the closing PUT.
	r = c.do("PUT", loc+"?digest="+string(d), data[2000:], "Content-Range", "2000-2999")
	c.expect(r, http.StatusCreated, "")
	if r.header.Get("Docker-Content-Digest") != string(d) || r.header.Get("Location") != "/v2/library/chunky/blobs/"+string(d) {
		t.Fatalf("complete: %v", r.header)
	}
	r = c.do("GET", "/v2/library%2Fchunky/blobs/"+string(d), nil)
	c.expect(r, 200, "")
	if !bytes.Equal(r.body, data) || r.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatal("blob content differs")
	}
	// The session is gone.
	c.expect(c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestUploadDigestMismatchAndCancel(t *testing.T) {
	c := newClient(t)
	data, _ := randomBlob(t, 10)
	r := c.do("POST", "/v2/x/blobs/uploads/", nil)
	loc := r.header.Get("Location")
	c.expect(c.do("PATCH", loc, data), http.StatusAccepted, "")
	wrong := digest.FromString("something else")
	c.expect(c.do("PUT", loc+"?digest="+string(wrong), nil), http.StatusBadRequest, "DIGEST_INVALID")
	c.expect(c.do("HEAD", "/v2/x/blobs/"+string(wrong), nil), http.StatusNotFound, "")

	r = c.do("POST", "/v2/x/blobs/uploads/", nil)
	loc = r.header.Get("Location")
	c.expect(c.do("DELETE", loc, nil), http.StatusNoContent, "")
	c.expect(c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestBlobRanges(t *testing.T) {
	c := newClient(t)
	data, _ := randomBlob(t, 1000)
	d := c.pushBlob("r", data)
	tests := []struct {
		method, rng  string
		status       int
		body         []byte
		contentRange string
	}{
		{"GET", "bytes=0-99", 206, data[:100], "bytes 0-99/1000"},
		{"GET", "bytes=900-", 206, data[900:], "bytes 900-999/1000"},
		{"GET", "bytes=-10", 206, data[990:], "bytes 990-999/1000"},
		{"GET", "bytes=990-5000", 206, data[990:], "bytes 990-999/1000"},
		{"GET", "bytes=1000-1001", 416, nil, "bytes */1000"},
		{"GET", "", 200, data, ""},
		{"HEAD", "bytes=0-99", 200, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.rng, func(t *testing.T) {
			var h []string
			if tc.rng != "" {
				h = []string{"Range", tc.rng}
			}
			r := c.do(tc.method, "/v2/r/blobs/"+string(d), nil, h...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if tc.body != nil && !bytes.Equal(r.body, tc.body) {
				t.Fatalf("body of %d bytes, want %d", len(r.body), len(tc.body))
			}
			if r.header.Get("Content-Range") != tc.contentRange {
				t.Fatalf("Content-Range %q, want %q", r.header.Get("Content-Range"), tc.contentRange)
			}
			if tc.method == "HEAD" && r.header.Get("Content-Length") != "1000" {
				t.Fatalf("HEAD Content-Length %q", r.header.Get("Content-Length"))
			}
		})
	}
}

func TestMount(t *testing.T) {
	c := newClient(t)
	data, _ := randomBlob(t, 50)
	d := c.pushBlob("src/repo", data)
	r := c.do("POST", "/v2/dst/blobs/uploads/?mount="+string(d)+"&from=src/repo", nil)
	c.expect(r, http.StatusCreated, "")
	if r.header.Get("Location") != "/v2/dst/blobs/"+string(d) || r.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("mount: %v", r.header)
	}
	c.expect(c.do("HEAD", "/v2/dst/blobs/"+string(d), nil), 200, "")
	// Unknown source: a plain upload session instead.
	other := digest.FromString("not here")
	r = c.do("POST", "/v2/dst/blobs/uploads/?mount="+string(other)+"&from=src/repo", nil)
	c.expect(r, http.StatusAccepted, "")
	checkRelative(t, r.header.Get("Location"))
}

func TestManifestWire(t *testing.T) {
	c := newClient(t)
	d, m := c.pushImage("library%2Fwire", "v1")

	t.Run("accept lines", func(t *testing.T) {
		// The official Azure SDK sends application/json first, the wanted type on a second line.
		r := c.do("GET", "/v2/library%2Fwire/manifests/v1", nil, "Accept", "application/json", "Accept", ocispec.MediaTypeImageManifest)
		c.expect(r, 200, "")
		if !bytes.Equal(r.body, m) || r.header.Get("Content-Type") != ocispec.MediaTypeImageManifest || r.header.Get("Docker-Content-Digest") != string(d) {
			t.Fatalf("GET: %v", r.header)
		}
		c.expect(c.do("GET", "/v2/library/wire/manifests/"+string(d), nil, "Accept", ocispec.MediaTypeImageIndex), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.expect(c.do("GET", "/v2/library/wire/manifests/"+string(d), nil, "Accept", ocispec.MediaTypeImageIndex+", "+ocispec.MediaTypeImageManifest), 200, "")
		r = c.do("HEAD", "/v2/library/wire/manifests/v1", nil)
		c.expect(r, 200, "")
		if r.header.Get("Docker-Content-Digest") != string(d) || r.header.Get("Content-Length") != fmt.Sprint(len(m)) {
			t.Fatalf("HEAD: %v", r.header)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), 4<<20+1)
		tests := []struct {
			name, path, ct string
			body           []byte
			status         int
			code           string
		}{
			{"not json", "/v2/w/manifests/t", ocispec.MediaTypeImageManifest, []byte("{"), 400, "MANIFEST_INVALID"},
			{"too big", "/v2/w/manifests/t", ocispec.MediaTypeImageManifest, big, 413, "MANIFEST_INVALID"},
			{"missing blob", "/v2/w/manifests/t", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + string(digest.FromString("x")) + `","size":1}}`), 400, "MANIFEST_BLOB_UNKNOWN"},
			{"missing child", "/v2/w/manifests/t", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[{"mediaType":"` + ocispec.MediaTypeImageManifest + `","digest":"` + string(digest.FromString("y")) + `","size":1}]}`), 400, "MANIFEST_BLOB_UNKNOWN"},
			{"type mismatch", "/v2/w/manifests/t", ocispec.MediaTypeImageIndex, m, 400, "MANIFEST_INVALID"},
			{"digest mismatch", "/v2/library%2Fwire/manifests/" + string(digest.FromString("z")), ocispec.MediaTypeImageManifest, m, 400, "DIGEST_INVALID"},
			{"bad name", "/v2/UPPER/manifests/t", ocispec.MediaTypeImageManifest, m, 400, "NAME_INVALID"},
			{"traversal", "/v2/a/..%2F..%2Fetc/manifests/t", ocispec.MediaTypeImageManifest, m, 400, "NAME_INVALID"},
			{"bad tag", "/v2/w/manifests/-bad", ocispec.MediaTypeImageManifest, m, 400, "TAG_INVALID"},
			{"bad digest", "/v2/w/manifests/sha256:abc", ocispec.MediaTypeImageManifest, m, 400, "DIGEST_INVALID"},
			{"unsupported algorithm", "/v2/w/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", ocispec.MediaTypeImageManifest, m, 400, "DIGEST_INVALID"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c.expect(c.do("PUT", tc.path, tc.body, "Content-Type", tc.ct), tc.status, tc.code)
			})
		}
		// Nothing of the above landed.
		c.expect(c.do("GET", "/v2/w/tags/list", nil), http.StatusNotFound, "NAME_UNKNOWN")
	})
	t.Run("delete", func(t *testing.T) {
		c.expect(c.do("DELETE", "/v2/library/wire/manifests/v1", nil), http.StatusAccepted, "")
		c.expect(c.do("GET", "/v2/library/wire/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.expect(c.do("GET", "/v2/library/wire/manifests/"+string(d), nil), 200, "")
		c.expect(c.do("DELETE", "/v2/library/wire/manifests/"+string(d), nil), http.StatusAccepted, "")
		c.expect(c.do("GET", "/v2/library/wire/manifests/"+string(d), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
}

func TestPagination(t *testing.T) {
	c := newClient(t)
	for _, tag := range []string{"a", "b", "c", "d", "e"} {
		c.pushImage("p/q", tag)
	}
	var got []string
	path := "/v2/p%2Fq/tags/list?n=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := c.do("GET", path, nil)
		c.expect(r, 200, "")
		var body struct {
			Name string
			Tags []string
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Name != "p/q" {
			t.Fatalf("tags body %s", r.body)
		}
		got = append(got, body.Tags...)
		path = ""
		if link := r.header.Get("Link"); link != "" {
			if !strings.HasPrefix(link, "</v2/p/q/tags/list?") || !strings.HasSuffix(link, `>; rel="next"`) {
				t.Fatalf("Link %q", link)
			}
			path = link[1:strings.Index(link, ">")]
		}
	}
	if strings.Join(got, ",") != "a,b,c,d,e" {
		t.Fatalf("paged tags = %v", got)
	}
	r := c.do("GET", "/v2/_catalog?n=1", nil)
	c.expect(r, 200, "")
	if r.header.Get("Link") != "" || !strings.Contains(string(r.body), `"p/q"`) {
		t.Fatalf("catalog: %s %v", r.body, r.header)
	}
	c.expect(c.do("GET", "/v2/p/q/tags/list?n=-1", nil), 400, "PAGINATION_NUMBER_INVALID")
}
