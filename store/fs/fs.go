// Package fs is the default blob store: blobs and uploads as plain files under one
// root directory on the local filesystem.
//
// Layout under root:
//
//	blobs/<algorithm>/<first two hex chars>/<hex>   committed blobs
//	uploads/<id>                                    uploads in progress
//	uploads/<id>.gen                                an upload's generation and lock
//
// The two-character fan-out keeps directories small enough to stay fast on every
// filesystem. An upload file becomes its blob by an atomic rename, so there are no
// other temporary files, and after a crash a blob is either entirely present or
// absent. Every name that reaches the filesystem is derived from a validated digest
// or upload id, never from raw input, so no path can escape root.
//
// # Generations
//
// Writes of an upload are fenced by generation (store.BlobStore.WriteUpload). The
// generation lives in uploads/<id>.gen, which is also the upload's lock: a write,
// commit or delete holds an exclusive lock on that file (flock(2); LockFileEx on
// Windows) from reading the generation to syncing the data, so the check and the
// write are one step for every process on the host, and for every host of a
// shared filesystem whose locks are shared (NFSv4). The operating system drops
// the lock of a process that dies, so a crash never leaves an upload locked. A
// write records its generation in the file (one 21-byte write at offset 0) and
// syncs it with the data before returning. The generation file is removed after
// its upload (a crash in between leaves only that small file); a lock taken on a
// file that was removed meanwhile is detected and taken again. Uploads made
// before generations existed get their file on their first write.
//
// The store keeps no state besides the files, so several processes may share one
// root (on one host or on a POSIX shared filesystem with atomic rename and locks).
package fs

import (
	"context"
	_ "crypto/sha256" // registers sha256 so that digest.Validate accepts it
	_ "crypto/sha512" // registers sha512 so that digest.Validate accepts it
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

const (
	// copyBufferSize is the size of the buffers used to stream uploads to disk:
	// large enough that a write costs few syscalls, small and pooled so that memory
	// does not grow with blob size or with the number of concurrent uploads.
	copyBufferSize = 1 << 20

	// Blobs may belong to private repositories: only the server's user reads them.
	dirPerm  = 0o700
	filePerm = 0o600

	// genSuffix ends the name of an upload's generation file, uploads/<id>.gen. Upload
	// ids never contain a dot, so no upload can be mistaken for one.
	genSuffix = ".gen"
	// genSize is the size of a generation file: 20 decimal digits and a newline,
	// always written whole by one write at offset 0. An empty file is generation 0.
	genSize = 21
	// maxLockPoll bounds the wait between two attempts to take a held upload lock.
	maxLockPoll = 20 * time.Millisecond
)

// algorithms are the digest algorithms the store accepts, each with a directory
// under blobs/. Anything else is rejected before it can name a file.
var algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// Store is a store.BlobStore on the local filesystem. It is safe for concurrent use
// and must not be copied.
type Store struct {
	blobs   string // root/blobs
	uploads string // root/uploads
	// bufs holds *[]byte of copyBufferSize, reused across writes to avoid
	// allocating a large buffer per request.
	bufs sync.Pool
}

var _ store.BlobStore = (*Store)(nil)

// New opens the store rooted at root, creating root and the layout under it if they
// do not exist. Existing blobs and uploads are kept, so an upload started before a
// restart can be resumed.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("fs store: empty root directory")
	}
	root = filepath.Clean(root)
	s := &Store{
		blobs:   filepath.Join(root, "blobs"),
		uploads: filepath.Join(root, "uploads"),
	}
	s.bufs.New = func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}
	dirs := []string{root, s.blobs, s.uploads}
	for _, alg := range algorithms {
		dirs = append(dirs, filepath.Join(s.blobs, alg.String()))
	}
	for _, dir := range dirs {
		if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, iofs.ErrExist) {
			return nil, fmt.Errorf("fs store: %w", err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("fs store: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("fs store: %s is not a directory", dir)
		}
	}
	// Make the layout itself durable: commits only sync the directories they change.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return nil, fmt.Errorf("fs store: %w", err)
		}
	}
	return s, nil
}

// Stat returns the size of the blob, or an error wrapping store.ErrNotFound.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path, err := s.blobPath(dgst)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", dgst, notFound(err))
	}
	return fi.Size(), nil
}

