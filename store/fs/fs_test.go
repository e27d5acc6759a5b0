package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/storetest"
)

// testGens hands out write generations: one counter for every upload of the tests
// gives each upload increasing generations, which is all WriteUpload asks.
var testGens atomic.Int64

// nextGen returns a generation above every one handed out before.
func nextGen() int64 { return testGens.Add(1) }

func TestBlobStore(t *testing.T) {
	storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore {
		return newStore(t, t.TempDir())
	})
}

func newStore(tb testing.TB, root string) *Store {
	tb.Helper()
	s, err := New(root)
	if err != nil {
		tb.Fatalf("New(%q): %v", root, err)
	}
	return s
}

// put stores content as a blob and returns its digest.
func put(tb testing.TB, s *Store, id string, content []byte) digest.Digest {
	tb.Helper()
	ctx := context.Background()
	if err := s.CreateUpload(ctx, id); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader(content)); err != nil {
		tb.Fatal(err)
	}
	dgst := digest.FromBytes(content)
	if err := s.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		tb.Fatal(err)
	}
	return dgst
}

// files lists the regular files under root, relative to it, in slash form.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestLayout(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	for _, dir := range []string{"blobs/sha256", "blobs/sha512", "uploads"} {
		if fi, err := os.Stat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory (%v)", dir, err)
		}
	}
	dgst := put(t, s, "layout-1", []byte("layout"))
	hex := dgst.Encoded()
	want := []string{"blobs/sha256/" + hex[:2] + "/" + hex}
	if got := files(t, root); !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}

	// A file in the way of the layout is reported, not silently used.
	bad := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(bad, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(bad); err == nil {
		t.Errorf("New on a regular file: got nil error")
	}
	if _, err := New(""); err == nil {
		t.Errorf("New with an empty root: got nil error")
	}
}

func TestInvalidNamesRejected(t *testing.T) {
	// root is a subdirectory, so that anything escaping it shows up in parent.
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	s := newStore(t, root)
	ctx := t.Context()

	const validID = "valid-upload"
	if err := s.CreateUpload(ctx, validID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, validID, 0, nextGen(), strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	hex64 := strings.Repeat("ab", 32)
	digests := []digest.Digest{
		"",
		"sha256",
		"sha256:",
		":" + digest.Digest(hex64),
		"../x",
		"sha256:../../etc",
		"sha256:../../../../../../etc/passwd",
		"sha256:" + digest.Digest(hex64[:62]) + "/..",
		"sha256:" + digest.Digest(hex64) + "/x",
		"sha256:" + digest.Digest(hex64[:63]),
		"sha256:" + digest.Digest(hex64) + "a",
		"sha256:" + digest.Digest(strings.ToUpper(hex64)),
		"SHA256:" + digest.Digest(hex64),
		"sha512:" + digest.Digest(hex64), // sha256 length under sha512
		"sha384:" + digest.Digest(strings.Repeat("ab", 48)),
		"md5:" + digest.Digest(strings.Repeat("ab", 16)),
		"../sha256:" + digest.Digest(hex64),
	}
	for _, d := range digests {
		t.Run(fmt.Sprintf("digest=%q", d), func(t *testing.T) {
			if _, err := s.Stat(ctx, d); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat: got %v, want an invalid digest error", err)
			}
			if rc, err := s.Open(ctx, d, 0); err == nil || errors.Is(err, store.ErrNotFound) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Open: got %v, want an invalid digest error", err)
			}
			if err := s.Delete(ctx, d); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("Delete: got %v, want an invalid digest error", err)
			}
			if err := s.CommitUpload(ctx, validID, 4, d); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("CommitUpload: got %v, want an invalid digest error", err)
			}
			if err := s.CommitUpload(ctx, validID, 4, d); !errors.Is(err, digest.ErrDigestUnsupported) &&
				!errors.Is(err, digest.ErrDigestInvalidFormat) && !errors.Is(err, digest.ErrDigestInvalidLength) {
				t.Errorf("CommitUpload: %v does not wrap a go-digest error", err)
			}
		})
	}

	ids := []string{
		"", ".", "..", "../x", "../../etc/passwd", "a/b", `a\b`, "/abs", "a.b", "a_b", "a b",
		"a\x00b", "é", strings.Repeat("a", 129),
	}
	for _, id := range ids {
		t.Run(fmt.Sprintf("id=%q", id), func(t *testing.T) {
			if err := s.CreateUpload(ctx, id); err == nil {
				t.Errorf("CreateUpload: got nil error")
			}
			if _, err := s.WriteUpload(ctx, id, 0, nextGen(), strings.NewReader("x")); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("WriteUpload: got %v, want an invalid id error", err)
			}
			if rc, err := s.OpenUpload(ctx, id, 0); err == nil || errors.Is(err, store.ErrNotFound) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("OpenUpload: got %v, want an invalid id error", err)
			}
			if err := s.CommitUpload(ctx, id, 0, digest.FromBytes(nil)); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("CommitUpload: got %v, want an invalid id error", err)
			}
			if err := s.DeleteUpload(ctx, id); err == nil {
				t.Errorf("DeleteUpload: got nil error")
			}
		})
	}

	// The longest valid id works.
	long := strings.Repeat("a-Z9", 32)
	if err := s.CreateUpload(ctx, long); err != nil {
		t.Errorf("CreateUpload with a %d-character id: %v", len(long), err)
	}
	if err := s.DeleteUpload(ctx, long); err != nil {
		t.Error(err)
	}

	// Nothing was created or removed outside the store, nor inside it.
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "root" {
		t.Errorf("parent of root holds %v, want only root", entries)
	}
	if got, want := files(t, root), []string{"uploads/" + validID, "uploads/" + validID + genSuffix}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestResumeAfterRestart(t *testing.T) {
	root := t.TempDir()
	ctx := t.Context()
	content := []byte("the first half|and the second half")
	const half = 15
	const id = "restart-1"

	s1 := newStore(t, root)
	if err := s1.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// A partial write that the client never saw acknowledged: it is discarded.
	if _, err := s1.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader(content[:half])); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.WriteUpload(ctx, id, half, nextGen(), strings.NewReader("garbage")); err != nil {
		t.Fatal(err)
	}

	s2 := newStore(t, root) // the process restarted
	if _, err := s2.WriteUpload(ctx, id, half, nextGen(), bytes.NewReader(content[half:])); err != nil {
		t.Fatalf("WriteUpload after restart: %v", err)
	}
	dgst := digest.FromBytes(content)
	if err := s2.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	rc, err := s1.Open(ctx, dgst, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("content = %q, want %q", got, content)
	}
}

