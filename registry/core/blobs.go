package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
)

func blobUnknown(d digest.Digest) *errcode.Error {
	return errcode.New(errcode.BlobUnknown, "blob unknown to registry").WithDetail(map[string]string{"digest": string(d)})
}

func uploadUnknown() *errcode.Error {
	return errcode.New(errcode.BlobUploadUnknown, "blob upload unknown to registry")
}

// BlobInfo describes a blob as seen through one repository.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
}

// StatBlob returns a blob linked into repository name.
func (r *Registry) StatBlob(ctx context.Context, name string, d digest.Digest) (BlobInfo, error) {
	var info BlobInfo
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			var e *errcode.Error
			if errors.As(err, &e) && e.Code == errcode.NameUnknown {
				return blobUnknown(d)
			}
			return err
		}
		if !repo.ReadEnabled {
			return errDisallowed
		}
		link, err := tx.Blob(ctx, repo.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			return blobUnknown(d)
		}
		if err != nil {
			return err
		}
		info = BlobInfo{Digest: d, Size: link.Size}
		return nil
	})
	return info, err
}

// OpenBlob returns a blob's content from offset, with its info. The caller closes it.
func (r *Registry) OpenBlob(ctx context.Context, name string, d digest.Digest, offset int64) (io.ReadCloser, BlobInfo, error) {
	info, err := r.StatBlob(ctx, name, d)
	if err != nil {
		return nil, info, err
	}
	rc, err := r.blobs.Open(ctx, d, offset)
	if errors.Is(err, store.ErrNotFound) {
		// Linked but missing from the blob store: report it rather than hide it.
		r.log.ErrorContext(ctx, "blob linked but missing from the blob store", "repository", name, "digest", d)
		return nil, info, blobUnknown(d)
	}
	if err != nil {
		return nil, info, fmt.Errorf("open blob %s: %w", d, err)
	}
	return rc, info, nil
}

// BlobURL returns a short-lived URL to read a blob linked into repository name
// straight from the blob store, or "" when redirects are off or the store cannot
// sign URLs. Access is checked exactly as for OpenBlob.
func (r *Registry) BlobURL(ctx context.Context, name string, d digest.Digest) (string, error) {
	signer, ok := r.blobs.(store.URLSigner)
	if !ok || r.opts.BlobRedirectTTL <= 0 {
		return "", nil
	}
	if _, err := r.StatBlob(ctx, name, d); err != nil {
		return "", err
	}
	u, err := signer.SignedURL(ctx, d, r.opts.BlobRedirectTTL)
	if err != nil {
		// Streaming still works: log and fall back rather than fail the pull.
		r.log.WarnContext(ctx, "cannot sign a blob URL; streaming instead", "digest", d, "error", err)
		return "", nil
	}
	return u, nil
}

// DeleteBlob unlinks a blob from a repository. The content stays in the blob store
// while other repositories may link it; reclaiming unlinked content is the job of
// garbage collection, which cannot race with an upload that is about to link it.
func (r *Registry) DeleteBlob(ctx context.Context, name string, d digest.Digest) error {
	return r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return blobUnknownIfNoRepo(err, d)
		}
		if !repo.WriteEnabled {
			return errDisallowed
		}
		if _, err := tx.Blob(ctx, repo.ID, d); errors.Is(err, store.ErrNotFound) {
			return blobUnknown(d)
		} else if err != nil {
			return err
		}
		return tx.DeleteBlob(ctx, repo.ID, d)
	})
}

func blobUnknownIfNoRepo(err error, d digest.Digest) error {
	var e *errcode.Error
	if errors.As(err, &e) && e.Code == errcode.NameUnknown {
		return blobUnknown(d)
	}
	return err
}

// MountBlob links a blob that exists in repository from (or, if from is empty, in
// any repository) into repository name. It reports false, without error, when the
// blob was not found there, so the caller can fall back to an upload.
func (r *Registry) MountBlob(ctx context.Context, name, from string, d digest.Digest) (bool, error) {
	mounted := false
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		mounted = false
		var src store.BlobLink
		var err error
		if from != "" {
			fromRepo, err := tx.Repository(ctx, from)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			if !fromRepo.ReadEnabled {
				return nil
			}
			src, err = tx.Blob(ctx, fromRepo.ID, d)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
		} else {
			src, err = tx.FindBlob(ctx, d)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
		}
		repo, err := r.writableRepository(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, store.BlobLink{RepositoryID: repo.ID, Digest: d, Size: src.Size, CreatedAt: r.now()}); err != nil {
			return err
		}
		mounted = true
		return nil
	})
	return mounted, err
}

