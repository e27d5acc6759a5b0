package acr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/registrytest"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
)

// testChunk keeps chunked uploads fast while still crossing chunk boundaries.
const testChunk = 64 << 10

// fastRetry keeps azcore's retries, so that 429s and dropped requests are retried,
// without its seconds of backoff.
var fastRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}

// newBlobs returns a blob client for the registry at endpoint.
func newBlobs(t testing.TB, endpoint string) *acr.BlobClient {
	t.Helper()
	c, err := acr.NewBlobClient(endpoint, nil, &acr.BlobClientOptions{ClientOptions: azcore.ClientOptions{Retry: fastRetry}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newAcre starts an acre registry (auth on) and returns a blob client for it. With
// wrap, the client talks to a second server whose handler wraps the registry's, so
// tests can inject faults; tokens still come from the challenge flow.
func newAcre(t *testing.T, wrap func(http.Handler) http.Handler) *acr.BlobClient {
	t.Helper()
	srv := registrytest.New(t)
	if wrap == nil {
		return newBlobs(t, srv.URL)
	}
	front := httptest.NewServer(wrap(srv.Registry))
	t.Cleanup(front.Close)
	return newBlobs(t, front.URL)
}

// testData returns n reproducible pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// progressLog records Progress callbacks and checks them.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int64
}

func (p *progressLog) record(transferred, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, [2]int64{transferred, total})
}

// check asserts that progress only grew and ended at size.
func (p *progressLog) check(t *testing.T, what string, size int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		t.Fatalf("%s: no progress reported", what)
	}
	var prev int64
	for _, c := range p.calls {
		if c[0] < prev {
			t.Fatalf("%s: progress went back: %v", what, p.calls)
		}
		if c[1] >= 0 && c[0] > c[1] {
			t.Fatalf("%s: progress beyond total: %v", what, p.calls)
		}
		prev = c[0]
	}
	if last := p.calls[len(p.calls)-1]; last[0] != size {
		t.Fatalf("%s: last progress %v, want %d", what, last, size)
	}
}

// roundTrip uploads data (as a sized stream, or as an unsized trickle) and
// downloads it again, checking digest, size, content and progress both ways.
func roundTrip(t *testing.T, c *acr.BlobClient, repo string, data []byte, chunk int64, sized bool) {
	t.Helper()
	ctx := context.Background()
	want := digest.FromBytes(data)
	var up, down progressLog
	opts := &acr.UploadBlobOptions{ChunkSize: chunk, Progress: up.record}
	var src io.Reader = bytes.NewReader(data)
	if sized {
		opts.Size = int64(len(data))
	} else {
		src = iotest.HalfReader(struct{ io.Reader }{src}) // short reads, no size
	}
	res, err := c.UploadBlob(ctx, repo, src, opts)
	if err != nil {
		t.Fatalf("UploadBlob: %v", err)
	}
	if res.Digest != string(want) || res.Size != int64(len(data)) {
		t.Fatalf("UploadBlob = %+v, want %s %d", res, want, len(data))
	}
	up.check(t, "upload", int64(len(data)))

	dl, err := c.DownloadBlob(ctx, repo, string(want), &acr.DownloadBlobOptions{Progress: down.record})
	if err != nil {
		t.Fatalf("DownloadBlob: %v", err)
	}
	defer dl.Body.Close()
	got, err := io.ReadAll(dl.Body)
	if err != nil {
		t.Fatalf("read blob: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", len(got), len(data))
	}
	if dl.Size != int64(len(data)) || dl.Digest != string(want) {
		t.Fatalf("DownloadBlob = size %d digest %s", dl.Size, dl.Digest)
	}
	if len(data) > 0 {
		down.check(t, "download", int64(len(data)))
	}
}

// roundTripSizes are the sizes every registry must round-trip with testChunk.
var roundTripSizes = []struct {
	name string
	n    int
}{
	{"empty", 0},
	{"1B", 1},
	{"one chunk", testChunk},
	{"chunk+1", testChunk + 1},
	{"several chunks", 5*testChunk + 123},
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	c := newAcre(t, nil)
	for i, tc := range roundTripSizes {
		data := testData(tc.n, uint64(i))
		t.Run(tc.name, func(t *testing.T) { roundTrip(t, c, "transfer/sized", data, testChunk, true) })
		t.Run(tc.name+" streamed", func(t *testing.T) { roundTrip(t, c, "transfer/streamed", data, testChunk, false) })
	}
	t.Run("default chunk size", func(t *testing.T) { roundTrip(t, c, "transfer/default", testData(100_000, 9), 0, true) })
}

