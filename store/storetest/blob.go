package storetest

import (
	"bytes"
	_ "crypto/sha256" // digest.FromBytes and friends need the hash registered
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

// TestBlobStore runs the conformance suite for store.BlobStore. open must return a
// new, empty store for each call; it is called once per subtest, so subtests do not
// depend on each other. Implementations call it from their own tests:
//
//	func TestBlobStore(t *testing.T) {
//		storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore { ... })
//	}
func TestBlobStore(t *testing.T, open func(t *testing.T) store.BlobStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.BlobStore)
	}{
		{"ChunkedUploadThenRead", blobTestChunkedUpload},
		{"RewriteDiscardsTail", blobTestRewriteDiscardsTail},
		{"FailedWriteThenRetry", blobTestFailedWriteThenRetry},
		{"CommitIdenticalContentTwice", blobTestCommitTwice},
		{"ConcurrentCommitsOfSameContent", blobTestConcurrentCommits},
		{"CommitPrefix", blobTestCommitPrefix},
		{"MissingBlob", blobTestMissingBlob},
		{"DeleteBlob", blobTestDeleteBlob},
		{"MissingUpload", blobTestMissingUpload},
		{"EmptyBlob", blobTestEmptyBlob},
		{"SHA512", blobTestSHA512},
		{"LargeStreamedBlob", blobTestLargeBlob},
		{"StaleGenerationRefused", blobTestStaleGeneration},
		{"ConcurrentGenerations", blobTestConcurrentGenerations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// blobTestChunkedUpload writes an upload in several chunks, reads it back, commits it
// and reads the blob from several offsets.
func blobTestChunkedUpload(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	// Odd sizes, one of a single byte and one larger than common copy buffers.
	chunks := [][]byte{blobBytes(1, 1000), blobBytes(2, 1), blobBytes(3, 70_000), blobBytes(4, 333)}
	content := bytes.Join(chunks, nil)
	size := int64(len(content))

	const id = "chunked-1"
	blobMust(t, s.CreateUpload(ctx, id))
	var offset int64
	for i, c := range chunks {
		n, err := s.WriteUpload(ctx, id, offset, nextGen(), bytes.NewReader(c))
		if err != nil {
			t.Fatalf("WriteUpload chunk %d at %d: %v", i, offset, err)
		}
		if n != int64(len(c)) {
			t.Fatalf("WriteUpload chunk %d: wrote %d bytes, want %d", i, n, len(c))
		}
		offset += n
	}

	for _, n := range []int64{0, 1, 1001, size - 1, size} {
		blobCheckUpload(t, s, id, content[:n])
	}

	dgst := digest.FromBytes(content)
	blobMust(t, s.CommitUpload(ctx, id, size, dgst))

	blobCheckStat(t, s, dgst, size)
	for _, off := range []int64{0, 1, 1000, 1001, size / 2, size - 1, size} {
		t.Run(fmt.Sprintf("offset=%d", off), func(t *testing.T) {
			blobCheckBlob(t, s, dgst, off, content[off:])
		})
	}

	// The upload is gone once committed.
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader([]byte("x"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WriteUpload after commit: got %v, want ErrNotFound", err)
	}
}

// blobTestRewriteDiscardsTail writes at an earlier offset, as a client resuming after
// a failed write does, and checks that the old tail is gone.
func blobTestRewriteDiscardsTail(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	tests := []struct {
		name    string
		initial string
		offset  int64
		rewrite string
		want    string
	}{
		{"shorter tail", "hello world", 5, "!!", "hello!!"},
		{"longer tail", "hello world", 6, "there, world", "hello there, world"},
		{"from start", "hello world", 0, "bye", "bye"},
		{"empty rewrite", "hello world", 4, "", "hell"},
		{"at end", "hello", 5, " you", "hello you"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("rewrite-%d", i)
			blobMust(t, s.CreateUpload(ctx, id))
			blobWrite(t, s, id, 0, []byte(tt.initial))
			blobWrite(t, s, id, tt.offset, []byte(tt.rewrite))
			blobCheckUpload(t, s, id, []byte(tt.want))
			blobCheckNoMore(t, s, id, int64(len(tt.want)), int64(len(tt.initial)))

			// Writing on from the new end continues the rewritten content.
			blobWrite(t, s, id, int64(len(tt.want)), []byte("."))
			want := []byte(tt.want + ".")
			dgst := digest.FromBytes(want)
			blobMust(t, s.CommitUpload(ctx, id, int64(len(want)), dgst))
			blobCheckBlob(t, s, dgst, 0, want)
		})
	}
}

// blobTestFailedWriteThenRetry writes from a reader that fails midway, then retries
// either from the offset before the failed write or from where it stopped.
func blobTestFailedWriteThenRetry(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := blobBytes(10, 300_000)
	const good = 50_000       // written successfully first
	const delivered = 100_000 // bytes the failing reader hands out before failing
	errBroken := errors.New("connection reset")

	for _, resumeAtN := range []bool{false, true} {
		name := "retry from last good offset"
		if resumeAtN {
			name = "resume after bytes written"
		}
		t.Run(name, func(t *testing.T) {
			id := "failed-write-0"
			if resumeAtN {
				id = "failed-write-1"
			}
			blobMust(t, s.CreateUpload(ctx, id))
			blobWrite(t, s, id, 0, content[:good])

			r := &blobFailingReader{r: bytes.NewReader(content[good:]), left: delivered, err: errBroken}
			n, err := s.WriteUpload(ctx, id, good, nextGen(), r)
			if err == nil {
				t.Fatalf("WriteUpload from a failing reader: got nil error (n=%d)", n)
			}
			if n < 0 || n > delivered {
				t.Fatalf("WriteUpload from a failing reader: n = %d, want 0..%d", n, delivered)
			}
			// Whatever was reported written is there.
			blobCheckUpload(t, s, id, content[:good+n])

			resume := int64(good)
			if resumeAtN {
				resume += n
			}
			blobWrite(t, s, id, resume, content[resume:])
			blobCheckUpload(t, s, id, content)
			dgst := digest.FromBytes(content)
			blobMust(t, s.CommitUpload(ctx, id, int64(len(content)), dgst))
			blobCheckBlob(t, s, dgst, 0, content)
			// Both subtests commit the same blob: the second is deduplicated.
		})
	}
}

// blobTestCommitTwice commits identical content from two uploads: it is stored once,
// without error, and both uploads are gone.
func blobTestCommitTwice(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := blobBytes(20, 4096)
	dgst := digest.FromBytes(content)
	for _, id := range []string{"twice-1", "twice-2"} {
		blobMust(t, s.CreateUpload(ctx, id))
		blobWrite(t, s, id, 0, content)
	}
	for _, id := range []string{"twice-1", "twice-2"} {
		if err := s.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
			t.Fatalf("CommitUpload %s: %v", id, err)
		}
		blobCheckStat(t, s, dgst, int64(len(content)))
		blobCheckBlob(t, s, dgst, 0, content)
		if _, err := s.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader(nil)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("WriteUpload %s after commit: got %v, want ErrNotFound", id, err)
		}
	}
}

