package main_test

// Scaling out, end to end: three `acre serve` processes share one PostgreSQL
// database, one object store (a MinIO bucket or an Azurite container) and one token
// signing key, as `acre serve --help` describes, and clients move between them the
// way a load balancer moves them: an upload's requests land on different replicas,
// a replica dies mid-upload, tags change through all three at once, and the
// official Azure SDK runs through a proxy that sends every request to the next
// replica.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/acre-dev/acre/registry/registrytest"
	acres3 "github.com/acre-dev/acre/store/s3"
)

const (
	// replicaCount is how many replicas share the stores.
	replicaCount = 3
	// replicaLoginServer is the --login-server of every replica: the one name that
	// token audiences and challenges carry, whichever replica answers.
	replicaLoginServer = "acre-replicas.example.test"
	replicaAdmin       = "admin"
	replicaPassword    = "replicas-admin-password"
	// entraTenant is the tenant of the Entra ID tokens the SDK presents.
	entraTenant = "0b7c5d8e-5a4b-4c3d-9e2f-1a2b3c4d5e6f"
)

// objectStore is an object storage engine the replicas can share.
type objectStore struct {
	name string
	env  string // the variable that points the tests at the engine
	skip string // why the engine's subtest skips when env is unset
	// setup makes a bucket or container for t, removed when t ends, and returns
	// the --storage URL, the environment acre serve needs for it, and a lister of
	// the objects under a prefix.
	setup func(t *testing.T, raw string) (storage string, env []string, list func(ctx context.Context, prefix string) ([]string, error))
}

func objectStores() []objectStore {
	return []objectStore{{
		name:  "s3",
		env:   "ACRE_TEST_S3",
		skip:  `no S3 service for the replicas to share: set ACRE_TEST_S3=http://KEY:SECRET@HOST:PORT (eval "$(.ci/services/minio.sh)"; .ci/run does)`,
		setup: setupS3,
	}, {
		name:  "azblob",
		env:   "ACRE_TEST_AZURITE",
		skip:  `no Azure Blob service for the replicas to share: set ACRE_TEST_AZURITE to an Azurite connection string (eval "$(.ci/services/azurite.sh)"; .ci/run does)`,
		setup: setupAzurite,
	}}
}

// TestReplicas runs three acre serve replicas on one PostgreSQL database and one
// object store, once for each object store engine available (a fresh database and
// bucket or container each), and checks that clients can move between replicas at
// any request: chunked uploads whose requests alternate, push through one and pull
// through another, concurrent tag updates through all three, a replica killed
// mid-upload, the official SDK through a round-robin endpoint, tokens of one
// replica accepted by the others, and readiness. It needs ACRE_TEST_POSTGRES and at
// least one of ACRE_TEST_S3 and ACRE_TEST_AZURITE (.ci/services/*.sh); without them
// it skips.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts acre serve processes; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	pg := os.Getenv("ACRE_TEST_POSTGRES")
	if pg == "" {
		t.Skip(`no PostgreSQL for the replicas to share: set ACRE_TEST_POSTGRES (eval "$(.ci/services/postgres.sh)"; .ci/run does)`)
	}
	for _, engine := range objectStores() {
		t.Run(engine.name, func(t *testing.T) {
			raw := os.Getenv(engine.env)
			if raw == "" {
				t.Skip(engine.skip)
			}
			t.Parallel()
			start := time.Now()
			rs := newReplicaSet(t, pg, engine, raw)
			t.Logf("%d replicas up in %v", replicaCount, time.Since(start).Round(time.Millisecond))
			t.Run("Ready", rs.testReady)
			t.Run("ChunkedUploadAcrossReplicas", rs.testChunkedUpload)
			t.Run("PushThroughOnePullThroughAnother", rs.testPushPull)
			t.Run("TokenOfOneReplicaOnAnother", rs.testSharedTokens)
			t.Run("ConcurrentPatchesOfOneSession", rs.testConcurrentPatches)
			t.Run("ConcurrentTagUpdates", rs.testConcurrentTags)
			t.Run("ReplicaKilledMidUpload", rs.testKilledMidUpload)
			t.Run("SDKThroughRoundRobin", rs.testSDK)
			t.Run("NotReadyWithoutPostgreSQL", rs.testNotReadyWithoutPostgres)
			rs.checkNoUploadsLeft(t)
		})
	}
}

// replicaSet is the replicas of one engine's run and what they share.
type replicaSet struct {
	t       *testing.T
	dsn     string   // --metadata
	args    []string // acre serve arguments shared by every replica
	env     []string // acre serve environment
	data    string   // parent of the replicas' --data directories (unused by the stores)
	logs    string
	entra   *ecdsa.PrivateKey
	listObj func(ctx context.Context, prefix string) ([]string, error)

	mu       sync.Mutex
	replicas [replicaCount]*server
}

