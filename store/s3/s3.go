// Package s3 is a store.BlobStore on Amazon S3 or any S3-compatible service (MinIO,
// Ceph, ...), through the AWS SDK for Go v2.
//
// Layout in the bucket, under an optional prefix:
//
//	blobs/<algorithm>/<hex>               committed blobs
//	uploads/<id>/info                     the upload's manifest (JSON)
//	uploads/<id>/data/<offset>-<nonce>    the upload's content, in pieces
//	uploads/<id>/tmp/<nonce>/...          intermediate objects of very large commits
//
// # Uploads
//
// S3 objects cannot be appended to, and multipart parts must be at least 5 MiB
// (except the last) while a PATCH may be one byte, so an upload is a list of
// immutable piece objects, named in its manifest, whose concatenation is the
// upload's content. All state is in the bucket, so every replica sees the same
// upload, and the manifest is the single point of change: every write replaces it
// with If-Match on the version it read, so two replicas writing the same upload at
// once cannot interleave (the later one fails with store.ErrConflict), and a crash
// never leaves a half-changed upload, only unreferenced pieces. The manifest also
// holds the upload's generation (store.BlobStore.WriteUpload): a write checks it
// against the manifest it read, before it stores anything, and the conditional
// manifest update records the new one, so the check and the change are one atomic
// step.
//
// WriteUpload reads the manifest (one GET), reads r into one buffer of at most
// Options.PieceSize bytes at a time and PUTs each buffer as a new piece, then stores
// the manifest: the pieces below offset, a shortened copy of a piece that straddles
// offset (made server-side when that part is 5 MiB or more), and the new pieces.
// Pieces no longer named are then deleted.
//
// CommitUpload assembles the pieces into blobs/... server-side where it can: one
// CopyObject if the blob is a single piece; otherwise a multipart upload in which
// every piece of 5 MiB or more becomes a part by UploadPartCopy (no data through this
// process), while runs of small pieces (PATCHes smaller than 5 MiB) are read back and
// re-sent in parts of PieceSize bytes, through the same single buffer. That re-send
// is the documented cost of small chunks. Copies run concurrently. The blob becomes
// visible only when CompleteMultipartUpload (or the single PUT or copy) succeeds,
// atomically. A commit that would need more than 10,000 parts (a blob of more than
// about 10,000 pieces) first assembles groups of pieces into intermediate objects,
// then the blob from those.
//
// The service must support conditional writes (If-None-Match and If-Match on PUT):
// AWS S3 has since 2024, and so has MinIO.
//
// # Leftovers
//
// A process that dies mid-write or mid-commit leaves unreferenced pieces or an
// incomplete multipart upload; neither is visible as a blob or as upload content,
// and removing the upload (commit or delete) deletes everything under its folder. A
// bucket lifecycle rule that aborts incomplete multipart uploads and expires objects
// under uploads/ after some days (longer than any upload session) cleans up after
// uploads that are abandoned and never expired by the registry.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "crypto/sha256" // registers sha256 so that digest.Validate accepts it
	_ "crypto/sha512" // registers sha512 so that digest.Validate accepts it
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/acre-dev/acre/store"
)

const (
	// DefaultPieceSize is the piece size when Options.PieceSize is zero.
	DefaultPieceSize = 8 << 20
	// minPartSize is S3's smallest multipart part (but the last).
	minPartSize = 5 << 20
	// maxCopyPartSize is S3's largest part, and largest CopyObject.
	maxCopyPartSize = 5 << 30
	// maxPieceSize bounds the buffer a write holds in memory.
	maxPieceSize = 512 << 20
	// maxParts is S3's limit on the parts of one multipart upload.
	maxParts = 10_000
	// copyConcurrency is how many server-side part copies a commit runs at once: they
	// cost the service, not this process, and one at a time would make committing a
	// large blob take minutes.
	copyConcurrency = 8
	// deleteBatch is the most keys one DeleteObjects request takes.
	deleteBatch = 1000
	// offsetDigits is the width of the offsets in piece names, which makes listings
	// (for people looking at the bucket) show pieces in order.
	offsetDigits = 20
	// nonceLength is the number of hex digits that make piece names unique per write.
	nonceLength = 16
	// manifestName is the manifest's name in the upload's folder.
	manifestName = "info"
	// maxManifestSize bounds what is read of a manifest: 10,000 pieces of ~60 bytes
	// each fit many times over.
	maxManifestSize = 16 << 20
	// cleanupTimeout bounds the clean-up (abort of a multipart upload) after a failed
	// commit, which runs even when the request's context is done.
	cleanupTimeout = 30 * time.Second
)

