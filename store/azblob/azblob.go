// Package azblob is a store.BlobStore on Azure Blob Storage (or Azurite), through the
// official azblob SDK.
//
// Layout in the container, under an optional prefix:
//
//	blobs/<algorithm>/<hex>   committed blobs, one block blob each
//	uploads/<id>              uploads in progress, one block blob each
//
// # Uploads
//
// An upload is a block blob whose committed block list is the upload's content, so
// its whole state lives in the service and any replica can continue any upload.
// WriteUpload streams r into blocks of at most Options.BlockSize bytes (one block in
// memory at a time), then commits the block list "blocks that end at or before
// offset, plus the new blocks" with If-Match on the ETag it read. A block that
// straddles offset is replaced by a re-staged copy of its first part, so a write
// at any offset the upload holds discards exactly the tail, as the interface asks.
// Block ids carry the block's offset and a random nonce: a staged but never
// committed block (from a write that failed) can then never be mistaken for a
// committed one with the same id, since Put Block List resolves ids to the latest
// staged block first.
//
// The upload's generation (store.BlobStore.WriteUpload) is a metadata item of its
// blob, set by the same Put Block List that commits the write. A write reads it
// with the blob's ETag (Get Blob Properties) before staging anything, refuses a
// generation not above it, and commits with If-Match on that ETag: the check and
// the change are one atomic step, whichever replica writes. That costs a write one
// request more. Copy Blob copies the item to the committed blob, where it means
// nothing; it is never removed from the upload, whose generation must outlive a
// failed commit.
//
// CommitUpload first trims the upload to the committed size (if it holds more),
// then has the service copy it to blobs/... with Copy Blob: a server-side copy
// within the account, with no data through this process. It waits for the copy to
// finish, then deletes the upload. While a copy is pending the destination exists
// in the service but is not complete, so Stat and Open report such a blob as
// missing: a blob is never visible half-written. A crash during the copy leaves
// the copy running in the service; the retried commit finds the blob (or waits for
// the pending copy) and only removes the upload.
//
// # Limits
//
// A block blob holds at most 50,000 committed blocks, so an upload holds at most
// 50,000 writes' worth of blocks: with the default 8 MiB blocks that is 390 GiB for
// large writes, but an upload sent in 50,000 tiny PATCH requests also fills it.
// Uncommitted blocks left by a crashed write are discarded by the service (at the
// next commit of that blob, or after a week). An upload's blob goes only through
// CommitUpload or DeleteUpload, so for sessions that are abandoned and never expired
// by the registry, a lifecycle rule on the uploads/ prefix is a useful safety net.
//
// SignedURL needs the account key (shared key or connection string); with a Microsoft
// Entra ID credential it reports errors.ErrUnsupported, and callers stream instead.
package azblob

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "crypto/sha256" // registers sha256 so that digest.Validate accepts it
	_ "crypto/sha512" // registers sha512 so that digest.Validate accepts it
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

const (
	// DefaultBlockSize is the block size when Options.BlockSize is zero: large
	// enough that a block costs little per byte and a blob of 50,000 blocks holds
	// 390 GiB, small enough that one block per concurrent write fits in memory.
	DefaultBlockSize = 8 << 20
	// maxBlockSize is the service's limit for one Put Block.
	maxBlockSize = 4000 << 20
	// readRetries is how often a blob read that broke midway is resumed (from where it
	// broke, with If-Match so that a changed blob is never spliced) before failing.
	readRetries = 5
	// sasClockSkew backdates signed URLs, so that a client whose clock is a little
	// ahead of the service's can use them at once.
	sasClockSkew = 5 * time.Minute
)

