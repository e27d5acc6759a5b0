package main_test

// Crash safety, end to end: the real acre binary is killed with SIGKILL while
// concurrent uploads are in flight, restarted on the same data directory, and what
// clients were told before the kill is checked against what the restarted server
// serves.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/acre-dev/acre/registry/registrytest"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// acreBin is the acre binary built by TestMain, or empty with buildErr set.
var (
	acreBin  string
	buildErr error
)

// TestMain builds the acre binary once for the tests that run it as a child process.
// Nothing is built under -short, where those tests skip.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "acre-crash-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash test:", err)
		os.Exit(1)
	}
	acreBin, buildErr = buildAcre(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildAcre builds this package's command into dir and returns the binary's path.
func buildAcre(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own GOROOT/bin first in PATH; this is only a fallback.
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "acre")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

const (
	// crashRounds is how many times the server is killed and restarted.
	crashRounds = 3
	// uploadersPerRound run concurrently in each round.
	uploadersPerRound = 20
	// Each round kills the server, after a random delay of up to killJitter, once
	// killAfterAcked plus a random number below killAckedSpread of the uploads were
	// acknowledged and at least killAfterMidway others are part-way (or once every
	// uploader is done: then nothing was in flight, which the checks tolerate).
	killAfterAcked  = 3
	killAckedSpread = 8
	killAfterMidway = 3
	killJitter      = 20 * time.Millisecond
	// listenPrefix starts the line on which acre serve announces its address.
	listenPrefix = "acre registry listening on "
)

// TestCrashDuringUploads kills acre serve with SIGKILL during 20 concurrent uploads,
// restarts it on the same data directory and checks that every acknowledged upload
// is readable and digest-correct, that nothing partial is visible and that every
// interrupted session either resumes to a correct blob or reports
// BLOB_UPLOAD_UNKNOWN. It repeats this for several rounds, rechecking what earlier
// rounds acknowledged (blobs and manifests) after every restart.
func TestCrashDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the acre binary; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	data, logs := t.TempDir(), t.TempDir()
	srv := startServer(t, data, logs, 0)
	var kept []keptBlob          // acknowledged in earlier rounds
	var manifests []keptManifest // pushed after earlier restarts
	for round := 1; round <= crashRounds; round++ {
		uploads := newUploads(rng)
		runAndKill(t, srv, uploads, rng)
		srv = startServer(t, data, logs, round)
		c := &checker{t: t, srv: srv}

		// What earlier rounds acknowledged survives this crash too.
		for _, b := range kept {
			c.checkBlobHash(b.repo, b.dgst, b.size)
		}
		for _, m := range manifests {
			c.checkManifest(m)
		}

		var st roundStats
		for _, u := range uploads {
			if c.checkUpload(u, &st) {
				kept = append(kept, keptBlob{repo: u.repo, dgst: u.dgst, size: int64(len(u.data))})
			}
		}
		t.Logf("round %d: %d acknowledged, %d committed unacknowledged, %d absent; sessions: %d resumed (%d at full size), %d unknown",
			round, st.acked, st.committedUnacked, st.absent, st.resumed, st.resumedFull, st.sessionUnknown)
		if t.Failed() {
			t.Logf("log of the server killed in round %d (end):\n%s", round, tail(filepath.Join(logs, fmt.Sprintf("acre-%d.log", round-1)), 30))
			t.Logf("log of the server restarted after round %d (end):\n%s", round, tail(filepath.Join(logs, fmt.Sprintf("acre-%d.log", round)), 30))
			return
		}
		manifests = append(manifests, c.pushManifest(round, uploads))
	}
}