// Options configure a Store.
type Options struct {
	// Endpoint is the service URL of an S3-compatible service, such as
	// http://127.0.0.1:9000 for MinIO. Empty means AWS, at Region's endpoint.
	Endpoint string
	// Region is the bucket's region; "us-east-1" if empty (what MinIO expects too).
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET rather than BUCKET.ENDPOINT,
	// as MinIO and most S3-compatible services need.
	PathStyle bool
	// Credentials sign the requests: a static key pair (StaticCredentials), or any
	// provider from the AWS SDK's config package (environment, IAM role, SSO...).
	Credentials aws.CredentialsProvider
	// Bucket holds the store. It must exist.
	Bucket string
	// Prefix is prepended to every key, so that several stores can share a bucket. A
	// non-empty prefix normally ends with "/".
	Prefix string
	// PieceSize is the largest piece a write PUTs, and so the memory one write (or
	// commit) holds. At least 5 MiB, so that every full piece can be a multipart part
	// by server-side copy. Zero means DefaultPieceSize.
	PieceSize int
	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
}

// StaticCredentials returns a provider of a fixed access key pair (and optional
// session token), as MinIO and most S3-compatible services use.
func StaticCredentials(accessKey, secretKey, sessionToken string) aws.CredentialsProvider {
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, SessionToken: sessionToken, Source: "acre static"}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
}

// Store is a store.BlobStore on S3. It is safe for concurrent use and keeps no state
// besides the bucket's, so any number of replicas may share one bucket.
type Store struct {
	client    *s3.Client
	presign   *s3.PresignClient
	bucket    string
	prefix    string
	pieceSize int
	// maxParts is S3's part limit; tests lower it to exercise two-level commits.
	maxParts int
	// bufs holds *[]byte of pieceSize, reused across writes so that memory does not
	// grow with the number of requests served.
	bufs sync.Pool
}

var _ store.BlobStore = (*Store)(nil)

// New returns a store in an existing bucket. It makes no request: a wrong bucket or
// credential shows on first use.
func New(opts Options) (*Store, error) {
	if err := validateBucket(opts.Bucket); err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	if opts.Credentials == nil {
		return nil, errors.New("s3 store: no credentials")
	}
	ps := opts.PieceSize
	if ps == 0 {
		ps = DefaultPieceSize
	}
	if ps < minPartSize || ps > maxPieceSize {
		return nil, fmt.Errorf("s3 store: piece size %d out of range %d..%d", ps, minPartSize, maxPieceSize)
	}
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	o := s3.Options{
		Region:       region,
		Credentials:  opts.Credentials,
		UsePathStyle: opts.PathStyle,
		// Every body this store sends is an in-memory buffer, whose SHA-256 the
		// request signature covers, so the newer checksum headers add nothing but
		// incompatibility with S3-compatible services that do not know them.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 store: invalid endpoint %q", opts.Endpoint)
		}
		o.BaseEndpoint = aws.String(opts.Endpoint)
	}
	if opts.HTTPClient != nil {
		o.HTTPClient = opts.HTTPClient
	}
	client := s3.New(o)
	s := &Store{
		client:    client,
		presign:   s3.NewPresignClient(client),
		bucket:    opts.Bucket,
		prefix:    opts.Prefix,
		pieceSize: ps,
		maxParts:  maxParts,
	}
	s.bufs.New = func() any {
		b := make([]byte, s.pieceSize)
		return &b
	}
	return s, nil
}