// Options configure a Store. Either ConnectionString, or ServiceURL with AccountName
// and AccountKey, or ServiceURL with Credential must be set.
type Options struct {
	// ConnectionString is an Azure Storage connection string with an account key, as
	// the portal shows it, or Azurite's well-known one. It sets the service URL, the
	// account name and the key; the three fields below must then be empty.
	ConnectionString string
	// ServiceURL is the account's blob endpoint: https://ACCOUNT.blob.core.windows.net
	// or, for Azurite, http://127.0.0.1:10000/devstoreaccount1.
	ServiceURL string
	// AccountName and AccountKey authenticate with the account's shared key.
	AccountName string
	AccountKey  string
	// Credential authenticates with Microsoft Entra ID instead of a key (any azidentity
	// credential). SignedURL is unavailable with it.
	Credential azcore.TokenCredential

	// Container is the container that holds the store. It must exist.
	Container string
	// Prefix is prepended to every blob name, so that several stores can share a
	// container. A non-empty prefix normally ends with "/".
	Prefix string
	// BlockSize is the largest block a write stages, and so the memory one write
	// holds. Zero means DefaultBlockSize.
	BlockSize int
	// ClientOptions configure the SDK's pipeline (transport, retries, logging).
	ClientOptions *blockblob.ClientOptions
}

// Store is a store.BlobStore on Azure Blob Storage. It is safe for concurrent use and
// keeps no state besides the service's, so any number of replicas may share one
// container.
type Store struct {
	containerURL string // service URL + "/" + escaped container name
	container    string
	prefix       string
	sharedKey    *blob.SharedKeyCredential // nil with a token credential
	credential   azcore.TokenCredential
	clientOpts   *blockblob.ClientOptions
	blockSize    int
	// httpsOnly restricts signed URLs to HTTPS unless the service itself is plain
	// HTTP (Azurite).
	httpsOnly bool
	// bufs holds *[]byte of blockSize, reused across writes so that memory does not
	// grow with the number of requests served.
	bufs sync.Pool
}

var _ store.BlobStore = (*Store)(nil)

// New returns a store in an existing container. It makes no request: a wrong
// container or credential shows on first use.
func New(opts Options) (*Store, error) {
	if opts.ConnectionString != "" {
		if opts.ServiceURL != "" || opts.AccountName != "" || opts.AccountKey != "" {
			return nil, errors.New("azblob store: give either a connection string or a service URL and key, not both")
		}
		cs, err := parseConnectionString(opts.ConnectionString)
		if err != nil {
			return nil, fmt.Errorf("azblob store: %w", err)
		}
		opts.ServiceURL, opts.AccountName, opts.AccountKey = cs.serviceURL, cs.accountName, cs.accountKey
	}
	if opts.ServiceURL == "" {
		return nil, errors.New("azblob store: no service URL")
	}
	u, err := url.Parse(opts.ServiceURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("azblob store: invalid service URL %q", opts.ServiceURL)
	}
	if err := validateContainer(opts.Container); err != nil {
		return nil, fmt.Errorf("azblob store: %w", err)
	}
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < 1 || bs > maxBlockSize {
		return nil, fmt.Errorf("azblob store: block size %d out of range 1..%d", bs, maxBlockSize)
	}
	s := &Store{
		containerURL: strings.TrimRight(opts.ServiceURL, "/") + "/" + url.PathEscape(opts.Container),
		container:    opts.Container,
		prefix:       opts.Prefix,
		credential:   opts.Credential,
		clientOpts:   opts.ClientOptions,
		blockSize:    bs,
		httpsOnly:    u.Scheme == "https",
	}
	switch {
	case opts.AccountKey != "" && opts.Credential != nil:
		return nil, errors.New("azblob store: give either an account key or a token credential, not both")
	case opts.AccountKey != "":
		if opts.AccountName == "" {
			return nil, errors.New("azblob store: an account key needs the account name")
		}
		s.sharedKey, err = blob.NewSharedKeyCredential(opts.AccountName, opts.AccountKey)
		if err != nil {
			return nil, fmt.Errorf("azblob store: %w", err)
		}
	case opts.Credential == nil:
		return nil, errors.New("azblob store: no credential (account key, connection string or token credential)")
	}
	s.bufs.New = func() any {
		b := make([]byte, s.blockSize)
		return &b
	}
	return s, nil
}

