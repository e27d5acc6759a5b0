package main_test

// End-to-end tests of acre purge: the built binary (acreBin, from TestMain)
// against in-process registries whose clock the tests set, so that tags and
// manifests have chosen lastUpdateTimes and ages are deterministic (the hidden
// --now flag fixes the other end).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	purgeUser     = "admin"
	purgePassword = "purge-test-password"
	purgeDay      = 24 * time.Hour
)

// purgeNow is "now" for every purge test: the registry's clock is set relative to
// it, and the CLI gets it with --now.
var purgeNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// purgeClock is the registry's settable clock.
type purgeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *purgeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *purgeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// purgeEnv is a registry with an admin user, a client to seed it, and the address
// the CLI is pointed at (the registry, or a wrapper in front of it).
type purgeEnv struct {
	t      *testing.T
	srv    *registrytest.Server
	host   string
	client *acr.Client
	blobs  *acr.BlobClient
	clock  *purgeClock
	meta   store.MetadataStore
	ready  map[string]bool
	docker string // DOCKER_CONFIG of the CLI: empty, so only -u/-p count
}

func newPurgeEnv(t *testing.T, opts ...registrytest.Option) *purgeEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the acre binary; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	e := &purgeEnv{t: t, clock: &purgeClock{t: purgeNow.Add(-365 * purgeDay)}, ready: map[string]bool{}, docker: t.TempDir()}
	opts = append([]registrytest.Option{registrytest.WithAdmin(purgeUser, purgePassword), registrytest.With(func(s *registrytest.Settings) {
		s.Registry.Core.Now = e.clock.Now
		e.meta = s.Registry.Metadata
	})}, opts...)
	e.srv = registrytest.New(t, opts...)
	e.host = e.srv.Host
	cred := acr.NewBasicCredential(purgeUser, purgePassword)
	var err error
	if e.client, err = acr.NewClient(e.srv.URL, cred, nil); err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = acr.NewBlobClient(e.srv.URL, cred, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// wrap puts middleware in front of the registry and points the CLI at it.
func (e *purgeEnv) wrap(mw func(http.Handler) http.Handler) {
	hs := httptest.NewServer(mw(e.srv.Registry))
	e.t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	e.host = u.Host
}

// at sets the registry's clock to purgeNow plus offset (negative: in the past).
func (e *purgeEnv) at(offset time.Duration) *purgeEnv {
	e.clock.set(purgeNow.Add(offset))
	return e
}

var (
	purgeConfig = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	purgeLayer  = []byte("the layer every purge test image shares")
)

func (e *purgeEnv) ensureBlobs(repo string) {
	e.t.Helper()
	if e.ready[repo] {
		return
	}
	for _, b := range [][]byte{purgeConfig, purgeLayer, []byte("{}")} {
		if _, err := e.blobs.UploadBlob(context.Background(), repo, bytes.NewReader(b), nil); err != nil {
			e.t.Fatalf("upload blob to %s: %v", repo, err)
		}
	}
	e.ready[repo] = true
}

// push uploads a manifest, tagged tag ("" for untagged), and returns its digest.
func (e *purgeEnv) push(repo, tag, mediaType string, v any) string {
	e.t.Helper()
	e.ensureBlobs(repo)
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromBytes(b).String()
	ref := tag
	if ref == "" {
		ref = d
	}
	if _, err := e.client.UploadManifest(context.Background(), repo, ref, acr.ContentType(mediaType),
		streaming.NopCloser(bytes.NewReader(b)), nil); err != nil {
		e.t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return d
}

func purgeImageManifest(seed string, subject *ocispec.Descriptor) ocispec.Manifest {
	return ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config:  ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(purgeConfig), Size: int64(len(purgeConfig))},
		Layers:  []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(purgeLayer), Size: int64(len(purgeLayer))}},
		Subject: subject, Annotations: map[string]string{"seed": seed},
	}
}

// image pushes an OCI image, unique by seed.
func (e *purgeEnv) image(repo, tag, seed string) string {
	e.t.Helper()
	return e.push(repo, tag, ocispec.MediaTypeImageManifest, purgeImageManifest(seed, nil))
}

