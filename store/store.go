// Package store defines the two storage seams of the acre registry server:
//
//   - BlobStore: content addressed by digest, written through resumable uploads
//     and read as streams. Default: the local filesystem (store/fs).
//   - MetadataStore: repositories, manifests, tags, blob links, referrers and upload
//     sessions, changed in transactions. Default: embedded SQLite (store/sqlite).
//
// Stores hold data and enforce nothing but their own consistency: the rules (locks,
// what must exist before a manifest is accepted, timestamps) live in the registry
// domain, which calls the stores. Every implementation must pass the shared suite in
// store/storetest. Nothing in a store may keep per-process state that changes
// behaviour, so that several stateless server replicas can share one pair of stores.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned (wrapped) when a requested item does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a change lost a race with another change,
// for example an upload session that moved on since it was read.
var ErrConflict = errors.New("conflict")

// BlobStore keeps blobs by digest. Content is written through uploads: an upload is
// an append-only temporary object that becomes a blob only by CommitUpload, after the
// caller has verified its digest, so a blob is never visible half-written. Identical
// content is stored once, whichever repositories link to it.
type BlobStore interface {
	// Stat returns the size of the blob, or ErrNotFound.
	Stat(ctx context.Context, dgst digest.Digest) (size int64, err error)
	// Open returns the blob's content from offset to the end, or ErrNotFound.
	// The caller must close the reader. Implementations stream; they never load
	// a whole blob into memory.
	Open(ctx context.Context, dgst digest.Digest, offset int64) (io.ReadCloser, error)
	// Delete removes the blob. Deleting a missing blob returns ErrNotFound.
	Delete(ctx context.Context, dgst digest.Digest) error

	// CreateUpload starts an empty upload with the given id (chosen by the caller,
	// unique, made of [a-zA-Z0-9-]).
	CreateUpload(ctx context.Context, id string) error
	// WriteUpload writes r into the upload starting at offset and returns the number
	// of bytes written. Anything the upload held beyond offset is discarded first, so
	// a retried write after a failure or a crash starts from the last good offset.
	// The write is durable when WriteUpload returns without error. ErrNotFound if the
	// upload does not exist.
	//
	// gen is the write's generation, a fencing token (see Upload.Generation). A new
	// upload has generation 0. A write whose gen is not greater than the generation
	// of the upload fails with ErrConflict and changes nothing; any other write
	// raises the upload's generation to gen, atomically with its change of the data
	// and durably with it. Checking gen and writing are one atomic step, even
	// between processes, so once a write of generation g has changed the upload no
	// write of a lower generation can change it again.
	WriteUpload(ctx context.Context, id string, offset int64, gen int64, r io.Reader) (int64, error)
	// OpenUpload reads back the first size bytes of an upload (used to compute a digest
	// with another algorithm than the one hashed while writing).
	OpenUpload(ctx context.Context, id string, size int64) (io.ReadCloser, error)
	// CommitUpload makes the first size bytes of the upload the blob dgst, durably,
	// and removes the upload. The caller has verified the digest. If the blob already
	// exists the upload is simply removed.
	CommitUpload(ctx context.Context, id string, size int64, dgst digest.Digest) error
	// DeleteUpload discards an upload. Deleting a missing upload is not an error.
	DeleteUpload(ctx context.Context, id string) error
}

// URLSigner is implemented by blob stores that can hand out short-lived URLs from
// which a client reads a blob directly (object storage), so that the registry can
// answer a blob GET with a redirect, as ACR does, instead of streaming the bytes.
type URLSigner interface {
	// SignedURL returns a URL that allows reading the blob, and nothing else, for ttl.
	SignedURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (string, error)
}

// MetadataStore keeps the registry's metadata. All reads and writes happen inside a
// transaction: View for reads, Update for changes, so that every multi-row change
// (a manifest and its tag, a delete and its cascade) is atomic.
type MetadataStore interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx MetadataTx) error) error
	// Update runs fn in a read-write transaction and commits it if fn returns nil.
	// Implementations may run fn more than once when a transaction must be retried
	// (serialization failure), so fn must not have side effects outside tx.
	Update(ctx context.Context, fn func(tx MetadataTx) error) error
	// Close releases the store.
	Close() error
}