// requestLog wraps a handler and records "METHOD path" of every request.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// count returns how many requests had method and a path containing part.
func (l *requestLog) count(method, part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, part) {
			n++
		}
	}
	return n
}

// TestUploadBlobRequests checks the requests an upload costs: a blob that fits in
// one chunk is POST + PUT; a larger one PATCHes all chunks but the last.
func TestUploadBlobRequests(t *testing.T) {
	var log requestLog
	c := newAcre(t, log.wrap)
	ctx := context.Background()
	for _, tc := range []struct {
		n       int
		patches int
	}{{0, 0}, {testChunk - 1, 0}, {testChunk, 0}, {testChunk + 1, 1}, {3 * testChunk, 2}} {
		log = requestLog{}
		if _, err := c.UploadBlob(ctx, "transfer/requests", bytes.NewReader(testData(tc.n, 3)), &acr.UploadBlobOptions{ChunkSize: testChunk}); err != nil {
			t.Fatal(err)
		}
		post, patch, put := log.count("POST", "/blobs/uploads/"), log.count("PATCH", "/blobs/uploads/"), log.count("PUT", "/blobs/uploads/")
		if post != 1 || patch != tc.patches || put != 1 {
			t.Errorf("%d bytes: %d POST, %d PATCH, %d PUT; want 1, %d, 1", tc.n, post, patch, put, tc.patches)
		}
	}
}

func TestUploadBlobSHA512(t *testing.T) {
	c := newAcre(t, nil)
	ctx := context.Background()
	data := testData(3*testChunk+5, 4)
	want := digest.SHA512.FromBytes(data)
	res, err := c.UploadBlob(ctx, "transfer/sha512", bytes.NewReader(data), &acr.UploadBlobOptions{ChunkSize: testChunk, Digest: string(want)})
	if err != nil || res.Digest != string(want) {
		t.Fatalf("UploadBlob = %+v, %v; want %s", res, err, want)
	}
	dl, err := c.DownloadBlob(ctx, "transfer/sha512", string(want), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	if got, err := io.ReadAll(dl.Body); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download sha512 blob: %v", err)
	}
}

// failingReader fails the test if UploadBlob reads the blob.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("the blob was read although the registry has it")
	return 0, errors.New("must not be read")
}

func TestUploadBlobSkipsExistingBlob(t *testing.T) {
	var log requestLog
	c := newAcre(t, log.wrap)
	ctx := context.Background()
	data := testData(10_000, 5)
	d := digest.FromBytes(data)
	if _, err := c.UploadBlob(ctx, "transfer/skip", bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	log = requestLog{}
	var p progressLog
	res, err := c.UploadBlob(ctx, "transfer/skip", failingReader{t}, &acr.UploadBlobOptions{Digest: string(d), Progress: p.record})
	if err != nil || res.Digest != string(d) || res.Size != int64(len(data)) {
		t.Fatalf("UploadBlob = %+v, %v", res, err)
	}
	p.check(t, "skipped upload", int64(len(data)))
	if n := log.count("POST", ""); n != 0 {
		t.Fatalf("%d upload sessions opened for an existing blob", n)
	}
	// A blob the repository does not have is uploaded, and checked against Digest.
	other := testData(1000, 6)
	res, err = c.UploadBlob(ctx, "transfer/skip", bytes.NewReader(other), &acr.UploadBlobOptions{Digest: string(digest.FromBytes(other))})
	if err != nil || res.Digest != string(digest.FromBytes(other)) {
		t.Fatalf("UploadBlob of a new blob with Digest = %+v, %v", res, err)
	}
}

func TestUploadBlobChecksExpectations(t *testing.T) {
	var log requestLog
	c := newAcre(t, log.wrap)
	ctx := context.Background()
	data := testData(3*testChunk, 7)

	wrong := digest.FromString("something else")
	_, err := c.UploadBlob(ctx, "transfer/check", bytes.NewReader(data), &acr.UploadBlobOptions{ChunkSize: testChunk, Digest: string(wrong)})
	if !errors.Is(err, acr.ErrMismatchedHash) {
		t.Fatalf("upload with a wrong Digest: %v, want ErrMismatchedHash", err)
	}
	if log.count("PUT", "") != 0 || log.count("DELETE", "/blobs/uploads/") != 1 {
		t.Fatalf("a mismatched upload must be cancelled, not completed: %v", log.reqs)
	}
	if _, err := c.CheckBlobExists(ctx, "transfer/check", string(wrong), nil); err == nil {
		t.Fatal("the mismatched blob was stored")
	}

	for _, size := range []int64{int64(len(data)) - 1, int64(len(data)) + 1, 2*testChunk - 1} {
		if _, err := c.UploadBlob(ctx, "transfer/check", bytes.NewReader(data), &acr.UploadBlobOptions{ChunkSize: testChunk, Size: size}); err == nil {
			t.Fatalf("upload of %d bytes declared as %d succeeded", len(data), size)
		}
	}

	readErr := errors.New("disk on fire")
	log = requestLog{}
	_, err = c.UploadBlob(ctx, "transfer/check", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(readErr)), &acr.UploadBlobOptions{ChunkSize: testChunk})
	if !errors.Is(err, readErr) || log.count("DELETE", "/blobs/uploads/") != 1 {
		t.Fatalf("source error: %v (requests %v); want it wrapped and the session cancelled", err, log.reqs)
	}

	// A cancelled context still cancels the session.
	ctx2, cancel := context.WithCancel(ctx)
	log = requestLog{}
	_, err = c.UploadBlob(ctx2, "transfer/check", bytes.NewReader(data), &acr.UploadBlobOptions{ChunkSize: testChunk, Progress: func(int64, int64) { cancel() }})
	if !errors.Is(err, context.Canceled) || log.count("DELETE", "/blobs/uploads/") != 1 {
		t.Fatalf("cancelled upload: %v (requests %v); want context.Canceled and the session cancelled", err, log.reqs)
	}
}