// writableRepository returns the repository, creating it, or refuses if it is write-locked.
func (r *Registry) writableRepository(ctx context.Context, tx store.MetadataTx, name string) (store.Repository, error) {
	repo, err := tx.CreateRepository(ctx, name, r.now())
	if err != nil {
		return repo, err
	}
	if !repo.WriteEnabled {
		return repo, errDisallowed
	}
	return repo, nil
}

// checkWritable refuses writes to an existing write-locked repository.
func (r *Registry) checkWritable(ctx context.Context, name string) error {
	return r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.Repository(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if !repo.WriteEnabled {
			return errDisallowed
		}
		return nil
	})
}

// UploadInfo is the state of an upload session.
type UploadInfo struct {
	ID   string
	Size int64
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func marshalHash(h hash.Hash) []byte {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("sha256 state cannot be marshalled: %v", err)) // cannot happen for crypto/sha256
	}
	return b
}

func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("restore upload hash state: %w", err)
	}
	return h, nil
}

// StartUpload opens an upload session in repository name.
func (r *Registry) StartUpload(ctx context.Context, name string) (UploadInfo, error) {
	if err := r.checkWritable(ctx, name); err != nil {
		return UploadInfo{}, err
	}
	id := newUploadID()
	if err := r.blobs.CreateUpload(ctx, id); err != nil {
		return UploadInfo{}, fmt.Errorf("start upload: %w", err)
	}
	now := r.now()
	u := store.Upload{ID: id, Repository: name, HashState: marshalHash(sha256.New()), CreatedAt: now, UpdatedAt: now}
	if err := r.meta.Update(ctx, func(tx store.MetadataTx) error { return tx.PutUpload(ctx, u) }); err != nil {
		_ = r.blobs.DeleteUpload(ctx, id)
		return UploadInfo{}, fmt.Errorf("start upload: %w", err)
	}
	return UploadInfo{ID: id}, nil
}