// blobTestConcurrentCommits commits the same content from several uploads at once,
// as happens when several clients push the same layer.
func blobTestConcurrentCommits(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := blobBytes(30, 200_000)
	dgst := digest.FromBytes(content)
	const writers = 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("concurrent-%d", i)
			if err := s.CreateUpload(ctx, id); err != nil {
				errs <- fmt.Errorf("CreateUpload %s: %w", id, err)
				return
			}
			if _, err := s.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader(content)); err != nil {
				errs <- fmt.Errorf("WriteUpload %s: %w", id, err)
				return
			}
			if err := s.CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
				errs <- fmt.Errorf("CommitUpload %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	blobCheckStat(t, s, dgst, int64(len(content)))
	blobCheckBlob(t, s, dgst, 0, content)
}

// blobTestCommitPrefix commits fewer bytes than the upload holds: the blob is the
// prefix, as CommitUpload's size says.
func blobTestCommitPrefix(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := []byte("0123456789")
	const id = "prefix-1"
	blobMust(t, s.CreateUpload(ctx, id))
	blobWrite(t, s, id, 0, content)
	want := content[:6]
	dgst := digest.FromBytes(want)
	blobMust(t, s.CommitUpload(ctx, id, int64(len(want)), dgst))
	blobCheckStat(t, s, dgst, int64(len(want)))
	blobCheckBlob(t, s, dgst, 0, want)
}