// bodyWriter passes a response through, changing its body: corrupt flips the byte
// at that offset, cut stops it after that many bytes (the connection then closes,
// since the body is shorter than its Content-Length).
type bodyWriter struct {
	http.ResponseWriter
	n       int64
	corrupt int64 // -1: none
	cut     int64 // -1: none
}

var errCut = errors.New("test: connection cut")

func (w *bodyWriter) Write(p []byte) (int, error) {
	if w.cut >= 0 && w.n+int64(len(p)) > w.cut {
		k := int(w.cut - w.n)
		n, _ := w.ResponseWriter.Write(p[:k])
		w.n += int64(n)
		return n, errCut
	}
	if w.corrupt >= w.n && w.corrupt < w.n+int64(len(p)) {
		q := bytes.Clone(p)
		q[w.corrupt-w.n] ^= 0xff
		p = q
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// isBlobGet reports whether r downloads a blob (not a manifest, not an upload).
func isBlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha")
}

// uploadForDownload uploads data with a plain client (no faults) to the registry
// under srv and returns its digest.
func uploadForDownload(t *testing.T, endpoint, repo string, data []byte) digest.Digest {
	t.Helper()
	res, err := newBlobs(t, endpoint).UploadBlob(context.Background(), repo, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(res.Digest)
}

func TestDownloadBlobDetectsWrongContent(t *testing.T) {
	srv := registrytest.New(t)
	data := testData(200_000, 8)
	d := uploadForDownload(t, srv.URL, "transfer/corrupt", data)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isBlobGet(r) {
			w = &bodyWriter{ResponseWriter: w, corrupt: 12345, cut: -1}
		}
		srv.Registry.ServeHTTP(w, r)
	}))
	defer front.Close()
	dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "transfer/corrupt", string(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	got, err := io.ReadAll(dl.Body)
	if !errors.Is(err, acr.ErrMismatchedHash) {
		t.Fatalf("read corrupted blob: %v, want ErrMismatchedHash", err)
	}
	if len(got) != len(data) {
		t.Fatalf("read %d bytes", len(got))
	}
	// The error stays.
	if _, err := dl.Body.Read(make([]byte, 1)); !errors.Is(err, acr.ErrMismatchedHash) {
		t.Fatalf("read after mismatch: %v", err)
	}
}

// dropper cuts the first `drops` blob downloads at half their body, and records
// the Range of every blob GET.
type dropper struct {
	mu     sync.Mutex
	drops  int
	ranges []string
}