func TestNoTempFilesAfterCommit(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	var want []string
	for i, content := range []string{"one", "two", "one", ""} {
		dgst := put(t, s, fmt.Sprintf("upload-%d", i), []byte(content))
		hex := dgst.Encoded()
		want = append(want, "blobs/sha256/"+hex[:2]+"/"+hex)
	}
	// A discarded upload leaves nothing either.
	if err := s.CreateUpload(ctx, "discarded"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, "discarded", 0, nextGen(), strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUpload(ctx, "discarded"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := files(t, root); !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestSizeAndOffsetErrors(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := t.Context()
	const id = "sizes-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(ctx, id); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUpload of an existing upload: got %v, want ErrConflict", err)
	}
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), strings.NewReader("four")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteUpload(ctx, id, 5, nextGen(), strings.NewReader("x")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload beyond the data: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	if _, err := s.WriteUpload(ctx, id, -1, nextGen(), strings.NewReader("x")); err == nil {
		t.Errorf("WriteUpload at a negative offset: got nil error")
	}
	if _, err := s.OpenUpload(ctx, id, 5); !errors.Is(err, store.ErrConflict) {
		t.Errorf("OpenUpload beyond the data: got %v, want ErrConflict", err)
	}
	dgst := digest.FromString("four")
	if err := s.CommitUpload(ctx, id, 5, dgst); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CommitUpload beyond the data: got %v, want ErrConflict", err)
	}
	if err := s.CommitUpload(ctx, id, -1, dgst); err == nil {
		t.Errorf("CommitUpload with a negative size: got nil error")
	}
	if err := s.CommitUpload(ctx, "missing", 0, dgst); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CommitUpload of a missing upload: got %v, want ErrNotFound", err)
	}
	if _, err := s.OpenUpload(ctx, "missing", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenUpload of a missing upload: got %v, want ErrNotFound", err)
	}
	// The failed calls left the upload intact.
	if err := s.CommitUpload(ctx, id, 4, dgst); err != nil {
		t.Fatal(err)
	}

	for _, off := range []int64{-1, 5} {
		if rc, err := s.Open(ctx, dgst, off); err == nil {
			rc.Close()
			t.Errorf("Open at %d of a 4-byte blob: got nil error", off)
		}
	}
	rc, err := s.Open(ctx, dgst, 4)
	if err != nil {
		t.Fatalf("Open at the end: %v", err)
	}
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File (for sendfile)", rc)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Errorf("reading at the end: %q, %v", b, err)
	}
	rc.Close()
}

func TestDamagedBlobReplaced(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	content := []byte("the real content")
	dgst := digest.FromBytes(content)
	hex := dgst.Encoded()
	path := filepath.Join(root, "blobs", "sha256", hex[:2], hex)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("truncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	put(t, s, "repair-1", content)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("blob = %q, want %q", got, content)
	}
}