// Attributes are ACR's changeable attributes (locks). Every attribute defaults to true.
type Attributes struct {
	DeleteEnabled bool
	WriteEnabled  bool
	ReadEnabled   bool
	ListEnabled   bool
}

// DefaultAttributes has every operation enabled.
var DefaultAttributes = Attributes{DeleteEnabled: true, WriteEnabled: true, ReadEnabled: true, ListEnabled: true}

// Repository is one repository.
type Repository struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	Attributes
}

// BlobLink records that a repository holds a blob: the blob is visible (pullable)
// through that repository only.
type BlobLink struct {
	RepositoryID int64
	Digest       digest.Digest
	Size         int64
	CreatedAt    time.Time
}

// Manifest is one manifest in one repository, with what the domain derived from it.
type Manifest struct {
	RepositoryID int64
	Digest       digest.Digest
	// MediaType of the manifest document (Content-Type it was pushed with).
	MediaType string
	// ArtifactType is the manifest's artifactType field, if any.
	ArtifactType string
	// ConfigMediaType is the media type of the config descriptor (image manifests).
	ConfigMediaType string
	// Subject is the digest of the manifest's subject, if any (OCI 1.1 referrers).
	Subject digest.Digest
	// Annotations of the manifest, reported in referrers listings.
	Annotations map[string]string
	// Content is the manifest document, byte for byte as pushed.
	Content []byte
	// Size is len(Content), set by the store on write; listings fill it even when
	// they leave Content out.
	Size int64
	// ImageSize is the manifest size plus the sizes of the blobs it references.
	ImageSize int64
	// Platform, from the image config (images) or empty.
	Architecture string
	OS           string
	Variant      string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Attributes
}

// Tag points a name at a manifest digest in a repository.
type Tag struct {
	RepositoryID int64
	Name         string
	Digest       digest.Digest
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Attributes
}