// blobTestMissingBlob checks that every read of a blob never written reports
// store.ErrNotFound.
func blobTestMissingBlob(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	for _, dgst := range []digest.Digest{
		digest.FromString("never written"),
		digest.SHA512.FromString("never written"),
	} {
		t.Run(dgst.Algorithm().String(), func(t *testing.T) {
			if _, err := s.Stat(ctx, dgst); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat: got %v, want ErrNotFound", err)
			}
			rc, err := s.Open(ctx, dgst, 0)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Open: got %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, dgst); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Delete: got %v, want ErrNotFound", err)
			}
		})
	}
}

// blobTestDeleteBlob deletes a blob, checks it is gone, and stores it again.
func blobTestDeleteBlob(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := []byte("to be deleted")
	dgst := blobPut(t, s, "delete-1", content)
	blobMust(t, s.Delete(ctx, dgst))
	if _, err := s.Stat(ctx, dgst); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after Delete: got %v, want ErrNotFound", err)
	}
	rc, err := s.Open(ctx, dgst, 0)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open after Delete: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, dgst); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
	// A deleted blob can be pushed again.
	blobPut(t, s, "delete-2", content)
	blobCheckBlob(t, s, dgst, 0, content)
}

// blobTestMissingUpload checks operations on uploads that do not exist.
func blobTestMissingUpload(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	if _, err := s.WriteUpload(ctx, "never-created", 0, nextGen(), bytes.NewReader([]byte("x"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WriteUpload of a missing upload: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteUpload(ctx, "never-created"); err != nil {
		t.Errorf("DeleteUpload of a missing upload: %v", err)
	}

	const id = "deleted-1"
	blobMust(t, s.CreateUpload(ctx, id))
	blobWrite(t, s, id, 0, []byte("some data"))
	blobMust(t, s.DeleteUpload(ctx, id))
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), bytes.NewReader([]byte("x"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WriteUpload of a deleted upload: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteUpload(ctx, id); err != nil {
		t.Errorf("second DeleteUpload: %v", err)
	}
}

// blobTestEmptyBlob stores the empty blob, both without any write and through an
// empty write.
func blobTestEmptyBlob(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	dgst := digest.FromBytes(nil)

	blobMust(t, s.CreateUpload(ctx, "empty-1"))
	blobCheckUpload(t, s, "empty-1", nil)
	blobMust(t, s.CommitUpload(ctx, "empty-1", 0, dgst))
	blobCheckStat(t, s, dgst, 0)
	blobCheckBlob(t, s, dgst, 0, nil)

	blobMust(t, s.Delete(ctx, dgst))
	blobMust(t, s.CreateUpload(ctx, "empty-2"))
	n, err := s.WriteUpload(ctx, "empty-2", 0, nextGen(), bytes.NewReader(nil))
	if err != nil || n != 0 {
		t.Fatalf("WriteUpload of nothing: n=%d err=%v, want 0, nil", n, err)
	}
	blobMust(t, s.CommitUpload(ctx, "empty-2", 0, dgst))
	blobCheckStat(t, s, dgst, 0)
	blobCheckBlob(t, s, dgst, 0, nil)
}

// blobTestSHA512 stores and reads a blob addressed by a sha512 digest.
func blobTestSHA512(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	content := blobBytes(40, 10_000)
	dgst := digest.SHA512.FromBytes(content)
	const id = "sha512-1"
	blobMust(t, s.CreateUpload(ctx, id))
	blobWrite(t, s, id, 0, content)
	blobMust(t, s.CommitUpload(ctx, id, int64(len(content)), dgst))
	blobCheckStat(t, s, dgst, int64(len(content)))
	blobCheckBlob(t, s, dgst, 0, content)
	blobCheckBlob(t, s, dgst, 1234, content[1234:])
	// The same content under its sha256 digest is another, missing, blob.
	if _, err := s.Stat(ctx, digest.FromBytes(content)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat of the sha256 digest: got %v, want ErrNotFound", err)
	}
	blobMust(t, s.Delete(ctx, dgst))
}

// blobTestLargeBlob streams a blob larger than any sensible buffer from a generator,
// in two writes, and compares digests rather than holding the content in memory.
func blobTestLargeBlob(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	const size = 8 << 20
	const first = 5<<20 + 17 // not aligned with any buffer size
	const seed = 50

	d := digest.Canonical.Digester()
	if _, err := io.Copy(d.Hash(), blobGen(seed, size)); err != nil {
		t.Fatal(err)
	}
	dgst := d.Digest()

	const id = "large-1"
	blobMust(t, s.CreateUpload(ctx, id))
	gen := blobGen(seed, size)
	n, err := s.WriteUpload(ctx, id, 0, nextGen(), io.LimitReader(gen, first))
	if err != nil || n != first {
		t.Fatalf("WriteUpload first part: n=%d err=%v, want %d", n, err, first)
	}
	n, err = s.WriteUpload(ctx, id, first, nextGen(), gen)
	if err != nil || n != size-first {
		t.Fatalf("WriteUpload second part: n=%d err=%v, want %d", n, err, size-first)
	}

	rc, err := s.OpenUpload(ctx, id, size)
	if err != nil {
		t.Fatalf("OpenUpload: %v", err)
	}
	blobCheckStream(t, "upload", rc, blobGen(seed, size))

	blobMust(t, s.CommitUpload(ctx, id, size, dgst))
	blobCheckStat(t, s, dgst, size)
	for _, off := range []int64{0, first, size - 1} {
		rc, err := s.Open(ctx, dgst, off)
		if err != nil {
			t.Fatalf("Open at %d: %v", off, err)
		}
		want := blobGen(seed, size)
		if _, err := io.CopyN(io.Discard, want, off); err != nil {
			t.Fatal(err)
		}
		blobCheckStream(t, fmt.Sprintf("blob at %d", off), rc, want)
	}
}

// blobTestStaleGeneration checks the fencing contract of WriteUpload: a write whose
// generation is not above the upload's is refused with ErrConflict and changes
// nothing, whatever its offset and length; a write of a higher generation (with
// any gap) is accepted and raises the generation for every later write.
func blobTestStaleGeneration(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	const id = "fenced-1"
	blobMust(t, s.CreateUpload(ctx, id))
	// A new upload is at generation 0: the first generation is 1.
	if n, err := s.WriteUpload(ctx, id, 0, 0, strings.NewReader("zero")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload of generation 0 to a new upload: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	blobCheckNoMore(t, s, id, 0, 4)
	blobWriteGen(t, s, id, 0, 1, []byte("0123456789"))
	blobWriteGen(t, s, id, 10, 20, []byte("abcdef"))
	held := []byte("0123456789abcdef")

	for _, tc := range []struct {
		name   string
		offset int64
		gen    int64
		data   string
	}{
		{"older, truncating", 4, 19, "XX"},
		{"older, from the start", 0, 2, "YYYYYYYYYYYYYYYYYYYYYYYY"},
		{"older, appending", 16, 5, "ZZ"},
		{"older, empty", 3, 1, ""},
		{"equal", 16, 20, "ZZ"},
		{"equal, truncating", 8, 20, ""},
		{"zero", 16, 0, "ZZ"},
		{"negative", 16, -1, "ZZ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.WriteUpload(ctx, id, tc.offset, tc.gen, strings.NewReader(tc.data))
			if !errors.Is(err, store.ErrConflict) || n != 0 {
				t.Errorf("WriteUpload of generation %d at %d: n=%d err=%v, want 0, ErrConflict", tc.gen, tc.offset, n, err)
			}
			blobCheckUpload(t, s, id, held)
			blobCheckNoMore(t, s, id, int64(len(held)), int64(len(held))+int64(len(tc.data))+1)
		})
	}

	// A higher generation truncates and writes; the one it beat is refused from now on.
	blobWriteGen(t, s, id, 12, 21, []byte("!"))
	held = []byte("0123456789ab!")
	if n, err := s.WriteUpload(ctx, id, 13, 20, strings.NewReader("late")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload of generation 20 after 21: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	blobCheckUpload(t, s, id, held)
	blobCheckNoMore(t, s, id, int64(len(held)), int64(len(held))+4)
	// An empty write of a higher generation raises the generation too.
	blobWriteGen(t, s, id, 13, 30, nil)
	if n, err := s.WriteUpload(ctx, id, 13, 29, strings.NewReader("?")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload of generation 29 after an empty write of 30: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	blobWriteGen(t, s, id, 13, 1<<40, []byte("?"))
	held = []byte("0123456789ab!?")
	dgst := digest.FromBytes(held)
	blobMust(t, s.CommitUpload(ctx, id, int64(len(held)), dgst))
	blobCheckBlob(t, s, dgst, 0, held)

	// Generations belong to one upload: another starts at 0 again.
	blobMust(t, s.CreateUpload(ctx, "fenced-2"))
	blobWriteGen(t, s, "fenced-2", 0, 1, []byte("other"))
	blobCheckUpload(t, s, "fenced-2", []byte("other"))
	blobMust(t, s.DeleteUpload(ctx, "fenced-2"))
}

// blobTestConcurrentGenerations has writers of distinct generations write one upload
// at once, each from offset 0 with content of its own length, as racing replicas do.
// Refused writes must fail with ErrConflict and change nothing, accepted ones must be
// accepted in increasing generation order, so the upload must hold exactly the
// content of the highest generation accepted.
func blobTestConcurrentGenerations(t *testing.T, s store.BlobStore) {
	ctx := t.Context()
	const writers = 6
	for round := range 3 {
		id := fmt.Sprintf("racing-%d", round)
		blobMust(t, s.CreateUpload(ctx, id))
		gens := rand.Perm(writers)
		contents := make([][]byte, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			contents[i] = blobBytes(uint64(100+10*round+i), 40_000+1000*i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n int64
				n, errs[i] = s.WriteUpload(ctx, id, 0, int64(gens[i]+1), bytes.NewReader(contents[i]))
				if errs[i] == nil && n != int64(len(contents[i])) {
					errs[i] = fmt.Errorf("wrote %d bytes, want %d", n, len(contents[i]))
				}
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner < 0 || gens[i] > gens[winner] {
					winner = i
				}
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d: WriteUpload of generation %d: %v, want success or ErrConflict", round, gens[i]+1, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: every concurrent write was refused; the first to commit cannot be", round)
		}
		want := contents[winner]
		blobCheckUpload(t, s, id, want)
		blobCheckNoMore(t, s, id, int64(len(want)), int64(len(want))+1)
		dgst := digest.FromBytes(want)
		blobMust(t, s.CommitUpload(ctx, id, int64(len(want)), dgst))
		blobCheckBlob(t, s, dgst, 0, want)
	}
}

// generations hands out write generations. One counter for every upload of every
// store gives each upload increasing generations, which is all WriteUpload asks.
var generations atomic.Int64

// nextGen returns a generation above every one handed out before.
func nextGen() int64 { return generations.Add(1) }

// blobWriteGen writes p into an upload at offset with generation gen and fails the
// test unless all of it was written.
func blobWriteGen(t *testing.T, s store.BlobStore, id string, offset, gen int64, p []byte) {
	t.Helper()
	n, err := s.WriteUpload(t.Context(), id, offset, gen, bytes.NewReader(p))
	if err != nil {
		t.Fatalf("WriteUpload %s at %d, generation %d: %v", id, offset, gen, err)
	}
	if n != int64(len(p)) {
		t.Fatalf("WriteUpload %s at %d, generation %d: wrote %d bytes, want %d", id, offset, gen, n, len(p))
	}
}

// blobPut stores content as a blob through one upload and returns its digest.
func blobPut(t *testing.T, s store.BlobStore, id string, content []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	blobMust(t, s.CreateUpload(ctx, id))
	blobWrite(t, s, id, 0, content)
	dgst := digest.FromBytes(content)
	blobMust(t, s.CommitUpload(ctx, id, int64(len(content)), dgst))
	return dgst
}

// blobWrite writes p into an upload at offset, with a new generation, and fails the
// test unless all of it was written.
func blobWrite(t *testing.T, s store.BlobStore, id string, offset int64, p []byte) {
	t.Helper()
	blobWriteGen(t, s, id, offset, nextGen(), p)
}

// blobCheckUpload checks that the upload's first len(want) bytes are want.
func blobCheckUpload(t *testing.T, s store.BlobStore, id string, want []byte) {
	t.Helper()
	rc, err := s.OpenUpload(t.Context(), id, int64(len(want)))
	if err != nil {
		t.Fatalf("OpenUpload %s size %d: %v", id, len(want), err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading upload %s: %v", id, err)
	}
	blobCompare(t, fmt.Sprintf("upload %s (%d bytes)", id, len(want)), got, want)
}

// blobCheckNoMore checks that an upload holding size bytes does not yield more when
// asked for more: reading must fail or come up short.
func blobCheckNoMore(t *testing.T, s store.BlobStore, id string, size, more int64) {
	t.Helper()
	if more <= size {
		return
	}
	rc, err := s.OpenUpload(t.Context(), id, more)
	if err != nil {
		return
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err == nil && int64(len(got)) > size {
		t.Errorf("upload %s should hold %d bytes, but reading %d returned %d: %q", id, size, more, len(got), got)
	}
}

// blobCheckStat checks the size of a blob.
func blobCheckStat(t *testing.T, s store.BlobStore, dgst digest.Digest, want int64) {
	t.Helper()
	got, err := s.Stat(t.Context(), dgst)
	if err != nil {
		t.Fatalf("Stat %s: %v", dgst, err)
	}
	if got != want {
		t.Errorf("Stat %s: size %d, want %d", dgst, got, want)
	}
}

// blobCheckBlob checks that the blob read from offset is want.
func blobCheckBlob(t *testing.T, s store.BlobStore, dgst digest.Digest, offset int64, want []byte) {
	t.Helper()
	rc, err := s.Open(t.Context(), dgst, offset)
	if err != nil {
		t.Fatalf("Open %s at %d: %v", dgst, offset, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s at %d: %v", dgst, offset, err)
	}
	blobCompare(t, fmt.Sprintf("blob %s at %d", dgst, offset), got, want)
}

// blobCompare reports a difference without dumping large contents.
func blobCompare(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %d bytes, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: first difference at byte %d", what, i)
			return
		}
	}
}

// blobCheckStream compares two streams in bounded memory and closes got.
func blobCheckStream(t *testing.T, what string, got io.ReadCloser, want io.Reader) {
	t.Helper()
	defer got.Close()
	const chunk = 64 << 10
	g, w := make([]byte, chunk), make([]byte, chunk)
	var pos int64
	for {
		gn, gerr := io.ReadFull(got, g)
		wn, werr := io.ReadFull(want, w)
		if gerr != nil && gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
			t.Fatalf("%s: read at %d: %v", what, pos, gerr)
		}
		if werr != nil && werr != io.EOF && werr != io.ErrUnexpectedEOF {
			t.Fatalf("%s: reading expected content at %d: %v", what, pos, werr)
		}
		if !bytes.Equal(g[:gn], w[:wn]) {
			if gn != wn {
				t.Fatalf("%s: got %d bytes, want %d", what, pos+int64(gn), pos+int64(wn))
			}
			t.Fatalf("%s: content differs in the %d bytes after %d", what, gn, pos)
		}
		pos += int64(gn)
		// Equal lengths mean both filled the chunk or both ended.
		if gerr != nil {
			return
		}
	}
}

// blobBytes returns n deterministic pseudo-random bytes.
func blobBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(blobGen(seed, int64(n)), b); err != nil {
		panic(err)
	}
	return b
}

// blobGen returns a reader of n deterministic pseudo-random bytes (xorshift64*), so
// that large contents never have to be held in memory.
func blobGen(seed uint64, n int64) io.Reader {
	return &blobGenerator{state: seed*0x9E3779B97F4A7C15 | 1, left: n, used: 8}
}

type blobGenerator struct {
	state uint64
	left  int64
	word  [8]byte
	used  int // bytes of word already handed out; 8 means none left
}

func (g *blobGenerator) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		if g.used == 8 {
			g.state ^= g.state >> 12
			g.state ^= g.state << 25
			g.state ^= g.state >> 27
			v := g.state * 0x2545F4914F6CDD1D
			for j := range g.word {
				g.word[j] = byte(v >> (8 * j))
			}
			g.used = 0
		}
		p[i] = g.word[g.used]
		g.used++
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// blobFailingReader hands out left bytes of r, then fails with err, like a client
// connection that breaks midway.
type blobFailingReader struct {
	r    io.Reader
	left int64
	err  error
}

func (f *blobFailingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

// blobMust fails the test on error.
func blobMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
