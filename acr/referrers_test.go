package acr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/acre-dev/acre/acr"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	sigType  = "application/vnd.example.signature"
	sbomType = "application/spdx+json"
)

func referrersPath(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }

// fallbackTag is the OCI referrers tag schema's tag for a digest.
func fallbackTag(d digest.Digest) string { return d.Algorithm().String() + "-" + d.Encoded() }

func digests(descs []ocispec.Descriptor) []string {
	var out []string
	for _, d := range descs {
		out = append(out, string(d.Digest))
	}
	slices.Sort(out)
	return out
}

func sortedDigests(ds ...ocispec.Descriptor) []string { return digests(ds) }

// checkReferrers lists the referrers of subject, all and by artifact type.
func checkReferrers(t *testing.T, r *testRegistry, repo string, subject ocispec.Descriptor, sig, sbom ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	all, err := r.client.ListReferrers(ctx, repo, string(subject.Digest), nil)
	if err != nil {
		t.Fatalf("ListReferrers: %v", err)
	}
	if got, want := digests(all), sortedDigests(sig, sbom); !slices.Equal(got, want) {
		t.Fatalf("referrers %v, want %v", got, want)
	}
	for _, d := range all {
		want := sigType
		if d.Digest == sbom.Digest {
			want = sbomType
		}
		if d.ArtifactType != want || d.MediaType != ocispec.MediaTypeImageManifest || d.Size == 0 {
			t.Fatalf("referrer descriptor %+v", d)
		}
	}
	sigs, err := r.client.ListReferrers(ctx, repo, string(subject.Digest), &acr.ListReferrersOptions{ArtifactType: sigType})
	if err != nil || !slices.Equal(digests(sigs), sortedDigests(sig)) {
		t.Fatalf("ListReferrers(%s) = %v, %v", sigType, digests(sigs), err)
	}
	none, err := r.client.ListReferrers(ctx, repo, string(sig.Digest), nil)
	if err != nil || len(none) != 0 || none == nil {
		t.Fatalf("referrers of a manifest without any: %v, %v", none, err)
	}
}

func TestListReferrersAPI(t *testing.T) {
	r := startAcre(t, nil)
	ctx := context.Background()
	img := r.pushImage(t, "app", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("l")}, tag: "v1"})
	sig := r.pushReferrer(t, "app", img, sigType, []byte("signature"))
	sbom := r.pushReferrer(t, "app", img, sbomType, []byte("sbom"))

	// acre confirms the subject, so no fallback tag is written.
	res, err := r.client.SetManifest(ctx, "app", mustFetch(t, r, "app", string(sig.Digest)).Content, nil)
	if err != nil || res.Subject != string(img.Digest) {
		t.Fatalf("SetManifest of a referrer: Subject %q, %v", res.Subject, err)
	}
	if _, err := r.client.ResolveManifest(ctx, "app", fallbackTag(img.Digest)); err == nil {
		t.Fatal("a registry with the referrers API got a fallback tag")
	}
	checkReferrers(t, r, "app", img, sig, sbom)

	if _, err := r.client.ListReferrers(ctx, "app", "not-a-digest", nil); err == nil {
		t.Fatal("ListReferrers accepted an invalid digest")
	}
}

