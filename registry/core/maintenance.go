package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
)

// Ready checks that both stores answer: the metadata store runs a transaction and
// the blob store looks a blob up. It is what /readyz reports.
func (r *Registry) Ready(ctx context.Context) error {
	if err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		_, err := tx.ListRepositories(ctx, store.ListOptions{Limit: 1})
		return err
	}); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	probe := digest.FromString("acre readiness probe")
	if _, err := r.blobs.Stat(ctx, probe); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}

// ExpireUploads discards upload sessions untouched for longer than maxAge, with their
// data, and returns how many it removed. Several replicas may run it at once: a
// session removed twice is not an error.
func (r *Registry) ExpireUploads(ctx context.Context, maxAge time.Duration) (int, error) {
	const batch = 100
	removed := 0
	for {
		var uploads []store.Upload
		err := r.meta.View(ctx, func(tx store.MetadataTx) error {
			var err error
			uploads, err = tx.ListUploads(ctx, r.now().Add(-maxAge), batch)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("list stale uploads: %w", err)
		}
		for _, u := range uploads {
			unlock := r.uploads.Lock(u.ID)
			r.discardUpload(ctx, u.ID)
			unlock()
			removed++
		}
		if len(uploads) < batch || ctx.Err() != nil {
			return removed, ctx.Err()
		}
	}
}
