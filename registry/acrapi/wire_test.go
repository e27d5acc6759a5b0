package acrapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/acre-dev/acre/registry/registrytest"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request through a client that answers the token challenge.
func do(t *testing.T, e *env, method, path string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{Transport: &registrytest.Transport{}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

var acrTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$`)

// TestWire pins what the SDKs of every language read: field names, time format,
// Link headers, %2F names, status codes and error bodies.
func TestWire(t *testing.T) {
	e := newEnv(t)
	for _, tag := range []string{"a", "b", "c"} {
		e.pushImage("library/hello-world", tag, "amd64", []byte("layer "+tag))
	}
	t.Run("escaped and plain names", func(t *testing.T) {
		for _, p := range []string{"/acr/v1/library%2Fhello-world", "/acr/v1/library/hello-world"} {
			r := do(t, e, "GET", p+"?api-version=2021-07-01")
			if r.status != 200 {
				t.Fatalf("%s: %d %s", p, r.status, r.body)
			}
			var body map[string]any
			mustJSON(t, r.body, &body)
			for _, k := range []string{"registry", "imageName", "createdTime", "lastUpdateTime", "manifestCount", "tagCount", "changeableAttributes"} {
				if _, ok := body[k]; !ok {
					t.Errorf("repository attributes lack %q: %s", k, r.body)
				}
			}
			if !acrTime.MatchString(body["createdTime"].(string)) {
				t.Errorf("createdTime %q is not in ACR's format", body["createdTime"])
			}
		}
	})
	t.Run("tag list paging", func(t *testing.T) {
		r := do(t, e, "GET", "/acr/v1/library%2Fhello-world/_tags?api-version=2021-07-01&n=2&orderby=timedesc")
		link := r.header.Get("Link")
		if r.status != 200 || link != `</acr/v1/library/hello-world/_tags?last=b&n=2&orderby=timedesc>; rel="next"` {
			t.Fatalf("first page: %d Link %q", r.status, link)
		}
		var page struct {
			Tags []map[string]any `json:"tags"`
		}
		mustJSON(t, r.body, &page)
		if len(page.Tags) != 2 || page.Tags[0]["signed"] != false || page.Tags[0]["name"] != "c" {
			t.Fatalf("first page %s", r.body)
		}
		r = do(t, e, "GET", link[1:strings.Index(link, ">")])
		if r.status != 200 || r.header.Get("Link") != "" || !strings.Contains(string(r.body), `"name":"a"`) {
			t.Fatalf("last page: %d Link %q %s", r.status, r.header.Get("Link"), r.body)
		}
	})
	t.Run("catalog paging", func(t *testing.T) {
		e.pushImage("zeta", "v1", "amd64", []byte("z"))
		r := do(t, e, "GET", "/acr/v1/_catalog?n=1")
		if r.header.Get("Link") != `</acr/v1/_catalog?last=library%2Fhello-world&n=1&orderby=>; rel="next"` {
			t.Fatalf("catalog Link %q", r.header.Get("Link"))
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			method, path string
			status       int
			body         string
		}{
			{"GET", "/acr/v1/missing", 404, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository \"missing\" is not found"}]}`},
			{"DELETE", "/acr/v1/missing", 404, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"missing"}}]}`},
			{"GET", "/acr/v1/library/hello-world/_tags/nope", 404, `{"errors":[{"code":"TAG_UNKNOWN","message":"the specified tag does not exist"}]}`},
			{"GET", "/acr/v1/library/hello-world/_manifests/wrong-digest", 404, "404 page not found\n"},
			{"GET", "/acr/v1/library/hello-world/_tags?orderby=sideways", 400, ""},
			{"GET", "/acr/v1/library/hello-world/_tags?n=0", 400, ""},
			{"POST", "/acr/v1/library/hello-world", 405, ""},
		}
		for _, tc := range tests {
			r := do(t, e, tc.method, tc.path)
			if r.status != tc.status || (tc.body != "" && string(r.body) != tc.body) {
				t.Errorf("%s %s: %d %s; want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.body)
			}
		}
	})
	t.Run("delete tag", func(t *testing.T) {
		r := do(t, e, "DELETE", "/acr/v1/library/hello-world/_tags/a")
		if r.status != 202 || !strings.HasPrefix(r.header.Get("X-Ms-Int-Docker-Content-Digest"), "sha256:") || len(r.body) != 0 {
			t.Fatalf("delete tag: %d %v %s", r.status, r.header, r.body)
		}
	})
}