// TestListReferrersFallback pushes and lists referrers on a registry without the
// referrers API: go-containerregistry's, as it comes, and acre with its API hidden.
func TestListReferrersFallback(t *testing.T) {
	hide := func(status int, contentType string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if referrersPath(r) {
					w.Header().Set("Content-Type", contentType)
					w.WriteHeader(status)
					fmt.Fprint(w, `{"errors":[{"code":"UNSUPPORTED"}]}`)
					return
				}
				// Nor does it index subjects: no OCI-Subject.
				h.ServeHTTP(&dropHeader{ResponseWriter: w, name: "OCI-Subject"}, r)
			})
		}
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *testRegistry
	}{
		{"ggcr", func(t *testing.T) *testRegistry { return startGGCR(t, false, nil) }},
		{"acre 404", func(t *testing.T) *testRegistry { return startAcre(t, hide(http.StatusNotFound, "application/json")) }},
		{"acre 405", func(t *testing.T) *testRegistry {
			return startAcre(t, hide(http.StatusMethodNotAllowed, "application/json"))
		}},
		{"acre 400", func(t *testing.T) *testRegistry { return startAcre(t, hide(http.StatusBadRequest, "text/plain")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.start(t)
			ctx := context.Background()
			img := r.pushImage(t, "app", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("l")}, tag: "v1"})
			sig := r.pushReferrer(t, "app", img, sigType, []byte("signature"))
			sbom := r.pushReferrer(t, "app", img, sbomType, []byte("sbom"))
			// Pushing one again does not list it twice.
			if _, err := r.client.SetManifest(ctx, "app", mustFetch(t, r, "app", string(sig.Digest)).Content, nil); err != nil {
				t.Fatal(err)
			}

			// SetManifest kept the fallback index up to date.
			ix := mustFetch(t, r, "app", fallbackTag(img.Digest))
			if ix.Index == nil || len(ix.Index.Manifests) != 2 || ix.MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("fallback index %s", ix.Content)
			}
			for _, d := range ix.Index.Manifests {
				if d.Annotations["org.example.payload"] == "" {
					t.Fatalf("fallback entry without the manifest's annotations: %+v", d)
				}
			}
			checkReferrers(t, r, "app", img, sig, sbom)
		})
	}
}

// TestListReferrersClientFilter uses a registry with the referrers API that does
// not apply the artifactType filter (go-containerregistry's): the client filters.
func TestListReferrersClientFilter(t *testing.T) {
	r := startGGCR(t, true, nil)
	img := r.pushImage(t, "app", imageSpec{platform: linuxAMD64, layers: [][]byte{[]byte("l")}, tag: "v1"})
	sig := r.pushReferrer(t, "app", img, sigType, []byte("signature"))
	sbom := r.pushReferrer(t, "app", img, sbomType, []byte("sbom"))
	if _, err := r.client.ResolveManifest(context.Background(), "app", fallbackTag(img.Digest)); err == nil {
		t.Fatal("a registry with the referrers API got a fallback tag")
	}
	checkReferrers(t, r, "app", img, sig, sbom)
}

// TestListReferrersPages serves the referrers in two pages linked by Link.
func TestListReferrersPages(t *testing.T) {
	var subject digest.Digest
	page := func(w http.ResponseWriter, r *http.Request) bool {
		if !referrersPath(r) {
			return false
		}
		d := func(s string) ocispec.Descriptor {
			return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: 1, ArtifactType: s}
		}
		ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
		if r.URL.Query().Get("page") == "" {
			ix.Manifests = []ocispec.Descriptor{d("a/one"), d("b/two")}
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=2&artifactType=%s>; rel="next"`, r.URL.Path, r.URL.Query().Get("artifactType")))
		} else {
			ix.Manifests = []ocispec.Descriptor{d("a/three")}
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		_ = json.NewEncoder(w).Encode(ix)
		return true
	}
	r := startAcre(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !page(w, r) {
				h.ServeHTTP(w, r)
			}
		})
	})
	subject = digest.FromString("subject")
	all, err := r.client.ListReferrers(context.Background(), "app", string(subject), nil)
	if err != nil || len(all) != 3 {
		t.Fatalf("ListReferrers = %v, %v", all, err)
	}
	// The fake ignores the filter and says so by omitting OCI-Filters-Applied.
	as, err := r.client.ListReferrers(context.Background(), "app", string(subject), &acr.ListReferrersOptions{ArtifactType: "a/one"})
	if err != nil || len(as) != 1 || as[0].ArtifactType != "a/one" {
		t.Fatalf("ListReferrers(a/one) = %v, %v", as, err)
	}
}

// dropHeader removes a header from an answer.
type dropHeader struct {
	http.ResponseWriter
	name string
}

func (d *dropHeader) WriteHeader(status int) {
	d.Header().Del(d.name)
	d.ResponseWriter.WriteHeader(status)
}

func (d *dropHeader) Write(p []byte) (int, error) {
	d.Header().Del(d.name)
	return d.ResponseWriter.Write(p)
}
