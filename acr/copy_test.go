package acr_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/acre-dev/acre/acr"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// copyFixture is a multi-arch image with an attestation and referrers: a signature
// of the index, an SBOM of the arm64 image and a signature of that SBOM.
type copyFixture struct {
	index                       ocispec.Descriptor
	images                      map[string]ocispec.Descriptor // by platform name
	attestation                 ocispec.Descriptor            // of the arm64 image
	indexSig, armSBOM, sbomSig  ocispec.Descriptor
	blobs                       map[digest.Digest]int64 // every blob, with its size
	platformBlobs               map[string][]digest.Digest
	referrerBlobs, attBlobs     []digest.Digest
	indexSigBlobs, armSBOMBlobs []digest.Digest
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// manifestBlobs lists the blobs of a manifest in a registry.
func manifestBlobs(t *testing.T, r *testRegistry, repo string, d ocispec.Descriptor) []digest.Digest {
	t.Helper()
	m := mustFetch(t, r, repo, string(d.Digest))
	out := []digest.Digest{m.Manifest.Config.Digest}
	for _, l := range m.Manifest.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func pushCopyFixture(t *testing.T, r *testRegistry, repo, tag string) copyFixture {
	t.Helper()
	base := randomBytes(1000, 1) // shared by every image
	fx := copyFixture{images: map[string]ocispec.Descriptor{}, blobs: map[digest.Digest]int64{}, platformBlobs: map[string][]digest.Digest{}}
	var entries []ocispec.Descriptor
	for i, p := range []struct {
		name string
		p    ocispec.Platform
		own  []byte
	}{
		{"amd64", linuxAMD64, randomBytes(5<<20+123, 2)}, // more than one 4 MiB chunk
		{"arm64", linuxARM64, randomBytes(3000, 3)},
		{"armv7", linuxARMv7, randomBytes(2000, 4)},
	} {
		d := r.pushImage(t, repo, imageSpec{platform: p.p, layers: [][]byte{base, p.own, {byte(i)}}})
		fx.images[p.name] = d
		entries = append(entries, d)
		fx.platformBlobs[p.name] = manifestBlobs(t, r, repo, d)
	}
	att := r.pushImage(t, repo, imageSpec{platform: ocispec.Platform{OS: "unknown", Architecture: "unknown"}, layers: [][]byte{[]byte(`{"predicate":"arm64"}`)}})
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": string(fx.images["arm64"].Digest)}
	fx.attestation = att
	fx.attBlobs = manifestBlobs(t, r, repo, att)
	entries = append(entries, att)
	fx.index = r.pushIndex(t, repo, tag, false, entries...)
	fx.indexSig = r.pushReferrer(t, repo, fx.index, sigType, []byte("index signature"))
	fx.armSBOM = r.pushReferrer(t, repo, fx.images["arm64"], sbomType, []byte("arm64 sbom"))
	fx.sbomSig = r.pushReferrer(t, repo, fx.armSBOM, sigType, []byte("sbom signature"))
	fx.indexSigBlobs = manifestBlobs(t, r, repo, fx.indexSig)
	fx.armSBOMBlobs = manifestBlobs(t, r, repo, fx.armSBOM)
	fx.referrerBlobs = append(append(slices.Clone(fx.indexSigBlobs), fx.armSBOMBlobs...), manifestBlobs(t, r, repo, fx.sbomSig)...)
	all := slices.Concat(fx.platformBlobs["amd64"], fx.platformBlobs["arm64"], fx.platformBlobs["armv7"], fx.attBlobs, fx.referrerBlobs)
	ctx := context.Background()
	for _, d := range all {
		res, err := r.blobs.CheckBlobExists(ctx, repo, string(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		fx.blobs[d] = *res.ContentLength
	}
	return fx
}

func (fx copyFixture) totalSize() int64 {
	var n int64
	for _, s := range fx.blobs {
		n += s
	}
	return n
}

// checkBlobs downloads blobs from a registry, which validates them.
func checkBlobs(t *testing.T, r *testRegistry, repo string, blobs []digest.Digest) {
	t.Helper()
	for _, d := range blobs {
		dl, err := r.blobs.DownloadBlob(context.Background(), repo, string(d), nil)
		if err != nil {
			t.Fatalf("blob %s at the destination: %v", d, err)
		}
		_, err = io.Copy(io.Discard, dl.Body)
		dl.Body.Close()
		if err != nil {
			t.Fatalf("blob %s at the destination: %v", d, err)
		}
	}
}

func missing(t *testing.T, r *testRegistry, repo string, d digest.Digest) {
	t.Helper()
	if _, err := r.client.ResolveManifest(context.Background(), repo, string(d)); err == nil {
		t.Fatalf("manifest %s was copied", d)
	}
}

// checkCopy verifies the whole fixture at the destination.
func checkCopy(t *testing.T, dst *testRegistry, repo, tag string, fx copyFixture, referrers bool) {
	t.Helper()
	ctx := context.Background()
	got, err := dst.client.ResolveManifest(ctx, repo, tag)
	if err != nil || got.Digest != fx.index.Digest {
		t.Fatalf("tag %s at the destination: %v %s", tag, err, got.Digest)
	}
	for name, img := range fx.images {
		mustFetch(t, dst, repo, string(img.Digest))
		checkBlobs(t, dst, repo, fx.platformBlobs[name])
	}
	mustFetch(t, dst, repo, string(fx.attestation.Digest))
	if !referrers {
		missing(t, dst, repo, fx.indexSig.Digest)
		return
	}
	checkBlobs(t, dst, repo, fx.referrerBlobs)
	for _, c := range []struct{ subject, referrer ocispec.Descriptor }{{fx.index, fx.indexSig}, {fx.images["arm64"], fx.armSBOM}, {fx.armSBOM, fx.sbomSig}} {
		refs, err := dst.client.ListReferrers(ctx, repo, string(c.subject.Digest), nil)
		if err != nil || !slices.Equal(digests(refs), sortedDigests(c.referrer)) {
			t.Fatalf("referrers of %s at the destination: %v, %v", c.subject.Digest, digests(refs), err)
		}
	}
}

func isMount(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Get("mount") != ""
}

func TestCopyWithinRegistryMounts(t *testing.T) {
	mounts := &requestCounter{match: isMount}
	r := startAcre(t, mounts.wrap)
	ctx := context.Background()
	fx := pushCopyFixture(t, r, "app", "v1")

	res, err := acr.Copy(ctx, r.repo("app"), "v1", r.repo("mirror/app"), "", &acr.CopyOptions{Referrers: true})
	if err != nil {
		t.Fatal(err)
	}
	checkCopy(t, r, "mirror/app", "v1", fx, true)
	n, _ := mounts.counts()
	if res.BlobsMounted != len(fx.blobs) || n != len(fx.blobs) || res.BlobsCopied != 0 || res.BytesCopied != 0 {
		t.Fatalf("%+v with %d mount requests; want %d blobs mounted", res, n, len(fx.blobs))
	}
	// index, 3 images, attestation, 3 referrers
	if res.Digest != string(fx.index.Digest) || res.MediaType != ocispec.MediaTypeImageIndex || res.Size != fx.index.Size || res.Manifests != 8 {
		t.Fatalf("response %+v", res)
	}

	// Again: everything is there; only the tags are set.
	res, err = acr.Copy(ctx, r.repo("app"), string(fx.index.Digest), r.repo("mirror/app"), "v2", &acr.CopyOptions{Referrers: true, Tags: []string{"v3"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests != 0 || res.BlobsSkipped != 0 || res.BlobsMounted != 0 || res.BlobsCopied != 0 {
		t.Fatalf("second copy did work: %+v", res)
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		checkCopy(t, r, "mirror/app", tag, fx, true)
	}

	// By digest without a destination tag: nothing tagged.
	if _, err := acr.Copy(ctx, r.repo("app"), string(fx.index.Digest), r.repo("untagged"), "", nil); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, r, "untagged", string(fx.index.Digest))
	missing(t, r, "untagged", fx.indexSig.Digest) // referrers not asked for
	if _, err := r.client.ResolveManifest(ctx, "untagged", "v1"); err == nil {
		t.Fatal("copy by digest set a tag")
	}
	if _, err := acr.Copy(ctx, r.repo("app"), "v1", r.repo("other"), string(digest.FromString("x")), nil); err == nil {
		t.Fatal("copy to a digest that is not the source's succeeded")
	}
}

// progressRecorder checks Copy's progress reports.
type progressRecorder struct {
	mu            sync.Mutex
	calls         int
	last, total   int64
	backwards     bool
	blobs         map[digest.Digest]int64
	blobTotals    map[digest.Digest]int64
	concurrentUse bool
}

func (p *progressRecorder) enter() func() {
	if !p.mu.TryLock() {
		p.concurrentUse = true
		p.mu.Lock()
	}
	return p.mu.Unlock
}

func (p *progressRecorder) options(o *acr.CopyOptions) *acr.CopyOptions {
	p.blobs, p.blobTotals = map[digest.Digest]int64{}, map[digest.Digest]int64{}
	o.Progress = func(transferred, total int64) {
		defer p.enter()()
		p.calls++
		p.backwards = p.backwards || transferred < p.last
		p.last, p.total = transferred, total
	}
	o.BlobProgress = func(b ocispec.Descriptor, transferred, total int64) {
		defer p.enter()()
		p.blobs[b.Digest], p.blobTotals[b.Digest] = transferred, total
	}
	return o
}

func TestCopyBetweenRegistriesStreams(t *testing.T) {
	mounts := &requestCounter{match: isMount}
	src := startAcre(t, nil)
	dst := startAcre(t, mounts.wrap)
	ctx := context.Background()
	fx := pushCopyFixture(t, src, "app", "v1")

	var p progressRecorder
	res, err := acr.Copy(ctx, src.repo("app"), "v1", dst.repo("copied/app"), "release", p.options(&acr.CopyOptions{Referrers: true}))
	if err != nil {
		t.Fatal(err)
	}
	checkCopy(t, dst, "copied/app", "release", fx, true)
	if n, _ := mounts.counts(); n != 0 {
		t.Fatalf("%d mounts between registries", n)
	}
	if res.BlobsCopied != len(fx.blobs) || res.BytesCopied != fx.totalSize() || res.Manifests != 8 {
		t.Fatalf("response %+v, want %d blobs, %d bytes", res, len(fx.blobs), fx.totalSize())
	}
	if p.backwards || p.concurrentUse || p.last != fx.totalSize() || p.total != fx.totalSize() || p.calls < len(fx.blobs) {
		t.Fatalf("progress: %d/%d after %d calls (backwards %v, concurrent %v), want %d in the end", p.last, p.total, p.calls, p.backwards, p.concurrentUse, fx.totalSize())
	}
	for d, size := range fx.blobs {
		if p.blobs[d] != size || p.blobTotals[d] != size {
			t.Fatalf("blob progress of %s: %d/%d, want %d", d, p.blobs[d], p.blobTotals[d], size)
		}
	}

	// A copy whose blobs are partly there already skips those.
	res, err = acr.Copy(ctx, src.repo("app"), string(fx.images["amd64"].Digest), dst.repo("single"), "amd64", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsCopied != len(fx.platformBlobs["amd64"]) || res.Manifests != 1 {
		t.Fatalf("single image: %+v", res)
	}
	checkBlobs(t, dst, "single", fx.platformBlobs["amd64"])
}

// TestCopyGoContainerRegistry copies acre → go-containerregistry (no referrers API:
// the fallback tag schema is written) → acre (the fallback tag is read).
func TestCopyGoContainerRegistry(t *testing.T) {
	ctx := context.Background()
	src := startAcre(t, nil)
	mid := startGGCR(t, false, nil)
	dst := startAcre(t, nil)
	fx := pushCopyFixture(t, src, "app", "v1")

	if _, err := acr.Copy(ctx, src.repo("app"), "v1", mid.repo("app"), "", &acr.CopyOptions{Referrers: true}); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, mid, "app", "v1", fx, true)
	ix := mustFetch(t, mid, "app", fallbackTag(fx.images["arm64"].Digest))
	if ix.Index == nil || len(ix.Index.Manifests) != 1 || ix.Index.Manifests[0].Digest != fx.armSBOM.Digest {
		t.Fatalf("fallback index at go-containerregistry: %s", ix.Content)
	}

	res, err := acr.Copy(ctx, mid.repo("app"), "v1", dst.repo("back"), "", &acr.CopyOptions{Referrers: true, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsCopied != len(fx.blobs) {
		t.Fatalf("response %+v", res)
	}
	checkCopy(t, dst, "back", "v1", fx, true)
	// The fallback tags stay behind: acre has the referrers API.
	if _, err := dst.client.ResolveManifest(ctx, "back", fallbackTag(fx.images["arm64"].Digest)); err == nil {
		t.Fatal("the fallback tag was copied to a registry with the referrers API")
	}
}

func TestCopyPlatforms(t *testing.T) {
	ctx := context.Background()
	src := startAcre(t, nil)
	dst := startAcre(t, nil)
	fx := pushCopyFixture(t, src, "app", "v1")

	res, err := acr.Copy(ctx, src.repo("app"), "v1", dst.repo("arm"), "", &acr.CopyOptions{
		Platforms: []ocispec.Platform{{OS: "linux", Architecture: "aarch64"}}, Referrers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest == string(fx.index.Digest) || res.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("filtered index kept the source's digest: %+v", res)
	}
	got := mustFetch(t, dst, "arm", "v1")
	if got.Digest != res.Digest || len(got.Index.Manifests) != 2 ||
		got.Index.Manifests[0].Digest != fx.images["arm64"].Digest || got.Index.Manifests[1].Digest != fx.attestation.Digest {
		t.Fatalf("filtered index %s", got.Content)
	}
	checkBlobs(t, dst, "arm", slices.Concat(fx.platformBlobs["arm64"], fx.attBlobs, fx.armSBOMBlobs))
	missing(t, dst, "arm", fx.images["amd64"].Digest)
	missing(t, dst, "arm", fx.images["armv7"].Digest)
	missing(t, dst, "arm", fx.indexSig.Digest) // its subject is not there
	for _, d := range fx.platformBlobs["amd64"] {
		if _, err := dst.blobs.CheckBlobExists(ctx, "arm", string(d), nil); err == nil && !slices.Contains(fx.platformBlobs["arm64"], d) {
			t.Fatalf("amd64 blob %s was copied", d)
		}
	}
	refs, err := dst.client.ListReferrers(ctx, "arm", string(fx.images["arm64"].Digest), nil)
	if err != nil || !slices.Equal(digests(refs), sortedDigests(fx.armSBOM)) {
		t.Fatalf("referrers of the arm64 image: %v %v", digests(refs), err)
	}

	// Every platform: the index as it is.
	res, err = acr.Copy(ctx, src.repo("app"), "v1", dst.repo("all"), "", &acr.CopyOptions{Platforms: []ocispec.Platform{linuxAMD64, linuxARM64, linuxARMv7}})
	if err != nil || res.Digest != string(fx.index.Digest) {
		t.Fatalf("all platforms: %+v, %v", res, err)
	}
	checkCopy(t, dst, "all", "v1", fx, false)

	_, err = acr.Copy(ctx, src.repo("app"), "v1", dst.repo("none"), "", &acr.CopyOptions{Platforms: []ocispec.Platform{{OS: "linux", Architecture: "riscv64"}}})
	if !errors.Is(err, acr.ErrNoMatchingPlatform) || !strings.Contains(err.Error(), "copy app:v1") {
		t.Fatalf("unknown platform: %v", err)
	}
}

func TestCopyConcurrencyBound(t *testing.T) {
	isBlob := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/") }
	for _, tc := range []struct {
		concurrency, want int
	}{{3, 3}, {0, 4}, {1, 1}} {
		srcGets := &requestCounter{match: func(r *http.Request) bool { return r.Method == http.MethodGet && isBlob(r) }, delay: 20e6}
		dstBlobs := &requestCounter{match: isBlob, delay: 5e6}
		src := startAcre(t, srcGets.wrap)
		dst := startAcre(t, dstBlobs.wrap)
		var layers [][]byte
		for i := range 12 {
			layers = append(layers, bytes.Repeat([]byte{byte(i)}, 1000+i))
		}
		src.pushImage(t, "many", imageSpec{platform: linuxAMD64, layers: layers, tag: "v1"})
		srcGets.mu.Lock()
		srcGets.n, srcGets.max = 0, 0
		srcGets.mu.Unlock()

		res, err := acr.Copy(context.Background(), src.repo("many"), "v1", dst.repo("many"), "", &acr.CopyOptions{Concurrency: tc.concurrency})
		if err != nil {
			t.Fatal(err)
		}
		gets, srcMax := srcGets.counts()
		_, dstMax := dstBlobs.counts()
		if res.BlobsCopied != 13 || gets != 13 {
			t.Fatalf("concurrency %d: %+v, %d GETs", tc.concurrency, res, gets)
		}
		if srcMax > tc.want || dstMax > tc.want {
			t.Fatalf("concurrency %d: %d downloads and %d destination blob requests in flight, want at most %d", tc.concurrency, srcMax, dstMax, tc.want)
		}
		if srcMax < min(tc.want, 2) {
			t.Fatalf("concurrency %d: at most %d downloads at once: not parallel", tc.concurrency, srcMax)
		}
	}
}
