package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// The exit codes acre documents.
const (
	exitUsage    = 2
	exitAuth     = 3
	exitNotFound = 4
	exitRefused  = 5
)

// cli runs the built acre binary with its own docker config directory.
type cli struct {
	t         *testing.T
	dockerCfg string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the acre binary")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return &cli{t: t, dockerCfg: t.TempDir()}
}

type run struct {
	code           int
	stdout, stderr string
}

func (c *cli) run(stdin string, args ...string) run {
	c.t.Helper()
	cmd := exec.Command(acreBin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+c.dockerCfg, "ACRE_PASSWORD=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return run{code, out.String(), errb.String()}
}

func (c *cli) ok(args ...string) run {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != 0 {
		c.t.Fatalf("acre %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func writeRandom(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestCLIPushPull(t *testing.T) {
	c := newCLI(t)
	srv := registrytest.New(t, registrytest.WithAdmin("admin", "s3cret-pw"))
	dir := t.TempDir()
	files := map[string]int64{"small.txt": 12, "empty.bin": 0, "big.bin": 100 << 20}
	hashes := map[string]string{}
	var args []string
	for name, size := range files {
		p := filepath.Join(dir, name)
		hashes[name] = writeRandom(t, p, size)
		args = append(args, p)
	}
	ref := srv.Host + "/artifacts/files:v1"

	// Without credentials: refused with the auth exit code and the registry's code.
	r := c.run("", append([]string{"push", ref}, args...)...)
	if r.code != exitAuth || !strings.Contains(r.stderr, "UNAUTHORIZED") {
		t.Fatalf("push without login: exit %d, %s", r.code, r.stderr)
	}
	c.ok("login", srv.Host, "-u", "admin", "-p", "s3cret-pw")
	c.ok(append([]string{"push", ref, "--artifact-type", "application/x.test", "-a", "team=platform"}, args...)...)

	out := t.TempDir()
	r = c.ok("pull", ref, "-o", out, "--output", "json")
	var pulled struct {
		Digest string   `json:"digest"`
		Files  []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &pulled); err != nil || len(pulled.Files) != len(files) {
		t.Fatalf("pull output %q: %v", r.stdout, err)
	}
	for name := range files {
		if got := fileHash(t, filepath.Join(out, name)); got != hashes[name] {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	// The artifact is what oras makes: empty config, titled layers, the artifact type.
	client, err := acr.NewClient(srv.URL, acr.NewBasicCredential("admin", "s3cret-pw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := client.FetchManifest(context.Background(), "artifacts/files", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Manifest.ArtifactType != "application/x.test" || m.Manifest.Config.MediaType != "application/vnd.oci.empty.v1+json" ||
		m.Manifest.Annotations["team"] != "platform" || len(m.Manifest.Layers) != 3 {
		t.Fatalf("manifest %s", m.Content)
	}
	// Missing tags are "not found".
	r = c.run("", "pull", srv.Host+"/artifacts/files:nope", "-o", out)
	if r.code != exitNotFound || !strings.Contains(r.stderr, "MANIFEST_UNKNOWN") {
		t.Fatalf("pull of a missing tag: exit %d, %s", r.code, r.stderr)
	}
}

func TestCLILoginWritesDockerConfig(t *testing.T) {
	c := newCLI(t)
	srv := registrytest.New(t, registrytest.WithAdmin("admin", "s3cret-pw"))
	r := c.run("wrong\n", "login", srv.Host, "-u", "admin", "--password-stdin")
	if r.code != exitAuth {
		t.Fatalf("bad password: exit %d %s", r.code, r.stderr)
	}
	c.run("s3cret-pw\n", "login", srv.Host, "-u", "admin", "--password-stdin")
	// oras-go reads back what acre wrote (docker's config.json format).
	store, err := credentials.NewStore(filepath.Join(c.dockerCfg, "config.json"), credentials.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := store.Get(context.Background(), srv.Host)
	if err != nil || cred.Username != "admin" || cred.Password != "s3cret-pw" {
		t.Fatalf("stored credential %+v, %v", cred, err)
	}
	c.ok("repo", "list", srv.Host)
	c.ok("logout", srv.Host)
	store, err = credentials.NewStore(filepath.Join(c.dockerCfg, "config.json"), credentials.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cred, _ := store.Get(context.Background(), srv.Host); cred.Username != "" {
		t.Fatalf("credential still stored after logout: %+v", cred)
	}
}

// pushIndex pushes a two-platform index with the acr client and returns its digest.
func pushIndex(t *testing.T, srv *registrytest.Server, repo, tag string) string {
	t.Helper()
	ctx := context.Background()
	client, _ := acr.NewClient(srv.URL, acr.NewBasicCredential("admin", "s3cret-pw"), nil)
	blobs, _ := acr.NewBlobClient(srv.URL, acr.NewBasicCredential("admin", "s3cret-pw"), nil)
	var children []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		cfg := []byte(fmt.Sprintf(`{"architecture":%q,"os":"linux"}`, arch))
		layer := make([]byte, 3<<20)
		_, _ = rand.Read(layer)
		var descs []ocispec.Descriptor
		for _, b := range [][]byte{cfg, layer} {
			res, err := blobs.UploadBlob(ctx, repo, bytes.NewReader(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			descs = append(descs, ocispec.Descriptor{Digest: digest.Digest(res.Digest), Size: res.Size})
		}
		descs[0].MediaType, descs[1].MediaType = ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer
		res, err := client.SetManifest(ctx, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			Config: descs[0], Layers: descs[1:]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(res.Digest), Size: res.Size,
			Platform: &ocispec.Platform{OS: "linux", Architecture: arch}})
	}
	res, err := client.SetManifest(ctx, repo, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children},
		&acr.SetManifestOptions{Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

func TestCLICopyBetweenRegistries(t *testing.T) {
	c := newCLI(t)
	a := registrytest.New(t, registrytest.WithAdmin("admin", "s3cret-pw"))
	b := registrytest.New(t, registrytest.WithAdmin("admin", "s3cret-pw"))
	d := pushIndex(t, a, "apps/web", "1.0")
	c.ok("login", a.Host, "-u", "admin", "-p", "s3cret-pw")
	c.ok("login", b.Host, "-u", "admin", "-p", "s3cret-pw")
	r := c.ok("copy", a.Host+"/apps/web:1.0", b.Host+"/mirror/web:1.0", "--output", "json")
	var res struct {
		Digest      string
		Manifests   int
		BlobsCopied int
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Digest != d || res.Manifests != 3 || res.BlobsCopied != 4 {
		t.Fatalf("copy result %s (%v)", r.stdout, err)
	}
	// The copy is complete: every platform pulls from the destination.
	r = c.ok("manifest", "list", b.Host+"/mirror/web", "--output", "json")
	var ms []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("destination manifests: %s", r.stdout)
	}
	// Only one platform.
	r = c.ok("copy", a.Host+"/apps/web:1.0", b.Host+"/mirror/web-arm:1.0", "--platform", "linux/arm64", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Manifests != 2 {
		t.Fatalf("platform copy %s", r.stdout)
	}
}

func TestCLIBrowseAndLock(t *testing.T) {
	c := newCLI(t)
	srv := registrytest.New(t, registrytest.WithAdmin("admin", "s3cret-pw"))
	pushIndex(t, srv, "apps/api", "v1")
	c.ok("login", srv.Host, "-u", "admin", "-p", "s3cret-pw")
	ref := srv.Host + "/apps/api:v1"
	c.ok("lock", ref)
	r := c.run("", "tag", "delete", ref)
	if r.code != exitRefused || !strings.Contains(r.stderr, "REGISTRY_DISALLOWED_OPERATION") {
		t.Fatalf("delete of a locked tag: exit %d %s", r.code, r.stderr)
	}
	if r := c.ok("tag", "show", ref); !strings.Contains(r.stdout, "r--l") {
		t.Fatalf("locks column after lock: %s", r.stdout)
	}
	c.ok("unlock", ref)
	c.ok("tag", "update", ref, "--list-enabled=false")
	if r := c.ok("tag", "list", srv.Host+"/apps/api"); strings.Contains(r.stdout, "v1") {
		t.Fatalf("hidden tag listed: %s", r.stdout)
	}
	if r := c.ok("repo", "show", srv.Host+"/apps/api", "--output", "json"); !strings.Contains(r.stdout, `"manifestCount": 3`) {
		t.Fatalf("repo show: %s", r.stdout)
	}
	if r := c.run("", "tag", "update", ref); r.code != exitUsage {
		t.Fatalf("update without attributes: exit %d", r.code)
	}
	c.ok("manifest", "delete", ref)
	if r := c.run("", "manifest", "show", ref); r.code != exitNotFound {
		t.Fatalf("show after delete: exit %d %s", r.code, r.stderr)
	}
	if r := c.run("", "repo", "delete", srv.Host+"/apps/api"); r.code != exitUsage {
		t.Fatalf("repo delete without --yes: exit %d", r.code)
	}
	c.ok("repo", "delete", srv.Host+"/apps/api", "--yes")
}