// Stat returns the size of the blob, or an error wrapping store.ErrNotFound.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (int64, error) {
	key, err := s.blobKey(dgst)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", dgst, mapErr(err))
	}
	return aws.ToInt64(head.ContentLength), nil
}

// Open returns the blob's content from offset to the end. An offset beyond the end of
// the blob is an error; an offset equal to its size gives an empty reader.
func (s *Store) Open(ctx context.Context, dgst digest.Digest, offset int64) (io.ReadCloser, error) {
	key, err := s.blobKey(dgst)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("open blob %s: negative offset %d", dgst, offset)
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if isStatus(err, http.StatusRequestedRangeNotSatisfiable) {
		// S3 refuses a range that starts at the end; that is an empty read when the
		// blob has exactly offset bytes.
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
	return out.Body, nil
}

// Delete removes the blob, or returns an error wrapping store.ErrNotFound. S3 deletes
// missing keys silently, so the blob is looked up first.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	key, err := s.blobKey(dgst)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, mapErr(err))
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, mapErr(err))
	}
	return nil
}

// SignedURL returns a presigned GET URL of the blob, valid for ttl (at most seven
// days, S3's limit), for redirecting clients to the service as ACR does. It does not
// check that the blob exists, and makes no request.
func (s *Store) SignedURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (string, error) {
	key, err := s.blobKey(dgst)
	if err != nil {
		return "", fmt.Errorf("sign blob URL: %w", err)
	}
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return "", fmt.Errorf("sign blob URL %s: ttl %v out of range (0, 168h]", dgst, ttl)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("sign blob URL %s: %w", dgst, err)
	}
	return req.URL, nil
}

// CreateUpload stores the upload's manifest, empty. Creating an upload that already
// exists returns an error wrapping store.ErrConflict (the manifest is created with
// If-None-Match).
func (s *Store) CreateUpload(ctx context.Context, id string) error {
	if err := store.ValidateUploadID(id); err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	key := s.uploadDir(id) + manifestName
	body := []byte(`{"pieces":[]}`)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch: aws.String("*"), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("create upload %s: %w", id, mapErr(err))
	}
	return nil
}

// WriteUpload writes r into the upload at offset: r is PUT in new pieces of at most
// PieceSize bytes, then the manifest is replaced (If-Match on the version read) by
// one that keeps the pieces below offset, a shortened copy of a piece that straddles
// it, and the new pieces, and records gen. The write is durable, and visible to
// every replica, once the manifest is stored. A gen not above the generation in the
// manifest returns an error wrapping store.ErrConflict before anything is stored. An
// offset beyond the bytes the upload holds returns such an error too, as does a
// concurrent write to the same upload (the later manifest update fails; its pieces
// are removed).
//
// If r fails or a PUT fails midway, the pieces stored so far are still committed and
// counted in the result, so the caller may resume at offset or offset+n. If the
// manifest update fails, nothing changed and the result is 0.
func (s *Store) WriteUpload(ctx context.Context, id string, offset int64, gen int64, r io.Reader) (int64, error) {
	if err := store.ValidateUploadID(id); err != nil {
		return 0, fmt.Errorf("write upload: %w", err)
	}
	if offset < 0 {
		return 0, fmt.Errorf("write upload %s: negative offset %d", id, offset)
	}
	m, err := s.readManifest(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if gen <= m.Generation {
		return 0, fmt.Errorf("write upload %s: generation %d is not above the upload's %d: %w", id, gen, m.Generation, store.ErrConflict)
	}
	if held := m.size(); held < offset {
		return 0, fmt.Errorf("write upload %s: offset %d is beyond the %d bytes held: %w", id, offset, held, store.ErrConflict)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	w := s.newWrite(m, gen)

	kept, cut := m.cut(offset)
	if cut != nil {
		// The piece that straddles offset: its first part becomes a new piece, by a
		// server-side copy when it is large enough to be a multipart part.
		c := composer{s: s, buf: buf, tmp: w.tmpDir()}
		key, err := w.add(cut.start, func(key string) error {
			return c.compose(ctx, key, []piece{*cut})
		})
		if err != nil {
			return 0, fmt.Errorf("write upload %s: shorten the piece at %d: %w", id, cut.start, err)
		}
		kept = append(kept, entry{Name: w.name(key), Size: cut.size})
	}

	var n int64
	var stopErr error
	for {
		nr, rerr := io.ReadFull(r, buf)
		if nr > 0 {
			p := buf[:nr]
			key, err := w.add(offset+n, func(key string) error {
				_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
				})
				return mapErr(err)
			})
			if err != nil {
				stopErr = fmt.Errorf("put %d bytes at %d: %w", nr, offset+n, err)
				break
			}
			kept = append(kept, entry{Name: w.name(key), Size: int64(nr)})
			n += int64(nr)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			stopErr = rerr
			break
		}
	}
	// The manifest is stored even when the pieces did not change: it records gen.
	if err := w.commit(ctx, kept); err != nil {
		return 0, fmt.Errorf("write upload %s: %w", id, err)
	}
	if stopErr != nil {
		return n, fmt.Errorf("write upload %s: after %d bytes: %w", id, n, stopErr)
	}
	return n, nil
}

