package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/storetest"
)

// testGens hands out write generations: one counter for every upload of the tests
// gives each upload increasing generations, which is all WriteUpload asks.
var testGens atomic.Int64

// nextGen returns a generation above every one handed out before.
func nextGen() int64 { return testGens.Add(1) }

// newTestStore returns a store on the bucket of opts under prefix.
func newTestStore(t testing.TB, opts Options, prefix string, pieceSize int) *Store {
	t.Helper()
	opts.Prefix = prefix
	opts.PieceSize = pieceSize
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBlobStore(t *testing.T) {
	opts := testBucket(t)
	storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore {
		s := newTestStore(t, opts, randomHex(6)+"/", 0)
		t.Cleanup(func() { checkNoLeftovers(t, s) })
		return s
	})
}

// TestBlobStoreSmallPieces runs the suite with the smallest piece size S3 allows, so
// that the suite's large blob spans several pieces and commits take the multipart
// path with both server-side copies and re-sent parts.
func TestBlobStoreSmallPieces(t *testing.T) {
	opts := testBucket(t)
	storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore {
		return newTestStore(t, opts, randomHex(6)+"/", minPartSize)
	})
}

// checkNoLeftovers fails t if anything under uploads/ is not part of an open
// upload's content: pieces of committed or deleted uploads, pieces that a write
// replaced, intermediates, or incomplete multipart uploads.
func checkNoLeftovers(t *testing.T, s *Store) {
	t.Helper()
	dir := s.prefix + "uploads/"
	live := map[string]bool{}
	keys := listKeys(t, s, dir)
	for _, k := range keys {
		id, rest, _ := strings.Cut(strings.TrimPrefix(k, dir), "/")
		if rest != manifestName {
			continue
		}
		live[k] = true
		m, err := s.readManifest(context.Background(), id)
		if err != nil {
			t.Errorf("upload %s: %v", id, err)
			continue
		}
		for _, e := range m.Pieces {
			live[m.dir+e.Name] = true
		}
	}
	for _, k := range keys {
		if !live[k] {
			t.Errorf("left behind: %s", k)
		}
	}
	if mus := multipartUploads(t, s); len(mus) > 0 {
		t.Errorf("%d multipart uploads left behind", len(mus))
	}
}

// TestReplicas drives one upload through three stores, as three server replicas
// would: each PATCH lands on another replica, and the commit on a third.
func TestReplicas(t *testing.T) {
	ctx := t.Context()
	opts := testBucket(t)
	replicas := []*Store{
		newTestStore(t, opts, "shared/", 0),
		newTestStore(t, opts, "shared/", 0),
		newTestStore(t, opts, "shared/", 0),
	}
	content := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	const id = "replicated-1"
	if err := replicas[0].CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, chunk := range [][]byte{content[:2500], content[2500:2501], content[2501:9000], content[9000:]} {
		n, err := replicas[i%2].WriteUpload(ctx, id, off, nextGen(), bytes.NewReader(chunk))
		if err != nil || n != int64(len(chunk)) {
			t.Fatalf("chunk %d: n=%d err=%v", i, n, err)
		}
		off += n
	}
	// A retry of the last chunk on the other replica replaces it.
	if n, err := replicas[0].WriteUpload(ctx, id, 9000, nextGen(), bytes.NewReader(content[9000:])); err != nil || n != int64(len(content)-9000) {
		t.Fatalf("retried chunk: n=%d err=%v", n, err)
	}
	dgst := digest.FromBytes(content)
	if err := replicas[2].CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		checkBlob(t, r, dgst, content)
	}
	checkNoLeftovers(t, replicas[0])
}