// Open returns the blob's content from offset to the end. The reader is an *os.File,
// so that copying it to a network connection can use sendfile. An offset beyond the
// end of the blob is an error (the blob's size is known to the caller through Stat).
func (s *Store) Open(ctx context.Context, dgst digest.Digest, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := s.blobPath(dgst)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("open blob %s: negative offset %d", dgst, offset)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", dgst, notFound(err))
	}
	if offset > 0 {
		if err := seekWithin(f, offset); err != nil {
			f.Close()
			return nil, fmt.Errorf("open blob %s: %w", dgst, err)
		}
	}
	return f, nil
}

// Delete removes the blob, or returns an error wrapping store.ErrNotFound. Readers
// that already opened the blob keep reading it. The deletion is not synced: if a
// crash undoes it, the blob is merely garbage to collect again, never a half blob.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.blobPath(dgst)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	// The fan-out directory is left in place even when it becomes empty: removing it
	// would race with a concurrent commit that just created it.
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, notFound(err))
	}
	return nil
}

// CreateUpload creates an empty upload file. The id must match [a-zA-Z0-9-]{1,128}.
// Creating an upload that already exists returns an error wrapping store.ErrConflict,
// because it means two sessions were given the same id.
func (s *Store) CreateUpload(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.uploadPath(id)
	if err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		if errors.Is(err, iofs.ErrExist) {
			return fmt.Errorf("create upload %s: %w: %w", id, store.ErrConflict, err)
		}
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	// The generation file, at generation 0. Creating the upload made the id this
	// upload's, so a file of that name can only be left over from an earlier upload
	// of the id (removed by a crash before its generation file): it is reset.
	g, err := os.OpenFile(path+genSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	if err := g.Close(); err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	// WriteUpload promises durability, and syncing the files alone does not make their
	// directory entries durable: sync the directory once, here.
	if err := syncDir(s.uploads); err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	return nil
}

// WriteUpload writes r into the upload at offset and syncs it, if gen is above the
// upload's generation; otherwise it returns an error wrapping store.ErrConflict and
// changes nothing. Whatever the upload held beyond offset is discarded first. An
// offset beyond the bytes the upload holds returns an error wrapping
// store.ErrConflict too: the caller's idea of the upload's size is ahead of the
// data, so it must not be resumed from there. The whole write holds the upload's
// lock (see the package documentation).
//
// It returns the number of bytes written after offset even on error. If r fails or
// ctx is cancelled midway, the bytes written so far are still synced (unless the
// sync is what failed), so the caller may resume either at offset or at offset+n.
func (s *Store) WriteUpload(ctx context.Context, id string, offset int64, gen int64, r io.Reader) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path, err := s.uploadPath(id)
	if err != nil {
		return 0, fmt.Errorf("write upload: %w", err)
	}
	if offset < 0 {
		return 0, fmt.Errorf("write upload %s: negative offset %d", id, offset)
	}
	l, err := s.lockUpload(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	gone := false
	// Releasing can only fail to remove a generation file that is of no use any more.
	defer func() { _ = l.release(gone) }()

	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		gone = errors.Is(err, iofs.ErrNotExist)
		return 0, fmt.Errorf("write upload %s: %w", id, notFound(err))
	}
	defer f.Close()
	cur, err := l.generation()
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if gen <= cur {
		return 0, fmt.Errorf("write upload %s: generation %d is not above the upload's %d: %w", id, gen, cur, store.ErrConflict)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if fi.Size() < offset {
		return 0, fmt.Errorf("write upload %s: offset %d is beyond the %d bytes held: %w",
			id, offset, fi.Size(), store.ErrConflict)
	}
	// The generation first: whatever happens to the data from here on, no write of
	// an older generation may follow it.
	if err := l.setGeneration(gen); err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if fi.Size() > offset {
		if err := f.Truncate(offset); err != nil {
			return 0, fmt.Errorf("write upload %s: %w", id, err)
		}
	}
	// Writing through the pooled buffer rather than os.File.ReadFrom, whose generic
	// path allocates 32 KiB per call and writes once per read.
	n, copyErr := s.copy(io.NewOffsetWriter(f, offset), ctxReader{ctx: ctx, r: r})
	// Sync even after a failed copy: the caller may keep the n bytes written. The
	// generation is synced too, before the caller can act on the write: a crash that
	// lost it could let an older writer (on another host of a shared filesystem)
	// overwrite data the caller went on to record as good.
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("write upload %s: sync: %w", id, err)
	}
	if err := l.sync(s.uploads); err != nil {
		return n, fmt.Errorf("write upload %s: sync generation: %w", id, err)
	}
	if copyErr != nil {
		return n, fmt.Errorf("write upload %s: after %d bytes: %w", id, n, copyErr)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("write upload %s: %w", id, err)
	}
	return n, nil
}