// OpenUpload returns the first size bytes of the upload. It fails with an error
// wrapping store.ErrConflict if the upload holds fewer, and the reader fails if a
// later write removes a piece while it is read.
func (s *Store) OpenUpload(ctx context.Context, id string, size int64) (io.ReadCloser, error) {
	if err := store.ValidateUploadID(id); err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("open upload %s: negative size %d", id, size)
	}
	m, err := s.readManifest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	if held := m.size(); held < size {
		return nil, fmt.Errorf("open upload %s: size %d is beyond the %d bytes held: %w", id, size, held, store.ErrConflict)
	}
	return &segmentReader{ctx: ctx, s: s, segs: m.prefix(size)}, nil
}

// CommitUpload makes the first size bytes of the upload the blob dgst and removes the
// upload. The blob is assembled server-side where possible (see the package
// documentation) and appears atomically. If the blob already exists with that size,
// the upload is simply removed. A missing upload returns an error wrapping
// store.ErrNotFound; an upload holding fewer than size bytes, one wrapping
// store.ErrConflict.
func (s *Store) CommitUpload(ctx context.Context, id string, size int64, dgst digest.Digest) error {
	if err := store.ValidateUploadID(id); err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	key, err := s.blobKey(dgst)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if size < 0 {
		return fmt.Errorf("commit upload %s: negative size %d", id, size)
	}
	m, err := s.readManifest(ctx, id)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if held := m.size(); held < size {
		return fmt.Errorf("commit upload %s: size %d is beyond the %d bytes held: %w", id, size, held, store.ErrConflict)
	}
	// Identical content is stored once. A blob of another size under the same digest
	// cannot hold that content (something else wrote it): it is replaced below.
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err == nil && aws.ToInt64(head.ContentLength) == size {
		return s.removeUpload(ctx, id)
	}
	if err != nil && !errors.Is(mapErr(err), store.ErrNotFound) {
		return fmt.Errorf("commit upload %s: %w", id, mapErr(err))
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	c := composer{s: s, buf: *bp, tmp: s.uploadDir(id) + "tmp/" + newNonce() + "/"}
	if err := c.compose(ctx, key, m.prefix(size)); err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, dgst, err)
	}
	return s.removeUpload(ctx, id)
}

// DeleteUpload removes the upload. Deleting a missing upload is not an error.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	if err := store.ValidateUploadID(id); err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	return s.removeUpload(ctx, id)
}

// removeUpload deletes every object under the upload's folder, the manifest last:
// until then the upload still exists, so an interrupted removal can be repeated. It
// lists the folder rather than reading the manifest, so that pieces of failed or
// concurrent writes, which no manifest names, go too.
func (s *Store) removeUpload(ctx context.Context, id string) error {
	dir := s.uploadDir(id)
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &dir})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("delete upload %s: list: %w", id, mapErr(err))
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); k != dir+manifestName {
				keys = append(keys, k)
			}
		}
	}
	if err := s.deleteKeys(ctx, keys); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	mk := dir + manifestName
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &mk}); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, mapErr(err))
	}
	return nil
}