func (d *dropper) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isBlobGet(r) {
			d.mu.Lock()
			d.ranges = append(d.ranges, r.Header.Get("Range"))
			drop := d.drops > 0
			d.drops--
			d.mu.Unlock()
			if drop {
				w = &cutAtHalf{ResponseWriter: w}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// cutAtHalf cuts a body at half its Content-Length.
type cutAtHalf struct {
	http.ResponseWriter
	bw *bodyWriter
}

func (c *cutAtHalf) WriteHeader(status int) {
	var n int64
	fmt.Sscan(c.Header().Get("Content-Length"), &n)
	c.bw = &bodyWriter{ResponseWriter: c.ResponseWriter, corrupt: -1, cut: n / 2}
	c.ResponseWriter.WriteHeader(status)
}

func (c *cutAtHalf) Write(p []byte) (int, error) {
	if c.bw == nil {
		c.WriteHeader(http.StatusOK)
	}
	return c.bw.Write(p)
}

func TestDownloadBlobResumes(t *testing.T) {
	srv := registrytest.New(t)
	data := testData(1<<20+17, 10)
	d := uploadForDownload(t, srv.URL, "transfer/resume", data)

	t.Run("twice", func(t *testing.T) {
		dr := &dropper{drops: 2}
		front := httptest.NewServer(dr.wrap(srv.Registry))
		defer front.Close()
		var p progressLog
		dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "transfer/resume", string(d), &acr.DownloadBlobOptions{Progress: p.record})
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Body.Close()
		got, err := io.ReadAll(dl.Body)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("resumed download: %v (%d bytes)", err, len(got))
		}
		p.check(t, "resumed download", int64(len(data)))
		half := int64(len(data)) / 2
		quarter := half + (int64(len(data))-half)/2
		want := []string{"", fmt.Sprintf("bytes=%d-%d", half, len(data)-1), fmt.Sprintf("bytes=%d-%d", quarter, len(data)-1)}
		if fmt.Sprint(dr.ranges) != fmt.Sprint(want) {
			t.Fatalf("blob GETs had ranges %q, want %q", dr.ranges, want)
		}
	})
	t.Run("gives up after MaxResumes", func(t *testing.T) {
		dr := &dropper{drops: 100}
		front := httptest.NewServer(dr.wrap(srv.Registry))
		defer front.Close()
		dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "transfer/resume", string(d), &acr.DownloadBlobOptions{MaxResumes: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Body.Close()
		_, err = io.ReadAll(dl.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(dr.ranges) != 3 {
			t.Fatalf("download with endless drops: %v after %d GETs; want io.ErrUnexpectedEOF after 3", err, len(dr.ranges))
		}
	})
	t.Run("no resumes", func(t *testing.T) {
		dr := &dropper{drops: 1}
		front := httptest.NewServer(dr.wrap(srv.Registry))
		defer front.Close()
		dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "transfer/resume", string(d), &acr.DownloadBlobOptions{MaxResumes: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Body.Close()
		if _, err = io.ReadAll(dl.Body); err == nil || len(dr.ranges) != 1 {
			t.Fatalf("download without resumes: %v after %d GETs", err, len(dr.ranges))
		}
	})
}

// TestDownloadBlobRedirect serves blob content from "storage" on another host, as
// ACR does with Azure Storage, and cuts the first storage response: the resume
// goes through the registry's redirect again, with its Range.
func TestDownloadBlobRedirect(t *testing.T) {
	srv := registrytest.New(t)
	data := testData(300_000, 11)
	d := uploadForDownload(t, srv.URL, "transfer/redirect", data)

	var authSeen atomic.Bool
	dr := &dropper{drops: 1}
	storage := httptest.NewServer(dr.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authSeen.Store(true)
		}
		if r.URL.Query().Get("sig") != "ok" {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})))
	defer storage.Close()
	storageURL, _ := url.Parse(storage.URL)
	storageURL.Host = "localhost:" + storageURL.Port() // another host than 127.0.0.1

	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isBlobGet(r) && r.Header.Get("Authorization") != "" {
			http.Redirect(w, r, storageURL.String()+"/blobs/"+string(d)+"?sig=ok", http.StatusTemporaryRedirect)
			return
		}
		srv.Registry.ServeHTTP(w, r)
	}))
	defer front.Close()

	dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "transfer/redirect", string(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	got, err := io.ReadAll(dl.Body)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("redirected download: %v (%d bytes)", err, len(got))
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-%d", len(data)/2, len(data)-1)}; fmt.Sprint(dr.ranges) != fmt.Sprint(want) {
		t.Fatalf("storage GETs had ranges %q, want %q", dr.ranges, want)
	}
	if authSeen.Load() {
		t.Fatal("the registry token was sent to storage on another host")
	}
}