// newReplicaSet makes a fresh database and bucket or container, the shared signing
// key and Entra key set, and starts the replicas (at once: they also race to
// migrate the new database).
func newReplicaSet(t *testing.T, pg string, engine objectStore, raw string) *replicaSet {
	t.Helper()
	dir := t.TempDir()
	rs := &replicaSet{t: t, data: filepath.Join(dir, "data"), logs: filepath.Join(dir, "logs")}
	for _, d := range []string{rs.data, rs.logs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rs.dsn = freshDatabase(t, pg)
	storage, storageEnv, list := engine.setup(t, raw)
	rs.listObj = list

	// One token signing key for all, as `openssl ecparam ... | openssl pkcs8 -topk8` makes it.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "token-signing-key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	// An Entra ID tenant for the SDK: its key set, as a file.
	rs.entra, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rs.entra.PublicKey, KeyID: "replicas-1", Algorithm: string(jose.ES256), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}

	rs.args = []string{"serve", "--addr", "127.0.0.1:0", "--metadata", rs.dsn, "--storage", storage,
		"--token-signing-key", keyPath, "--login-server", replicaLoginServer, "--admin-user", replicaAdmin,
		"--aad-jwks", jwksPath, "--aad-issuer", "https://sts.windows.net/" + entraTenant + "/"}
	rs.env = append(os.Environ(), "ACRE_ADMIN_PASSWORD="+replicaPassword)
	rs.env = append(rs.env, storageEnv...)

	t.Cleanup(func() {
		if t.Failed() {
			entries, _ := os.ReadDir(rs.logs)
			for _, e := range entries {
				t.Logf("log of %s (end):\n%s", e.Name(), tail(filepath.Join(rs.logs, e.Name()), 25))
			}
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, replicaCount)
	for i := range replicaCount {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs.replicas[i], errs[i] = rs.start(fmt.Sprintf("replica-%d", i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return rs
}

// start runs a replica named name (its log file and data directory), with extra
// arguments after the shared ones (a repeated flag overrides).
func (rs *replicaSet) start(name string, extra ...string) (*server, error) {
	logPath := filepath.Join(rs.logs, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	rs.t.Cleanup(func() { logFile.Close() })
	args := append(slices.Clone(rs.args), "--data", filepath.Join(rs.data, name))
	cmd := exec.Command(acreBin, append(args, extra...)...)
	cmd.Env = rs.env
	addr := make(chan string, 1)
	cmd.Stdout = logFile
	cmd.Stderr = &addrWatcher{w: logFile, addr: addr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{t: rs.t, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	rs.t.Cleanup(s.kill)
	select {
	case u := <-addr:
		s.base = strings.TrimSuffix(u, "/")
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, s.waitErr, tail(logPath, 30))
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s did not announce its address\n%s", name, tail(logPath, 30))
	}
	s.client = &http.Client{
		Timeout: 60 * time.Second,
		// The admin user, through the token challenge, as docker login does.
		Transport: &registrytest.Transport{Username: replicaAdmin, Password: replicaPassword,
			Base: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}},
	}
	return s, nil
}

// replica returns replica i (the current process, after a restart).
func (rs *replicaSet) replica(i int) *server {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.replicas[i]
}

// must sends a request through s and fails the test if no answer comes back.
func must(t *testing.T, s *server, method, path string, body []byte, headers ...string) *response {
	t.Helper()
	res, err := s.do(method, path, body, headers...)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, s.base, err)
	}
	return res
}

// expect fails the test unless res has the status.
func expect(t *testing.T, what string, res *response, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("%s: %s, want %d", what, res, status)
	}
}

// testReady checks /healthz and /readyz on every replica.
func (rs *replicaSet) testReady(t *testing.T) {
	for i := range replicaCount {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code := probe(t, rs.replica(i).base+path); code != http.StatusOK {
				t.Errorf("GET %s on replica %d: %d, want 200", path, i, code)
			}
		}
	}
}

// probe returns the status of an unauthenticated GET.
func probe(t *testing.T, u string) int {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// testChunkedUpload uploads a blob whose session starts on replica 0, whose PATCHes
// alternate between replicas 0 and 1, and which completes on replica 2.
func (rs *replicaSet) testChunkedUpload(t *testing.T) {
	const repo = "replicas/chunked"
	data := randomData(t, 3<<20+4321)
	d := digest.FromBytes(data)
	res := must(t, rs.replica(0), http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	expect(t, "POST upload on replica 0", res, http.StatusAccepted)
	loc := res.header.Get("Location")
	const chunk = 700 << 10
	for i, off := 0, 0; off < len(data); i++ {
		end := min(off+chunk, len(data))
		res := must(t, rs.replica(i%2), http.MethodPatch, loc, data[off:end], "Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		expect(t, fmt.Sprintf("PATCH %d-%d on replica %d", off, end-1, i%2), res, http.StatusAccepted)
		if got, want := res.header.Get("Range"), fmt.Sprintf("0-%d", end-1); got != want {
			t.Fatalf("PATCH %d-%d on replica %d: Range %q, want %q", off, end-1, i%2, got, want)
		}
		if l := res.header.Get("Location"); l != "" {
			loc = l
		}
		off = end
	}
	res = must(t, rs.replica(2), http.MethodGet, loc, nil)
	if res.status != http.StatusNoContent || res.header.Get("Range") != fmt.Sprintf("0-%d", len(data)-1) {
		t.Fatalf("upload status on replica 2: %s, Range %q; want 204, 0-%d", res, res.header.Get("Range"), len(data)-1)
	}
	res = must(t, rs.replica(2), http.MethodPut, withDigest(loc, d), nil)
	expect(t, "PUT to complete on replica 2", res, http.StatusCreated)
	if res.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("PUT to complete: Docker-Content-Digest %q, want %s", res.header.Get("Docker-Content-Digest"), d)
	}
	for i := range replicaCount {
		rs.checkBlob(t, i, repo, d, data)
	}
	res = must(t, rs.replica(0), http.MethodGet, loc, nil)
	if res.status != http.StatusNotFound || res.errorCode() != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("upload status after completion, on replica 0: %s, want 404 BLOB_UPLOAD_UNKNOWN", res)
	}
}

// checkBlob checks that replica i serves blob d of repo as data.
func (rs *replicaSet) checkBlob(t *testing.T, i int, repo string, d digest.Digest, data []byte) {
	t.Helper()
	res := must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/blobs/"+string(d), nil)
	if res.status != http.StatusOK || !bytes.Equal(res.body, data) || res.header.Get("Docker-Content-Digest") != string(d) {
		t.Errorf("GET blob %s of %s on replica %d: %s with %d bytes, want 200 with the %d bytes pushed", d, repo, i, res, len(res.body), len(data))
	}
}

// image is an image pushed in a test: blobs by digest, and its manifest.
type image struct {
	blobs    map[digest.Digest][]byte
	manifest []byte
	digest   digest.Digest
}

// newImage makes a one-layer image; note varies the manifest without changing the blobs.
func newImage(t *testing.T, layer []byte, note string) image {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	if note != "" {
		m.Annotations = map[string]string{"org.example.note": note}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return image{
		blobs:    map[digest.Digest][]byte{digest.FromBytes(config): config, digest.FromBytes(layer): layer},
		manifest: b,
		digest:   digest.FromBytes(b),
	}
}

// pushBlobs pushes the image's blobs through replica i, monolithically.
func (rs *replicaSet) pushBlobs(t *testing.T, i int, repo string, img image) {
	t.Helper()
	for d, b := range img.blobs {
		res := must(t, rs.replica(i), http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+url.QueryEscape(string(d)), b)
		expect(t, fmt.Sprintf("push blob %s on replica %d", d, i), res, http.StatusCreated)
	}
}

// pushManifest puts the image's manifest as ref through replica i.
func (rs *replicaSet) pushManifest(t *testing.T, i int, repo, ref string, img image) {
	t.Helper()
	res := must(t, rs.replica(i), http.MethodPut, "/v2/"+repo+"/manifests/"+ref, img.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
	expect(t, fmt.Sprintf("PUT manifest %s:%s on replica %d", repo, ref, i), res, http.StatusCreated)
	if res.header.Get("Docker-Content-Digest") != string(img.digest) {
		t.Fatalf("PUT manifest %s:%s: Docker-Content-Digest %q, want %s", repo, ref, res.header.Get("Docker-Content-Digest"), img.digest)
	}
}

// testPushPull pushes an image through replica 0 and pulls it, byte for byte,
// through the two others.
func (rs *replicaSet) testPushPull(t *testing.T) {
	const repo = "replicas/pushpull"
	img := newImage(t, randomData(t, 1<<20+17), "")
	rs.pushBlobs(t, 0, repo, img)
	rs.pushManifest(t, 0, repo, "v1", img)
	for i := 1; i < replicaCount; i++ {
		for _, ref := range []string{"v1", string(img.digest)} {
			res := must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, "Accept", ocispec.MediaTypeImageManifest)
			if res.status != http.StatusOK || !bytes.Equal(res.body, img.manifest) ||
				res.header.Get("Docker-Content-Digest") != string(img.digest) || res.header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
				t.Errorf("GET manifest %s:%s on replica %d: %s (%s, %s), want the manifest pushed", repo, ref, i, res,
					res.header.Get("Docker-Content-Digest"), res.header.Get("Content-Type"))
			}
		}
		for d, b := range img.blobs {
			rs.checkBlob(t, i, repo, d, b)
		}
		res := must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/tags/list", nil)
		if res.status != http.StatusOK || !strings.Contains(string(res.body), `"v1"`) {
			t.Errorf("tags of %s on replica %d: %s", repo, i, res)
		}
	}
}

// testSharedTokens presents tokens issued by one replica to the others: an access
// token from the Basic flow, and an access token obtained on a third replica with a
// refresh token from the first. A token of the same login server signed with
// another key is refused, so acceptance is the shared key's doing.
func (rs *replicaSet) testSharedTokens(t *testing.T) {
	const repo = "replicas/pushpull" // pushed by testPushPull
	pullScope := "repository:" + repo + ":pull"
	access := basicToken(t, rs.replica(0).base, pullScope, false)["access_token"]
	for i := 1; i < replicaCount; i++ {
		if code := bearerGet(t, rs.replica(i).base+"/v2/"+repo+"/manifests/v1", access); code != http.StatusOK {
			t.Errorf("GET manifest on replica %d with an access token from replica 0: %d, want 200", i, code)
		}
	}

	refresh := basicToken(t, rs.replica(1).base, pullScope, true)["refresh_token"]
	if refresh == "" {
		t.Fatal("no refresh token from replica 1 with offline_token=true")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "service": {replicaLoginServer}, "scope": {pullScope}, "refresh_token": {refresh}}
	res, err := http.PostForm(rs.replica(2).base+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || err != nil || body.AccessToken == "" {
		t.Fatalf("POST /oauth2/token on replica 2 with a refresh token from replica 1: %s (%v)", res.Status, err)
	}
	if code := bearerGet(t, rs.replica(0).base+"/v2/"+repo+"/manifests/v1", body.AccessToken); code != http.StatusOK {
		t.Errorf("GET manifest on replica 0 with an access token from replica 2: %d, want 200", code)
	}

	other := registrytest.New(t, registrytest.WithAdmin(replicaAdmin, replicaPassword), registrytest.With(func(s *registrytest.Settings) {
		s.Registry.Core.LoginServer, s.Auth.LoginServer = replicaLoginServer, replicaLoginServer
	}))
	foreign := basicToken(t, other.URL, pullScope, false)["access_token"]
	if code := bearerGet(t, rs.replica(1).base+"/v2/"+repo+"/manifests/v1", foreign); code != http.StatusUnauthorized {
		t.Errorf("GET manifest on replica 1 with a token signed by another key: %d, want 401", code)
	}
}

// basicToken gets tokens from base's token endpoint with the admin's Basic credentials.
func basicToken(t *testing.T, base, scope string, offline bool) map[string]string {
	t.Helper()
	q := url.Values{"service": {replicaLoginServer}, "scope": {scope}}
	if offline {
		q.Set("offline_token", "true")
	}
	req, err := http.NewRequest(http.MethodGet, base+"/oauth2/token?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(replicaAdmin, replicaPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /oauth2/token on %s: %s (%v)", base, res.Status, err)
	}
	out := map[string]string{}
	for k, v := range body {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// bearerGet returns the status of a GET with a bearer token.
func bearerGet(t *testing.T, u, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// testConcurrentPatches sends, step after step, one streamed PATCH (no
// Content-Range: appended wherever the session stands) of one session through each
// replica at once, as a client that races itself does. PATCHes may be refused, but
// each acknowledged one reports the session's new size: in that order, the
// acknowledged chunks must make up the session, whose digest must then complete it
// with a digest-correct blob. This is where the write generations of the sessions
// and of the object store keep a replica from saving a hash state over bytes that
// another replica replaced.
func (rs *replicaSet) testConcurrentPatches(t *testing.T) {
	const repo, steps = "replicas/racing", 6
	res := must(t, rs.replica(0), http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	expect(t, "POST upload on replica 0", res, http.StatusAccepted)
	loc := res.header.Get("Location")
	var session []byte
	acked, refused := 0, 0
	for step := range steps {
		chunks := make([][]byte, replicaCount)
		results := make([]*response, replicaCount)
		errs := make([]error, replicaCount)
		var wg sync.WaitGroup
		for i := range replicaCount {
			chunks[i] = randomData(t, 100<<10+1000*i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = rs.replica(i).do(http.MethodPatch, loc, chunks[i])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		type ack struct {
			end   int64
			chunk []byte
		}
		var acks []ack
		for i, r := range results {
			switch r.status {
			case http.StatusAccepted:
				end, err := parseRange(r.header.Get("Range"))
				if err != nil {
					t.Fatalf("step %d: PATCH on replica %d: %v", step, i, err)
				}
				acks = append(acks, ack{end: end, chunk: chunks[i]})
			case http.StatusRequestedRangeNotSatisfiable:
				refused++
			default:
				t.Fatalf("step %d: PATCH on replica %d: %s, want 202 or 416", step, i, r)
			}
		}
		slices.SortFunc(acks, func(a, b ack) int { return cmp.Compare(a.end, b.end) })
		for _, a := range acks {
			session = append(session, a.chunk...)
			if int64(len(session)) != a.end {
				t.Fatalf("step %d: the acknowledged chunks make %d bytes, but a PATCH reported %d", step, len(session), a.end)
			}
			acked++
		}
	}
	t.Logf("%d PATCHes acknowledged, %d refused", acked, refused)
	d := digest.FromBytes(session)
	res = must(t, rs.replica(1), http.MethodPut, withDigest(loc, d), nil)
	expect(t, fmt.Sprintf("PUT with the digest of the %d bytes acknowledged", len(session)), res, http.StatusCreated)
	for i := range replicaCount {
		rs.checkBlob(t, i, repo, d, session)
	}
}

// testConcurrentTags points one tag, round after round, at different manifests
// through all three replicas at once. Every update must succeed, and in the end
// every replica, through /v2 and /acr/v1 alike, must agree on one of the pushed
// manifests.
func (rs *replicaSet) testConcurrentTags(t *testing.T) {
	const repo, tag, variants, rounds = "replicas/tags", "contended", 6, 8
	layer := randomData(t, 64<<10)
	imgs := make([]image, variants)
	pushed := map[digest.Digest]bool{}
	for i := range imgs {
		imgs[i] = newImage(t, layer, fmt.Sprintf("variant %d", i))
		if i == 0 {
			rs.pushBlobs(t, 0, repo, imgs[0])
		}
		rs.pushManifest(t, i%replicaCount, repo, string(imgs[i].digest), imgs[i])
		pushed[imgs[i].digest] = true
	}
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, replicaCount)
		for i := range replicaCount {
			wg.Add(1)
			go func() {
				defer wg.Done()
				img := imgs[(round*replicaCount+i)%variants]
				res, err := rs.replica(i).do(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, img.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
				switch {
				case err != nil:
					errs[i] = err
				case res.status != http.StatusCreated:
					errs[i] = fmt.Errorf("PUT %s:%s on replica %d: %s, want 201", repo, tag, i, res)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}

	// /v2: the tag resolves to the same pushed manifest on every replica.
	var final digest.Digest
	var tagLists []string
	for i := range replicaCount {
		res := must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ocispec.MediaTypeImageManifest)
		expect(t, fmt.Sprintf("GET %s:%s on replica %d", repo, tag, i), res, http.StatusOK)
		got := digest.Digest(res.header.Get("Docker-Content-Digest"))
		if !pushed[got] || digest.FromBytes(res.body) != got {
			t.Fatalf("replica %d: %s:%s is %s, not one of the manifests pushed (or not its content)", i, repo, tag, got)
		}
		if i == 0 {
			final = got
		} else if got != final {
			t.Errorf("replica %d: %s:%s is %s, replica 0 says %s", i, repo, tag, got, final)
		}
		res = must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/tags/list", nil)
		expect(t, fmt.Sprintf("tags list on replica %d", i), res, http.StatusOK)
		tagLists = append(tagLists, string(res.body))
	}
	for i, l := range tagLists {
		if l != tagLists[0] {
			t.Errorf("tags list on replica %d: %s; on replica 0: %s", i, l, tagLists[0])
		}
	}

	// /acr/v1: the tag's properties and the listings of tags and manifests agree.
	var tagDocs, manifestDocs []string
	for i := range replicaCount {
		var one struct {
			Registry string `json:"registry"`
			Tag      struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"tag"`
		}
		rs.acrGet(t, i, "/acr/v1/"+repo+"/_tags/"+tag, &one)
		if one.Registry != replicaLoginServer || one.Tag.Name != tag || one.Tag.Digest != string(final) {
			t.Errorf("/acr/v1 tag %s on replica %d: %+v, want registry %s and digest %s", tag, i, one, replicaLoginServer, final)
		}
		var tags struct {
			Tags []struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"tags"`
		}
		rs.acrGet(t, i, "/acr/v1/"+repo+"/_tags?orderby=timedesc", &tags)
		b, _ := json.Marshal(tags)
		tagDocs = append(tagDocs, string(b))
		var manifests struct {
			Manifests []struct {
				Digest string   `json:"digest"`
				Tags   []string `json:"tags"`
			} `json:"manifests"`
		}
		rs.acrGet(t, i, "/acr/v1/"+repo+"/_manifests", &manifests)
		tagged := 0
		for _, m := range manifests.Manifests {
			if slices.Contains(m.Tags, tag) {
				tagged++
				if m.Digest != string(final) {
					t.Errorf("/acr/v1 manifests on replica %d: %s carries the tag, want %s", i, m.Digest, final)
				}
			}
		}
		if tagged != 1 || len(manifests.Manifests) != variants {
			t.Errorf("/acr/v1 manifests on replica %d: %d manifests, %d with the tag; want %d and 1", i, len(manifests.Manifests), tagged, variants)
		}
		b, _ = json.Marshal(manifests)
		manifestDocs = append(manifestDocs, string(b))
	}
	for i := range replicaCount {
		if tagDocs[i] != tagDocs[0] || manifestDocs[i] != manifestDocs[0] {
			t.Errorf("/acr/v1 listings differ between replica %d and replica 0:\n%s\n%s\nvs\n%s\n%s", i, tagDocs[i], manifestDocs[i], tagDocs[0], manifestDocs[0])
		}
	}
}

// acrGet reads an /acr/v1 document from replica i into v.
func (rs *replicaSet) acrGet(t *testing.T, i int, path string, v any) {
	t.Helper()
	res := must(t, rs.replica(i), http.MethodGet, path, nil)
	expect(t, fmt.Sprintf("GET %s on replica %d", path, i), res, http.StatusOK)
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatalf("GET %s on replica %d: %v", path, i, err)
	}
}

// testKilledMidUpload SIGKILLs the replica that serves an upload while a PATCH is
// streaming into it; the client asks another replica where the session stands,
// sends the rest there, completes on the third, and the killed replica is started
// again and serves the blob too.
func (rs *replicaSet) testKilledMidUpload(t *testing.T) {
	const repo, victim = "replicas/killed", 2
	data := randomData(t, 2<<20+77)
	d := digest.FromBytes(data)
	v := rs.replica(victim)
	res := must(t, v, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	expect(t, "POST upload on the victim", res, http.StatusAccepted)
	loc := res.header.Get("Location")
	const first = 700 << 10
	res = must(t, v, http.MethodPatch, loc, data[:first], "Content-Range", fmt.Sprintf("0-%d", first-1))
	expect(t, "first PATCH on the victim", res, http.StatusAccepted)

	// A streamed PATCH of the rest (no length, chunked encoding), cut by the kill.
	pr, pw := io.Pipe()
	target := loc
	if !strings.HasPrefix(target, "http") {
		target = v.base + loc
	}
	req, err := http.NewRequest(http.MethodPatch, target, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	answered := make(chan error, 1)
	go func() {
		res, err := v.client.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("answered %s", res.Status)
		}
		answered <- err
	}()
	if _, err := pw.Write(data[first : first+(300<<10)]); err != nil {
		t.Fatalf("streaming the second PATCH: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the replica take the bytes in
	v.kill()
	pw.CloseWithError(errors.New("replica killed"))
	if err := <-answered; err == nil || strings.HasPrefix(err.Error(), "answered") {
		t.Fatalf("the PATCH streaming into the killed replica: %v, want no answer", err)
	}

	// The client resumes on another replica from where the session stands.
	res = must(t, rs.replica(0), http.MethodGet, loc, nil)
	if res.status != http.StatusNoContent || res.header.Get("Range") != fmt.Sprintf("0-%d", first-1) {
		t.Fatalf("upload status on replica 0 after the kill: %s, Range %q; want 204, 0-%d (the cut PATCH saved nothing)",
			res, res.header.Get("Range"), first-1)
	}
	res = must(t, rs.replica(0), http.MethodPatch, loc, data[first:], "Content-Range", fmt.Sprintf("%d-%d", first, len(data)-1))
	expect(t, "resuming PATCH on replica 0", res, http.StatusAccepted)
	res = must(t, rs.replica(1), http.MethodPut, withDigest(loc, d), nil)
	expect(t, "PUT to complete on replica 1", res, http.StatusCreated)
	rs.checkBlob(t, 0, repo, d, data)
	rs.checkBlob(t, 1, repo, d, data)

	restarted, err := rs.start(fmt.Sprintf("replica-%d-restarted", victim))
	if err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	rs.replicas[victim] = restarted
	rs.mu.Unlock()
	rs.checkBlob(t, victim, repo, d, data)
	if code := probe(t, restarted.base+"/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz on the restarted replica: %d, want 200", code)
	}
}

// entraCredential hands the SDK one Entra ID access token of the test tenant.
type entraCredential struct{ token string }

func (c entraCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// entraToken signs an access token for the container registry as the test tenant.
func (rs *replicaSet) entraToken(t *testing.T) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: rs.entra, KeyID: "replicas-1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(map[string]any{
		"aud": "https://containerregistry.azure.net",
		"iss": "https://sts.windows.net/" + entraTenant + "/",
		"tid": entraTenant,
		"oid": "5e1f0c4a-replicas-sdk",
		"sub": "replicas-sdk",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// roundRobin is an HTTP endpoint that sends each request to the next replica, as
// a load balancer without affinity does. It keeps the client's Host, so that the
// challenges send clients back through it.
type roundRobin struct {
	*httptest.Server
	next atomic.Uint64
	hits [replicaCount]atomic.Int64
}

func (rs *replicaSet) roundRobin(t *testing.T) *roundRobin {
	t.Helper()
	rr := &roundRobin{}
	rr.Server = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := int((rr.next.Add(1) - 1) % replicaCount)
		rr.hits[i].Add(1)
		target, err := url.Parse(rs.replica(i).base)
		if err != nil {
			panic(err) // a replica's own announced URL
		}
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}})
	t.Cleanup(rr.Close)
	return rr
}

// testSDK runs the official Azure SDK (azcontainerregistry) through a round-robin
// endpoint, authenticated with an Entra ID token, so that its token exchange, the
// requests of one chunked upload and every other call land on changing replicas:
// upload an image with BlobClient, list repositories, tags and manifests, set tag
// and manifest properties, delete. Retries are off: every request must succeed on
// whichever replica it reaches.
func (rs *replicaSet) testSDK(t *testing.T) {
	const repo = "replicas/sdk"
	ctx := t.Context()
	rr := rs.roundRobin(t)
	cred := entraCredential{token: rs.entraToken(t)}
	copts := azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}
	client, err := azcontainerregistry.NewClient(rr.URL, cred, &azcontainerregistry.ClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azcontainerregistry.NewBlobClient(rr.URL, cred, &azcontainerregistry.BlobClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}

	img := newImage(t, randomData(t, 1<<20+333), "sdk")
	for d, b := range img.blobs {
		start, err := blobs.StartUpload(ctx, repo, nil)
		if err != nil {
			t.Fatalf("StartUpload: %v", err)
		}
		calc := azcontainerregistry.NewBlobDigestCalculator()
		loc := *start.Location
		const chunk = 256 << 10
		for off := 0; off < len(b); off += chunk {
			end := min(off+chunk, len(b))
			res, err := blobs.UploadChunk(ctx, loc, bytes.NewReader(b[off:end]), calc, &azcontainerregistry.BlobClientUploadChunkOptions{
				RangeStart: to.Ptr(int32(off)), RangeEnd: to.Ptr(int32(end - 1)),
			})
			if err != nil {
				t.Fatalf("UploadChunk %d-%d of %s: %v", off, end-1, d, err)
			}
			loc = *res.Location
		}
		done, err := blobs.CompleteUpload(ctx, loc, calc, nil)
		if err != nil {
			t.Fatalf("CompleteUpload of %s: %v", d, err)
		}
		if *done.DockerContentDigest != string(d) {
			t.Fatalf("CompleteUpload: digest %s, want %s", *done.DockerContentDigest, d)
		}
	}
	up, err := client.UploadManifest(ctx, repo, "v1", azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
		streaming.NopCloser(bytes.NewReader(img.manifest)), nil)
	if err != nil {
		t.Fatalf("UploadManifest: %v", err)
	}
	if *up.DockerContentDigest != string(img.digest) {
		t.Fatalf("UploadManifest: digest %s, want %s", *up.DockerContentDigest, img.digest)
	}

	got, err := client.GetManifest(ctx, repo, "v1", &azcontainerregistry.ClientGetManifestOptions{
		Accept: to.Ptr(string(azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON))})
	if err != nil {
		t.Fatalf("GetManifest: %v", err)
	}
	if b := readValidated(t, *got.DockerContentDigest, got.ManifestData); !bytes.Equal(b, img.manifest) {
		t.Errorf("GetManifest: %d bytes, want the %d pushed", len(b), len(img.manifest))
	}
	for d, b := range img.blobs {
		res, err := blobs.GetBlob(ctx, repo, string(d), nil)
		if err != nil {
			t.Fatalf("GetBlob %s: %v", d, err)
		}
		if got := readValidated(t, string(d), res.BlobData); !bytes.Equal(got, b) {
			t.Errorf("GetBlob %s: %d bytes, want the %d pushed", d, len(got), len(b))
		}
	}

	var repos []string
	for pager := client.NewListRepositoriesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list repositories: %v", err)
		}
		for _, n := range page.Names {
			repos = append(repos, *n)
		}
	}
	if !slices.Contains(repos, repo) {
		t.Errorf("repositories %q lack %s", repos, repo)
	}
	var tags []string
	for pager := client.NewListTagsPager(repo, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list tags: %v", err)
		}
		for _, tg := range page.Tags {
			tags = append(tags, *tg.Name)
			if *tg.Digest != string(img.digest) {
				t.Errorf("tag %s points at %s, want %s", *tg.Name, *tg.Digest, img.digest)
			}
		}
	}
	if !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags %q, want [v1]", tags)
	}
	var manifests []string
	for pager := client.NewListManifestsPager(repo, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list manifests: %v", err)
		}
		for _, m := range page.Attributes {
			manifests = append(manifests, *m.Digest)
		}
	}
	if !slices.Equal(manifests, []string{string(img.digest)}) {
		t.Errorf("manifests %q, want [%s]", manifests, img.digest)
	}

	// Properties: a lock set through one replica holds on the others.
	if _, err := client.UpdateTagProperties(ctx, repo, "v1", &azcontainerregistry.ClientUpdateTagPropertiesOptions{
		Value: &azcontainerregistry.TagWriteableProperties{CanDelete: to.Ptr(false)}}); err != nil {
		t.Fatalf("UpdateTagProperties: %v", err)
	}
	for range replicaCount {
		p, err := client.GetTagProperties(ctx, repo, "v1", nil)
		if err != nil || p.Tag == nil || p.Tag.ChangeableAttributes == nil || *p.Tag.ChangeableAttributes.CanDelete {
			t.Fatalf("GetTagProperties after locking deletes: %v %+v", err, p)
		}
	}
	if _, err := client.DeleteTag(ctx, repo, "v1", nil); !sdkStatus(err, http.StatusMethodNotAllowed) {
		t.Fatalf("DeleteTag of a delete-locked tag: %v, want 405", err)
	}
	if _, err := client.UpdateManifestProperties(ctx, repo, string(img.digest), &azcontainerregistry.ClientUpdateManifestPropertiesOptions{
		Value: &azcontainerregistry.ManifestWriteableProperties{CanWrite: to.Ptr(false)}}); err != nil {
		t.Fatalf("UpdateManifestProperties: %v", err)
	}
	mp, err := client.GetManifestProperties(ctx, repo, string(img.digest), nil)
	if err != nil || mp.Manifest == nil || mp.Manifest.ChangeableAttributes == nil || *mp.Manifest.ChangeableAttributes.CanWrite {
		t.Fatalf("GetManifestProperties after locking writes: %v %+v", err, mp)
	}
	if _, err := client.DeleteManifest(ctx, repo, string(img.digest), nil); !sdkStatus(err, http.StatusMethodNotAllowed) {
		t.Fatalf("DeleteManifest of a write-locked manifest: %v, want 405", err)
	}
	if _, err := client.UpdateManifestProperties(ctx, repo, string(img.digest), &azcontainerregistry.ClientUpdateManifestPropertiesOptions{
		Value: &azcontainerregistry.ManifestWriteableProperties{CanWrite: to.Ptr(true)}}); err != nil {
		t.Fatalf("UpdateManifestProperties: %v", err)
	}
	if _, err := client.UpdateTagProperties(ctx, repo, "v1", &azcontainerregistry.ClientUpdateTagPropertiesOptions{
		Value: &azcontainerregistry.TagWriteableProperties{CanDelete: to.Ptr(true)}}); err != nil {
		t.Fatalf("UpdateTagProperties: %v", err)
	}
	if _, err := client.DeleteTag(ctx, repo, "v1", nil); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if _, err := client.DeleteManifest(ctx, repo, string(img.digest), nil); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	for i := range replicaCount {
		res := must(t, rs.replica(i), http.MethodGet, "/v2/"+repo+"/manifests/"+string(img.digest), nil, "Accept", ocispec.MediaTypeImageManifest)
		if res.status != http.StatusNotFound || res.errorCode() != "MANIFEST_UNKNOWN" {
			t.Errorf("GET the deleted manifest on replica %d: %s, want 404 MANIFEST_UNKNOWN", i, res)
		}
	}
	var hits []int64
	for i := range rr.hits {
		hits = append(hits, rr.hits[i].Load())
	}
	t.Logf("requests per replica through the round-robin endpoint: %v", hits)
	if slices.Contains(hits, 0) {
		t.Errorf("a replica got no request through the round-robin endpoint: %v", hits)
	}
}

// readValidated reads an SDK body through the SDK's digest validation.
func readValidated(t *testing.T, d string, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	vr, err := azcontainerregistry.NewDigestValidationReader(d, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(vr)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	return b
}

// sdkStatus reports whether err is an SDK response error with that status.
func sdkStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// testNotReadyWithoutPostgreSQL starts a fourth replica that reaches PostgreSQL
// through a TCP forwarder, then cuts the forwarder: the replica stays alive
// (/healthz) but reports not ready (/readyz 503), while the others stay ready.
func (rs *replicaSet) testNotReadyWithoutPostgres(t *testing.T) {
	u, err := url.Parse(rs.dsn)
	if err != nil {
		t.Fatal(err)
	}
	fwd := newForwarder(t, u.Host)
	u.Host = fwd.addr()
	s, err := rs.start("replica-forwarded", "--metadata", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.kill()
	if code := probe(t, s.base+"/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz with PostgreSQL reachable: %d, want 200", code)
	}
	fwd.Close()
	if code := probe(t, s.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with PostgreSQL unreachable: %d, want 503", code)
	}
	if code := probe(t, s.base+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz with PostgreSQL unreachable: %d, want 200 (alive)", code)
	}
	for i := range replicaCount {
		if code := probe(t, rs.replica(i).base+"/readyz"); code != http.StatusOK {
			t.Errorf("GET /readyz on replica %d: %d, want 200", i, code)
		}
	}
}

// forwarder relays TCP connections to a target until it is closed, when it drops
// every connection and refuses new ones.
type forwarder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target}
	t.Cleanup(f.Close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.relay(c)
		}
	}()
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) relay(c net.Conn) {
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	f.conns = append(f.conns, c, up)
	f.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
		c.Close()
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	up.Close()
}

// Close stops forwarding.
func (f *forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	f.ln.Close()
	for _, c := range f.conns {
		c.Close()
	}
}

// checkNoUploadsLeft checks that the object store holds nothing under uploads/:
// every session of the run completed, including the one whose replica was killed.
func (rs *replicaSet) checkNoUploadsLeft(t *testing.T) {
	t.Helper()
	keys, err := rs.listObj(t.Context(), "uploads/")
	if err != nil {
		t.Fatalf("list uploads/: %v", err)
	}
	if len(keys) > 0 {
		t.Errorf("left in the object store under uploads/: %q", keys)
	}
}

// randomData returns n random bytes.
func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// freshDatabase makes an empty database on the server of dsn for t, dropped when t
// ends, and returns its DSN. A role that may not create databases (the one of
// .ci/services/postgres.sh owns one) gets a fresh schema of its database instead,
// selected with search_path: to acre, as good as a database of its own.
func freshDatabase(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		t.Skip("ACRE_TEST_POSTGRES is not a postgres:// URL, which acre serve --metadata needs")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := randomName("acre_replicas_")
	_, err = admin.ExecContext(t.Context(), "CREATE DATABASE "+name)
	if err == nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// The replicas are gone by now, but their sessions may take a moment.
			if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
		})
		u.Path = "/" + name
		return u.String()
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
		t.Fatalf("create database: %v", err)
	}
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema (the role may not create databases): %v", err)
	}
	t.Logf("the role of ACRE_TEST_POSTGRES may not create databases: the replicas share schema %s instead", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// setupS3 makes a bucket on the S3 service of ACRE_TEST_S3
// (http://KEY:SECRET@HOST:PORT[?region=R]), emptied and deleted when t ends.
func setupS3(t *testing.T, raw string) (string, []string, func(context.Context, string) ([]string, error)) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("ACRE_TEST_S3: %v", err)
	}
	secret, _ := u.User.Password()
	if u.User.Username() == "" || secret == "" {
		t.Fatal("ACRE_TEST_S3: want http://KEY:SECRET@HOST:PORT")
	}
	endpoint := u.Scheme + "://" + u.Host
	region := u.Query().Get("region")
	c := awss3.New(awss3.Options{
		Region:       cmp.Or(region, "us-east-1"),
		Credentials:  acres3.StaticCredentials(u.User.Username(), secret, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		// As the store does: S3-compatible services need not know the newer checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	bucket := randomName("acre-replicas-")
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	list := func(ctx context.Context, prefix string) ([]string, error) {
		var keys []string
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, o := range page.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
		return keys, nil
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := list(ctx, "")
		if err != nil {
			t.Errorf("list bucket %s: %v", bucket, err)
			return
		}
		for _, k := range keys {
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
				t.Errorf("delete %s: %v", k, err)
			}
		}
		if mus, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket}); err == nil {
			for _, mu := range mus.Uploads {
				_, _ = c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: mu.Key, UploadId: mu.UploadId})
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Errorf("delete bucket %s: %v", bucket, err)
		}
	})
	storage := "s3://" + bucket + "?endpoint=" + url.QueryEscape(endpoint)
	if region != "" {
		storage += "&region=" + url.QueryEscape(region)
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + u.User.Username(), "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_SESSION_TOKEN="}
	return storage, env, list
}