// Upload is a blob upload session. HashState is the serialised state of the running
// digest (encoding.BinaryMarshaler) of the first Size bytes, so that a session can be
// resumed after a restart or on another replica without re-reading the data.
//
// Generation fences the writes of the session's data, so that Size and HashState
// always describe the bytes the blob store holds even when writes race on several
// replicas. It is the generation of the latest write claimed: before writing, a
// writer raises it by one in a metadata transaction and passes the new value to
// BlobStore.WriteUpload, which refuses generations not greater than one it has
// accepted; after writing, the writer saves Size and HashState only if Generation
// is still its own (compare-and-set). A writer that lost a race therefore either
// never reaches the data or cannot save its state, and a writer that died between
// writing and saving is superseded by the next claim without waiting for anything.
type Upload struct {
	ID         string
	Repository string
	Size       int64
	HashState  []byte
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Order of a listing.
type Order int

// Listing orders. OrderNone is lexical by name (tags, repositories) or digest (manifests).
// The time orders sort by UpdatedAt and break ties by name/digest in the same direction,
// so a cursor identifies a position uniquely.
const (
	OrderNone Order = iota
	OrderTimeAsc
	OrderTimeDesc
)

// ListOptions selects one page of a listing.
type ListOptions struct {
	// After is the cursor: the name (tag, repository) or digest (manifest) of the last
	// item of the previous page. The page starts after that item in the chosen order.
	// If no item has that name, time-ordered listings start at the first item that
	// would sort after a name/digest equal to After (lexical order is used for ties);
	// OrderNone simply compares lexically.
	After string
	// Limit is the maximum number of items; 0 means no limit.
	Limit int
	Order Order
	// Digest, for tag listings, keeps only the tags that point at this digest.
	Digest digest.Digest
	// ListableOnly hides items whose ListEnabled attribute is false.
	ListableOnly bool
}

// MetadataTx is the set of operations available inside a transaction.
// Methods return an error wrapping ErrNotFound for missing items.
type MetadataTx interface {
	// Repository returns a repository by name.
	Repository(ctx context.Context, name string) (Repository, error)
	// CreateRepository returns the named repository, creating it with default
	// attributes and CreatedAt = UpdatedAt = now if it does not exist.
	CreateRepository(ctx context.Context, name string, now time.Time) (Repository, error)
	// UpdateRepository stores UpdatedAt and Attributes of repo (by ID).
	UpdateRepository(ctx context.Context, repo Repository) error
	// DeleteRepository deletes a repository with its manifests, tags and blob links.
	DeleteRepository(ctx context.Context, id int64) error
	// ListRepositories lists repositories by name (only OrderNone, After, Limit and
	// ListableOnly apply).
	ListRepositories(ctx context.Context, opts ListOptions) ([]Repository, error)
	// CountRepository returns the number of manifests and tags in a repository.
	CountRepository(ctx context.Context, id int64) (manifests, tags int, err error)

	// Blob returns a repository's link to a blob.
	Blob(ctx context.Context, repoID int64, dgst digest.Digest) (BlobLink, error)
	// FindBlob returns a link to the blob from any repository.
	FindBlob(ctx context.Context, dgst digest.Digest) (BlobLink, error)
	// PutBlob links a blob into a repository; linking it again is not an error.
	PutBlob(ctx context.Context, link BlobLink) error
	// DeleteBlob removes a repository's link to a blob.
	DeleteBlob(ctx context.Context, repoID int64, dgst digest.Digest) error
	// BlobLinked reports whether any repository links the blob (for garbage collection).
	BlobLinked(ctx context.Context, dgst digest.Digest) (bool, error)

	// Manifest returns a manifest by digest, with its content.
	Manifest(ctx context.Context, repoID int64, dgst digest.Digest) (Manifest, error)
	// PutManifest inserts a manifest, or, if one with that digest exists, replaces
	// every field of it except CreatedAt.
	PutManifest(ctx context.Context, m Manifest) error
	// DeleteManifest deletes a manifest and the tags that point at it.
	DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) error
	// ListManifests lists a repository's manifests, without Content.
	ListManifests(ctx context.Context, repoID int64, opts ListOptions) ([]Manifest, error)
	// Referrers lists the manifests whose subject is dgst, without Content, by digest.
	Referrers(ctx context.Context, repoID int64, subject digest.Digest) ([]Manifest, error)

	// Tag returns a tag by name.
	Tag(ctx context.Context, repoID int64, name string) (Tag, error)
	// PutTag inserts or replaces a tag (all fields; CreatedAt is kept on replace).
	PutTag(ctx context.Context, tag Tag) error
	// DeleteTag deletes a tag.
	DeleteTag(ctx context.Context, repoID int64, name string) error
	// ListTags lists a repository's tags.
	ListTags(ctx context.Context, repoID int64, opts ListOptions) ([]Tag, error)

	// Upload returns an upload session.
	Upload(ctx context.Context, id string) (Upload, error)
	// PutUpload inserts or replaces an upload session.
	PutUpload(ctx context.Context, u Upload) error
	// DeleteUpload deletes an upload session; deleting a missing one is not an error.
	DeleteUpload(ctx context.Context, id string) error
	// ListUploads lists sessions last updated before the given time (for expiry).
	ListUploads(ctx context.Context, updatedBefore time.Time, limit int) ([]Upload, error)

	// Token returns a repository-scoped access token by name.
	Token(ctx context.Context, name string) (Token, error)
	// PutToken inserts or replaces a token (CreatedAt is kept on replace).
	PutToken(ctx context.Context, t Token) error
	// DeleteToken deletes a token.
	DeleteToken(ctx context.Context, name string) error
	// ListTokens lists every token by name.
	ListTokens(ctx context.Context) ([]Token, error)
}

// Token is a repository-scoped access token, as ACR has them: a name, up to two
// passwords (stored only as hashes) and a scope map of repository patterns and the
// actions allowed on them.
type Token struct {
	Name string
	// PasswordHashes holds one or two password hashes (ACR tokens have password1
	// and password2, so one can be rotated while the other is in use).
	PasswordHashes [][]byte
	Scopes         []TokenScope
	Enabled        bool
	CreatedAt      time.Time
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time
}

// TokenScope allows actions on the repositories a pattern matches: "name",
// "prefix/*" or "*". Actions are ACR scope-map actions: content/read,
// content/write, content/delete, metadata/read, metadata/write.
type TokenScope struct {
	Repository string   `json:"repository"`
	Actions    []string `json:"actions"`
}
