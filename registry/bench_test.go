package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The benchmarks below drive a real server (registrytest.New: the fs blob store and
// the SQLite metadata store in a temporary directory, behind the token service)
// over HTTP on loopback, with the client in the same process. The client gets one
// bearer token before timing starts and sends it with every request, as docker and
// the OCI tools do, so each request pays for the token's verification. Allocation
// figures (B/op, allocs/op, peak-heap-B) include the client's share. They run only
// with -bench; see BENCHMARKS.md for the command and the numbers.

const (
	benchChunkSize = 4 << 20 // PATCH size of chunked uploads
	benchCopyBuf   = 1 << 20 // client read buffer for pulls
)

var benchBlobSizes = []struct {
	name string
	size int64
}{
	{"1MiB", 1 << 20},
	{"16MiB", 16 << 20},
	{"256MiB", 256 << 20},
}

// benchBlock is the pattern every generated blob repeats. Its odd length keeps the
// repetitions out of step with every buffer and chunk size.
var benchBlock = sync.OnceValue(func() []byte {
	buf := make([]byte, 1<<20+7)
	x := uint32(2463534242)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = byte(x)
	}
	return buf
})

// genReader streams bytes [off, end) of a deterministic blob of unbounded length
// without ever holding more than benchBlock in memory.
type genReader struct {
	block    []byte
	off, end int64
}

func newGen(off, end int64) *genReader { return &genReader{block: benchBlock(), off: off, end: end} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.end {
		return 0, io.EOF
	}
	if rem := g.end - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], g.block[(g.off+int64(n))%int64(len(g.block)):])
	}
	g.off += int64(n)
	return n, nil
}