// TestChunkSizes commits uploads made of many kinds of PATCH sizes, so that commits
// mix server-side part copies, re-sent parts gathered from small pieces, and parts
// that start in the middle of a piece, and checks every byte.
func TestChunkSizes(t *testing.T) {
	opts := testBucket(t)
	const mib = 1 << 20
	tests := []struct {
		name   string
		chunks []int
	}{
		{"one small", []int{100}},
		{"one whole piece", []int{minPartSize}},
		{"one large write", []int{3*minPartSize + 17}},
		{"small chunks", []int{mib, mib, mib, mib, mib, mib, mib, 3}},
		{"small then large", []int{2 * mib, 7 * mib, 1}},
		{"large then small", []int{6 * mib, 2 * mib, 2 * mib, 2 * mib}},
		{"mixed", []int{1, 5 * mib, 3 * mib, 5*mib + 1, 10, 6 * mib}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := newTestStore(t, opts, fmt.Sprintf("chunks-%d/", i), minPartSize)
			var total int
			for _, c := range tt.chunks {
				total += c
			}
			content := make([]byte, total)
			if _, err := io.ReadFull(newPattern(int64(total)), content); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("chunks-%d", i)
			if err := s.CreateUpload(ctx, id); err != nil {
				t.Fatal(err)
			}
			var off int
			for _, c := range tt.chunks {
				if n, err := s.WriteUpload(ctx, id, int64(off), nextGen(), bytes.NewReader(content[off:off+c])); err != nil || n != int64(c) {
					t.Fatalf("WriteUpload %d bytes at %d: n=%d err=%v", c, off, n, err)
				}
				off += c
			}
			dgst := digest.FromBytes(content)
			if err := s.CommitUpload(ctx, id, int64(total), dgst); err != nil {
				t.Fatal(err)
			}
			checkBlob(t, s, dgst, content)
			checkNoLeftovers(t, s)
		})
	}
}

// TestTruncateLargePiece rewrites an upload in the middle of pieces that are large
// enough to be shortened server-side, and of one that must be re-sent.
func TestTruncateLargePiece(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testBucket(t), "", 8<<20)
	const id = "truncate-1"
	content := make([]byte, 20<<20)
	if _, err := io.ReadFull(newPattern(int64(len(content))), content); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	write := func(off int, p []byte) {
		t.Helper()
		if n, err := s.WriteUpload(ctx, id, int64(off), nextGen(), bytes.NewReader(p)); err != nil || n != int64(len(p)) {
			t.Fatalf("WriteUpload %d bytes at %d: n=%d err=%v", len(p), off, n, err)
		}
	}
	// Pieces at 0 (8 MiB), 8 MiB (8 MiB), 16 MiB (4 MiB).
	write(0, content)
	// Cut the second piece at 6 MiB in: a server-side shortening.
	cut := 14 << 20
	junk := bytes.Repeat([]byte{0xEE}, 100)
	write(cut, junk)
	checkUpload(t, s, id, append(slices.Clip(content[:cut]), junk...))
	// Cut the first piece at 3 MiB in: re-sent through the buffer.
	cut = 3 << 20
	write(cut, content[cut:])
	checkUpload(t, s, id, content)
	dgst := digest.FromBytes(content)
	if err := s.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, s, dgst, content)
	checkNoLeftovers(t, s)
}

// TestTwoLevelCommit lowers the part limit so that a commit needs intermediate
// objects, as one of more than 10,000 parts would on S3.
func TestTwoLevelCommit(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testBucket(t), "two-level/", minPartSize)
	s.maxParts = 5
	const id = "two-level-1"
	content := make([]byte, 5*minPartSize+(1<<20)+3)
	if _, err := io.ReadFull(newPattern(int64(len(content))), content); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Two writes, so that the small piece in the middle forces a re-sent part.
	mid := 2*minPartSize + 12345
	for _, r := range [][2]int{{0, mid}, {mid, len(content)}} {
		if n, err := s.WriteUpload(ctx, id, int64(r[0]), nextGen(), bytes.NewReader(content[r[0]:r[1]])); err != nil || n != int64(r[1]-r[0]) {
			t.Fatalf("WriteUpload: n=%d err=%v", n, err)
		}
	}
	m := mustManifest(t, s, id)
	if n := len(plan(m.prefix(m.size()), int64(s.pieceSize))); n <= s.maxParts {
		t.Fatalf("the test needs more than %d parts, plan has %d", s.maxParts, n)
	}
	dgst := digest.FromBytes(content)
	if err := s.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, s, dgst, content)
	checkNoLeftovers(t, s)
}

