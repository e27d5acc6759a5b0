package route

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/internal/reference"
	"github.com/opencontainers/go-digest"
)

var dg = "sha256:" + strings.Repeat("a", 64)

func TestParseV2(t *testing.T) {
	tests := []struct {
		path string
		want Route
		code errcode.Code // expected error code; "" for success
	}{
		{"/v2/", Route{Kind: Ping}, ""},
		{"/v2", Route{Kind: Ping}, ""},
		{"/v2/_catalog", Route{Kind: Catalog}, ""},
		{"/v2/a/tags/list", Route{Kind: TagList, Name: "a"}, ""},
		{"/v2/library%2Fhello/tags/list", Route{Kind: TagList, Name: "library/hello"}, ""},
		{"/v2/library%2fhello/manifests/latest", Route{Kind: Manifest, Name: "library/hello", Reference: "latest"}, ""},
		{"/v2/a/b/manifests/" + dg, Route{Kind: Manifest, Name: "a/b", Reference: dg, Digest: digestOf(dg)}, ""},
		{"/v2/a/blobs/" + dg, Route{Kind: Blob, Name: "a", Digest: digestOf(dg)}, ""},
		{"/v2/a/blobs/uploads/", Route{Kind: UploadStart, Name: "a"}, ""},
		{"/v2/a/blobs/uploads", Route{Kind: UploadStart, Name: "a"}, ""},
		{"/v2/a/blobs/uploads/abc-123", Route{Kind: Upload, Name: "a", UploadID: "abc-123"}, ""},
		{"/v2/a/referrers/" + dg, Route{Kind: ReferrerList, Name: "a", Digest: digestOf(dg)}, ""},
		// A repository may be named like an operation: the operation is read from the right.
		{"/v2/manifests/manifests/x", Route{Kind: Manifest, Name: "manifests", Reference: "x"}, ""},
		{"/v2/blobs/blobs/uploads/", Route{Kind: UploadStart, Name: "blobs"}, ""},
		{"/v2/UP/tags/list", Route{}, errcode.NameInvalid},
		{"/v2/a/..%2F..%2Fb/tags/list", Route{}, errcode.NameInvalid},
		{"/v2/a/blobs/sha256:xyz", Route{}, errcode.DigestInvalid},
		{"/v2/a/manifests/bad:digest", Route{}, errcode.DigestInvalid},
		{"/v2/a/manifests/.bad", Route{}, errcode.TagInvalid},
		{"/v2/a/blobs/uploads/..%2Fx", Route{}, errcode.BlobUploadUnknown},
		{"/v2/a/unknown", Route{}, "notfound"},
		{"/v3/", Route{}, "notfound"},
	}
	for _, tc := range tests {
		got, err := ParseV2(tc.path)
		switch {
		case tc.code == "notfound":
			if err != ErrNotFound {
				t.Errorf("ParseV2(%q) = %+v, %v; want ErrNotFound", tc.path, got, err)
			}
		case tc.code != "":
			e, ok := errcode.As(err)
			if !ok || e.Code != tc.code {
				t.Errorf("ParseV2(%q) = %+v, %v; want %s", tc.path, got, err, tc.code)
			}
		case err != nil || got != tc.want:
			t.Errorf("ParseV2(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		rt     Route
		method string
		query  string
		want   string
	}{
		{Route{Kind: Catalog}, "GET", "", "registry:catalog:*"},
		{Route{Kind: Manifest, Name: "a"}, "GET", "", "repository:a:pull"},
		{Route{Kind: Manifest, Name: "a"}, "PUT", "", "repository:a:pull,push"},
		{Route{Kind: Manifest, Name: "a"}, "DELETE", "", "repository:a:delete"},
		{Route{Kind: Blob, Name: "a"}, "HEAD", "", "repository:a:pull"},
		{Route{Kind: UploadStart, Name: "a"}, "POST", "", "repository:a:pull,push"},
		{Route{Kind: UploadStart, Name: "a"}, "POST", "mount=" + dg + "&from=b/c", "repository:a:pull,push repository:b/c:pull"},
		{Route{Kind: Upload, Name: "a"}, "PATCH", "", "repository:a:pull,push"},
		{Route{Kind: Ping}, "GET", "", ""},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		var parts []string
		for _, s := range tc.rt.Scopes(tc.method, q) {
			parts = append(parts, s.String())
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%v %s %s: scopes %q, want %q", tc.rt.Kind, tc.method, tc.query, got, tc.want)
		}
	}
}

// FuzzParseV2 checks that no path panics the router and that every accepted route
// carries a valid name, tag or digest.
func FuzzParseV2(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/a%2Fb/manifests/x", "/v2/a/blobs/uploads/x", "/v2/a/referrers/" + dg, "/v2/%zz/tags/list"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := ParseV2(p)
		if err != nil {
			return
		}
		if rt.Name != "" && reference.ValidateName(rt.Name) != nil {
			t.Fatalf("%q: invalid name %q accepted", p, rt.Name)
		}
		if rt.Kind == Manifest && rt.Digest == "" && reference.ValidateTag(rt.Reference) != nil {
			t.Fatalf("%q: invalid tag %q accepted", p, rt.Reference)
		}
		if rt.Digest != "" {
			if _, err := reference.ParseDigest(string(rt.Digest)); err != nil {
				t.Fatalf("%q: invalid digest %q accepted", p, rt.Digest)
			}
		}
		_ = rt.Scopes(http.MethodPost, url.Values{"mount": {dg}, "from": {"x"}})
	})
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