// upload loads a session and checks it belongs to repository name.
func (r *Registry) upload(ctx context.Context, name, id string) (store.Upload, error) {
	var u store.Upload
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		var err error
		u, err = tx.Upload(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Repository != name {
		return u, uploadUnknown()
	}
	return u, err
}

// UploadStatus returns the state of an upload session.
func (r *Registry) UploadStatus(ctx context.Context, name, id string) (UploadInfo, error) {
	u, err := r.upload(ctx, name, id)
	if err != nil {
		return UploadInfo{}, err
	}
	return UploadInfo{ID: id, Size: u.Size}, nil
}

// Chunk is a piece of an upload as a client sends it.
type Chunk struct {
	// Start is the offset the client says the chunk begins at, or -1 if unstated.
	Start int64
	// Length is the number of bytes the client says it sends, or -1 if unstated.
	Length int64
	Body   io.Reader
}

// AppendUpload appends a chunk to an upload session. A chunk that does not start at
// the session's current size is refused with BLOB_UPLOAD_RANGE_INVALID; a body that
// is shorter or longer than declared changes nothing.
func (r *Registry) AppendUpload(ctx context.Context, name, id string, c Chunk) (UploadInfo, error) {
	unlock := r.uploads.Lock(id)
	defer unlock()
	u, err := r.appendLocked(ctx, name, id, c)
	if err != nil {
		return UploadInfo{ID: id, Size: u.Size}, err
	}
	return UploadInfo{ID: id, Size: u.Size}, nil
}

func rangeInvalid(size int64) *errcode.Error {
	return errcode.New(errcode.BlobUploadRangeInvalid, "invalid content range").WithDetail(map[string]int64{"size": size})
}

// sizeMismatch is returned when a body is shorter or longer than its declared length.
func sizeMismatch(declared, got int64) *errcode.Error {
	return errcode.New(errcode.SizeInvalid, "body length %d does not match the declared length %d", got, declared)
}

// errWrongRepository marks a session that exists in another repository than the
// request's: to the client it is unknown.
var errWrongRepository = errors.New("upload session of another repository")

// claimWrite claims the next write generation of session id of repository name and
// returns the session as claimed, or refuses a chunk that does not start at the
// session's size (changing nothing).
//
// Writes are fenced rather than locked. For sha256 the session's hash state is
// trusted and the data is never read back, so the bytes in the blob store must be
// exactly those the state was computed from, even when PATCHes of one session race
// on several replicas. Each write therefore claims a generation here, by a
// serialisable read-modify-write of the session; passes it to the blob store, which
// refuses (changing nothing) a generation not above one it has accepted, atomically
// with the write; and saves its new size and hash state only if the session's
// generation is still its own (appendLocked). A writer that claimed earlier cannot
// touch the data once a later one has written, and a writer superseded by a later
// claim cannot save, so the saved state always describes the stored bytes.
//
// The alternatives were weighed. A lease on the session needs an expiry, so a PATCH
// that outlives its lease (a slow client, a paused process) races again, and a
// replica that dies holding one blocks the session until it expires. Requiring the
// blob store's version to match the one saved in the session would leave a session
// whose writer died after writing, before saving, unwritable for good. A generation
// needs no clock: a writer that stalls or dies between claim and save is superseded
// by the next claim at once, and one that wakes up later can do no harm. The cost
// is one more small metadata transaction per chunk.
func (r *Registry) claimWrite(ctx context.Context, name, id string, c Chunk) (store.Upload, error) {
	var u store.Upload
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		var err error
		u, err = tx.Upload(ctx, id)
		if err != nil {
			return err
		}
		if u.Repository != name {
			return errWrongRepository
		}
		if c.Start >= 0 && c.Start != u.Size {
			return rangeInvalid(u.Size)
		}
		u.Generation++
		u.UpdatedAt = r.now()
		return tx.PutUpload(ctx, u)
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errWrongRepository):
		return store.Upload{}, uploadUnknown()
	case err != nil:
		var e *errcode.Error
		if errors.As(err, &e) {
			return u, err
		}
		return u, fmt.Errorf("claim a write of upload %s: %w", id, err)
	}
	return u, nil
}

// appendLocked writes a chunk to a session, fenced as claimWrite describes, and
// returns the session as saved (or, on error, as last known).
func (r *Registry) appendLocked(ctx context.Context, name, id string, c Chunk) (store.Upload, error) {
	u, err := r.claimWrite(ctx, name, id, c)
	if err != nil {
		return u, err
	}
	h, err := restoreHash(u.HashState)
	if err != nil {
		return u, err
	}
	body := c.Body
	if c.Length >= 0 {
		// Read one byte more than declared so that a longer body is detected.
		body = io.LimitReader(body, c.Length+1)
	}
	n, err := r.blobs.WriteUpload(ctx, u.ID, u.Size, u.Generation, io.TeeReader(body, h))
	if err != nil {
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) && c.Length >= 0:
			return u, sizeMismatch(c.Length, n)
		case errors.Is(err, store.ErrNotFound):
			return u, uploadUnknown()
		case errors.Is(err, store.ErrConflict):
			// Refused, changing nothing: a write claimed later (a concurrent request
			// for this session, on this replica or another) reached the data first, or
			// a concurrent one changed it meanwhile. The client asks where the
			// session stands and resumes from there.
			return u, rangeInvalid(u.Size)
		}
		return u, fmt.Errorf("append to upload %s: %w", u.ID, err)
	}
	if c.Length >= 0 && n != c.Length {
		return u, sizeMismatch(c.Length, n)
	}
	if n == 0 {
		return u, nil
	}
	saved := u
	saved.Size += n
	saved.HashState = marshalHash(h)
	saved.UpdatedAt = r.now()
	err = r.meta.Update(ctx, func(tx store.MetadataTx) error {
		cur, err := tx.Upload(ctx, u.ID)
		if err != nil {
			return err
		}
		if cur.Generation != u.Generation || cur.Size != u.Size {
			// A later write was claimed meanwhile (on this replica or another): it
			// may have replaced these bytes, so this state must not be saved.
			return store.ErrConflict
		}
		return tx.PutUpload(ctx, saved)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return u, uploadUnknown()
	case errors.Is(err, store.ErrConflict):
		return u, rangeInvalid(u.Size)
	case err != nil:
		return u, fmt.Errorf("save upload %s: %w", u.ID, err)
	}
	return saved, nil
}