// TestUnreferencedPieces puts pieces that a crashed write would leave (stored, but
// not in the manifest) and checks that reads ignore them and that removing the
// upload removes them.
func TestUnreferencedPieces(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testBucket(t), "", 0)
	const id = "unreferenced-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	for off, p := range map[int64]string{0: "CRASHED-REWRITE", 10: "CRASHED-APPEND"} {
		key := fmt.Sprintf("%sdata/%0*d-%s", s.uploadDir(id), offsetDigits, off, newNonce())
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: strings.NewReader(p)}); err != nil {
			t.Fatal(err)
		}
	}
	checkUpload(t, s, id, []byte("0123456789"))
	if _, err := s.OpenUpload(ctx, id, 11); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("OpenUpload beyond the content: got %v, want ErrConflict", err)
	}
	if _, err := s.WriteUpload(ctx, id, 11, nextGen(), strings.NewReader("x")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("WriteUpload beyond the content: got %v, want ErrConflict", err)
	}
	if _, err := s.WriteUpload(ctx, id, 10, nextGen(), strings.NewReader("abcdefghijklmnopqrstuvwxyz")); err != nil {
		t.Fatal(err)
	}
	want := "0123456789abcdefghijklmnopqrstuvwxyz"
	checkUpload(t, s, id, []byte(want))
	dgst := digest.FromString(want)
	if err := s.CommitUpload(ctx, id, int64(len(want)), dgst); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, s, dgst, []byte(want))
	checkNoLeftovers(t, s)
}