// OpenUpload returns the first size bytes of the upload. It fails if the upload holds
// fewer bytes, with an error wrapping store.ErrConflict.
func (s *Store) OpenUpload(ctx context.Context, id string, size int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := s.uploadPath(id)
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("open upload %s: negative size %d", id, size)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	if fi.Size() < size {
		f.Close()
		return nil, fmt.Errorf("open upload %s: size %d is beyond the %d bytes held: %w",
			id, size, fi.Size(), store.ErrConflict)
	}
	return limitedFile{Reader: io.LimitReader(f, size), Closer: f}, nil
}

// CommitUpload makes the first size bytes of the upload the blob dgst and removes
// the upload. The file is truncated to size and synced, renamed into place, and the
// blob's directory is synced, so the blob is durable when CommitUpload returns and is
// never visible partially. If the blob already exists with that size, the upload is
// simply removed. A missing upload returns an error wrapping store.ErrNotFound; an
// upload holding fewer than size bytes, one wrapping store.ErrConflict. The commit
// holds the upload's lock, so that no write (of another process) can add to the
// file while it becomes the blob.
func (s *Store) CommitUpload(ctx context.Context, id string, size int64, dgst digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	src, err := s.uploadPath(id)
	if err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	dst, err := s.blobPath(dgst)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if size < 0 {
		return fmt.Errorf("commit upload %s: negative size %d", id, size)
	}
	l, err := s.lockUpload(ctx, id)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	gone := false // the upload file is gone: its generation file goes too
	defer func() { _ = l.release(gone) }()
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		gone = errors.Is(err, iofs.ErrNotExist)
		return fmt.Errorf("commit upload %s: %w", id, notFound(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if fi.Size() < size {
		return fmt.Errorf("commit upload %s: size %d is beyond the %d bytes held: %w",
			id, size, fi.Size(), store.ErrConflict)
	}

	// Identical content is stored once. A blob of another size under the same digest
	// cannot hold that content: it is damaged (written by something else than this
	// store), so it is replaced below.
	if bi, err := os.Stat(dst); err == nil && bi.Mode().IsRegular() && bi.Size() == size {
		f.Close()
		if err := os.Remove(src); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("commit upload %s: remove upload: %w", id, err)
		}
		gone = true
		return nil
	}

	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("commit upload %s: %w", id, err)
		}
	}
	// The content must reach the disk before the rename does, or a crash could leave
	// a blob of the right name and the wrong content.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("commit upload %s: sync: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}

	dir := filepath.Dir(dst)
	if err := os.Mkdir(dir, dirPerm); err == nil {
		// A new fan-out directory must itself be durable for the blob to be.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("commit upload %s: %w", id, err)
		}
	} else if !errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	// rename replaces atomically: a concurrent commit of the same digest wins or
	// loses as a whole, and both contents are identical anyway.
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, notFound(err))
	}
	gone = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	return nil
}

// DeleteUpload removes the upload and its generation file, under the upload's lock.
// Deleting a missing upload is not an error.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.uploadPath(id)
	if err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	l, err := s.lockUpload(ctx, id)
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		_ = l.release(false)
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if err := l.release(true); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// uploadLock is the exclusive lock of one upload, held on its generation file.
type uploadLock struct {
	f    *os.File
	path string
	// created is set when taking the lock created the file (an upload made before
	// generations existed, or a missing one): its directory entry is not durable.
	created bool
}

// lockUpload takes the lock of upload id (already validated), waiting for another
// holder to release it, until ctx is done. It creates the generation file if there
// is none; the holder removes it again if the upload turns out to be missing.
func (s *Store) lockUpload(ctx context.Context, id string) (*uploadLock, error) {
	path := filepath.Join(s.uploads, id+genSuffix)
	for {
		created := false
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, iofs.ErrNotExist) {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
			if errors.Is(err, iofs.ErrExist) {
				continue // created meanwhile by another process: open that one
			}
			created = true
		}
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		if err := waitLock(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock: %w", err)
		}
		// The holder before may have removed the file with its upload: a lock on a
		// file that is no longer at path excludes nobody. Then start again.
		at, err := isAt(f, path)
		if err == nil && at {
			return &uploadLock{f: f, path: path, created: created}, nil
		}
		_ = unlockFile(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
	}
}