// Stat returns the size of the blob, or an error wrapping store.ErrNotFound. A blob
// whose server-side copy has not completed does not exist yet.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (int64, error) {
	c, err := s.blobClient(dgst)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	props, err := c.GetProperties(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", dgst, mapErr(err))
	}
	if !copyComplete(props.CopyStatus) {
		return 0, fmt.Errorf("stat blob %s: copy still %s: %w", dgst, *props.CopyStatus, store.ErrNotFound)
	}
	return derefSize(props.ContentLength), nil
}

// Open returns the blob's content from offset to the end. The reader resumes a
// download that breaks midway, and fails rather than mix in the bytes of a blob that
// was replaced meanwhile. An offset beyond the end of the blob is an error; an offset
// equal to its size gives an empty reader.
func (s *Store) Open(ctx context.Context, dgst digest.Digest, offset int64) (io.ReadCloser, error) {
	c, err := s.blobClient(dgst)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("open blob %s: negative offset %d", dgst, offset)
	}
	resp, err := c.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: offset}})
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		// The service refuses a range that starts at the end; that is an empty read
		// when the blob has exactly offset bytes.
		size, serr := s.Stat(ctx, dgst)
		if serr != nil {
			return nil, fmt.Errorf("open blob %s: %w", dgst, serr)
		}
		if size == offset {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fmt.Errorf("open blob %s: offset %d is beyond the end (%d bytes)", dgst, offset, size)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", dgst, mapErr(err))
	}
	if !copyComplete(resp.CopyStatus) {
		resp.Body.Close()
		return nil, fmt.Errorf("open blob %s: copy still %s: %w", dgst, *resp.CopyStatus, store.ErrNotFound)
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: readRetries}), nil
}

// Delete removes the blob, or returns an error wrapping store.ErrNotFound.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	c, err := s.blobClient(dgst)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if _, err := c.Delete(ctx, nil); err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, mapErr(err))
	}
	return nil
}

// SignedURL returns a URL that reads the blob without credentials until ttl has
// passed (a read-only service SAS), for redirecting clients to the service as ACR
// does. It does not check that the blob exists. It needs the account key; with a
// token credential it returns an error wrapping errors.ErrUnsupported.
func (s *Store) SignedURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	name, err := s.blobName(dgst)
	if err != nil {
		return "", fmt.Errorf("sign blob URL: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("sign blob URL %s: ttl %v is not positive", dgst, ttl)
	}
	if s.sharedKey == nil {
		return "", fmt.Errorf("sign blob URL %s: signing needs the account key: %w", dgst, errors.ErrUnsupported)
	}
	now := time.Now().UTC()
	proto := sas.ProtocolHTTPS
	if !s.httpsOnly {
		proto = sas.ProtocolHTTPSandHTTP
	}
	qp, err := sas.BlobSignatureValues{
		Protocol:      proto,
		StartTime:     now.Add(-sasClockSkew),
		ExpiryTime:    now.Add(ttl),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: s.container,
		BlobName:      name,
	}.SignWithSharedKey(s.sharedKey)
	if err != nil {
		return "", fmt.Errorf("sign blob URL %s: %w", dgst, err)
	}
	return s.url(name) + "?" + qp.Encode(), nil
}

// CreateUpload creates the upload's block blob, empty. Creating an upload that
// already exists returns an error wrapping store.ErrConflict.
func (s *Store) CreateUpload(ctx context.Context, id string) error {
	c, err := s.uploadClient(id)
	if err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	_, err = c.Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}},
	})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("create upload %s: %w: %w", id, store.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("create upload %s: %w", id, mapErr(err))
	}
	return nil
}