// deleteKeys deletes keys in batches.
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		batch := keys[:min(len(keys), deleteBatch)]
		keys = keys[len(batch):]
		objs := make([]types.ObjectIdentifier, len(batch))
		for i := range batch {
			objs[i] = types.ObjectIdentifier{Key: &batch[i]}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects: %w", len(batch), mapErr(err))
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s: %s (and %d more)", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
	}
	return nil
}

// manifest is the stored state of an upload: its pieces, in order, whose
// concatenation is the upload's content, and the generation of the last write
// (absent, so 0, in a new upload and in uploads made before generations existed).
type manifest struct {
	Pieces     []entry `json:"pieces"`
	Generation int64   `json:"generation,omitempty"`

	dir  string // the upload's folder, which piece names are relative to
	etag string // version of the stored manifest, for If-Match
}

// entry names one piece of a manifest.
type entry struct {
	Name string `json:"name"` // key relative to the upload's folder
	Size int64  `json:"size"`
}

// piece is the first size bytes of an object: the unit that uploads are read, and
// blobs assembled, from.
type piece struct {
	key     string
	start   int64 // offset of the piece in the upload (or the object being assembled)
	size    int64 // bytes used, from the start of the object
	objSize int64 // bytes in the object
}

func (m *manifest) size() int64 {
	var n int64
	for _, e := range m.Pieces {
		n += e.Size
	}
	return n
}

// cut returns the entries that end at or before offset and, if one straddles offset,
// its first offset-start bytes as a piece. offset must not exceed m.size().
func (m *manifest) cut(offset int64) (kept []entry, straddler *piece) {
	var pos int64
	for _, e := range m.Pieces {
		if pos+e.Size <= offset {
			kept = append(kept, e)
			pos += e.Size
			continue
		}
		if pos < offset {
			straddler = &piece{key: m.dir + e.Name, start: pos, size: offset - pos, objSize: e.Size}
		}
		break
	}
	return kept, straddler
}

// prefix returns the pieces that hold the first size bytes, the last one shortened
// (as a range, without touching the object).
func (m *manifest) prefix(size int64) []piece {
	var segs []piece
	var pos int64
	for _, e := range m.Pieces {
		if pos >= size {
			break
		}
		segs = append(segs, piece{key: m.dir + e.Name, start: pos, size: min(e.Size, size-pos), objSize: e.Size})
		pos += e.Size
	}
	return segs
}

// readManifest reads an upload's manifest, or returns an error wrapping
// store.ErrNotFound if the upload does not exist.
func (s *Store) readManifest(ctx context.Context, id string) (*manifest, error) {
	dir := s.uploadDir(id)
	key := dir + manifestName
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", mapErr(err))
	}
	defer out.Body.Close()
	m := &manifest{dir: dir, etag: aws.ToString(out.ETag)}
	// The manifest is small (tens of bytes per piece); the limit only guards
	// against a damaged one.
	if err := json.NewDecoder(io.LimitReader(out.Body, maxManifestSize)).Decode(m); err != nil {
		return nil, fmt.Errorf("read manifest of upload %s: %w", id, err)
	}
	for _, e := range m.Pieces {
		if e.Size <= 0 || !validPieceName(e.Name) {
			return nil, fmt.Errorf("read manifest of upload %s: invalid piece %+v", id, e)
		}
	}
	return m, nil
}

// write is one change of an upload: the pieces it added, to commit or to remove.
type write struct {
	s     *Store
	m     *manifest
	gen   int64 // the generation the new manifest records
	nonce string
	added []string
}

func (s *Store) newWrite(m *manifest, gen int64) *write {
	return &write{s: s, m: m, gen: gen, nonce: newNonce()}
}

