package authe2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"testing"

	"github.com/acre-dev/acre/registry/registrytest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// challengeSyntax is what the official SDK can parse: Bearer, then key="value"
// pairs separated by a bare comma, no '=' inside a value.
var challengeSyntax = regexp.MustCompile(`^Bearer [a-z]+="[^"=]*"(,[a-z]+="[^"=]*")*$`)

func TestChallengeFormat(t *testing.T) {
	srv := registrytest.New(t)
	d := "sha256:" + string(bytes.Repeat([]byte("ab"), 32))
	prefix := `Bearer realm="` + srv.URL + `/oauth2/token",service="` + srv.Host + `"`
	cases := []struct {
		req   request
		scope string // "" for no scope parameter
	}{
		{get("/v2/"), ""},
		{get("/v2/x/manifests/latest"), "repository:x:pull"},
		{request{method: http.MethodHead, path: "/v2/x/manifests/latest"}, "repository:x:pull"},
		{get("/v2/library%2Fhello/manifests/v1"), "repository:library/hello:pull"},
		{get("/v2/x/blobs/" + d), "repository:x:pull"},
		{get("/v2/x/tags/list"), "repository:x:pull"},
		{get("/v2/x/referrers/" + d), "repository:x:pull"},
		{get("/v2/_catalog"), "registry:catalog:*"},
		{request{method: http.MethodPut, path: "/v2/x/manifests/v1"}, "repository:x:pull,push"},
		{request{method: http.MethodDelete, path: "/v2/x/manifests/" + d}, "repository:x:delete"},
		{request{method: http.MethodDelete, path: "/v2/x/blobs/" + d}, "repository:x:delete"},
		{request{method: http.MethodPost, path: "/v2/x/blobs/uploads/"}, "repository:x:pull,push"},
		{request{method: http.MethodPatch, path: "/v2/x/blobs/uploads/0f8b3c3e-8f1a-4c52-9d0e-2b7c1e5a9f10"}, "repository:x:pull,push"},
		{request{method: http.MethodPost, path: "/v2/x/blobs/uploads/?" + url.Values{"from": {"y/z"}, "mount": {d}}.Encode()},
			"repository:x:pull,push repository:y/z:pull"},
	}
	for _, tc := range cases {
		what := tc.req.method + " " + tc.req.path
		want := prefix
		if tc.scope != "" {
			want += `,scope="` + tc.scope + `"`
		}
		r := do(t, srv.Client(), srv.URL, tc.req)
		expectChallenge(t, what, r, want)
		if !challengeSyntax.MatchString(r.challenge()) {
			t.Errorf("%s: challenge %q is not in the form the SDK parses", what, r.challenge())
		}
		if tc.scope != "" && r.method != http.MethodHead {
			// The error detail names what was needed, as ACR's does.
			var body struct {
				Errors []struct{ Detail []map[string]string } `json:"errors"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) != 1 || len(body.Errors[0].Detail) == 0 {
				t.Errorf("%s: error body %s", what, r.body)
			}
		}
	}

	// A valid token without the action: the same challenge, flagged.
	tok := basicToken(t, srv, "", "", false, "repository:x:pull").AccessToken
	for _, tc := range []struct {
		req   request
		scope string
	}{
		{request{method: http.MethodPut, path: "/v2/x/manifests/v1", body: []byte("{}")}, "repository:x:pull,push"},
		{request{method: http.MethodDelete, path: "/v2/x/manifests/" + d}, "repository:x:delete"},
		{get("/v2/y/manifests/v1"), "repository:y:pull"},
		{get("/v2/_catalog"), "registry:catalog:*"},
	} {
		r := do(t, srv.Client(), srv.URL, tc.req.withBearer(tok))
		expectChallenge(t, tc.req.method+" "+tc.req.path, r, prefix+`,scope="`+tc.scope+`",error="insufficient_scope"`)
		if !challengeSyntax.MatchString(r.challenge()) {
			t.Errorf("challenge %q is not in the form the SDK parses", r.challenge())
		}
	}
}

// TestChallengeRequestChangesNothing sends what the SDK sends first (its request
// without the body, without credentials): it must get 401 and leave no trace,
// even on an open registry.
func TestChallengeRequestChangesNothing(t *testing.T) {
	srv := registrytest.New(t)
	im := newImage(t, 256)
	full := basicToken(t, srv, "", "", false, "repository:kept:pull,push,delete", "repository:ghost:pull", "registry:catalog:*").AccessToken
	rawPush(t, bearerClient(srv, full), srv.URL, "kept", "v1", im)

	reqs := []request{
		{method: http.MethodPut, path: "/v2/ghost/manifests/v1"},
		{method: http.MethodPut, path: "/v2/ghost/manifests/v1", header: http.Header{"Content-Length": {"0"}}},
		{method: http.MethodPut, path: "/v2/kept/manifests/v1"},
		{method: http.MethodPost, path: "/v2/ghost/blobs/uploads/"},
		{method: http.MethodPost, path: "/v2/ghost/blobs/uploads/?" + url.Values{"from": {"kept"}, "mount": {im.layerD.String()}}.Encode()},
		{method: http.MethodDelete, path: "/v2/kept/manifests/" + im.manifD.String()},
		{method: http.MethodDelete, path: "/v2/kept/blobs/" + im.layerD.String()},
		// And the same with content but without a token.
		{method: http.MethodPut, path: "/v2/ghost/manifests/v1", body: im.manifest, header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}},
	}
	for _, q := range reqs {
		expectChallenge(t, q.method+" "+q.path, do(t, srv.Client(), srv.URL, q), "")
	}

	var catalog struct{ Repositories []string }
	r := do(t, srv.Client(), srv.URL, get("/v2/_catalog").withBearer(full))
	if err := json.Unmarshal(r.body, &catalog); r.status != http.StatusOK || err != nil {
		t.Fatalf("catalog: %d %s", r.status, r.body)
	}
	if len(catalog.Repositories) != 1 || catalog.Repositories[0] != "kept" {
		t.Fatalf("catalog after challenge requests: %v, want [kept]", catalog.Repositories)
	}
	if r := do(t, srv.Client(), srv.URL, get("/v2/ghost/tags/list").withBearer(full)); r.status != http.StatusNotFound {
		t.Fatalf("ghost repository: %d, want 404", r.status)
	}
	for _, path := range []string{"/v2/kept/manifests/v1", "/v2/kept/blobs/" + im.layerD.String()} {
		if r := do(t, srv.Client(), srv.URL, get(path).withBearer(full)); r.status != http.StatusOK {
			t.Fatalf("GET %s after challenge requests: %d", path, r.status)
		}
	}
}

// TestRefusedBodyIsRead sends a 1 MiB chunk that is refused: the server must read
// it before answering, so the answer is a proper 401, the connection stays usable,
// and a client that sends the chunk again (the SDK) has hashed it exactly once.
func TestRefusedBodyIsRead(t *testing.T) {
	srv := registrytest.New(t)
	pullOnly := basicToken(t, srv, "", "", false, "repository:x:pull").AccessToken
	tr := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB

	cases := []struct {
		name    string
		chunked bool
		bearer  string
	}{
		{"no credentials", false, ""},
		{"no credentials, chunked", true, ""},
		{"token without push", false, pullOnly},
		{"token without push, chunked", true, pullOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(chunk)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
			}
			req, err := http.NewRequest(http.MethodPatch, srv.URL+"/v2/x/blobs/uploads/0f8b3c3e-8f1a-4c52-9d0e-2b7c1e5a9f10", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("PATCH: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			r := result{method: http.MethodPatch, status: res.StatusCode, header: res.Header, body: b}
			expectChallenge(t, "PATCH", r, `Bearer realm="`+srv.URL+`/oauth2/token",service="`+srv.Host+`",scope="repository:x:pull,push"`+
				map[bool]string{true: `,error="insufficient_scope"`, false: ""}[tc.bearer != ""])
			if res.Close {
				t.Fatal("the server closed the connection after the refused PATCH")
			}

			var reused bool
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
			req, _ = http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL+"/v2/", nil)
			res, err = c.Do(req)
			if err != nil {
				t.Fatalf("GET /v2/ after the refused PATCH: %v", err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if !reused {
				t.Fatal("the connection of the refused PATCH was not reused")
			}
		})
	}
}