// setupAzurite makes a container on the Azure Blob service of ACRE_TEST_AZURITE (a
// connection string, or the URL of an Azurite blob endpoint, which gets Azurite's
// well-known key), deleted with its content when t ends.
func setupAzurite(t *testing.T, raw string) (string, []string, func(context.Context, string) ([]string, error)) {
	t.Helper()
	conn := raw
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		conn = "AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=" + strings.TrimRight(raw, "/")
	}
	kv := map[string]string{}
	for _, part := range strings.Split(conn, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			kv[strings.ToLower(k)] = v
		}
	}
	endpoint := strings.TrimRight(kv["blobendpoint"], "/")
	if endpoint == "" || kv["accountname"] == "" || kv["accountkey"] == "" {
		t.Fatal("ACRE_TEST_AZURITE: want a connection string with AccountName, AccountKey and BlobEndpoint")
	}
	cred, err := blob.NewSharedKeyCredential(kv["accountname"], kv["accountkey"])
	if err != nil {
		t.Fatal(err)
	}
	qp, err := sas.AccountSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   (&sas.AccountPermissions{Read: true, Write: true, Create: true, Delete: true, List: true}).String(),
		ResourceTypes: (&sas.AccountResourceTypes{Container: true}).String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	container := randomName("acre-replicas-")
	containerURL := endpoint + "/" + container + "?restype=container&" + qp.Encode()
	send := func(ctx context.Context, method, u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil && res.StatusCode/100 != 2 {
			err = fmt.Errorf("%s container %s: %s: %s", method, container, res.Status, b)
		}
		return b, err
	}
	if _, err := send(t.Context(), http.MethodPut, containerURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := send(context.Background(), http.MethodDelete, containerURL); err != nil {
			t.Error(err)
		}
	})
	list := func(ctx context.Context, prefix string) ([]string, error) {
		b, err := send(ctx, http.MethodGet, containerURL+"&comp=list&prefix="+url.QueryEscape(prefix))
		if err != nil {
			return nil, err
		}
		var doc struct {
			Blobs []string `xml:"Blobs>Blob>Name"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("list blobs: %w", err)
		}
		return doc.Blobs, nil
	}
	return "azblob://" + container, []string{"AZURE_STORAGE_CONNECTION_STRING=" + conn}, list
}
