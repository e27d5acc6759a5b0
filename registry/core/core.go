// Package core is the registry domain: the one place where the rules live.
//
// Both API surfaces (/v2 and /acr/v1) call a *Registry, so a rule (a lock, a blob a
// manifest needs, a timestamp) cannot be enforced on one path and forgotten on the
// other. Errors are *errcode.Error values carrying the code and status the wire
// needs; anything else is an internal failure.
package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/store"
)

// Options tune a Registry.
type Options struct {
	// AllowSparseManifests accepts image manifests and indexes whose layers or child
	// manifests are not in the repository. Off by default: a manifest that references
	// missing content is refused with MANIFEST_BLOB_UNKNOWN.
	AllowSparseManifests bool
	// LoginServer is the registry host name reported in ACR metadata.
	LoginServer string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives internal diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// BlobRedirectTTL, when positive and the blob store can sign URLs, makes blob
	// GETs answer 307 with a URL valid for this long, as ACR does, instead of
	// streaming the blob through the registry.
	BlobRedirectTTL time.Duration
}

// Registry implements the registry's operations over a blob store and a metadata store.
type Registry struct {
	blobs store.BlobStore
	meta  store.MetadataStore
	opts  Options
	log   *slog.Logger

	// uploads serialises writes to one upload session within this process, so that
	// they queue rather than fail; across replicas, write generations (claimWrite)
	// keep racing writes from corrupting a session.
	uploads keyedMutex
}

// New returns a Registry over the given stores.
func New(blobs store.BlobStore, meta store.MetadataStore, opts Options) *Registry {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Registry{blobs: blobs, meta: meta, opts: opts, log: log}
}

func (r *Registry) now() time.Time { return r.opts.Now().UTC() }

// Common errors.
var (
	errDisallowed = &errcode.Error{Code: errcode.Disallowed, Message: errcode.DisallowedMessage, Detail: struct{}{}}
)

func nameUnknown(name string) *errcode.Error {
	return errcode.New(errcode.NameUnknown, "repository %q is not found", name)
}

// repository returns the named repository or NAME_UNKNOWN.
func repository(ctx context.Context, tx store.MetadataTx, name string) (store.Repository, error) {
	repo, err := tx.Repository(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return repo, nameUnknown(name)
	}
	return repo, err
}

// keyedMutex is a set of mutexes created on demand and dropped when unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedEntry)
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