// TestCrashBetweenCommitAndLink recreates, deterministically, the state a SIGKILL
// leaves when it lands inside the final PUT of a chunked upload after the blob store
// has renamed the upload's data into the blob but before the metadata transaction
// that links the blob and closes the session: the session is still open at full
// size while its data file is gone. TestCrashDuringUploads hits this window often
// but not always. The session must complete on a retried PUT (or report
// BLOB_UPLOAD_UNKNOWN), never fail with a server error.
//
// It relies on the layout documented by store/fs (<data>/blobs is its root).
func TestCrashBetweenCommitAndLink(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the acre binary; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	data, logs := t.TempDir(), t.TempDir()
	srv := startServer(t, data, logs, 0)
	c := &checker{t: t, srv: srv}
	blob := bytes.Repeat([]byte("acre crash window "), 1<<14)
	d := digest.FromBytes(blob)
	res := c.do(http.MethodPost, "/v2/crash/window/blobs/uploads/", nil)
	loc := res.header.Get("Location")
	if res.status != http.StatusAccepted || loc == "" {
		t.Fatalf("POST upload: %s, want 202 with a Location", res)
	}
	id := res.header.Get("Docker-Upload-UUID")
	if id == "" || !strings.HasSuffix(loc, "/"+id) {
		t.Fatalf("POST upload: Location %q, Docker-Upload-UUID %q: want the session id", loc, id)
	}
	res = c.do(http.MethodPatch, loc, blob, "Content-Range", fmt.Sprintf("0-%d", len(blob)-1))
	if res.status != http.StatusAccepted {
		t.Fatalf("PATCH: %s, want 202", res)
	}
	srv.kill()

	// What CommitUpload does before the link: the upload file becomes the blob.
	root := filepath.Join(data, "blobs")
	dst := filepath.Join(root, "blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded())
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "uploads", id), dst); err != nil {
		t.Fatal(err)
	}

	srv = startServer(t, data, logs, 1)
	c = &checker{t: t, srv: srv}
	blobPath := "/v2/crash/window/blobs/" + string(d)
	if res := c.do(http.MethodGet, blobPath, nil); res.status != http.StatusNotFound {
		t.Fatalf("GET %s before the session completes: %s, want 404 (committed but not linked)", blobPath, res)
	}
	res = c.do(http.MethodGet, loc, nil)
	if res.status != http.StatusNoContent || res.header.Get("Range") != fmt.Sprintf("0-%d", len(blob)-1) {
		t.Fatalf("GET %s (upload status): %s with Range %q, want 204 with Range 0-%d", loc, res, res.header.Get("Range"), len(blob)-1)
	}
	res = c.do(http.MethodPut, withDigest(loc, d), nil)
	if res.status != http.StatusCreated || res.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("PUT %s to complete the session: %s, want 201\n%s", loc, res, tail(filepath.Join(logs, "acre-1.log"), 5))
	}
	c.checkBlobHash("crash/window", d, int64(len(blob)))
	res = c.do(http.MethodGet, loc, nil)
	if res.status != http.StatusNotFound || res.errorCode() != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("GET %s (upload status) after completion: %s, want 404 BLOB_UPLOAD_UNKNOWN", loc, res)
	}
}

// keptBlob is a blob acknowledged in some round, to check again after later crashes.
type keptBlob struct {
	repo string
	dgst digest.Digest
	size int64
}

// keptManifest is a manifest pushed after some restart, to pull after later crashes.
type keptManifest struct {
	repo, tag string
	dgst      digest.Digest
	content   []byte
}

// roundStats counts the outcomes of one round's uploads after the restart, for the log.
type roundStats struct {
	acked, committedUnacked, absent      int
	resumed, resumedFull, sessionUnknown int
}

// upload is one blob upload and what its client was told. The uploader goroutine
// owns the progress fields until it returns; they are read after it has.
type upload struct {
	repo       string
	data       []byte
	dgst       digest.Digest
	monolithic bool // POST ?digest= with the whole blob
	finalInPut bool // chunked, with the last chunk sent by the PUT
	chunk      int  // chunk size
	think      time.Duration

	location string // session path from the POST, "" if none was received
	acked    int64  // bytes acknowledged by the last 202 (Range end + 1)
	sent     int64  // end of the furthest chunk put on the wire
	final    bool   // the completing request (PUT, or monolithic POST) was sent
	done     bool   // 201 received: the upload was acknowledged
}