// WriteUpload writes r into the upload at offset: whatever the upload held beyond
// offset is discarded, r is staged in blocks of at most BlockSize bytes, and the new
// block list is committed with gen as the upload's generation. The write is durable,
// and visible to every replica, once committed. A gen not above the upload's
// generation returns an error wrapping store.ErrConflict before anything is staged.
// An offset beyond the bytes the upload holds returns such an error too, as does a
// concurrent change of the same upload.
//
// If r fails midway, the bytes read so far are still committed and counted in the
// result, so the caller may resume at offset or at offset+n. If the commit itself
// fails, nothing changed and the result is 0.
func (s *Store) WriteUpload(ctx context.Context, id string, offset int64, gen int64, r io.Reader) (int64, error) {
	c, err := s.uploadClient(id)
	if err != nil {
		return 0, fmt.Errorf("write upload: %w", err)
	}
	if offset < 0 {
		return 0, fmt.Errorf("write upload %s: negative offset %d", id, offset)
	}
	props, err := c.GetProperties(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, mapErr(err))
	}
	cur, err := generationOf(props.Metadata)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if gen <= cur {
		return 0, fmt.Errorf("write upload %s: generation %d is not above the upload's %d: %w", id, gen, cur, store.ErrConflict)
	}
	list, err := c.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, mapErr(err))
	}
	if list.ETag != nil && !sameETag(list.ETag, props.ETag) {
		// Changed between the two reads: give up early. (Without this check the
		// commit would fail anyway, on its If-Match on the ETag of the properties.)
		return 0, fmt.Errorf("write upload %s: changed by a concurrent write: %w", id, store.ErrConflict)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	w := blockWriter{s: s, c: c, nonce: newNonce()}

	ids, err := w.truncate(ctx, list.CommittedBlocks, offset, buf)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}

	var n int64
	var readErr error
	for {
		nr, rerr := io.ReadFull(r, buf)
		if nr > 0 {
			bid, err := w.stage(ctx, offset+n, buf[:nr])
			if err != nil {
				// Nothing is committed yet: the upload is unchanged.
				return 0, fmt.Errorf("write upload %s: %w", id, err)
			}
			ids = append(ids, bid)
			n += int64(nr)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			readErr = rerr
			break
		}
	}
	// Committed even when the blocks did not change: the commit records gen. If-Match:
	// a concurrent writer (another replica) or a DeleteUpload since the properties
	// were read makes this commit fail rather than undo its change.
	_, err = c.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		Metadata:         withGeneration(props.Metadata, gen),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
	})
	if err != nil {
		return 0, fmt.Errorf("write upload %s: commit: %w", id, mapErr(err))
	}
	if readErr != nil {
		return n, fmt.Errorf("write upload %s: after %d bytes: %w", id, n, readErr)
	}
	return n, nil
}

// OpenUpload returns the first size bytes of the upload. It fails with an error
// wrapping store.ErrConflict if the upload holds fewer, and the reader fails if the
// upload changes while it is read.
func (s *Store) OpenUpload(ctx context.Context, id string, size int64) (io.ReadCloser, error) {
	c, err := s.uploadClient(id)
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("open upload %s: negative size %d", id, size)
	}
	props, err := c.GetProperties(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, mapErr(err))
	}
	if held := derefSize(props.ContentLength); held < size {
		return nil, fmt.Errorf("open upload %s: size %d is beyond the %d bytes held: %w", id, size, held, store.ErrConflict)
	}
	if size == 0 {
		// A zero count means "to the end" to the SDK.
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	resp, err := c.DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range:            blob.HTTPRange{Count: size},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
	})
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, mapErr(err))
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: readRetries}), nil
}

