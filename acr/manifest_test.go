package acr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/acre-dev/acre/acr"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	dockerManifestType = "application/vnd.docker.distribution.manifest.v2+json"
	dockerListType     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

var (
	linuxAMD64   = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64   = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	linuxARMv7   = ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	linuxARMv6   = ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}
	windowsAMD64 = ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2113"}
)

// checkFetched fetches a manifest by tag and by digest and compares it with what
// was pushed.
func checkFetched(t *testing.T, r *testRegistry, repo, tag string, want ocispec.Descriptor) acr.FetchManifestResponse {
	t.Helper()
	ctx := context.Background()
	var first acr.FetchManifestResponse
	for i, ref := range []string{tag, string(want.Digest)} {
		got, err := r.client.FetchManifest(ctx, repo, ref, nil)
		if err != nil {
			t.Fatalf("FetchManifest %s: %v", ref, err)
		}
		if got.Digest != string(want.Digest) || got.MediaType != want.MediaType || int64(len(got.Content)) != want.Size {
			t.Fatalf("FetchManifest %s = %s %s %d bytes, want %s %s %d", ref, got.Digest, got.MediaType, len(got.Content), want.Digest, want.MediaType, want.Size)
		}
		if digest.FromBytes(got.Content) != want.Digest {
			t.Fatalf("FetchManifest %s: content does not match its digest", ref)
		}
		if i == 0 {
			first = got
		} else if !bytes.Equal(got.Content, first.Content) {
			t.Fatalf("by tag and by digest differ")
		}
	}
	desc, err := r.client.ResolveManifest(ctx, repo, tag)
	if err != nil {
		t.Fatalf("ResolveManifest: %v", err)
	}
	if desc.Digest != want.Digest || desc.MediaType != want.MediaType || desc.Size != want.Size {
		t.Fatalf("ResolveManifest = %+v, want %+v", desc, want)
	}
	return first
}