// add creates a new piece at offset off with put(key) and records it.
func (w *write) add(off int64, put func(key string) error) (string, error) {
	key := fmt.Sprintf("%sdata/%0*d-%s", w.m.dir, offsetDigits, off, w.nonce)
	if err := put(key); err != nil {
		return "", err
	}
	w.added = append(w.added, key)
	return key, nil
}

func (w *write) name(key string) string { return strings.TrimPrefix(key, w.m.dir) }

// tmpDir is where intermediate objects of this write go, if any.
func (w *write) tmpDir() string { return w.m.dir + "tmp/" + w.nonce + "/" }

// commit stores the manifest with pieces, if the stored one is still the one read.
// On failure the new pieces are removed; on success, the pieces no longer named.
func (w *write) commit(ctx context.Context, pieces []entry) error {
	s := w.s
	body, err := json.Marshal(manifest{Pieces: pieces, Generation: w.gen})
	if err != nil {
		return err
	}
	key := w.m.dir + manifestName
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		IfMatch: &w.m.etag, ContentType: aws.String("application/json"),
	})
	if err != nil {
		// Detached: a cancelled request is a common reason to be here, and the
		// pieces would otherwise stay until the upload is removed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = s.deleteKeys(cctx, w.added)
		return fmt.Errorf("update manifest: %w", mapErr(err))
	}
	live := make(map[string]bool, len(pieces))
	for _, e := range pieces {
		live[e.Name] = true
	}
	var dropped []string
	for _, e := range w.m.Pieces {
		if !live[e.Name] {
			dropped = append(dropped, w.m.dir+e.Name)
		}
	}
	// The write is done: pieces that fail to go now go with the upload.
	_ = s.deleteKeys(ctx, dropped)
	return nil
}

// validPieceName accepts the names the store gives pieces: data/<offset>-<nonce>.
func validPieceName(name string) bool {
	rest, ok := strings.CutPrefix(name, "data/")
	if !ok || len(rest) != offsetDigits+1+nonceLength || rest[offsetDigits] != '-' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if i != offsetDigits && !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newNonce returns nonceLength random hex digits, unique to one write or commit.
func newNonce() string {
	var b [nonceLength / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// readRange reads len(p) bytes of object key at off into p.
func (s *Store) readRange(ctx context.Context, key string, off int64, p []byte) error {
	rc, err := s.getRange(ctx, key, off, int64(len(p)))
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, p); err != nil {
		return fmt.Errorf("read %s at %d: %w", key, off, err)
	}
	return nil
}

// getRange opens n bytes of object key at off.
func (s *Store) getRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", key, off, mapErr(err))
	}
	return out.Body, nil
}

// segmentReader reads a sequence of object ranges, opening each when it is reached.
type segmentReader struct {
	ctx  context.Context
	s    *Store
	segs []piece // ranges: start is the offset in the upload, read from byte 0 of key
	cur  io.ReadCloser
}

func (r *segmentReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.segs) == 0 {
				return 0, io.EOF
			}
			seg := r.segs[0]
			r.segs = r.segs[1:]
			rc, err := r.s.getRange(r.ctx, seg.key, 0, seg.size)
			if err != nil {
				return 0, err
			}
			r.cur = &exactReader{rc: rc, left: seg.size}
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *segmentReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// exactReader reads exactly left bytes of rc: a body that ends early is an error,
// not a shorter upload.
type exactReader struct {
	rc   io.ReadCloser
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.rc.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		return n, io.EOF
	}
	return n, err
}

func (e *exactReader) Close() error { return e.rc.Close() }

// span is a byte range of an object.
type span struct {
	key  string
	off  int64
	size int64
}

// part is one part of an object being assembled: a server-side copy of one range, or
// the concatenation of ranges read through the buffer.
type part struct {
	copy *span // the range to copy, or nil
	read []span
	size int64
}