// genDigest hashes the generated blob of the given size by streaming it.
func genDigest(b *testing.B, size int64) digest.Digest {
	b.Helper()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, newGen(0, size), buf); err != nil {
		b.Fatal(err)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// benchServer is a registry with a client tuned not to be the bottleneck: enough
// idle connections for parallel benchmarks (so that none is re-dialled), no gzip.
type benchServer struct {
	*registrytest.Server
	client *http.Client
	// authz is the Authorization header sent with every request ("" without auth).
	authz string
}

// benchRepos are the repositories the benchmarks' token grants pull and push on.
var benchRepos = []string{"bench/push", "bench/pull", "bench/manifest", "bench/tags"}

func newBenchServer(b *testing.B, opts ...registrytest.Option) *benchServer {
	b.Helper()
	s := &benchServer{Server: registrytest.New(b, opts...), client: newBenchClient(b)}
	if s.Tokens != nil {
		s.login(b)
	}
	return s
}

func newBenchClient(b *testing.B) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		DisableCompression:  true,
		// Larger than the 4 KiB defaults: fewer, larger socket writes and reads on
		// the client side, which shares the CPUs with the server.
		WriteBufferSize: 64 << 10,
		ReadBufferSize:  64 << 10,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// login answers the registry's challenge once: it gets an access token for
// benchRepos from the realm the 401 names, and keeps it for every request.
func (s *benchServer) login(b *testing.B) {
	b.Helper()
	resp, err := s.client.Get(s.URL + "/v2/")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	params := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer "), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			params[k] = strings.Trim(v, `"`)
		}
	}
	if resp.StatusCode != http.StatusUnauthorized || params["realm"] == "" {
		b.Fatalf("GET /v2/: status %d, challenge %q; want 401 and a realm", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	q := url.Values{"service": {params["service"]}}
	for _, r := range benchRepos {
		q.Add("scope", "repository:"+r+":pull,push")
	}
	resp, err = s.client.Get(params["realm"] + "?" + q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || tok.Token == "" {
		b.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	s.authz = "Bearer " + tok.Token
}

// newRequest builds a request to u (absolute, or a path on the server) carrying
// the token.
func (s *benchServer) newRequest(b *testing.B, method, u string, body io.Reader) *http.Request {
	b.Helper()
	if strings.HasPrefix(u, "/") {
		u = s.URL + u
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.Fatal(err)
	}
	if s.authz != "" {
		req.Header.Set("Authorization", s.authz)
	}
	return req
}

// do sends a request and checks its status; the body is drained and closed.
func (s *benchServer) do(b *testing.B, method, u string, hdr http.Header, body io.Reader, size int64, want int) *http.Response {
	b.Helper()
	req := s.newRequest(b, method, u, body)
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: status %d, want %d", method, req.URL, resp.StatusCode, want)
	}
	return resp
}

// blobPath is where the fs store keeps a committed blob.
func (s *benchServer) blobPath(d digest.Digest) string {
	return filepath.Join(s.Dir, "blobs", "blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded())
}

var octetStream = http.Header{"Content-Type": {"application/octet-stream"}}

// pushMonolithic uploads a blob in one POST ?digest= request.
func (s *benchServer) pushMonolithic(b *testing.B, repo string, d digest.Digest, size int64) {
	s.do(b, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+url.QueryEscape(string(d)),
		octetStream, newGen(0, size), size, http.StatusCreated)
}

// pushChunked uploads a blob as POST, one PATCH per benchChunkSize with
// Content-Range, and a PUT ?digest= without body.
func (s *benchServer) pushChunked(b *testing.B, repo string, d digest.Digest, size int64) {
	loc := s.do(b, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, 0, http.StatusAccepted).Header.Get("Location")
	for off := int64(0); off < size; off += benchChunkSize {
		end := min(off+benchChunkSize, size)
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", off, end-1)},
		}
		loc = s.do(b, http.MethodPatch, loc, hdr, newGen(off, end), end-off, http.StatusAccepted).Header.Get("Location")
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	s.do(b, http.MethodPut, loc+sep+"digest="+url.QueryEscape(string(d)), nil, bytes.NewReader(nil), 0, http.StatusCreated)
}

// heapPeak samples the heap (live objects and garbage not yet swept) while a
// benchmark runs and reports its highest point above the level measured after a GC
// just before (the warm-up request included). Allocations accumulate between
// collections, so a 1 ms sampling period misses at most 1 ms worth of them. The
// peak is therefore bounded by the GC's heap goal (4 MiB at least), not by what a
// request keeps alive; what matters is that it does not follow the blob size.
type heapPeak struct {
	stop       chan struct{}
	done       chan struct{}
	base, peak uint64
}

func startHeapPeak() *heapPeak {
	// One sample slice for the whole run, so that the sampler itself allocates
	// nothing that would show in B/op.
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{}), done: make(chan struct{}), base: read()}
	h.peak = h.base
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.peak = max(h.peak, read())
			}
		}
	}()
	return h
}

func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	<-h.done
	b.ReportMetric(float64(h.peak-h.base), "peak-heap-B")
}

// BenchmarkBlobPush pushes a fresh blob per iteration, monolithically (POST
// ?digest=) and in 4 MiB chunks (POST, PATCH..., PUT). The committed blob file is
// removed outside the timer after each push, so that every push writes, syncs and
// renames it instead of being deduplicated.
func BenchmarkBlobPush(b *testing.B) {
	for _, mode := range []string{"monolithic", "chunked"} {
		for _, sz := range benchBlobSizes {
			b.Run(mode+"/"+sz.name, func(b *testing.B) {
				s := newBenchServer(b)
				d := genDigest(b, sz.size)
				push := s.pushMonolithic
				if mode == "chunked" {
					push = s.pushChunked
				}
				// The heap baseline is taken first, so that its GC does not evict the
				// store's pooled copy buffer after the warm-up refilled it.
				hp := startHeapPeak()
				push(b, "bench/push", d, sz.size) // warm up: repository, connections, buffers
				if err := os.Remove(s.blobPath(d)); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(sz.size)
				b.ReportAllocs()
				for b.Loop() {
					push(b, "bench/push", d, sz.size)
					b.StopTimer()
					if err := os.Remove(s.blobPath(d)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				hp.report(b)
			})
		}
	}
}

// BenchmarkBlobPull GETs a blob (from the page cache, since it was just written)
// and discards it through a 1 MiB buffer.
func BenchmarkBlobPull(b *testing.B) {
	for _, sz := range benchBlobSizes {
		b.Run(sz.name, func(b *testing.B) {
			s := newBenchServer(b)
			d := genDigest(b, sz.size)
			s.pushMonolithic(b, "bench/pull", d, sz.size)
			u := "/v2/bench/pull/blobs/" + string(d)
			buf := make([]byte, benchCopyBuf)
			pull := func() {
				resp, err := s.client.Do(s.newRequest(b, http.MethodGet, u, nil))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(writerOnly{io.Discard}, readerOnly{resp.Body}, buf)
				resp.Body.Close()
				if err != nil || n != sz.size || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET: status %d, %d bytes, %v; want 200, %d bytes", resp.StatusCode, n, err, sz.size)
				}
			}
			hp := startHeapPeak()
			// Check the content once, outside the timer.
			resp, err := s.client.Do(s.newRequest(b, http.MethodGet, u, nil))
			if err != nil {
				b.Fatal(err)
			}
			got, err := digest.SHA256.FromReader(resp.Body)
			resp.Body.Close()
			if err != nil || got != d {
				b.Fatalf("pulled %s (%v), want %s", got, err, d)
			}
			b.SetBytes(sz.size)
			b.ReportAllocs()
			for b.Loop() {
				pull()
			}
			hp.report(b)
		})
	}
}

// readerOnly and writerOnly hide ReadFrom/WriteTo so that the copy goes through
// the given buffer.
type readerOnly struct{ io.Reader }

type writerOnly struct{ io.Writer }

// pushImage pushes a small image (config and one 1 KiB layer) and returns its
// manifest, tagged with tags (at most ~100 per request).
func (s *benchServer) pushImage(b *testing.B, repo string, tags ...string) []byte {
	b.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := bytes.Repeat([]byte("acre"), 256)
	var descs []ocispec.Descriptor
	for _, c := range []struct {
		mt   string
		data []byte
	}{{ocispec.MediaTypeImageConfig, config}, {ocispec.MediaTypeImageLayer, layer}} {
		d := digest.FromBytes(c.data)
		s.do(b, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+string(d), octetStream,
			bytes.NewReader(c.data), int64(len(c.data)), http.StatusCreated)
		descs = append(descs, ocispec.Descriptor{MediaType: c.mt, Digest: d, Size: int64(len(c.data))})
	}
	m, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descs[0],
		Layers:    descs[1:],
	})
	if err != nil {
		b.Fatal(err)
	}
	md := digest.FromBytes(m)
	hdr := http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}
	for len(tags) > 0 {
		batch := tags[:min(len(tags), 100)]
		tags = tags[len(batch):]
		q := url.Values{"tag": batch}
		s.do(b, http.MethodPut, "/v2/"+repo+"/manifests/"+string(md)+"?"+q.Encode(), hdr,
			bytes.NewReader(m), int64(len(m)), http.StatusCreated)
	}
	return m
}

const manifestAccept = ocispec.MediaTypeImageManifest + ", " + ocispec.MediaTypeImageIndex

// getOnce GETs or HEADs u and checks the status and the body length. It may run
// in parallel (b.Fatal may not), so it returns what went wrong.
func (s *benchServer) getOnce(method, u, accept string, wantLen int) error {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return err
	}
	if s.authz != "" {
		req.Header.Set("Authorization", s.authz)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || wantLen >= 0 && n != int64(wantLen) {
		return fmt.Errorf("%s %s: status %d, %d bytes; want 200, %d bytes", method, u, resp.StatusCode, n, wantLen)
	}
	return nil
}

// BenchmarkManifestGet GETs an image manifest by tag, one client at a time and
// with GOMAXPROCS concurrent clients; serial-noauth is serial on a server without
// the token service, to show what verifying the token costs.
func BenchmarkManifestGet(b *testing.B) {
	s := newBenchServer(b)
	m := s.pushImage(b, "bench/manifest", "latest")
	u := s.URL + "/v2/bench/manifest/manifests/latest"
	serial := func(s *benchServer, u string) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.getOnce(http.MethodGet, u, manifestAccept, len(m)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("serial", serial(s, u))
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.getOnce(http.MethodGet, u, manifestAccept, len(m)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	open := newBenchServer(b, registrytest.WithoutAuth())
	open.pushImage(b, "bench/manifest", "latest")
	b.Run("serial-noauth", serial(open, open.URL+"/v2/bench/manifest/manifests/latest"))
}

// BenchmarkManifestHead HEADs an image manifest by tag.
func BenchmarkManifestHead(b *testing.B) {
	s := newBenchServer(b)
	s.pushImage(b, "bench/manifest", "latest")
	u := s.URL + "/v2/bench/manifest/manifests/latest"
	b.ReportAllocs()
	for b.Loop() {
		if err := s.getOnce(http.MethodHead, u, manifestAccept, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTagList lists the tags of a repository holding 1,000: the first page of
// 100, and the whole list in one response (the default page size is 1,000).
func BenchmarkTagList(b *testing.B) {
	s := newBenchServer(b)
	tags := make([]string, 1000)
	for i := range tags {
		tags[i] = "v" + strconv.Itoa(10000+i)
	}
	s.pushImage(b, "bench/tags", tags...)
	for _, c := range []struct {
		name  string
		query string
		want  int
	}{{"n=100", "?n=100", 100}, {"all", "", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			u := s.URL + "/v2/bench/tags/tags/list" + c.query
			resp, err := s.client.Do(s.newRequest(b, http.MethodGet, u, nil))
			if err != nil {
				b.Fatal(err)
			}
			var list struct{ Tags []string }
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if err != nil || len(list.Tags) != c.want {
				b.Fatalf("GET %s: %d tags (%v), want %d", u, len(list.Tags), err, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.getOnce(http.MethodGet, u, "", -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSHA256 is the ceiling of one push: the server hashes every byte it
// receives on one core, whatever else it does.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	copy(buf, benchBlock())
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		h.Write(buf)
	}
}

// BenchmarkLoopbackHTTP moves 256 MiB through net/http on loopback with handlers
// that do nothing else (discard the body; stream the generator): the transport's
// own cost, which every push and pull pays before acre does anything.
func BenchmarkLoopbackHTTP(b *testing.B) {
	const size = 256 << 20
	client := newBenchClient(b)
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		_, _ = io.CopyBuffer(writerOnly{io.Discard}, readerOnly{r.Body}, buf)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		buf := make([]byte, 1<<20)
		_, _ = io.CopyBuffer(writerOnly{w}, readerOnly{newGen(0, size)}, buf)
	})
	ts := httptest.NewServer(mux)
	b.Cleanup(ts.Close)
	hs := ts.URL
	b.Run("push", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequest(http.MethodPut, hs+"/x", newGen(0, size))
			if err != nil {
				b.Fatal(err)
			}
			req.ContentLength = size
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("PUT: status %d", resp.StatusCode)
			}
		}
	})
	b.Run("pull", func(b *testing.B) {
		buf := make([]byte, benchCopyBuf)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Get(hs + "/x")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(writerOnly{io.Discard}, readerOnly{resp.Body}, buf)
			resp.Body.Close()
			if err != nil || n != size {
				b.Fatalf("GET: %d bytes, %v", n, err)
			}
		}
	})
}