// CommitUpload makes the first size bytes of the upload the blob dgst and removes the
// upload. The service copies the upload to the blob's name (after trimming it to
// size) and the call returns once the copy has completed. If the blob already exists
// with that size, the upload is simply removed. A missing upload returns an error
// wrapping store.ErrNotFound; an upload holding fewer than size bytes, one wrapping
// store.ErrConflict.
func (s *Store) CommitUpload(ctx context.Context, id string, size int64, dgst digest.Digest) error {
	src, err := s.uploadClient(id)
	if err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	dst, err := s.blobClient(dgst)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if size < 0 {
		return fmt.Errorf("commit upload %s: negative size %d", id, size)
	}
	list, err := src.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, mapErr(err))
	}
	etag := list.ETag
	held := sumSizes(list.CommittedBlocks)
	if held < size {
		return fmt.Errorf("commit upload %s: size %d is beyond the %d bytes held: %w", id, size, held, store.ErrConflict)
	}
	// Identical content is stored once. A blob of another size under the same digest
	// cannot hold that content (something else wrote it): it is replaced below.
	done, err := s.blobComplete(ctx, dst, size)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if done {
		return s.removeUpload(ctx, src, id)
	}
	if held > size {
		// Copy Blob copies whole blobs: trim the upload first. It is about to be
		// consumed, so changing it loses nothing, but it keeps its generation: should
		// the copy fail, no older writer may write it again.
		props, err := src.GetProperties(ctx, nil)
		if err != nil {
			return fmt.Errorf("commit upload %s: %w", id, mapErr(err))
		}
		if etag != nil && !sameETag(props.ETag, etag) {
			return fmt.Errorf("commit upload %s: changed by a concurrent write: %w", id, store.ErrConflict)
		}
		bp := s.bufs.Get().(*[]byte)
		w := blockWriter{s: s, c: src, nonce: newNonce()}
		ids, err := w.truncate(ctx, list.CommittedBlocks, size, *bp)
		s.bufs.Put(bp)
		if err != nil {
			return fmt.Errorf("commit upload %s: trim to %d bytes: %w", id, size, err)
		}
		resp, err := src.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
			Metadata:         props.Metadata,
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
		})
		if err != nil {
			return fmt.Errorf("commit upload %s: trim to %d bytes: %w", id, size, mapErr(err))
		}
		etag = resp.ETag
	}

	if err := s.copyBlob(ctx, src, dst, etag, size); err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, dgst, err)
	}
	return s.removeUpload(ctx, src, id)
}

// DeleteUpload removes the upload. Deleting a missing upload is not an error.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	c, err := s.uploadClient(id)
	if err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	return s.removeUpload(ctx, c, id)
}

func (s *Store) removeUpload(ctx context.Context, c *blockblob.Client, id string) error {
	if _, err := c.Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete upload %s: %w", id, mapErr(err))
	}
	return nil
}

// copyBlob has the service copy src (as of etag) to dst and waits until the copy has
// completed. A copy of the same content that is already pending on dst (a concurrent
// commit of the same digest) is waited for instead.
func (s *Store) copyBlob(ctx context.Context, src, dst *blockblob.Client, etag *azcore.ETag, size int64) error {
	// Each attempt either starts our copy or outlives one pending copy, so a few
	// suffice unless commits of this digest keep racing.
	const attempts = 5
	for range attempts {
		resp, err := dst.StartCopyFromURL(ctx, src.URL(), &blob.StartCopyFromURLOptions{
			SourceModifiedAccessConditions: &blob.SourceModifiedAccessConditions{SourceIfMatch: etag},
		})
		if bloberror.HasCode(err, bloberror.PendingCopyOperation) {
			// Another commit of this digest is copying identical content: let it finish.
			if _, err := s.waitCopy(ctx, dst, ""); err != nil {
				return err
			}
			done, err := s.blobComplete(ctx, dst, size)
			if err != nil || done {
				return err
			}
			continue
		}
		if bloberror.HasCode(err, bloberror.SourceConditionNotMet, bloberror.ConditionNotMet) {
			return fmt.Errorf("upload changed during commit: %w: %w", store.ErrConflict, err)
		}
		if err != nil {
			return fmt.Errorf("start copy: %w", mapErr(err))
		}
		if resp.CopyStatus == nil || *resp.CopyStatus != blob.CopyStatusTypeSuccess {
			if _, err := s.waitCopy(ctx, dst, deref(resp.CopyID)); err != nil {
				return err
			}
		}
		done, err := s.blobComplete(ctx, dst, size)
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("copy completed but the blob does not have %d bytes", size)
		}
		return nil
	}
	return fmt.Errorf("copy kept racing with other copies of the same blob: %w", store.ErrConflict)
}