func TestContextCancelled(t *testing.T) {
	s := newStore(t, t.TempDir())
	dgst := put(t, s, "ctx-1", []byte("content"))
	if err := s.CreateUpload(t.Context(), "ctx-2"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	checks := map[string]error{}
	_, checks["Stat"] = s.Stat(ctx, dgst)
	_, checks["Open"] = s.Open(ctx, dgst, 0)
	checks["Delete"] = s.Delete(ctx, dgst)
	checks["CreateUpload"] = s.CreateUpload(ctx, "ctx-3")
	_, checks["WriteUpload"] = s.WriteUpload(ctx, "ctx-2", 0, nextGen(), strings.NewReader("x"))
	_, checks["OpenUpload"] = s.OpenUpload(ctx, "ctx-2", 0)
	checks["CommitUpload"] = s.CommitUpload(ctx, "ctx-2", 0, digest.FromBytes(nil))
	checks["DeleteUpload"] = s.DeleteUpload(ctx, "ctx-2")
	for op, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", op, err)
		}
	}

	// Cancelled midway, a write stops and keeps what it wrote.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	r := &cancelAfter{r: bytes.NewReader(content), left: 2, cancel: cancel}
	n, err := s.WriteUpload(ctx, "ctx-2", 0, nextGen(), r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteUpload cancelled midway: got %v, want context.Canceled", err)
	}
	if n <= 0 || n >= int64(len(content)) {
		t.Fatalf("WriteUpload cancelled midway: n = %d, want between 0 and %d", n, len(content))
	}
	rc, err := s.OpenUpload(t.Context(), "ctx-2", n)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, content[:n]) {
		t.Errorf("upload after cancelled write: %d bytes, err %v; want the first %d bytes", len(got), err, n)
	}
}

// cancelAfter calls cancel after left reads.
type cancelAfter struct {
	r      io.Reader
	left   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	c.left--
	if c.left == 0 {
		c.cancel()
	}
	return c.r.Read(p)
}

// pattern reads n bytes cycling through a fixed random-looking buffer, like a
// request body: it has no WriteTo, and producing it costs almost nothing.
type pattern struct {
	buf  []byte
	pos  int
	left int64
}

func newPattern(n int64) *pattern {
	buf := make([]byte, 1<<20+7) // odd length, so chunks do not line up with buffers
	x := uint32(2463534242)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = byte(x)
	}
	return &pattern{buf: buf, left: n}
}

func (p *pattern) reset(n int64) { p.pos, p.left = 0, n }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := copy(b, p.buf[p.pos:])
	p.pos = (p.pos + n) % len(p.buf)
	p.left -= int64(n)
	return n, nil
}

var benchSizes = []int64{1 << 20, 64 << 20}

// smallReads returns at most 16 KiB per Read, like a request body arriving from
// the network.
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	return s.r.Read(p)
}

// BenchmarkWriteCommit measures one upload written in one WriteUpload and committed,
// from a reader returning large reads and from one returning network-sized reads.
// B/op must not depend on the size.
func BenchmarkWriteCommit(b *testing.B) {
	for _, size := range benchSizes {
		for _, small := range []bool{false, true} {
			name := fmt.Sprintf("size=%dMiB", size>>20)
			if small {
				name += "/reads=16KiB"
			}
			b.Run(name, func(b *testing.B) { benchmarkWriteCommit(b, size, small) })
		}
	}
}

func benchmarkWriteCommit(b *testing.B, size int64, small bool) {
	s := newStore(b, b.TempDir())
	ctx := context.Background()
	p := newPattern(size)
	d := digest.Canonical.Digester()
	if _, err := io.Copy(d.Hash(), p); err != nil {
		b.Fatal(err)
	}
	dgst := d.Digest()
	var r io.Reader = p
	if small {
		r = smallReads{p}
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d", i)
		p.reset(size)
		if err := s.CreateUpload(ctx, id); err != nil {
			b.Fatal(err)
		}
		if _, err := s.WriteUpload(ctx, id, 0, nextGen(), r); err != nil {
			b.Fatal(err)
		}
		if err := s.CommitUpload(ctx, id, size, dgst); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		// Without this every commit after the first would be deduplicated.
		if err := s.Delete(ctx, dgst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkOpenRead measures opening a blob and reading it all through a writer
// without ReadFrom (as a hashing or TLS writer would). B/op must not depend on the size.
func BenchmarkOpenRead(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			s := newStore(b, b.TempDir())
			ctx := context.Background()
			r := newPattern(size)
			id := "bench"
			if err := s.CreateUpload(ctx, id); err != nil {
				b.Fatal(err)
			}
			if _, err := s.WriteUpload(ctx, id, 0, nextGen(), r); err != nil {
				b.Fatal(err)
			}
			dgst := digest.FromString("not verified by the store")
			if err := s.CommitUpload(ctx, id, size, dgst); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				rc, err := s.Open(ctx, dgst, 0)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(writerOnly{io.Discard}, readerOnly{rc}, buf)
				rc.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes, err %v; want %d", n, err, size)
				}
			}
		})
	}
}

type readerOnly struct{ io.Reader }

type writerOnly struct{ io.Writer }