// newUploads prepares one round of uploads of 1 to 3 MiB of random data, spread
// over four repositories; every fifth is monolithic.
func newUploads(rng *rand.Rand) []*upload {
	uploads := make([]*upload, uploadersPerRound)
	for i := range uploads {
		size := 1<<20 + rng.IntN(2<<20)
		b := make([]byte, size)
		for j := 0; j < size; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				b[j+k] = byte(v >> (8 * k))
			}
		}
		uploads[i] = &upload{
			repo:       fmt.Sprintf("crash/r%d", i%4),
			data:       b,
			dgst:       digest.FromBytes(b),
			monolithic: i%5 == 4,
			finalInPut: i%2 == 1,
			chunk:      192<<10 + rng.IntN(320<<10),
			think:      time.Duration(rng.IntN(4)) * time.Millisecond,
		}
	}
	return uploads
}

// progress counts what the killer waits for.
type progress struct {
	acked  atomic.Int32 // uploads acknowledged
	midway atomic.Int32 // chunked uploads with at least one chunk acknowledged, not done
}

// runAndKill runs the uploads concurrently against srv and kills srv with SIGKILL
// once enough are acknowledged and others are part-way, after a random short delay.
// It returns when every uploader has stopped.
func runAndKill(t *testing.T, srv *server, uploads []*upload, rng *rand.Rand) {
	t.Helper()
	ackedTarget := int32(killAfterAcked + rng.IntN(killAckedSpread))
	jitter := time.Duration(rng.Int64N(int64(killJitter)))
	var p progress
	var wg sync.WaitGroup
	for _, u := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.run(srv, &p); err != nil {
				t.Errorf("upload %s to %s: %v", u.dgst, u.repo, err)
			}
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
wait:
	for p.acked.Load() < ackedTarget || p.midway.Load() < killAfterMidway {
		select {
		case <-allDone:
			break wait
		case <-tick.C:
		}
	}
	select {
	case <-allDone:
	case <-time.After(jitter):
	}
	srv.kill()
	<-allDone
	srv.client.CloseIdleConnections()
}

// errTransport marks a request that got no answer: expected once the server is killed.
var errTransport = errors.New("no answer")

// run performs the upload until it completes or a request gets no answer. It returns
// an error only for answers a correct server would not give.
func (u *upload) run(srv *server, p *progress) error {
	err := u.upload(srv, p)
	if errors.Is(err, errTransport) {
		return nil
	}
	return err
}

func (u *upload) upload(srv *server, p *progress) error {
	start := "/v2/" + u.repo + "/blobs/uploads/"
	if u.monolithic {
		u.sent, u.final = int64(len(u.data)), true
		res, err := srv.do(http.MethodPost, start+"?digest="+string(u.dgst), u.data)
		if err != nil {
			return err
		}
		if err := u.checkCreated(res); err != nil {
			return err
		}
		u.done = true
		p.acked.Add(1)
		return nil
	}

	res, err := srv.do(http.MethodPost, start, nil)
	if err != nil {
		return err
	}
	if res.status != http.StatusAccepted || res.header.Get("Location") == "" {
		return fmt.Errorf("POST %s: %s, want 202 with a Location", start, res)
	}
	u.location = res.header.Get("Location")
	n := int64(len(u.data))
	var off int64
	for off < n {
		end := min(off+int64(u.chunk), n)
		if end == n && u.finalInPut {
			break
		}
		u.sent = end
		res, err := srv.do(http.MethodPatch, u.location, u.data[off:end],
			"Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		if err != nil {
			return err
		}
		if res.status != http.StatusAccepted || res.header.Get("Range") != fmt.Sprintf("0-%d", end-1) {
			return fmt.Errorf("PATCH %s bytes %d-%d: %s, want 202 with Range 0-%d", u.location, off, end-1, res, end-1)
		}
		if loc := res.header.Get("Location"); loc != "" {
			u.location = loc
		}
		if off == 0 {
			p.midway.Add(1)
		}
		u.acked, off = end, end
		time.Sleep(u.think)
	}
	u.sent, u.final = n, true
	res, err = srv.do(http.MethodPut, withDigest(u.location, u.dgst), u.data[off:])
	if err != nil {
		return err
	}
	if err := u.checkCreated(res); err != nil {
		return err
	}
	u.done = true
	if off > 0 {
		p.midway.Add(-1)
	}
	p.acked.Add(1)
	return nil
}