// waitLock takes the lock of f, polling while another open of the file holds it.
func waitLock(ctx context.Context, f *os.File) error {
	wait := 100 * time.Microsecond
	for {
		ok, err := tryLockFile(f)
		if ok || err != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxLockPoll)
	}
}

// isAt reports whether f is (still) the file at path.
func isAt(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// generation reads the upload's generation.
func (l *uploadLock) generation() (int64, error) {
	var b [genSize + 1]byte
	n, err := l.f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if n == genSize && b[genSize-1] == '\n' {
		if g, err := strconv.ParseInt(string(b[:genSize-1]), 10, 64); err == nil && g >= 0 {
			return g, nil
		}
	}
	return 0, fmt.Errorf("damaged generation file %s (%d bytes: %q)", l.path, n, b[:n])
}

// setGeneration records gen, not durably: see sync.
func (l *uploadLock) setGeneration(gen int64) error {
	if _, err := l.f.WriteAt(fmt.Appendf(nil, "%0*d\n", genSize-1, gen), 0); err != nil {
		return fmt.Errorf("record generation: %w", err)
	}
	return nil
}

// sync makes the recorded generation durable, with the file's directory entry if
// taking the lock created the file in dir.
func (l *uploadLock) sync(dir string) error {
	if err := l.f.Sync(); err != nil {
		return err
	}
	if l.created {
		if err := syncDir(dir); err != nil {
			return err
		}
		l.created = false
	}
	return nil
}

// release drops the lock and closes the file. With remove, the upload is gone and
// its generation file is removed too: before the lock is dropped where open files
// can be removed, so that no one can lock it and find the upload still there.
func (l *uploadLock) release(remove bool) error {
	var err error
	if remove && removeWhileOpen {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) {
			err = fmt.Errorf("remove generation file: %w", rerr)
		}
	}
	// Closing drops the lock anyway; unlocking first just says so.
	_ = unlockFile(l.f)
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if remove && !removeWhileOpen {
		// Best effort: if another process opened the file meanwhile, it finds the
		// upload gone when it takes the lock, and removes the file itself.
		_ = os.Remove(l.path)
	}
	return err
}

// blobPath validates dgst and returns the path of its blob.
func (s *Store) blobPath(dgst digest.Digest) (string, error) {
	if err := store.ValidateDigest(dgst); err != nil {
		return "", err
	}
	hex := dgst.Encoded()
	return filepath.Join(s.blobs, dgst.Algorithm().String(), hex[:2], hex), nil
}

// uploadPath validates id and returns the path of its upload.
func (s *Store) uploadPath(id string) (string, error) {
	if err := store.ValidateUploadID(id); err != nil {
		return "", err
	}
	return filepath.Join(s.uploads, id), nil
}

// copy streams r to w through a pooled buffer. Unlike io.CopyBuffer it fills the
// buffer before writing: request bodies arrive in network-sized reads (16 KiB or
// less), and one write per read costs twice the time of one write per buffer.
// Bytes read before r fails are still written, so that they count in the result.
func (s *Store) copy(w io.Writer, r io.Reader) (int64, error) {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	var written int64
	for {
		nr, rerr := io.ReadFull(r, buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			written += int64(nw)
			if werr != nil {
				return written, werr
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return written, nil
		default:
			return written, rerr
		}
	}
}

// seekWithin positions f at offset, which must not be beyond the end of f.
func seekWithin(f *os.File, offset int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if offset > fi.Size() {
		return fmt.Errorf("offset %d is beyond the end (%d bytes)", offset, fi.Size())
	}
	_, err = f.Seek(offset, io.SeekStart)
	return err
}

// notFound adds store.ErrNotFound to a "does not exist" error, so that callers test
// one sentinel whichever store they use.
func notFound(err error) error {
	if errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// syncDir makes the entries of a directory (creations, renames) durable. Windows
// cannot sync a directory handle and journals metadata itself, so it is skipped there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return d.Close()
}

// ctxReader stops a copy when its context is done. Checking between reads is cheap
// and bounds the work done after a client goes away to one buffer.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// limitedFile reads a prefix of a file and closes the file.
type limitedFile struct {
	io.Reader
	io.Closer
}