// plan splits segs (the first size bytes of each object) into parts: ranges of 5 MiB
// or more that start a part are copied server-side (in parts of at most 5 GiB);
// everything else is gathered into parts of bufSize bytes. Every part but the last is
// thus at least 5 MiB.
func plan(segs []piece, bufSize int64) []part {
	var parts []part
	var cur part
	for _, sg := range segs {
		var off int64
		left := sg.size
		for left > 0 {
			if cur.size == 0 && left >= minPartSize {
				n := (left + maxCopyPartSize - 1) / maxCopyPartSize
				step := (left + n - 1) / n
				for left > 0 {
					k := min(step, left)
					parts = append(parts, part{copy: &span{key: sg.key, off: off, size: k}, size: k})
					off += k
					left -= k
				}
				break
			}
			k := min(left, bufSize-cur.size)
			cur.read = append(cur.read, span{key: sg.key, off: off, size: k})
			cur.size += k
			off += k
			left -= k
			if cur.size == bufSize {
				parts = append(parts, cur)
				cur = part{}
			}
		}
	}
	if cur.size > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// composer assembles objects from ranges of other objects.
type composer struct {
	s   *Store
	buf []byte // pieceSize bytes, for the parts that are read and re-sent
	tmp string // key prefix for intermediate objects ("" if none may be needed)
	n   int    // intermediate objects made so far
}

// compose writes the concatenation of segs (the first size bytes of each object) as
// object key. The object appears atomically.
func (c *composer) compose(ctx context.Context, key string, segs []piece) error {
	s := c.s
	var total int64
	for _, sg := range segs {
		total += sg.size
	}
	parts := plan(segs, int64(len(c.buf)))
	switch {
	case total == 0:
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
		if err != nil {
			return fmt.Errorf("put empty %s: %w", key, mapErr(err))
		}
		return nil
	case len(parts) == 1 && len(segs) == 1 && segs[0].size == segs[0].objSize && segs[0].key != key && total <= maxCopyPartSize:
		// A whole object (a single piece): one CopyObject. A prefix would need a
		// ranged copy, which only UploadPartCopy offers.
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &s.bucket, Key: &key, CopySource: s.copySource(segs[0].key),
		})
		if err != nil {
			return fmt.Errorf("copy to %s: %w", key, mapErr(err))
		}
		return nil
	case len(parts) == 1 && parts[0].copy == nil:
		// Small enough for one buffer: read it back and PUT it.
		b, err := c.fill(ctx, parts[0])
		if err != nil {
			return err
		}
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))})
		if err != nil {
			return fmt.Errorf("put %s: %w", key, mapErr(err))
		}
		return nil
	case len(parts) > s.maxParts:
		return c.composeInTwo(ctx, key, segs)
	}
	return c.multipart(ctx, key, parts)
}

// composeInTwo assembles an object of more parts than S3 allows: groups of segments
// become intermediate objects, which are then assembled (by server-side copies of up
// to 5 GiB each) into key.
func (c *composer) composeInTwo(ctx context.Context, key string, segs []piece) error {
	if c.tmp == "" {
		return fmt.Errorf("assemble %s: %d segments need more than %d parts", key, len(segs), c.s.maxParts)
	}
	// A group of g segments makes at most 2g+1 parts (each segment is copied whole or
	// spreads over at most two buffered parts). Groups of one would never converge.
	g := (c.s.maxParts - 1) / 2
	if g < 2 {
		return fmt.Errorf("assemble %s: a limit of %d parts is too low", key, c.s.maxParts)
	}
	var inter []piece
	var tmpKeys []string
	for len(segs) > 0 {
		group := segs[:min(len(segs), g)]
		segs = segs[len(group):]
		var size int64
		for _, sg := range group {
			size += sg.size
		}
		tk := fmt.Sprintf("%s%06d", c.tmp, c.n)
		c.n++
		if err := c.compose(ctx, tk, group); err != nil {
			return err
		}
		tmpKeys = append(tmpKeys, tk)
		inter = append(inter, piece{key: tk, size: size, objSize: size})
	}
	if err := c.compose(ctx, key, inter); err != nil {
		return err
	}
	// Intermediates live under the upload, which the caller removes anyway; deleting
	// them now just frees the space sooner.
	return c.s.deleteKeys(ctx, tmpKeys)
}