func TestSetFetchManifestRoundTrip(t *testing.T) {
	r := startAcre(t, nil)
	ctx := context.Background()

	t.Run("OCI manifest", func(t *testing.T) {
		d := r.pushImage(t, "oci", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("a"), []byte("b")}, tag: "v1"})
		got := checkFetched(t, r, "oci", "v1", d)
		if got.Manifest == nil || got.Index != nil || len(got.Manifest.Layers) != 2 || got.Manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
			t.Fatalf("decoded %+v", got)
		}
	})
	t.Run("Docker v2 manifest", func(t *testing.T) {
		d := r.pushImage(t, "docker", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("docker layer")}, docker: true, tag: "v1"})
		if d.MediaType != dockerManifestType {
			t.Fatalf("media type %s", d.MediaType)
		}
		got := checkFetched(t, r, "docker", "v1", d)
		if got.Manifest == nil || got.Manifest.Layers[0].MediaType != "application/vnd.docker.image.rootfs.diff.tar.gzip" {
			t.Fatalf("decoded %+v", got.Manifest)
		}
	})
	t.Run("OCI index", func(t *testing.T) {
		a := r.pushImage(t, "ociindex", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("amd")}})
		b := r.pushImage(t, "ociindex", imageSpec{platform: linuxARM64, layers: [][]byte{[]byte("arm")}})
		d := r.pushIndex(t, "ociindex", "multi", false, a, b)
		got := checkFetched(t, r, "ociindex", "multi", d)
		if got.Index == nil || got.Manifest != nil || len(got.Index.Manifests) != 2 || got.Index.Manifests[1].Platform.Architecture != "arm64" {
			t.Fatalf("decoded %+v", got)
		}
	})
	t.Run("Docker manifest list", func(t *testing.T) {
		a := r.pushImage(t, "dockerlist", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("amd")}, docker: true})
		b := r.pushImage(t, "dockerlist", imageSpec{platform: linuxARMv7, layers: [][]byte{[]byte("arm")}, docker: true})
		d := r.pushIndex(t, "dockerlist", "multi", true, a, b)
		if d.MediaType != dockerListType {
			t.Fatalf("media type %s", d.MediaType)
		}
		got := checkFetched(t, r, "dockerlist", "multi", d)
		if got.Index == nil || len(got.Index.Manifests) != 2 {
			t.Fatalf("decoded %+v", got)
		}
		// Platform selection works on Docker lists too.
		sel, err := r.client.FetchManifest(ctx, "dockerlist", "multi", &acr.FetchManifestOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm"}})
		if err != nil || sel.Digest != string(b.Digest) || sel.Manifest == nil {
			t.Fatalf("platform arm: %v %s", err, sel.Digest)
		}
	})
	t.Run("raw bytes without tag", func(t *testing.T) {
		cfg := r.pushBlob(t, "raw", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
		// Odd spacing: raw bytes are sent as they are, so the digest is of these bytes.
		raw := []byte(`{ "schemaVersion": 2, "config": {"mediaType":"` + cfg.MediaType + `","digest":"` + string(cfg.Digest) + `","size":` + jsonInt(cfg.Size) + `}, "layers": [] }`)
		res, err := r.client.SetManifest(ctx, "raw", raw, &acr.SetManifestOptions{MediaType: ocispec.MediaTypeImageManifest})
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest != string(digest.FromBytes(raw)) || res.MediaType != ocispec.MediaTypeImageManifest || res.Size != int64(len(raw)) {
			t.Fatalf("SetManifest = %+v", res)
		}
		got, err := r.client.FetchManifest(ctx, "raw", res.Digest, nil)
		if err != nil || !bytes.Equal(got.Content, raw) {
			t.Fatalf("FetchManifest: %v %q", err, got.Content)
		}
		// json.RawMessage, media type from the document.
		raw2 := json.RawMessage(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":{"mediaType":"` + cfg.MediaType + `","digest":"` + string(cfg.Digest) + `","size":` + jsonInt(cfg.Size) + `},"layers":[]}`)
		res2, err := r.client.SetManifest(ctx, "raw", raw2, &acr.SetManifestOptions{Tag: "rawmsg"})
		if err != nil || res2.MediaType != ocispec.MediaTypeImageManifest || res2.Digest != string(digest.FromBytes(raw2)) {
			t.Fatalf("SetManifest RawMessage = %+v, %v", res2, err)
		}
	})
	t.Run("typed defaults and conflicts", func(t *testing.T) {
		cfg := r.pushBlob(t, "typed", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"arm64","os":"linux"}`))
		m := ocispec.Manifest{Config: cfg} // no schemaVersion, no mediaType
		res, err := r.client.SetManifest(ctx, "typed", m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.SchemaVersion != 0 || m.MediaType != "" {
			t.Fatal("SetManifest changed the caller's value")
		}
		got, err := r.client.FetchManifest(ctx, "typed", res.Digest, nil)
		if err != nil || got.Manifest.SchemaVersion != 2 || got.Manifest.MediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("FetchManifest: %v %s", err, got.Content)
		}
		_, err = r.client.SetManifest(ctx, "typed", &ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg}, &acr.SetManifestOptions{MediaType: dockerManifestType})
		if err == nil || !strings.Contains(err.Error(), "contradicts") {
			t.Fatalf("contradicting media types: %v", err)
		}
		if _, err := r.client.SetManifest(ctx, "typed", "a string", nil); err == nil {
			t.Fatal("a string was accepted as a manifest")
		}
		big := bytes.Repeat([]byte(" "), 4<<20+1)
		if _, err := r.client.SetManifest(ctx, "typed", big, &acr.SetManifestOptions{MediaType: ocispec.MediaTypeImageManifest}); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("5 MiB manifest: %v", err)
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestSetManifestTags checks that several tags go in one upload where the registry
// supports ?tag= parameters (acre), and in one upload per tag where it does not
// (go-containerregistry).
func TestSetManifestTags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry
		puts  int
	}{
		{"acre", startAcre, 1},
		{"ggcr", func(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
			return startGGCR(t, false, wrap)
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			puts := &requestCounter{match: func(r *http.Request) bool { return r.Method == http.MethodPut && isManifestPath(r) }}
			r := tc.start(t, puts.wrap)
			ctx := context.Background()
			cfg := r.pushBlob(t, "tags", ocispec.MediaTypeImageConfig, []byte(`{}`))
			res, err := r.client.SetManifest(ctx, "tags", ocispec.Manifest{Config: cfg}, &acr.SetManifestOptions{Tag: "a", Tags: []string{"b", "c", "a"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{"a", "b", "c"} {
				d, err := r.client.ResolveManifest(ctx, "tags", tag)
				if err != nil || string(d.Digest) != res.Digest {
					t.Fatalf("tag %s: %v %s", tag, err, d.Digest)
				}
			}
			if n, _ := puts.counts(); n != tc.puts {
				t.Fatalf("%d manifest PUTs, want %d: %v", n, tc.puts, puts.seen)
			}
		})
	}
}

func TestFetchManifestPlatform(t *testing.T) {
	r := startAcre(t, nil)
	ctx := context.Background()
	images := map[string]ocispec.Descriptor{}
	var descs []ocispec.Descriptor
	for name, p := range map[string]ocispec.Platform{"amd64": linuxAMD64, "arm64": linuxARM64, "armv7": linuxARMv7, "armv6": linuxARMv6, "windows": windowsAMD64} {
		images[name] = r.pushImage(t, "multi", imageSpec{platform: p, layers: [][]byte{[]byte(name)}})
	}
	for _, name := range []string{"amd64", "armv6", "armv7", "arm64", "windows"} {
		descs = append(descs, images[name])
	}
	// An attestation, as buildx adds: never a platform match.
	att := r.pushImage(t, "multi", imageSpec{platform: ocispec.Platform{OS: "unknown", Architecture: "unknown"}, layers: [][]byte{[]byte("att")}})
	descs = append(descs, att)
	r.pushIndex(t, "multi", "latest", false, descs...)

	for _, tc := range []struct {
		want ocispec.Platform
		got  string // "" for no match
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, "amd64"},
		{ocispec.Platform{OS: "linux", Architecture: "x86_64"}, "amd64"},
		{ocispec.Platform{OS: "Linux", Architecture: "AMD64"}, "amd64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm64"}, "arm64"},
		{ocispec.Platform{OS: "linux", Architecture: "aarch64"}, "arm64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "8"}, "arm64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm"}, "armv7"},
		{ocispec.Platform{OS: "linux", Architecture: "armhf"}, "armv7"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "armv6"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v8"}, "armv7"}, // the closest older variant
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v5"}, ""},
		{ocispec.Platform{OS: "windows", Architecture: "amd64"}, "windows"},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"}, "windows"},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"}, ""},
		{ocispec.Platform{OS: "linux", Architecture: "s390x"}, ""},
	} {
		p := tc.want
		got, err := r.client.FetchManifest(ctx, "multi", "latest", &acr.FetchManifestOptions{Platform: &p})
		if tc.got == "" {
			if !errors.Is(err, acr.ErrNoMatchingPlatform) {
				t.Errorf("%+v: got %s, %v; want ErrNoMatchingPlatform", p, got.Digest, err)
			}
			continue
		}
		if err != nil || got.Digest != string(images[tc.got].Digest) || got.Manifest == nil {
			t.Errorf("%+v: got %s, %v; want %s", p, got.Digest, err, tc.got)
		}
	}

	// arm64 listed without a variant is what arm64/v8 asks for.
	plain := r.pushImage(t, "plain", imageSpec{platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, layers: [][]byte{[]byte("p")}})
	r.pushIndex(t, "plain", "latest", false, plain)
	got, err := r.client.FetchManifest(ctx, "plain", "latest", &acr.FetchManifestOptions{Platform: &linuxARM64})
	if err != nil || got.Digest != string(plain.Digest) {
		t.Fatalf("arm64/v8 in an arm64 index: %v", err)
	}

	// A platform asked of an image is the image.
	got, err = r.client.FetchManifest(ctx, "multi", string(images["amd64"].Digest), &acr.FetchManifestOptions{Platform: &linuxARM64})
	if err != nil || got.Digest != string(images["amd64"].Digest) {
		t.Fatalf("platform of an image: %v", err)
	}

	// A child whose size differs from the index's descriptor is refused.
	bad := images["amd64"]
	bad.Size++
	r.pushIndex(t, "multi", "badsize", false, bad)
	if _, err := r.client.FetchManifest(ctx, "multi", "badsize", &acr.FetchManifestOptions{Platform: &linuxAMD64}); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("wrong child size: %v", err)
	}
}

// TestManifestDigestMismatch serves manifests through a wrapper that alters them
// and checks that every path notices.
func TestManifestDigestMismatch(t *testing.T) {
	ctx := context.Background()
	var mode string
	alter := func(body []byte) []byte {
		body = bytes.Clone(body)
		body[len(body)-1] ^= 1 // one bit of one byte, same length
		return body
	}
	flip := rewriter(isManifestPath, func(r *http.Request, h http.Header, status int, body []byte) (int, []byte) {
		switch {
		case mode == "flip" && r.Method == http.MethodGet && status == http.StatusOK:
			body = alter(body)
		case mode == "flip-nodigest" && r.Method == http.MethodGet && status == http.StatusOK:
			body = alter(body)
			h.Del("Docker-Content-Digest")
		case mode == "put-digest" && r.Method == http.MethodPut:
			h.Set("Docker-Content-Digest", string(digest.FromString("something else")))
		case mode == "head-digest" && r.Method == http.MethodHead:
			h.Set("Docker-Content-Digest", string(digest.FromString("something else")))
		case mode == "no-length" && r.Method == http.MethodGet:
			h.Del("Content-Length")
		case mode == "huge-length" && r.Method == http.MethodGet:
			h.Set("Content-Length", "5000000")
		}
		return status, body
	})
	r := startAcre(t, func(h http.Handler) http.Handler {
		inner := flip(h)
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if mode == "no-length" && req.Method == http.MethodGet && isManifestPath(req) {
				// Flush the header so that net/http cannot add a Content-Length.
				inner.ServeHTTP(&flushingWriter{w}, req)
				return
			}
			inner.ServeHTTP(w, req)
		})
	})
	d := r.pushImage(t, "img", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("x")}, tag: "v1"})
	content := mustFetch(t, r, "img", "v1").Content

	for _, tc := range []struct {
		mode string
		call func() error
		want string
	}{
		{"flip", func() error { _, err := r.client.FetchManifest(ctx, "img", "v1", nil); return err }, "mismatch"},
		{"flip", func() error { _, err := r.client.FetchManifest(ctx, "img", string(d.Digest), nil); return err }, "mismatch"},
		{"flip-nodigest", func() error { _, err := r.client.FetchManifest(ctx, "img", string(d.Digest), nil); return err }, "mismatch"},
		{"put-digest", func() error {
			_, err := r.client.SetManifest(ctx, "img", content, &acr.SetManifestOptions{Tag: "v2"})
			return err
		}, "mismatch"},
		{"head-digest", func() error { _, err := r.client.ResolveManifest(ctx, "img", string(d.Digest)); return err }, "mismatch"},
		{"no-length", func() error { _, err := r.client.FetchManifest(ctx, "img", "v1", nil); return err }, "Content-Length"},
		{"huge-length", func() error { _, err := r.client.FetchManifest(ctx, "img", "v1", nil); return err }, "more than"},
	} {
		mode = tc.mode
		err := tc.call()
		mode = ""
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.mode)
		case tc.want == "mismatch" && !errors.Is(err, acr.ErrMismatchedHash):
			t.Errorf("%s: %v, want ErrMismatchedHash", tc.mode, err)
		case tc.want != "mismatch" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q", tc.mode, err, tc.want)
		}
	}
	// And without tampering, everything agrees.
	checkFetched(t, r, "img", "v1", d)
}

// flushingWriter flushes after the header, so the response has no Content-Length
// unless the handler set one.
type flushingWriter struct{ http.ResponseWriter }

func (f *flushingWriter) WriteHeader(status int) {
	f.ResponseWriter.WriteHeader(status)
	f.ResponseWriter.(http.Flusher).Flush()
}

func TestResolveManifestFallsBackToGet(t *testing.T) {
	gets := &requestCounter{match: func(r *http.Request) bool { return r.Method == http.MethodGet && isManifestPath(r) }}
	strip := rewriter(func(r *http.Request) bool { return r.Method == http.MethodHead && isManifestPath(r) },
		func(r *http.Request, h http.Header, status int, body []byte) (int, []byte) {
			h.Del("Docker-Content-Digest")
			return status, body
		})
	r := startAcre(t, func(h http.Handler) http.Handler { return strip(gets.wrap(h)) })
	d := r.pushImage(t, "img", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("x")}, tag: "v1"})
	got, err := r.client.ResolveManifest(context.Background(), "img", "v1")
	if err != nil || got.Digest != d.Digest || got.Size != d.Size || got.MediaType != d.MediaType {
		t.Fatalf("ResolveManifest = %+v, %v", got, err)
	}
	if n, _ := gets.counts(); n != 1 {
		t.Fatalf("%d GETs, want 1", n)
	}
}

func TestDeleteManifestByTag(t *testing.T) {
	r := startAcre(t, nil)
	ctx := context.Background()
	d := r.pushImage(t, "img", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("x")}, tag: "v1"})
	if _, err := r.client.SetManifest(ctx, "img", mustFetch(t, r, "img", "v1").Content, &acr.SetManifestOptions{Tag: "v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.DeleteManifest(ctx, "img", "v1", nil); err != nil {
		t.Fatalf("DeleteManifest by tag: %v", err)
	}
	for _, ref := range []string{string(d.Digest), "v1", "v2"} {
		_, err := r.client.FetchManifest(ctx, "img", ref, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
			t.Fatalf("%s after delete: %v", ref, err)
		}
	}
	if _, err := r.client.DeleteManifest(ctx, "img", "missing", nil); err != nil {
		t.Fatalf("DeleteManifest of a missing tag: %v", err)
	}
}

func mustFetch(t *testing.T, r *testRegistry, repo, ref string) acr.FetchManifestResponse {
	t.Helper()
	m, err := r.client.FetchManifest(context.Background(), repo, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