func (u *upload) checkCreated(res *response) error {
	if res.status != http.StatusCreated || res.header.Get("Docker-Content-Digest") != string(u.dgst) {
		return fmt.Errorf("completing upload of %s: %s, want 201 with Docker-Content-Digest", u.dgst, res)
	}
	return nil
}

// withDigest adds the digest query parameter to an upload location.
func withDigest(location string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	return location + sep + "digest=" + url.QueryEscape(string(d))
}

// checker verifies, after a restart, what the clients of the killed server were told.
type checker struct {
	t   *testing.T
	srv *server
}

// do sends a request to the restarted server, which must answer.
func (c *checker) do(method, path string, body []byte, headers ...string) *response {
	c.t.Helper()
	res, err := c.srv.do(method, path, body, headers...)
	if err != nil {
		c.t.Fatalf("%s %s after restart: %v", method, path, err)
	}
	return res
}

// checkUpload checks one upload of the round just crashed, resuming it if its
// session survived. It reports whether the blob is now acknowledged.
func (c *checker) checkUpload(u *upload, st *roundStats) bool {
	t := c.t
	t.Helper()
	blobPath := "/v2/" + u.repo + "/blobs/" + string(u.dgst)
	res := c.do(http.MethodGet, blobPath, nil)
	present := false
	switch {
	case res.status == http.StatusOK:
		if !bytes.Equal(res.body, u.data) || res.header.Get("Docker-Content-Digest") != string(u.dgst) {
			t.Errorf("GET %s: %d bytes with Docker-Content-Digest %q; want the %d bytes uploaded, never a partial blob",
				blobPath, len(res.body), res.header.Get("Docker-Content-Digest"), len(u.data))
			return false
		}
		present = true
	case res.status == http.StatusNotFound && res.errorCode() == "BLOB_UNKNOWN":
	default:
		t.Errorf("GET %s: %s, want 200 or 404 BLOB_UNKNOWN", blobPath, res)
		return false
	}
	switch {
	case u.done && !present:
		t.Errorf("upload of %s to %s was acknowledged before the crash but the blob is gone", u.dgst, u.repo)
		return false
	case u.done:
		st.acked++
		return true
	case present && !u.final:
		t.Errorf("blob %s in %s is visible though its upload never sent its last chunk", u.dgst, u.repo)
		return false
	case present:
		// The completing request committed just before the kill; its answer was lost.
		st.committedUnacked++
	default:
		st.absent++
	}
	if u.location == "" {
		return present
	}

	// The session of an unacknowledged chunked upload.
	res = c.do(http.MethodGet, u.location, nil)
	switch {
	case res.status == http.StatusNotFound && res.errorCode() == "BLOB_UPLOAD_UNKNOWN":
		st.sessionUnknown++
		return present
	case res.status != http.StatusNoContent:
		t.Errorf("GET %s (upload status): %s, want 204 or 404 BLOB_UPLOAD_UNKNOWN", u.location, res)
		return false
	case present:
		t.Errorf("upload session %s still open though its blob %s was committed and linked", u.location, u.dgst)
		return false
	}
	size, err := parseRange(res.header.Get("Range"))
	if err != nil {
		t.Errorf("GET %s (upload status): %v", u.location, err)
		return false
	}
	if size < u.acked || size > u.sent {
		t.Errorf("GET %s (upload status): Range %q after the crash, want %d to %d bytes (acknowledged to sent)",
			u.location, res.header.Get("Range"), u.acked, u.sent)
		return false
	}
	// Resume from where the server stands, as a client would after a restart.
	loc := u.location
	if l := res.header.Get("Location"); l != "" {
		loc = l
	}
	n := int64(len(u.data))
	if size < n {
		res = c.do(http.MethodPatch, loc, u.data[size:], "Content-Range", fmt.Sprintf("%d-%d", size, n-1))
		if res.status != http.StatusAccepted || res.header.Get("Range") != fmt.Sprintf("0-%d", n-1) {
			t.Errorf("resuming %s at %d: PATCH: %s, want 202 with Range 0-%d", loc, size, res, n-1)
			return false
		}
		if l := res.header.Get("Location"); l != "" {
			loc = l
		}
	} else {
		st.resumedFull++
	}
	res = c.do(http.MethodPut, withDigest(loc, u.dgst), nil)
	if err := u.checkCreated(res); err != nil {
		t.Errorf("resuming %s at %d: %v", loc, size, err)
		return false
	}
	res = c.do(http.MethodGet, blobPath, nil)
	if res.status != http.StatusOK || !bytes.Equal(res.body, u.data) || res.header.Get("Docker-Content-Digest") != string(u.dgst) {
		t.Errorf("GET %s after resuming its upload: %s with %d bytes, want 200 with the %d bytes uploaded", blobPath, res, len(res.body), n)
		return false
	}
	st.resumed++
	return true
}