// multipart assembles key from parts through one multipart upload. Copies run
// concurrently; read parts go one at a time through the single buffer.
func (c *composer) multipart(ctx context.Context, key string, parts []part) (err error) {
	s := c.s
	mu, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("start multipart upload of %s: %w", key, mapErr(err))
	}
	defer func() {
		if err != nil {
			// The request's context may be what failed: abort on a fresh one, so that
			// the service does not keep (and bill) the parts.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId})
		}
	}()

	done := make([]types.CompletedPart, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyConcurrency)
	for i, p := range parts {
		num := aws.Int32(int32(i + 1))
		if p.copy != nil {
			g.Go(func() error {
				out, err := s.client.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
					Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId, PartNumber: num,
					CopySource:      s.copySource(p.copy.key),
					CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", p.copy.off, p.copy.off+p.copy.size-1)),
				})
				if err != nil {
					return fmt.Errorf("copy part %d of %s: %w", *num, key, mapErr(err))
				}
				done[i] = types.CompletedPart{PartNumber: num, ETag: out.CopyPartResult.ETag}
				return nil
			})
			continue
		}
		b, err := c.fill(gctx, p)
		if err == nil {
			var out *s3.UploadPartOutput
			out, err = s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId, PartNumber: num,
				Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
			})
			if err == nil {
				done[i] = types.CompletedPart{PartNumber: num, ETag: out.ETag}
			} else {
				err = fmt.Errorf("upload part %d of %s: %w", *num, key, mapErr(err))
			}
		}
		if err != nil {
			// A failed copy cancels gctx, which may be why this part failed: report
			// the copy's error, the cause.
			if werr := g.Wait(); werr != nil {
				return werr
			}
			return err
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload of %s: %w", key, mapErr(err))
	}
	return nil
}

// fill reads a read part into the buffer and returns the filled slice.
func (c *composer) fill(ctx context.Context, p part) ([]byte, error) {
	b := c.buf[:p.size]
	var off int64
	for _, r := range p.read {
		if err := c.s.readRange(ctx, r.key, r.off, b[off:off+r.size]); err != nil {
			return nil, err
		}
		off += r.size
	}
	return b, nil
}

// copySource names an object of the bucket as a copy source: bucket/key, URL-escaped.
func (s *Store) copySource(key string) *string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return aws.String(url.PathEscape(s.bucket) + "/" + strings.Join(segs, "/"))
}

func (s *Store) uploadDir(id string) string { return s.prefix + "uploads/" + id + "/" }

// blobKey validates dgst and returns the key of its blob.
func (s *Store) blobKey(dgst digest.Digest) (string, error) {
	if err := store.ValidateDigest(dgst); err != nil {
		return "", err
	}
	return s.prefix + "blobs/" + dgst.Algorithm().String() + "/" + dgst.Encoded(), nil
}

// mapErr adds store.ErrNotFound to "no such key" answers, so that callers test one
// sentinel whichever store they use; a missing bucket is a configuration error and is
// left as it is. A failed precondition (If-Match, If-None-Match on what the store
// read or expects) means someone else changed the object: store.ErrConflict.
func mapErr(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		return err
	}
	switch {
	case isStatus(err, http.StatusNotFound):
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case isStatus(err, http.StatusPreconditionFailed), isStatus(err, http.StatusConflict):
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

// isStatus reports whether err is an HTTP response with that status.
func isStatus(err error, status int) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

// validateBucket applies S3's bucket naming rules (the common subset), so that a
// typo fails at start rather than as an obscure error on first use.
func validateBucket(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("invalid bucket name %q: length must be 3 to 63", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		inner := i > 0 && i < len(name)-1
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || (c == '-' || c == '.') && inner) {
			return fmt.Errorf("invalid bucket name %q: lowercase letters, digits, and inner '-' or '.' only", name)
		}
	}
	return nil
}