// waitCopy polls dst until no copy is pending on it and returns its final status.
// If copyID is not empty and another copy replaced that one, waiting goes on for
// the newer copy: both copy the same content.
func (s *Store) waitCopy(ctx context.Context, dst *blockblob.Client, copyID string) (blob.CopyStatusType, error) {
	delay := 10 * time.Millisecond
	for {
		props, err := dst.GetProperties(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("wait for copy: %w", mapErr(err))
		}
		if props.CopyStatus == nil {
			return blob.CopyStatusTypeSuccess, nil
		}
		switch st := *props.CopyStatus; st {
		case blob.CopyStatusTypePending:
		case blob.CopyStatusTypeSuccess:
			return st, nil
		default:
			return st, fmt.Errorf("copy %s: %s", st, deref(props.CopyStatusDescription))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("wait for copy: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// blobComplete reports whether dst is a complete blob of size bytes.
func (s *Store) blobComplete(ctx context.Context, dst *blockblob.Client, size int64) (bool, error) {
	props, err := dst.GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat blob: %w", mapErr(err))
	}
	return copyComplete(props.CopyStatus) && derefSize(props.ContentLength) == size, nil
}

// generationKey is the metadata item of an upload's blob that holds its generation.
// Metadata names are case-insensitive: the service and the SDK may change the case.
const generationKey = "acregeneration"

// generationOf returns the generation recorded in an upload blob's metadata: 0 if
// there is none (a new upload, or one made before generations existed).
func generationOf(md map[string]*string) (int64, error) {
	for k, v := range md {
		if !strings.EqualFold(k, generationKey) {
			continue
		}
		g, err := strconv.ParseInt(deref(v), 10, 64)
		if err != nil || g < 0 {
			return 0, fmt.Errorf("invalid generation %q in the upload's metadata", deref(v))
		}
		return g, nil
	}
	return 0, nil
}

// withGeneration returns md with the generation set to gen, replacing any item of
// that name in whatever case.
func withGeneration(md map[string]*string, gen int64) map[string]*string {
	out := make(map[string]*string, len(md)+1)
	for k, v := range md {
		if !strings.EqualFold(k, generationKey) {
			out[k] = v
		}
	}
	out[generationKey] = to(strconv.FormatInt(gen, 10))
	return out
}

// sameETag reports whether two ETags are present and equal.
func sameETag(a, b *azcore.ETag) bool {
	return a != nil && b != nil && *a == *b
}

// blockWriter stages the blocks of one write (or trim) of an upload.
type blockWriter struct {
	s     *Store
	c     *blockblob.Client
	nonce string
}

// truncate returns the ids of the committed blocks that hold the first offset bytes,
// re-staging the first part of a block that straddles offset. It fails with
// store.ErrConflict if blocks hold fewer than offset bytes. buf (BlockSize bytes) is
// used for the re-staged part.
func (w blockWriter) truncate(ctx context.Context, blocks []*blockblob.Block, offset int64, buf []byte) ([]string, error) {
	var ids []string
	var pos int64
	for _, b := range blocks {
		size := derefSize(b.Size)
		switch {
		case pos+size <= offset:
			ids = append(ids, deref(b.Name))
			pos += size
			continue
		case pos < offset:
			// The block straddles offset: stage its first offset-pos bytes anew.
			// Blocks are never larger than BlockSize, so buf holds the part (unless
			// the block size was lowered since; then a larger buffer is needed once).
			part := offset - pos
			if part > int64(len(buf)) {
				buf = make([]byte, part)
			}
			if err := w.readUpload(ctx, pos, buf[:part]); err != nil {
				return nil, err
			}
			bid, err := w.stage(ctx, pos, buf[:part])
			if err != nil {
				return nil, err
			}
			return append(ids, bid), nil
		default:
			return ids, nil
		}
	}
	if pos < offset {
		return nil, fmt.Errorf("offset %d is beyond the %d bytes held: %w", offset, pos, store.ErrConflict)
	}
	return ids, nil
}

// readUpload reads len(p) bytes of the upload's committed content at off into p.
func (w blockWriter) readUpload(ctx context.Context, off int64, p []byte) error {
	resp, err := w.c.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: int64(len(p))}})
	if err != nil {
		return fmt.Errorf("read back %d bytes at %d: %w", len(p), off, mapErr(err))
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, p); err != nil {
		return fmt.Errorf("read back %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

// stage stages p as a block for offset off and returns its id.
func (w blockWriter) stage(ctx context.Context, off int64, p []byte) (string, error) {
	bid := blockID(off, w.nonce)
	if _, err := w.c.StageBlock(ctx, bid, streaming.NopCloser(bytes.NewReader(p)), nil); err != nil {
		return "", fmt.Errorf("stage %d bytes at %d: %w", len(p), off, mapErr(err))
	}
	return bid, nil
}

// blockID names a block by its offset in the upload and the nonce of the write that
// staged it. Every id of a blob must have the same length; this one always encodes
// 32 hex digits.
func blockID(off int64, nonce string) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%016x%s", off, nonce))
}

// newNonce returns 16 random hex digits, unique to one write.
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// blobClient returns a client for the blob dgst, after validating it.
func (s *Store) blobClient(dgst digest.Digest) (*blockblob.Client, error) {
	name, err := s.blobName(dgst)
	if err != nil {
		return nil, err
	}
	return s.client(name)
}

// uploadClient returns a client for the upload id, after validating it.
func (s *Store) uploadClient(id string) (*blockblob.Client, error) {
	if err := store.ValidateUploadID(id); err != nil {
		return nil, err
	}
	return s.client(s.prefix + "uploads/" + id)
}

// client returns a block blob client for a blob name. Clients are cheap (they share
// the SDK's HTTP client and its connections); one is made per call because the SDK
// offers per-blob clients only, short of its container package, which would pull
// in large dependencies.
func (s *Store) client(name string) (*blockblob.Client, error) {
	var c *blockblob.Client
	var err error
	if s.sharedKey != nil {
		c, err = blockblob.NewClientWithSharedKeyCredential(s.url(name), s.sharedKey, s.clientOpts)
	} else {
		c, err = blockblob.NewClient(s.url(name), s.credential, s.clientOpts)
	}
	if err != nil {
		return nil, fmt.Errorf("blob client for %s: %w", name, err)
	}
	return c, nil
}

// url returns the URL of a blob name, each path segment escaped.
func (s *Store) url(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.containerURL + "/" + strings.Join(segs, "/")
}

// blobName validates dgst and returns the name of its blob.
func (s *Store) blobName(dgst digest.Digest) (string, error) {
	if err := store.ValidateDigest(dgst); err != nil {
		return "", err
	}
	return s.prefix + "blobs/" + dgst.Algorithm().String() + "/" + dgst.Encoded(), nil
}

// mapErr adds store.ErrNotFound to the service's "blob not found" errors, so that
// callers test one sentinel whichever store they use. A missing container is a
// configuration error, not a missing blob, and is left as it is. A failed
// precondition (If-Match on an ETag the store read) means that someone else changed
// the blob since: store.ErrConflict.
func mapErr(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.StatusCode == http.StatusNotFound && re.ErrorCode != string(bloberror.ContainerNotFound):
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case re.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

// copyComplete reports whether a blob with this copy status (nil if it was never the
// destination of a copy) is complete.
func copyComplete(st *blob.CopyStatusType) bool {
	return st == nil || *st == blob.CopyStatusTypeSuccess
}

func sumSizes(blocks []*blockblob.Block) int64 {
	var n int64
	for _, b := range blocks {
		n += derefSize(b.Size)
	}
	return n
}

func derefSize(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func to[T any](v T) *T { return &v }

// validateContainer applies the service's container naming rules, so that a typo
// fails at start rather than as an obscure error on first use.
func validateContainer(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("invalid container name %q: length must be 3 to 63", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-'
		if !ok {
			return fmt.Errorf("invalid container name %q: lowercase letters, digits and single inner hyphens only", name)
		}
	}
	return nil
}