// parseRange turns an upload's Range header "0-<last>" into the session's size. "0-0"
// is an empty session: sessions only ever grow by whole chunks, which are larger
// than one byte here.
func parseRange(h string) (int64, error) {
	last, ok := strings.CutPrefix(h, "0-")
	if !ok {
		return 0, fmt.Errorf("Range %q, want 0-<end>", h)
	}
	end, err := strconv.ParseInt(last, 10, 64)
	if err != nil || end < 0 {
		return 0, fmt.Errorf("Range %q, want 0-<end>", h)
	}
	if end == 0 {
		return 0, nil
	}
	return end + 1, nil
}

// checkBlobHash checks that a blob acknowledged in an earlier round is still served
// whole.
func (c *checker) checkBlobHash(repo string, d digest.Digest, size int64) {
	c.t.Helper()
	path := "/v2/" + repo + "/blobs/" + string(d)
	res := c.do(http.MethodGet, path, nil)
	if res.status != http.StatusOK || int64(len(res.body)) != size || digest.FromBytes(res.body) != d ||
		res.header.Get("Docker-Content-Digest") != string(d) {
		c.t.Errorf("GET %s (acknowledged in an earlier round): %s with %d bytes, want 200 with %d bytes of that digest",
			path, res, len(res.body), size)
	}
}

