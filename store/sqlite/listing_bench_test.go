package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
)

// BenchmarkListPage lists one page of 100 tags or manifests, from the middle of a
// repository, in every order, for repositories of 1k, 10k and 100k items. An
// index-backed keyset listing costs the same whatever the repository's size;
// compare ns/op across sizes.
//
//	go test -run '^$' -bench ListPage -benchtime 2000x ./store/sqlite/
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		s, repoID := populated(b, n)
		middleTag := fmt.Sprintf("tag-%07d", n/2)
		middleDigest := benchDigest(n / 2)
		for _, order := range []struct {
			name  string
			order store.Order
		}{{"none", store.OrderNone}, {"timeasc", store.OrderTimeAsc}, {"timedesc", store.OrderTimeDesc}} {
			b.Run(fmt.Sprintf("tags/%s/%dk", order.name, n/1000), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					err := s.View(ctx, func(tx store.MetadataTx) error {
						page, err := tx.ListTags(ctx, repoID, store.ListOptions{After: middleTag, Limit: 100, Order: order.order, ListableOnly: true})
						if err == nil && len(page) != 100 {
							err = fmt.Errorf("page of %d", len(page))
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("manifests/%s/%dk", order.name, n/1000), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					err := s.View(ctx, func(tx store.MetadataTx) error {
						page, err := tx.ListManifests(ctx, repoID, store.ListOptions{After: string(middleDigest), Limit: 100, Order: order.order, ListableOnly: true})
						if err == nil && len(page) != 100 {
							err = fmt.Errorf("page of %d", len(page))
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		s.Close()
	}
}

func benchDigest(i int) digest.Digest { return digest.FromString(fmt.Sprint("manifest ", i)) }

// populated returns a store with one repository of n manifests, each tagged, whose
// timestamps tie in groups of ten.
func populated(b *testing.B, n int) (*Store, int64) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	var repoID int64
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := s.Update(ctx, func(tx store.MetadataTx) error {
			repo, err := tx.CreateRepository(ctx, "bench", base)
			if err != nil {
				return err
			}
			repoID = repo.ID
			for i := start; i < min(start+batch, n); i++ {
				at := base.Add(time.Duration(i/10) * time.Second)
				d := benchDigest(i)
				if err := tx.PutManifest(ctx, store.Manifest{RepositoryID: repo.ID, Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
					Content: []byte(`{"schemaVersion":2}`), CreatedAt: at, UpdatedAt: at, Attributes: store.DefaultAttributes}); err != nil {
					return err
				}
				if err := tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: fmt.Sprintf("tag-%07d", i), Digest: d,
					CreatedAt: at, UpdatedAt: at, Attributes: store.DefaultAttributes}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, repoID
}