// TestConcurrentWriteLoses checks that a write based on a stale view of the upload
// (another replica wrote meanwhile) fails with ErrConflict instead of undoing the
// other write, and leaves nothing behind.
func TestConcurrentWriteLoses(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testBucket(t), "", 0)
	const id = "race-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The reader runs while WriteUpload holds the manifest it read: it lets another
	// write through before handing out its bytes.
	other := false
	r := readerFunc(func(p []byte) (int, error) {
		if !other {
			other = true
			if _, err := s.WriteUpload(ctx, id, 0, nextGen(), strings.NewReader("other")); err != nil {
				t.Errorf("interleaved write: %v", err)
			}
			return copy(p, "mine"), io.EOF
		}
		return 0, io.EOF
	})
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale write: got %v, want ErrConflict", err)
	}
	checkUpload(t, s, id, []byte("other"))
	checkNoLeftovers(t, s)
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func mustManifest(t *testing.T, s *Store, id string) *manifest {
	t.Helper()
	m, err := s.readManifest(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCreateUploadTwice checks that a second upload of the same id is refused.
func TestCreateUploadTwice(t *testing.T) {
	s := newTestStore(t, testBucket(t), "", 0)
	if err := s.CreateUpload(t.Context(), "twice"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(t.Context(), "twice"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateUpload: got %v, want ErrConflict", err)
	}
}

func TestSignedURL(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testBucket(t), "signed/", 0)
	content := []byte("signed content")
	dgst := digest.FromBytes(content)
	if err := s.CreateUpload(ctx, "signed-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, "signed-1", 0, nextGen(), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitUpload(ctx, "signed-1", int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(ctx, dgst, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("GET signed URL: %s %q", resp.Status, got)
	}
	// The signature covers reading that object only.
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Fatalf("DELETE through a signed GET URL: %s", resp.Status)
	}
	if _, err := s.Stat(ctx, dgst); err != nil {
		t.Fatalf("blob gone after a refused DELETE: %v", err)
	}
	if _, err := s.SignedURL(ctx, dgst, 8*24*time.Hour); err == nil {
		t.Fatal("SignedURL accepted a ttl beyond S3's seven days")
	}
}

// TestMemoryBounded streams a 64 MiB blob through WriteUpload, OpenUpload,
// CommitUpload and Open, once in one write and once in 1 MiB chunks (whose commit
// re-sends every byte), and checks that the heap never grows by more than a few
// pieces: the data is streamed, never held whole.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB through the service")
	}
	opts := testBucket(t)
	const size = 64 << 20
	d := digest.Canonical.Digester()
	if _, err := io.Copy(d.Hash(), newPattern(size)); err != nil {
		t.Fatal(err)
	}
	dgst := d.Digest()
	for _, chunk := range []int64{size, 1 << 20} {
		t.Run(fmt.Sprintf("chunk=%dMiB", chunk>>20), func(t *testing.T) {
			ctx := t.Context()
			s := newTestStore(t, opts, fmt.Sprintf("mem-%d/", chunk), 0)
			const id = "mem-1"
			peak := watchHeap(t)
			if err := s.CreateUpload(ctx, id); err != nil {
				t.Fatal(err)
			}
			src := newPattern(size)
			for off := int64(0); off < size; off += chunk {
				if n, err := s.WriteUpload(ctx, id, off, nextGen(), io.LimitReader(src, chunk)); err != nil || n != chunk {
					t.Fatalf("WriteUpload at %d: n=%d err=%v", off, n, err)
				}
			}
			rc, err := s.OpenUpload(ctx, id, size)
			if err != nil {
				t.Fatal(err)
			}
			checkDigest(t, rc, dgst)
			if err := s.CommitUpload(ctx, id, size, dgst); err != nil {
				t.Fatal(err)
			}
			rc, err = s.Open(ctx, dgst, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkDigest(t, rc, dgst)
			grown := peak()
			t.Logf("heap grew by at most %d MiB for a %d MiB blob", grown>>20, size>>20)
			// One piece buffer, plus what the SDK and HTTP keep in flight; a whole
			// blob in memory would be 64 MiB.
			if limit := uint64(3*DefaultPieceSize + 8<<20); grown > limit {
				t.Fatalf("heap grew by %d MiB, want at most %d MiB", grown>>20, limit>>20)
			}
		})
	}
}

func checkBlob(t *testing.T, s *Store, dgst digest.Digest, want []byte) {
	t.Helper()
	rc, err := s.Open(t.Context(), dgst, 0)
	if err != nil {
		t.Fatalf("Open %s: %v", dgst, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read %s: %v", dgst, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s: %d bytes differ from the %d expected", dgst, len(got), len(want))
	}
	if size, err := s.Stat(t.Context(), dgst); err != nil || size != int64(len(want)) {
		t.Fatalf("Stat %s: %d, %v; want %d", dgst, size, err, len(want))
	}
}

func checkUpload(t *testing.T, s *Store, id string, want []byte) {
	t.Helper()
	rc, err := s.OpenUpload(t.Context(), id, int64(len(want)))
	if err != nil {
		t.Fatalf("OpenUpload %s: %v", id, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read upload %s: %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("upload %s: %d bytes differ from the %d expected", id, len(got), len(want))
	}
}

func checkDigest(t *testing.T, rc io.ReadCloser, want digest.Digest) {
	t.Helper()
	defer rc.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		t.Fatal(err)
	}
	if !v.Verified() {
		t.Fatalf("content does not match %s", want)
	}
}

// watchHeap samples the heap until the returned function is called, which returns
// how far the heap grew above its level at the start.
func watchHeap(t *testing.T) func() uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once bool
	finish := func() uint64 {
		if !once {
			once = true
			close(stop)
			<-done
		}
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}

// pattern is a reader of n deterministic bytes that holds nothing in memory.
type pattern struct {
	pos, n int64
}