// once429 answers the first request that match has with 429 Retry-After: 0.
func once429(match func(*http.Request) bool) func(http.Handler) http.Handler {
	var done sync.Map
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if match(r) {
				if _, loaded := done.LoadOrStore(r.Method, true); !loaded {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestTransferRetriesTooManyRequests(t *testing.T) {
	var log requestLog
	throttle := once429(func(r *http.Request) bool {
		// The first POST, PATCH and PUT of the upload and the first blob GET.
		return strings.Contains(r.URL.Path, "/blobs/uploads/") || isBlobGet(r)
	})
	c := newAcre(t, func(h http.Handler) http.Handler { return log.wrap(throttle(h)) })
	data := testData(4*testChunk+1, 12)
	roundTrip(t, c, "transfer/throttled", data, testChunk, true)
	for _, m := range []string{"POST", "PATCH", "PUT"} {
		// Each throttled request was sent once more.
		want := map[string]int{"POST": 2, "PATCH": 5, "PUT": 2}[m]
		if n := log.count(m, "/blobs/uploads/"); n != want {
			t.Errorf("%d %s requests, want %d (one retried)", n, m, want)
		}
	}
	if n := log.count("GET", "/blobs/sha"); n != 2 {
		t.Errorf("%d blob GETs, want 2 (one retried)", n)
	}
}

// TestUploadBlobReauthenticates answers one PATCH with the registry's own 401
// challenge (the request goes in without its token): the client gets a new token
// and sends the chunk again from its buffer, and the digest is still right.
func TestUploadBlobReauthenticates(t *testing.T) {
	var patches atomic.Int32
	var log requestLog
	c := newAcre(t, func(h http.Handler) http.Handler {
		return log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && patches.Add(1) == 2 {
				r.Header.Del("Authorization")
			}
			h.ServeHTTP(w, r)
		}))
	})
	data := testData(4*testChunk+99, 13)
	roundTrip(t, c, "transfer/reauth", data, testChunk, true)
	if n := log.count("PATCH", ""); n != 5 {
		t.Fatalf("%d PATCHes, want 5 (4 chunks, one sent again)", n)
	}
}

// TestUploadBlobRecoversLostAnswer loses the answer to a request the registry
// carried out (it answers 504 after storing): azcore sends it again, and the upload
// sees that the registry has what it sent and goes on. A resent PATCH gets 416 (the
// chunk is in), a resent PUT 404 (the session is complete).
func TestUploadBlobRecoversLostAnswer(t *testing.T) {
	for _, tc := range []struct {
		method string
		nth    int32
	}{{http.MethodPatch, 2}, {http.MethodPut, 1}} {
		t.Run(tc.method, func(t *testing.T) {
			var n, lost atomic.Int32
			c := newAcre(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == tc.method && strings.Contains(r.URL.Path, "/blobs/uploads/") && n.Add(1) == tc.nth {
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, r)
						if rec.Code < 300 {
							lost.Add(1)
						}
						w.WriteHeader(http.StatusGatewayTimeout)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			roundTrip(t, c, "transfer/lost", testData(4*testChunk+7, 14), testChunk, true)
			if lost.Load() != 1 {
				t.Fatalf("%d answers lost, want 1", lost.Load())
			}
		})
	}
}

// TestGoContainerRegistry runs the transfers against another implementation of
// the distribution API, go-containerregistry's in-process registry (no auth).
func TestGoContainerRegistry(t *testing.T) {
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := newBlobs(t, srv.URL)
	for i, tc := range roundTripSizes {
		data := testData(tc.n, uint64(100+i))
		t.Run(tc.name, func(t *testing.T) { roundTrip(t, c, "ggcr/sized", data, testChunk, true) })
		t.Run(tc.name+" streamed", func(t *testing.T) { roundTrip(t, c, "ggcr/streamed", data, testChunk, false) })
	}
	t.Run("skip existing", func(t *testing.T) {
		data := testData(1000, 120)
		roundTrip(t, c, "ggcr/skip", data, testChunk, true)
		res, err := c.UploadBlob(context.Background(), "ggcr/skip", failingReader{t}, &acr.UploadBlobOptions{Digest: string(digest.FromBytes(data))})
		if err != nil || res.Size != 1000 {
			t.Fatalf("UploadBlob = %+v, %v", res, err)
		}
	})
	t.Run("resume", func(t *testing.T) {
		data := testData(500_000, 121)
		d := uploadForDownload(t, srv.URL, "ggcr/resume", data)
		dr := &dropper{drops: 1}
		front := httptest.NewServer(dr.wrap(h))
		defer front.Close()
		dl, err := newBlobs(t, front.URL).DownloadBlob(context.Background(), "ggcr/resume", string(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Body.Close()
		if got, err := io.ReadAll(dl.Body); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("resumed download from go-containerregistry: %v", err)
		}
		if len(dr.ranges) != 2 {
			t.Fatalf("blob GETs: %q", dr.ranges)
		}
	})
}