// pushManifest pushes an image manifest made of blobs acknowledged this round, with a
// new config blob, and pulls it back by tag and by digest.
func (c *checker) pushManifest(round int, uploads []*upload) keptManifest {
	t := c.t
	t.Helper()
	perRepo := map[string][]*upload{}
	repo := ""
	for _, u := range uploads {
		if !u.done {
			continue
		}
		perRepo[u.repo] = append(perRepo[u.repo], u)
		if repo == "" || len(perRepo[u.repo]) > len(perRepo[repo]) {
			repo = u.repo
		}
	}
	if repo == "" {
		repo = uploads[0].repo // nothing acknowledged: a manifest with no layers
	}
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"comment":"crash round %d"}`, round))
	configDigest := digest.FromBytes(config)
	res := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+string(configDigest), config)
	if res.status != http.StatusCreated {
		t.Fatalf("push config blob after restart: %s", res)
	}
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: configDigest, Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{},
	}
	m.SchemaVersion = 2
	for i, u := range perRepo[repo] {
		if i == 3 {
			break
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: u.dgst, Size: int64(len(u.data))})
	}
	content, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	km := keptManifest{repo: repo, tag: fmt.Sprintf("round-%d", round), dgst: digest.FromBytes(content), content: content}
	res = c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+km.tag, content, "Content-Type", ocispec.MediaTypeImageManifest)
	if res.status != http.StatusCreated || res.header.Get("Docker-Content-Digest") != string(km.dgst) {
		t.Fatalf("PUT manifest %s:%s after restart: %s, want 201 with Docker-Content-Digest %s", repo, km.tag, res, km.dgst)
	}
	c.checkManifest(km)
	return km
}

// checkManifest pulls a manifest by tag and by digest.
func (c *checker) checkManifest(m keptManifest) {
	c.t.Helper()
	for _, ref := range []string{m.tag, string(m.dgst)} {
		path := "/v2/" + m.repo + "/manifests/" + ref
		res := c.do(http.MethodGet, path, nil, "Accept", ocispec.MediaTypeImageManifest)
		if res.status != http.StatusOK || !bytes.Equal(res.body, m.content) || res.header.Get("Docker-Content-Digest") != string(m.dgst) {
			c.t.Errorf("GET %s: %s, want 200 with the manifest pushed (%s)", path, res, m.dgst)
		}
	}
}

// server is a running acre serve child process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // http://host:port
	client  *http.Client
	exited  chan struct{} // closed once the process has been waited for
	waitErr error
	once    sync.Once
}

// startServer runs acre serve on data, logging to logs/acre-<n>.log, and waits for it
// to announce its address. The process is killed when the test ends.
func startServer(t *testing.T, data, logs string, n int) *server {
	t.Helper()
	logPath := filepath.Join(logs, fmt.Sprintf("acre-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	addr := make(chan string, 1)
	cmd := exec.Command(acreBin, "serve", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Stdout = logFile
	cmd.Stderr = &addrWatcher{w: logFile, addr: addr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start acre serve: %v", err)
	}
	s := &server{t: t, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.kill)

	select {
	case u := <-addr:
		s.base = strings.TrimSuffix(u, "/")
	case <-s.exited:
		t.Fatalf("acre serve exited before listening: %v\n%s", s.waitErr, tail(logPath, 40))
	case <-time.After(30 * time.Second):
		t.Fatalf("acre serve did not announce its address\n%s", tail(logPath, 40))
	}
	s.client = &http.Client{
		Timeout: 60 * time.Second, // only against hangs: a killed server resets connections
		// Answers the registry's token challenge, as every registry client does.
		Transport: &registrytest.Transport{Base: &http.Transport{
			MaxIdleConnsPerHost: 2 * uploadersPerRound,
			DisableCompression:  true,
		}},
	}
	return s
}

// kill sends SIGKILL (once) and waits for the process to be gone. It fails the test
// if the server had exited by itself.
func (s *server) kill() {
	s.once.Do(func() {
		select {
		case <-s.exited:
			s.t.Errorf("acre serve exited on its own: %v", s.waitErr)
			return
		default:
		}
		if err := s.cmd.Process.Kill(); err != nil {
			s.t.Errorf("kill acre serve: %v", err)
		}
		<-s.exited
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
	})
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	s := strconv.Itoa(r.status)
	if r.status >= 400 {
		s += " " + strings.TrimSpace(string(r.body))
	}
	return s
}

// errorCode returns the code of the first error in an error body.
func (r *response) errorCode() string {
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

// do sends a request; path may be relative to the server. headers are name, value
// pairs. An error wrapping errTransport means no complete answer was received.
func (s *server) do(method, path string, body []byte, headers ...string) (*response, error) {
	target := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		target = s.base + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.ContentLength = 0
	} else if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", method, path, errTransport, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w: %w", method, path, errTransport, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// addrWatcher copies the server's stderr to w and sends, once, the URL from the line
// on which the server announces its address.
type addrWatcher struct {
	w    io.Writer
	addr chan<- string
	line []byte // the start of a line not finished yet; nil once the address is sent
	sent bool
}

// Write is called by one goroutine of os/exec at a time.
func (a *addrWatcher) Write(p []byte) (int, error) {
	if !a.sent {
		a.line = append(a.line, p...)
		for {
			i := bytes.IndexByte(a.line, '\n')
			if i < 0 {
				break
			}
			line := string(a.line[:i])
			a.line = a.line[i+1:]
			if rest, ok := strings.CutPrefix(line, listenPrefix); ok {
				u, _, _ := strings.Cut(rest, " ")
				a.addr <- u
				a.sent, a.line = true, nil
				break
			}
		}
	}
	return a.w.Write(p)
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