func newPattern(n int64) *pattern { return &pattern{n: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.pos >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.pos {
		b = b[:p.n-p.pos]
	}
	for i := range b {
		x := uint64(p.pos + int64(i))
		b[i] = byte(x ^ x>>8 ^ x>>16 ^ x>>24 ^ x>>32)
	}
	p.pos += int64(len(b))
	return len(b), nil
}

// TestPlan checks the part plans without a service: every part but the last is at
// least 5 MiB, copies are at most 5 GiB, and the parts cover the segments in order.
func TestPlan(t *testing.T) {
	const mib = 1 << 20
	seg := func(name string, size int64) piece { return piece{key: name, size: size, objSize: size} }
	tests := []struct {
		name  string
		segs  []piece
		parts int
	}{
		{"one small", []piece{seg("a", 10)}, 1},
		{"one large", []piece{seg("a", 8*mib)}, 1},
		{"small ones", []piece{seg("a", mib), seg("b", mib), seg("c", 3*mib), seg("d", 4*mib)}, 2},
		{"huge", []piece{seg("a", 12<<30)}, 3},
		{"small then large", []piece{seg("a", mib), seg("b", 20*mib)}, 2},
	}
	for _, tt := range tests {
		parts := plan(tt.segs, 8*mib)
		if len(parts) != tt.parts {
			t.Errorf("%s: %d parts, want %d", tt.name, len(parts), tt.parts)
		}
		// Flatten both sides to (key, offset) byte runs and compare.
		type run struct {
			key       string
			off, size int64
		}
		var want, got []run
		for _, sg := range tt.segs {
			want = append(want, run{sg.key, 0, sg.size})
		}
		add := func(sp span) {
			if n := len(got); n > 0 && got[n-1].key == sp.key && got[n-1].off+got[n-1].size == sp.off {
				got[n-1].size += sp.size
				return
			}
			got = append(got, run{sp.key, sp.off, sp.size})
		}
		for i, p := range parts {
			if i < len(parts)-1 && p.size < minPartSize {
				t.Errorf("%s: part %d of %d has %d bytes", tt.name, i, len(parts), p.size)
			}
			var sum int64
			if p.copy != nil {
				if p.copy.size > maxCopyPartSize {
					t.Errorf("%s: part %d copies %d bytes", tt.name, i, p.copy.size)
				}
				add(*p.copy)
				sum = p.copy.size
			}
			for _, r := range p.read {
				add(r)
				sum += r.size
			}
			if sum != p.size {
				t.Errorf("%s: part %d size %d, ranges sum to %d", tt.name, i, p.size, sum)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: parts cover %v, want %v", tt.name, got, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Options
		err  bool
	}{
		{in: "s3://acre", want: Options{Bucket: "acre"}},
		{in: "s3://acre/reg/one/?region=eu-west-1", want: Options{Bucket: "acre", Prefix: "reg/one/", Region: "eu-west-1"}},
		{in: "s3://acre?endpoint=http://127.0.0.1:9000", want: Options{Bucket: "acre", Endpoint: "http://127.0.0.1:9000", PathStyle: true}},
		{in: "s3://acre?endpoint=https://s3.example.com&path_style=false", want: Options{Bucket: "acre", Endpoint: "https://s3.example.com"}},
		{in: "s3://acre?path_style=maybe", err: true},
		{in: "s3://acre?bogus=1", err: true},
		{in: "s3://key:secret@acre", err: true},
		{in: "s3://Bad_Bucket", err: true},
		{in: "azblob://acre", err: true},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseURL(%q): err=%v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	creds := StaticCredentials("a", "b", "")
	for name, opts := range map[string]Options{
		"no credentials":   {Bucket: "acre"},
		"bad bucket":       {Bucket: "A", Credentials: creds},
		"small pieces":     {Bucket: "acre", Credentials: creds, PieceSize: 1 << 20},
		"huge pieces":      {Bucket: "acre", Credentials: creds, PieceSize: 1 << 30},
		"invalid endpoint": {Bucket: "acre", Credentials: creds, Endpoint: "127.0.0.1:9000"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