// index pushes an OCI index of the given children.
func (e *purgeEnv) index(repo, tag, seed string, children ...string) string {
	e.t.Helper()
	var descs []ocispec.Descriptor
	for _, c := range children {
		p, err := e.client.GetManifestProperties(context.Background(), repo, c, nil)
		if err != nil {
			e.t.Fatal(err)
		}
		descs = append(descs, ocispec.Descriptor{MediaType: *p.Manifest.MediaType, Digest: digest.Digest(c), Size: 1})
	}
	return e.push(repo, tag, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs, Annotations: map[string]string{"seed": seed},
	})
}

// referrer pushes an untagged signature-like artifact whose subject is subject.
func (e *purgeEnv) referrer(repo, subject, seed string) string {
	e.t.Helper()
	m := purgeImageManifest(seed, &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(subject), Size: 1})
	m.ArtifactType, m.Config = "application/vnd.example.signature", ocispec.DescriptorEmptyJSON
	return e.push(repo, "", ocispec.MediaTypeImageManifest, m)
}

func (e *purgeEnv) lockTag(repo, tag string) {
	e.t.Helper()
	if _, err := e.client.UpdateTagProperties(context.Background(), repo, tag, &acr.ClientUpdateTagPropertiesOptions{
		Value: &acr.TagWriteableProperties{CanWrite: to.Ptr(false), CanDelete: to.Ptr(false)}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *purgeEnv) lockManifest(repo, d string) {
	e.t.Helper()
	if _, err := e.client.UpdateManifestProperties(context.Background(), repo, d, &acr.ClientUpdateManifestPropertiesOptions{
		Value: &acr.ManifestWriteableProperties{CanWrite: to.Ptr(false)}}); err != nil {
		e.t.Fatal(err)
	}
}

// tags returns a repository's tags, sorted; manifests its manifest digests.
func (e *purgeEnv) tags(repo string) []string {
	e.t.Helper()
	var out []string
	pager := e.client.NewListTagsPager(repo, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, t := range page.Tags {
			out = append(out, *t.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (e *purgeEnv) manifests(repo string) []string {
	e.t.Helper()
	var out []string
	pager := e.client.NewListManifestsPager(repo, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range page.Attributes {
			out = append(out, *m.Digest)
		}
	}
	slices.Sort(out)
	return out
}

// purgeRun is the outcome of one acre run.
type purgeRun struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
	state          *os.ProcessState
}

// lines returns the stdout lines, sorted (deletions run in parallel, so their
// order varies).
func (r purgeRun) lines() []string {
	ls := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	slices.Sort(ls)
	return ls
}

// summary returns the last stdout line.
func (r purgeRun) summary() string {
	ls := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return ls[len(ls)-1]
}

// acre runs `acre purge HOST -u -p --now` with args.
func (e *purgeEnv) acre(args ...string) purgeRun {
	e.t.Helper()
	full := append([]string{"purge", e.host, "-u", purgeUser, "-p", purgePassword, "--now", purgeNow.Format(time.RFC3339)}, args...)
	cmd := exec.Command(acreBin, full...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+e.docker, "ACRE_PASSWORD=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := purgeRun{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start), state: cmd.ProcessState}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// ok runs acre and fails the test unless it exits 0.
func (e *purgeEnv) ok(args ...string) purgeRun {
	e.t.Helper()
	r := e.acre(args...)
	if r.code != 0 {
		e.t.Fatalf("acre purge %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func wantPurge(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestPurgeKeepNewest(t *testing.T) {
	e := newPurgeEnv(t)
	ds := map[string]string{}
	for i := 1; i <= 6; i++ {
		tag := fmt.Sprintf("v%d", i)
		ds[tag] = e.at(time.Duration(i-10)*purgeDay).image("hello", tag, tag)
	}
	r := e.ok("--filter", "hello:.*", "--keep", "2")
	wantPurge(t, "output", r.lines(), []string{
		"deleted tag hello:v1 (" + ds["v1"] + ")",
		"deleted tag hello:v2 (" + ds["v2"] + ")",
		"deleted tag hello:v3 (" + ds["v3"] + ")",
		"deleted tag hello:v4 (" + ds["v4"] + ")",
		"summary: deleted 4 tags and 0 manifests in 1 repository; skipped 0 locked; 0 failed",
	})
	wantPurge(t, "tags", e.tags("hello"), []string{"v5", "v6"})
	if len(e.manifests("hello")) != 6 {
		t.Error("manifests were deleted without --untagged")
	}
}

func TestPurgeByAge(t *testing.T) {
	e := newPurgeEnv(t)
	for tag, age := range map[string]time.Duration{
		"d40": -40 * purgeDay, "d31": -31 * purgeDay, "d29": -29 * purgeDay,
		"h37": -37 * time.Hour, "h35": -35 * time.Hour, "h1": -time.Hour,
	} {
		e.at(age).image("aged", tag, tag)
	}
	e.ok("--filter", "aged:d.*", "--ago", "30d")
	wantPurge(t, "after --ago 30d", e.tags("aged"), []string{"d29", "h1", "h35", "h37"})
	e.ok("--filter", "aged:.*", "--ago", "1d12h")
	wantPurge(t, "after --ago 1d12h", e.tags("aged"), []string{"h1", "h35"})
	// --keep counts among the tags that would be deleted, as in acr purge.
	e.ok("--filter", "aged:.*", "--ago", "30m", "--keep", "1")
	wantPurge(t, "after --ago 30m --keep 1", e.tags("aged"), []string{"h1"})
	e.ok("--filter", "aged:.*", "--ago", "30m")
	wantPurge(t, "after --ago 30m", e.tags("aged"), nil)

	// Ages are bounded: far beyond 150 years is capped (with a warning), not an
	// overflow that would turn into a date in the future.
	e.at(-400*purgeDay).image("aged", "ancient", "ancient")
	r := e.ok("--filter", "aged:.*", "--ago", "99999999999999999999d")
	if !strings.Contains(r.stderr, "capped to 150 years") {
		t.Errorf("no warning about the cap: %q", r.stderr)
	}
	wantPurge(t, "after a capped --ago", e.tags("aged"), []string{"ancient"})
}

func TestPurgeUntagged(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	old := e.image("u", "old", "old")
	keep := e.image("u", "keep", "keep")
	shared := e.image("u", "shared-a", "shared")
	e.push("u", "shared-b", ocispec.MediaTypeImageManifest, purgeImageManifest("shared", nil)) // a second tag
	dangling := e.image("u", "", "dangling")
	e.at(-time.Hour)
	young := e.image("u", "", "young")

	r := e.ok("--filter", "u:old|shared-a", "--untagged", "--ago", "1d")
	wantPurge(t, "output", r.lines(), []string{
		"deleted manifest u@" + dangling,
		"deleted manifest u@" + old,
		"deleted tag u:old (" + old + ")",
		"deleted tag u:shared-a (" + shared + ")",
		"summary: deleted 2 tags and 2 manifests in 1 repository; skipped 0 locked; 0 failed",
	})
	wantPurge(t, "tags", e.tags("u"), []string{"keep", "shared-b"})
	wantPurge(t, "manifests", e.manifests("u"), []string{keep, shared, young})
}

func TestPurgeUntaggedOnly(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	tagged := e.image("a", "v1", "a1")
	e.image("a", "", "a2") // untagged: deleted
	otherTagged := e.image("b", "v1", "b1")
	otherLoose := e.image("b", "", "b2")

	for _, filter := range []string{"a:v1", "a:"} {
		if r := e.acre("--untagged-only", "--filter", filter); r.code != 2 {
			t.Errorf("--untagged-only --filter %s: exit %d, want 2 (usage)\n%s", filter, r.code, r.stderr)
		}
	}
	if r := e.acre("--untagged", "--untagged-only", "--filter", "a:.*"); r.code != 2 {
		t.Errorf("--untagged --untagged-only: exit %d, want 2", r.code)
	}

	e.ok("--untagged-only", "--filter", "a")
	wantPurge(t, "a", e.manifests("a"), []string{tagged})
	wantPurge(t, "a's tags", e.tags("a"), []string{"v1"})
	wantPurge(t, "b untouched", e.manifests("b"), []string{otherTagged, otherLoose})

	// Without a filter: every repository.
	r := e.ok("--untagged-only")
	wantPurge(t, "output", r.lines(), []string{
		"deleted manifest b@" + otherLoose,
		"summary: deleted 0 tags and 1 manifest in 2 repositories; skipped 0 locked; 0 failed",
	})
}

func TestPurgeLocked(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	free := e.image("l", "free", "free")
	locked := e.image("l", "locked", "locked")
	e.lockTag("l", "locked")
	loose := e.image("l", "", "loose")
	e.lockManifest("l", loose)

	r := e.ok("--filter", "l:.*", "--untagged")
	wantPurge(t, "output", r.lines(), []string{
		"deleted manifest l@" + free,
		"deleted tag l:free (" + free + ")",
		"skipped locked manifest l@" + loose,
		"skipped locked tag l:locked (" + locked + ")",
		"summary: deleted 1 tag and 1 manifest in 1 repository; skipped 2 locked; 0 failed",
	})
	wantPurge(t, "tags", e.tags("l"), []string{"locked"})

	r = e.ok("--filter", "l:.*", "--untagged", "--include-locked")
	wantPurge(t, "output with --include-locked", r.lines(), []string{
		"deleted manifest l@" + locked,
		"unlocked and deleted manifest l@" + loose,
		"unlocked and deleted tag l:locked (" + locked + ")",
		"summary: deleted 1 tag and 2 manifests in 1 repository; skipped 0 locked; 0 failed",
	})
	wantPurge(t, "manifests", e.manifests("l"), nil)
}

func TestPurgeDryRun(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	a := e.image("dry", "a", "a")
	b := e.image("dry", "b", "b")
	loose := e.image("dry", "", "loose")
	e.lockTag("dry", "b")
	tagsBefore, manifestsBefore := e.tags("dry"), e.manifests("dry")

	r := e.ok("--filter", "dry:.*", "--untagged", "--dry-run")
	wantPurge(t, "output", r.lines(), []string{
		"skipped locked tag dry:b (" + b + ")",
		"summary (dry run): would delete 1 tag and 2 manifests in 1 repository; skipped 1 locked; 0 failed",
		"would delete manifest dry@" + a,
		"would delete manifest dry@" + loose,
		"would delete tag dry:a (" + a + ")",
	})
	r = e.ok("--filter", "dry:.*", "--untagged", "--dry-run", "--include-locked")
	if !strings.Contains(r.stdout, "would unlock and delete tag dry:b") {
		t.Errorf("dry run with --include-locked:\n%s", r.stdout)
	}
	wantPurge(t, "tags after dry runs", e.tags("dry"), tagsBefore)
	wantPurge(t, "manifests after dry runs", e.manifests("dry"), manifestsBefore)
	p, err := e.client.GetTagProperties(context.Background(), "dry", "b", nil)
	if err != nil || *p.Tag.ChangeableAttributes.CanWrite {
		t.Errorf("the dry run unlocked dry:b (err %v)", err)
	}

	// The real run does what the dry run said.
	real := e.ok("--filter", "dry:.*", "--untagged")
	if got := real.summary(); got != "summary: deleted 1 tag and 2 manifests in 1 repository; skipped 1 locked; 0 failed" {
		t.Errorf("real run: %q", got)
	}
}

func TestPurgeFiltersAndExcludes(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	for _, repo := range []string{"app", "app/a", "app/b", "apps", "other"} {
		for _, tag := range []string{"v1", "v10", "latest", "test-1"} {
			e.image(repo, tag, repo+tag)
		}
	}
	e.ok("--filter", "app/.*:v1.*", "--filter", "other:v1", "--filter", "apps:.*test.*",
		"--exclude", "app/b:v10", "--exclude", "app/a:.*1")
	// Anchored: app/.* is not app; v1 is not v10; .*1 spares v1 but not v10 in app/a.
	wantPurge(t, "app", e.tags("app"), []string{"latest", "test-1", "v1", "v10"})
	wantPurge(t, "app/a", e.tags("app/a"), []string{"latest", "test-1", "v1"})
	wantPurge(t, "app/b", e.tags("app/b"), []string{"latest", "test-1", "v10"})
	wantPurge(t, "apps", e.tags("apps"), []string{"v1", "v10"}) // "latest" has "test" in it
	wantPurge(t, "other", e.tags("other"), []string{"latest", "test-1", "v10"})

	// An exclusion without a tag part spares whole repositories; (?:...) groups
	// in the repository part do not split the filter.
	e.ok("--filter", "(?:app|apps|other):.*", "--exclude", "apps")
	wantPurge(t, "app", e.tags("app"), nil)
	wantPurge(t, "other", e.tags("other"), nil)
	wantPurge(t, "apps", e.tags("apps"), []string{"v1", "v10"})

	for _, bad := range [][]string{
		{"--filter", "app"},              // no tag part
		{"--filter", "app:v(1"},          // bad regex
		{"--filter", "app:(?!latest).*"}, // RE2 has no look-ahead
		{"--exclude", "x:.*"},            // no filter
		{"--filter", "app:.*", "--ago", "soon"},
		{"--filter", "app:.*", "--keep", "-1"},
		{"--filter", "app:.*", "--concurrency", "0"},
		{"--filter", "app:.*", "--concurrency", "33"},
	} {
		if r := e.acre(bad...); r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("acre purge %s: exit %d, stderr %q; want exit 2 and one line", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
}

func TestPurgeIndexChildren(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	amd := e.image("multi", "", "amd64")
	arm := e.image("multi", "", "arm64")
	idx := e.index("multi", "v1", "idx", amd, arm)
	leaf := e.image("multi", "", "leaf")
	inner := e.index("multi", "", "inner", leaf)
	outer := e.index("multi", "v2", "outer", inner)
	old1 := e.image("multi", "", "old1")
	oldIdx := e.index("multi", "old", "old-idx", old1)
	orphan := e.image("multi", "", "orphan")

	r := e.ok("--filter", "multi:old", "--untagged")
	wantPurge(t, "output", r.lines(), []string{
		"deleted manifest multi@" + old1,
		"deleted manifest multi@" + oldIdx,
		"deleted manifest multi@" + orphan,
		"deleted tag multi:old (" + oldIdx + ")",
		"summary: deleted 1 tag and 3 manifests in 1 repository; skipped 0 locked; 0 failed",
	})
	wantPurge(t, "manifests", e.manifests("multi"), []string{amd, arm, idx, leaf, inner, outer})
}

func TestPurgeReferrers(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	app := e.image("ref", "app", "app")
	sig := e.referrer("ref", app, "sig")
	gone := e.image("ref", "gone", "gone")
	goneSig := e.referrer("ref", gone, "gone-sig")
	dangling := e.referrer("ref", digest.FromString("never pushed").String(), "dangling")

	// Deleting the tag gone leaves gone untagged: it goes in this run; its
	// signature was checked while gone existed, so it goes in the next.
	r := e.ok("--filter", "ref:gone", "--untagged")
	wantPurge(t, "output", r.lines(), []string{
		"deleted manifest ref@" + dangling,
		"deleted manifest ref@" + gone,
		"deleted tag ref:gone (" + gone + ")",
		"summary: deleted 1 tag and 2 manifests in 1 repository; skipped 0 locked; 0 failed",
	})
	r = e.ok("--untagged-only", "--filter", "ref")
	wantPurge(t, "output of the second run", r.lines(), []string{
		"deleted manifest ref@" + goneSig,
		"summary: deleted 0 tags and 1 manifest in 1 repository; skipped 0 locked; 0 failed",
	})
	wantPurge(t, "manifests", e.manifests("ref"), []string{app, sig})
}

// purgeJSONDoc is the document acre purge -o json prints.
type purgeJSONDoc struct {
	Registry string `json:"registry"`
	DryRun   bool   `json:"dryRun"`
	Actions  []struct {
		Action     string `json:"action"`
		Type       string `json:"type"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		Digest     string `json:"digest"`
		Unlocked   bool   `json:"unlocked"`
		Reason     string `json:"reason"`
		Error      string `json:"error"`
	} `json:"actions"`
	Summary map[string]int `json:"summary"`
	Error   string         `json:"error"`
}

func TestPurgeJSON(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	a := e.image("j", "a", "a")
	b := e.image("j", "b", "b")
	e.lockTag("j", "b")

	r := e.ok("--filter", "j:.*", "--untagged", "--output", "json")
	var doc purgeJSONDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	var got []string
	for _, a := range doc.Actions {
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s", a.Action, a.Type, a.Repository, a.Tag, a.Digest, a.Reason))
	}
	wantPurge(t, "actions", got, []string{
		"delete tag j a " + a + " ",
		"delete manifest j  " + a + " ",
		"skip tag j b " + b + " locked",
	})
	want := map[string]int{"repositories": 1, "deletedTags": 1, "deletedManifests": 1, "skippedTags": 1,
		"skippedManifests": 0, "skippedRepositories": 0, "failed": 0}
	if fmt.Sprint(doc.Summary) != fmt.Sprint(want) || doc.DryRun || doc.Registry != e.host || doc.Error != "" {
		t.Errorf("document %+v", doc)
	}

	// Nothing to do is still a document, with an empty array.
	r = e.ok("--filter", "j:nothing", "--output", "json", "--dry-run")
	doc = purgeJSONDoc{}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.DryRun || doc.Actions == nil || len(doc.Actions) != 0 {
		t.Errorf("empty run: %v %+v\n%s", err, doc, r.stdout)
	}
}

func TestPurgePolicy(t *testing.T) {
	e := newPurgeEnv(t)
	for i := range 4 {
		e.at(time.Duration(-40+i)*purgeDay).image("p/app", fmt.Sprintf("v%d", i), fmt.Sprint("app", i))
	}
	e.at(-40*purgeDay).image("p/app", "latest", "latest")
	e.at(-40 * purgeDay)
	loose := e.image("p/cache", "", "loose")
	cached := e.image("p/cache", "c", "c")
	policyFile := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policyFile, []byte(`{"rules": [
		{"filter": ["p/app:.*"], "exclude": "p/app:latest", "ago": "30d", "keep": 1, "untagged": true},
		{"filter": "p/cache", "untaggedOnly": true, "ago": "1d"}
	]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.ok("--policy", policyFile)
	wantPurge(t, "p/app", e.tags("p/app"), []string{"latest", "v3"})
	if got := len(e.manifests("p/app")); got != 2 {
		t.Errorf("%d manifests left in p/app, want 2", got)
	}
	wantPurge(t, "p/cache", e.manifests("p/cache"), []string{cached})
	if !strings.Contains(r.stdout, "deleted manifest p/cache@"+loose) {
		t.Errorf("output:\n%s", r.stdout)
	}

	for _, bad := range [][]string{
		{"--policy", policyFile, "--filter", "x:.*"},
		{"--policy", policyFile, "--keep", "3"},
		{"--policy", filepath.Join(t.TempDir(), "missing.json")},
	} {
		if r := e.acre(bad...); r.code != 2 {
			t.Errorf("acre purge %s: exit %d, want 2\n%s", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
}

// TestPurgeRetriesThrottling answers the first deletion with 429 and Retry-After:
// the run must wait and retry, and succeed.
func TestPurgeRetriesThrottling(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10*purgeDay).image("t", "a", "a")
	var throttled atomic.Int64
	var retriedAfter atomic.Int64
	var first atomic.Int64
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				if throttled.Add(1) == 1 {
					first.Store(time.Now().UnixNano())
					w.Header().Set("Retry-After", "1")
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprint(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"throttled"}]}`)
					return
				}
				retriedAfter.Store(time.Now().UnixNano() - first.Load())
			}
			next.ServeHTTP(w, r)
		})
	})
	r := e.ok("--filter", "t:.*")
	if r.summary() != "summary: deleted 1 tag and 0 manifests in 1 repository; skipped 0 locked; 0 failed" {
		t.Errorf("output:\n%s%s", r.stdout, r.stderr)
	}
	if throttled.Load() != 2 || time.Duration(retriedAfter.Load()) < 900*time.Millisecond {
		t.Errorf("%d DELETEs, retry after %v: want 2, the second after Retry-After's second", throttled.Load(), time.Duration(retriedAfter.Load()))
	}
}

// TestPurgeSurvivesTokenExpiry makes the registry's clock jump beyond the access
// tokens' lifetime in the middle of a run: the CLI must get new tokens and finish.
func TestPurgeSurvivesTokenExpiry(t *testing.T) {
	// The token service signs and checks tokens by a clock that follows the real
	// time plus an offset, which jumps 2 hours (access tokens live 75 minutes)
	// after the fifth deletion.
	var offset atomic.Int64
	tokenNow := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(key, tokenNow)
	if err != nil {
		t.Fatal(err)
	}
	e := newPurgeEnv(t, registrytest.With(func(s *registrytest.Settings) { s.Auth.Signer, s.Auth.Now = signer, tokenNow }))
	for i := range 30 {
		e.at(-10*purgeDay).image("exp", fmt.Sprintf("t%02d", i), fmt.Sprint(i))
	}
	var deletes, refused atomic.Int64
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && deletes.Add(1) == 5 {
				offset.Store(int64(2 * time.Hour))
			}
			rec := &purgeStatus{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.code == http.StatusUnauthorized && r.Header.Get("Authorization") != "" {
				refused.Add(1)
			}
		})
	})
	r := e.ok("--filter", "exp:.*", "--untagged", "--concurrency", "3")
	if !strings.HasPrefix(r.summary(), "summary: deleted 30 tags and 30 manifests") {
		t.Errorf("output:\n%s%s", r.stdout, r.stderr)
	}
	if refused.Load() == 0 {
		t.Error("no request was refused for an expired token: the clock did not jump")
	}
	t.Logf("%d requests refused with expired tokens, then renewed", refused.Load())
}

type purgeStatus struct {
	http.ResponseWriter
	code int
}

func (s *purgeStatus) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// TestPurgePartialFailure makes one deletion fail for good: the others go on, the
// summary is printed, the failure is one line, and the exit code is 1.
func TestPurgePartialFailure(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10 * purgeDay)
	for i := range 5 {
		e.image("pf", fmt.Sprintf("t%d", i), fmt.Sprint(i))
	}
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/_tags/t3") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMethodNotAllowed)
				fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"the operation is disallowed on this registry, repository or image."}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	r := e.acre("--filter", "pf:.*")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := r.summary(); got != "summary: deleted 4 tags and 0 manifests in 1 repository; skipped 0 locked; 1 failed" {
		t.Errorf("summary %q", got)
	}
	if !strings.Contains(r.stdout, "failed to delete tag pf:t3 (") || !strings.Contains(r.stdout, "DENIED (HTTP 405)") {
		t.Errorf("no failure line:\n%s", r.stdout)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "1 operation failed") {
		t.Errorf("stderr %q: want one line", r.stderr)
	}
	wantPurge(t, "tags", e.tags("pf"), []string{"t3"})
}

// TestPurgeLargeRepository purges a repository of 10,000 manifests (seeded
// straight into the metadata store) with --keep and --untagged, and checks the
// result, the time taken and the CLI's peak memory.
func TestPurgeLargeRepository(t *testing.T) {
	e := newPurgeEnv(t)
	const total, tagged, keep = 10000, 8000, 100
	ctx := context.Background()

	// Pushed for real: a tagged index, the newest tag, whose children are old and
	// untagged.
	e.at(-300 * purgeDay)
	c1, c2 := e.image("big", "", "child-1"), e.image("big", "", "child-2")
	e.at(-purgeDay)
	idx := e.index("big", "idx", "idx", c1, c2)

	start := time.Now()
	err := e.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.Repository(ctx, "big")
		if err != nil {
			return err
		}
		for i := range total {
			content, err := json.Marshal(purgeImageManifest(fmt.Sprintf("bulk-%d", i), nil))
			if err != nil {
				return err
			}
			d := digest.FromBytes(content)
			at := purgeNow.Add(-200*purgeDay + time.Duration(i)*time.Minute)
			if err := tx.PutManifest(ctx, store.Manifest{
				RepositoryID: repo.ID, Digest: d, MediaType: ocispec.MediaTypeImageManifest,
				ConfigMediaType: ocispec.MediaTypeImageConfig, Content: content,
				ImageSize: int64(len(content) + len(purgeConfig) + len(purgeLayer)), Architecture: "amd64", OS: "linux",
				CreatedAt: at, UpdatedAt: at, Attributes: store.DefaultAttributes,
			}); err != nil {
				return err
			}
			if i >= total-tagged {
				if err := tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: fmt.Sprintf("t%05d", i), Digest: d,
					CreatedAt: at, UpdatedAt: at, Attributes: store.DefaultAttributes}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d manifests in %v", total, time.Since(start))

	var mu sync.Mutex
	requests := map[string]int{}
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			kind := r.Method + " " + r.URL.Path
			switch {
			case strings.Contains(r.URL.Path, "/_tags/"):
				kind = r.Method + " tag"
			case strings.Contains(r.URL.Path, "/manifests/"):
				kind = r.Method + " manifest"
			case strings.Contains(r.URL.Path, "/_manifests/"):
				kind = r.Method + " manifest properties"
			}
			mu.Lock()
			requests[kind]++
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})

	r := e.ok("--filter", "big:.*", "--keep", fmt.Sprint(keep), "--untagged")
	// Kept: idx and the 99 newest bulk tags; deleted: the other 7,901 tags, then
	// their manifests and the 2,000 that were never tagged.
	const deletedTags = tagged - (keep - 1)
	const deletedManifests = deletedTags + (total - tagged)
	want := fmt.Sprintf("summary: deleted %d tags and %d manifests in 1 repository; skipped 0 locked; 0 failed", deletedTags, deletedManifests)
	if got := r.summary(); got != want {
		t.Errorf("summary %q, want %q\n%s", got, want, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != deletedTags+deletedManifests+1 {
		t.Errorf("%d output lines, want %d", n, deletedTags+deletedManifests+1)
	}
	tags := e.tags("big")
	if len(tags) != keep || !slices.Contains(tags, "idx") || !slices.Contains(tags, fmt.Sprintf("t%05d", total-1)) ||
		slices.Contains(tags, fmt.Sprintf("t%05d", total-keep)) {
		t.Errorf("%d tags left, want the %d newest", len(tags), keep)
	}
	ms := e.manifests("big")
	if len(ms) != keep+2 || !slices.Contains(ms, c1) || !slices.Contains(ms, c2) || !slices.Contains(ms, idx) {
		t.Errorf("%d manifests left, want %d with the index and its children", len(ms), keep+2)
	}
	rss, ok := purgeMaxRSS(r.state)
	t.Logf("purged %d tags and %d manifests in %v (CLI CPU %v); peak RSS of the CLI %.1f MiB",
		deletedTags, deletedManifests, r.elapsed, r.state.UserTime()+r.state.SystemTime(), float64(rss)/(1<<20))
	mu.Lock()
	t.Logf("requests: %v", requests)
	mu.Unlock()
	if ok && rss > 200<<20 {
		t.Errorf("peak RSS %d MiB: want memory bounded by the page size, not the repository", rss>>20)
	}
	if r.elapsed > 90*time.Second {
		t.Errorf("purge took %v", r.elapsed)
	}
}

// TestPurgeExitCodes checks the documented exit codes of runs that cannot start.
func TestPurgeExitCodes(t *testing.T) {
	e := newPurgeEnv(t)
	e.at(-10*purgeDay).image("x", "v1", "x")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--filter", "x:.*", "-p", "wrong-password"}, 3},   // refused credentials, on the catalog-free path
		{[]string{"--filter", "x.*:.*", "-p", "wrong-password"}, 3}, // and on the catalog
		{[]string{"--filter", "x:.*", "--output", "yaml"}, 2},
		{[]string{}, 2}, // no filter
	} {
		r := e.acre(tc.args...)
		if r.code != tc.code || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("acre purge %s: exit %d, stderr %q; want %d and one line", strings.Join(tc.args, " "), r.code, r.stderr, tc.code)
		}
	}
	wantPurge(t, "tags", e.tags("x"), []string{"v1"})
	if r := exec.Command(acreBin, "purge", "--filter", "x:.*"); r != nil {
		out, err := r.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "which registry") {
			t.Errorf("purge without a registry: %v\n%s", err, out)
		}
	}
}
