package acrapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// http2Client pushes with admin Basic credentials through the token flow.
type http2Client struct {
	t *testing.T
	e *env
}

func (c *http2Client) send(method, path, ct string, body []byte) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.e.srv.URL+path, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	client := &http.Client{Transport: &registrytest.Transport{Username: "admin", Password: "secret-password"}}
	res, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func (c *http2Client) pushAsAdmin(repo, tag string) {
	c.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("admin layer")
	for _, b := range [][]byte{cfg, layer} {
		if res := c.send("POST", "/v2/"+repo+"/blobs/uploads/?digest="+string(digest.FromBytes(b)), "application/octet-stream", b); res.StatusCode != 201 {
			c.t.Fatalf("push blob as admin: %s", res.Status)
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		ocispec.MediaTypeImageConfig, digest.FromBytes(cfg), len(cfg), ocispec.MediaTypeImageLayer, digest.FromBytes(layer), len(layer))
	if res := c.send("PUT", "/v2/"+repo+"/manifests/"+tag, ocispec.MediaTypeImageManifest, []byte(m)); res.StatusCode != 201 {
		c.t.Fatalf("push manifest as admin: %s", res.Status)
	}
}