// CompleteUpload appends an optional final chunk, checks the content against d and
// makes it a blob linked into repository name. On a digest mismatch the session is
// discarded and DIGEST_INVALID returned.
func (r *Registry) CompleteUpload(ctx context.Context, name, id string, d digest.Digest, c Chunk) (BlobInfo, error) {
	unlock := r.uploads.Lock(id)
	defer unlock()
	var u store.Upload
	var err error
	if c.Body != nil {
		u, err = r.appendLocked(ctx, name, id, c)
	} else {
		u, err = r.upload(ctx, name, id)
	}
	if err != nil {
		return BlobInfo{}, err
	}
	got, err := r.uploadDigest(ctx, u, d.Algorithm())
	if err != nil {
		return BlobInfo{}, err
	}
	if got != d {
		r.discardUpload(ctx, u.ID)
		return BlobInfo{}, errcode.New(errcode.DigestInvalid, "provided digest did not match uploaded content").WithDetail("digest parsing failed")
	}
	if err := r.blobs.CommitUpload(ctx, u.ID, u.Size, d); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return BlobInfo{}, fmt.Errorf("commit upload %s: %w", u.ID, err)
		}
		// The session outlived its data: an earlier commit of it made the data the
		// blob, then the process died before the link below was saved. The blob
		// store holds only verified content, so a blob d of this size is this
		// upload; without it the session can never complete.
		size, serr := r.blobs.Stat(ctx, d)
		if serr != nil && !errors.Is(serr, store.ErrNotFound) {
			return BlobInfo{}, fmt.Errorf("commit upload %s: %w", u.ID, serr)
		}
		if serr != nil || size != u.Size {
			r.discardUpload(ctx, u.ID)
			return BlobInfo{}, uploadUnknown()
		}
	}
	err = r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := r.writableRepository(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, store.BlobLink{RepositoryID: repo.ID, Digest: d, Size: u.Size, CreatedAt: r.now()}); err != nil {
			return err
		}
		return tx.DeleteUpload(ctx, u.ID)
	})
	if err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: u.Size}, nil
}

// uploadDigest returns the digest of the session's content with algorithm alg,
// from the running sha256 state or, for other algorithms, by reading the data back.
func (r *Registry) uploadDigest(ctx context.Context, u store.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		h, err := restoreHash(u.HashState)
		if err != nil {
			return "", err
		}
		return digest.NewDigest(digest.SHA256, h), nil
	}
	if !alg.Available() {
		return "", errcode.New(errcode.DigestInvalid, "unsupported digest algorithm %q", alg)
	}
	rc, err := r.blobs.OpenUpload(ctx, u.ID, u.Size)
	if err != nil {
		return "", fmt.Errorf("read back upload %s: %w", u.ID, err)
	}
	defer rc.Close()
	d, err := alg.FromReader(rc)
	if err != nil {
		return "", fmt.Errorf("hash upload %s: %w", u.ID, err)
	}
	return d, nil
}

func (r *Registry) discardUpload(ctx context.Context, id string) {
	if err := r.meta.Update(ctx, func(tx store.MetadataTx) error { return tx.DeleteUpload(ctx, id) }); err != nil {
		r.log.WarnContext(ctx, "discard upload session", "upload", id, "error", err)
	}
	if err := r.blobs.DeleteUpload(ctx, id); err != nil {
		r.log.WarnContext(ctx, "discard upload data", "upload", id, "error", err)
	}
}

// CancelUpload discards an upload session.
func (r *Registry) CancelUpload(ctx context.Context, name, id string) error {
	unlock := r.uploads.Lock(id)
	defer unlock()
	if _, err := r.upload(ctx, name, id); err != nil {
		return err
	}
	r.discardUpload(ctx, id)
	return nil
}

// PutBlob stores a whole blob in one step (monolithic upload).
func (r *Registry) PutBlob(ctx context.Context, name string, d digest.Digest, c Chunk) (BlobInfo, error) {
	u, err := r.StartUpload(ctx, name)
	if err != nil {
		return BlobInfo{}, err
	}
	info, err := r.CompleteUpload(ctx, name, u.ID, d, c)
	if err != nil {
		r.discardUpload(ctx, u.ID)
	}
	return info, err
}
