package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

// TestGenerationSurvivesRestart checks that a generation is kept in the files, not in
// the process: another Store on the same root refuses what the first one would.
func TestGenerationSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	ctx := t.Context()
	const id = "restart-gen"
	s1 := newStore(t, root)
	if err := s1.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.WriteUpload(ctx, id, 0, 5, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, root)
	if n, err := s2.WriteUpload(ctx, id, 0, 4, strings.NewReader("stale")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload of generation 4 after 5, by another Store: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	if _, err := s2.WriteUpload(ctx, id, 5, 6, strings.NewReader(" you")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "uploads", id+genSuffix))
	if err != nil || string(b) != "00000000000000000006\n" {
		t.Errorf("generation file: %q (%v), want generation 6", b, err)
	}
}

// TestUploadWithoutGenerationFile resumes an upload made before generations existed
// (no generation file): it is at generation 0, and its first write creates the file.
func TestUploadWithoutGenerationFile(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	const id = "legacy-1"
	if err := os.WriteFile(filepath.Join(root, "uploads", id), []byte("old data"), filePerm); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, id, 3, 1, strings.NewReader(" and new")); err != nil {
		t.Fatalf("WriteUpload to an upload without a generation file: %v", err)
	}
	if n, err := s.WriteUpload(ctx, id, 0, 1, strings.NewReader("x")); !errors.Is(err, store.ErrConflict) || n != 0 {
		t.Errorf("WriteUpload of generation 1 again: n=%d err=%v, want 0, ErrConflict", n, err)
	}
	want := []byte("old and new")
	dgst := digest.FromBytes(want)
	if err := s.CommitUpload(ctx, id, int64(len(want)), dgst); err != nil {
		t.Fatal(err)
	}
	hex := dgst.Encoded()
	if got, want := files(t, root), []string{"blobs/sha256/" + hex[:2] + "/" + hex}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

// TestMissingUploadLeavesNoFiles checks that the lock files taken to find out that an
// upload does not exist are removed again, and that a generation file left alone by
// a crash (after its upload was committed) is removed by the next operation on it.
func TestMissingUploadLeavesNoFiles(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	if _, err := s.WriteUpload(ctx, "missing-1", 0, 1, strings.NewReader("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WriteUpload of a missing upload: %v, want ErrNotFound", err)
	}
	if err := s.CommitUpload(ctx, "missing-2", 0, digest.FromBytes(nil)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CommitUpload of a missing upload: %v, want ErrNotFound", err)
	}
	if err := s.DeleteUpload(ctx, "missing-3"); err != nil {
		t.Errorf("DeleteUpload of a missing upload: %v", err)
	}
	orphan := filepath.Join(root, "uploads", "orphan"+genSuffix)
	if err := os.WriteFile(orphan, []byte("00000000000000000007\n"), filePerm); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitUpload(ctx, "orphan", 0, digest.FromBytes(nil)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CommitUpload of a committed upload: %v, want ErrNotFound", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files = %q, want none", got)
	}
}

// TestDamagedGenerationFile checks that a generation file the store did not write is
// reported, never read as generation 0 (which would let any write through).
func TestDamagedGenerationFile(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	const id = "damaged-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "uploads", id+genSuffix), []byte("12\n"), filePerm); err != nil {
		t.Fatal(err)
	}
	_, err := s.WriteUpload(ctx, id, 0, 99, strings.NewReader("x"))
	if err == nil || errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "damaged generation file") {
		t.Errorf("WriteUpload with a damaged generation file: %v, want a damaged generation file error", err)
	}
}

// TestWriteWaitsForLock holds an upload's lock, as a write of another process does,
// and checks that a write waits for it (and gives up when its context ends), then
// proceeds once it is released.
func TestWriteWaitsForLock(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	const id = "locked-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Another Store on the root: its lock is another open of the file, as another
	// process's would be.
	l, err := newStore(t, root).lockUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.WriteUpload(short, id, 0, 1, strings.NewReader("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WriteUpload while the upload is locked, until a deadline: %v, want DeadlineExceeded", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.WriteUpload(ctx, id, 0, 2, strings.NewReader("data"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("WriteUpload returned while the upload was locked: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := l.release(false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WriteUpload after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteUpload still waiting after the lock was released")
	}
	rc, err := s.OpenUpload(ctx, id, 4)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

// TestLockOfRemovedUpload has a write wait for the lock of an upload that is deleted
// meanwhile: the write must see the upload gone, not write into a new one or hold a
// lock on a file no longer in place.
func TestLockOfRemovedUpload(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := t.Context()
	const id = "removed-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	l, err := s.lockUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteUpload(ctx, id, 0, 1, strings.NewReader("data"))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the write open the file and wait
	if err := os.Remove(filepath.Join(root, "uploads", id)); err != nil {
		t.Fatal(err)
	}
	if err := l.release(true); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WriteUpload of an upload deleted while it waited: %v, want ErrNotFound", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files = %q, want none", got)
	}
}
