package storetest

import (
	"context"
	_ "crypto/sha256" // digest.FromString needs the hash registered
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

// TestMetadataStore runs the conformance suite for store.MetadataStore. open must
// return a new, empty store for each call and close it when the test ends (with
// t.Cleanup); it is called once per subtest, so subtests do not depend on each other.
// Subtests do not run in parallel, so open may reset one shared database. Implementations
// call it from their own tests:
//
//	func TestMetadataStore(t *testing.T) {
//		storetest.TestMetadataStore(t, func(t *testing.T) store.MetadataStore { ... })
//	}
func TestMetadataStore(t *testing.T, open func(t *testing.T) store.MetadataStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.MetadataStore)
	}{
		{"Repositories", metaTestRepositories},
		{"DeleteRepositoryCascades", metaTestDeleteRepository},
		{"ListRepositories", metaTestListRepositories},
		{"CountRepository", metaTestCountRepository},
		{"BlobLinks", metaTestBlobLinks},
		{"Manifests", metaTestManifests},
		{"DeleteManifestDeletesTags", metaTestDeleteManifest},
		{"Referrers", metaTestReferrers},
		{"ListManifests", metaTestListManifests},
		{"Tags", metaTestTags},
		{"ListTags", metaTestListTags},
		{"Uploads", metaTestUploads},
		{"Tokens", metaTestTokens},
		{"MissingRepository", metaTestMissingRepository},
		{"UpdateRollsBack", metaTestRollback},
		{"ViewIsReadOnly", metaTestViewReadOnly},
		{"ConcurrentUpdates", metaTestConcurrentUpdates},
		{"ConcurrentCreateRepository", metaTestConcurrentCreateRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// metaAt returns the suite's timestamp sec seconds after an arbitrary base. The times
// are in a zone other than UTC, to check that stores return UTC, and have a fraction
// of a second (whole microseconds, which every engine keeps) to check that stores do
// not truncate to seconds.
func metaAt(sec int) time.Time {
	zone := time.FixedZone("UTC+2", 2*60*60)
	return time.Date(2024, time.March, 1, 12, 0, 0, 123456000, zone).Add(time.Duration(sec) * time.Second)
}

// metaDigest returns a well-formed digest derived from s.
func metaDigest(s string) digest.Digest { return digest.FromString(s) }

// metaUpdate runs fn in an Update and fails the test on error.
func metaUpdate(t *testing.T, s store.MetadataStore, fn func(ctx context.Context, tx store.MetadataTx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.MetadataTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// metaView runs fn in a View and fails the test on error.
func metaView(t *testing.T, s store.MetadataStore, fn func(ctx context.Context, tx store.MetadataTx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.View(ctx, func(tx store.MetadataTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// metaCreateRepo creates a repository and returns it.
func metaCreateRepo(t *testing.T, s store.MetadataStore, name string) store.Repository {
	t.Helper()
	var repo store.Repository
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		var err error
		repo, err = tx.CreateRepository(ctx, name, metaAt(0))
		return err
	})
	return repo
}

// metaWantNotFound fails the test unless err wraps store.ErrNotFound.
func metaWantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: error %v, want one wrapping store.ErrNotFound", what, err)
	}
}

// metaWantUTC fails the test unless every non-zero time is in UTC, as the store
// contract requires of returned times.
func metaWantUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}

// metaNormTime makes a time comparable with reflect.DeepEqual: same instant, same
// representation, whatever the location or monotonic reading.
func metaNormTime(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, tm.UnixNano()).UTC()
}

// metaNormBytes treats an empty slice and nil alike: a store may return either.
func metaNormBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// metaEqual compares got and want after norm and reports a mismatch.
func metaEqual[T any](t *testing.T, what string, got, want T, norm func(T) T) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func metaNormRepository(r store.Repository) store.Repository {
	r.CreatedAt, r.UpdatedAt = metaNormTime(r.CreatedAt), metaNormTime(r.UpdatedAt)
	return r
}

func metaNormBlob(b store.BlobLink) store.BlobLink {
	b.CreatedAt = metaNormTime(b.CreatedAt)
	return b
}

func metaNormManifest(m store.Manifest) store.Manifest {
	m.CreatedAt, m.UpdatedAt = metaNormTime(m.CreatedAt), metaNormTime(m.UpdatedAt)
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	m.Content = metaNormBytes(m.Content)
	if len(m.Content) > 0 {
		// Stores derive Size from Content on write.
		m.Size = int64(len(m.Content))
	}
	return m
}

func metaNormTag(tg store.Tag) store.Tag {
	tg.CreatedAt, tg.UpdatedAt = metaNormTime(tg.CreatedAt), metaNormTime(tg.UpdatedAt)
	return tg
}

func metaNormUpload(u store.Upload) store.Upload {
	u.CreatedAt, u.UpdatedAt = metaNormTime(u.CreatedAt), metaNormTime(u.UpdatedAt)
	u.HashState = metaNormBytes(u.HashState)
	return u
}

// metaManifest returns a manifest of repo with every field set, derived from name.
func metaManifest(repoID int64, name string, updated time.Time) store.Manifest {
	return store.Manifest{
		RepositoryID:    repoID,
		Digest:          metaDigest(name),
		MediaType:       "application/vnd.oci.image.manifest.v1+json",
		ArtifactType:    "application/vnd.example." + name,
		ConfigMediaType: "application/vnd.oci.image.config.v1+json",
		Annotations:     map[string]string{"name": name, "org.opencontainers.image.created": "2024-03-01T12:00:00Z"},
		Content:         []byte(`{"schemaVersion":2,"name":"` + name + `"}`),
		Size:            int64(len(`{"schemaVersion":2,"name":"` + name + `"}`)),
		ImageSize:       int64(1000 + len(name)),
		Architecture:    "amd64",
		OS:              "linux",
		Variant:         "v3",
		CreatedAt:       updated,
		UpdatedAt:       updated,
		Attributes:      store.DefaultAttributes,
	}
}

// metaTag returns a tag of repo pointing at dgst.
func metaTag(repoID int64, name string, dgst digest.Digest, updated time.Time) store.Tag {
	return store.Tag{RepositoryID: repoID, Name: name, Digest: dgst, CreatedAt: updated, UpdatedAt: updated,
		Attributes: store.DefaultAttributes}
}

// metaTestRepositories covers create (new and existing), get, attribute updates and
// missing repositories.
func metaTestRepositories(t *testing.T, s store.MetadataStore) {
	var repo store.Repository
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		var err error
		if repo, err = tx.CreateRepository(ctx, "library/alpine", metaAt(1)); err != nil {
			return err
		}
		// The transaction sees its own change.
		got, err := tx.Repository(ctx, "library/alpine")
		if err != nil {
			return err
		}
		metaEqual(t, "Repository in the creating transaction", got, repo, metaNormRepository)
		return nil
	})
	want := store.Repository{ID: repo.ID, Name: "library/alpine", CreatedAt: metaAt(1), UpdatedAt: metaAt(1),
		Attributes: store.DefaultAttributes}
	metaEqual(t, "CreateRepository", repo, want, metaNormRepository)
	metaWantUTC(t, "CreateRepository", repo.CreatedAt, repo.UpdatedAt)

	// Creating an existing repository returns it unchanged.
	var other store.Repository
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		again, err := tx.CreateRepository(ctx, "library/alpine", metaAt(5))
		if err != nil {
			return err
		}
		metaEqual(t, "CreateRepository of an existing repository", again, want, metaNormRepository)
		other, err = tx.CreateRepository(ctx, "library/busybox", metaAt(6))
		return err
	})
	if other.ID == repo.ID {
		t.Errorf("two repositories share ID %d", repo.ID)
	}

	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Repository(ctx, "library/alpine")
		if err != nil {
			return err
		}
		metaEqual(t, "Repository", got, want, metaNormRepository)
		metaWantUTC(t, "Repository", got.CreatedAt, got.UpdatedAt)
		_, err = tx.Repository(ctx, "library/missing")
		metaWantNotFound(t, "Repository of a missing repository", err)
		return nil
	})

	// UpdateRepository stores UpdatedAt and every attribute, one at a time.
	for i, attrs := range []store.Attributes{
		{DeleteEnabled: false, WriteEnabled: true, ReadEnabled: true, ListEnabled: true},
		{DeleteEnabled: true, WriteEnabled: false, ReadEnabled: true, ListEnabled: true},
		{DeleteEnabled: true, WriteEnabled: true, ReadEnabled: false, ListEnabled: true},
		{DeleteEnabled: true, WriteEnabled: true, ReadEnabled: true, ListEnabled: false},
		{},
		store.DefaultAttributes,
	} {
		want.UpdatedAt = metaAt(10 + i)
		want.Attributes = attrs
		metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			return tx.UpdateRepository(ctx, want)
		})
		metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			got, err := tx.Repository(ctx, "library/alpine")
			if err != nil {
				return err
			}
			metaEqual(t, fmt.Sprintf("Repository after UpdateRepository %+v", attrs), got, want, metaNormRepository)
			return nil
		})
	}

	err := s.Update(t.Context(), func(tx store.MetadataTx) error {
		return tx.UpdateRepository(t.Context(), store.Repository{ID: repo.ID + other.ID + 1000, UpdatedAt: metaAt(1)})
	})
	metaWantNotFound(t, "UpdateRepository of a missing repository", err)
}

// metaTestDeleteRepository checks that deleting a repository deletes its manifests,
// tags and blob links, and nothing of other repositories.
func metaTestDeleteRepository(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "doomed")
	keep := metaCreateRepo(t, s, "kept")
	blob := metaDigest("layer")
	m := metaManifest(repo.ID, "m", metaAt(1))
	km := metaManifest(keep.ID, "m", metaAt(1))
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, r := range []store.Repository{repo, keep} {
			if err := tx.PutBlob(ctx, store.BlobLink{RepositoryID: r.ID, Digest: blob, Size: 5, CreatedAt: metaAt(1)}); err != nil {
				return err
			}
		}
		for _, mf := range []store.Manifest{m, km} {
			if err := tx.PutManifest(ctx, mf); err != nil {
				return err
			}
			if err := tx.PutTag(ctx, metaTag(mf.RepositoryID, "latest", mf.Digest, metaAt(1))); err != nil {
				return err
			}
		}
		return nil
	})

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		return tx.DeleteRepository(ctx, repo.ID)
	})

	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Repository(ctx, "doomed")
		metaWantNotFound(t, "Repository after DeleteRepository", err)
		_, err = tx.Blob(ctx, repo.ID, blob)
		metaWantNotFound(t, "Blob after DeleteRepository", err)
		_, err = tx.Manifest(ctx, repo.ID, m.Digest)
		metaWantNotFound(t, "Manifest after DeleteRepository", err)
		_, err = tx.Tag(ctx, repo.ID, "latest")
		metaWantNotFound(t, "Tag after DeleteRepository", err)
		if tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{}); err != nil || len(tags) != 0 {
			t.Errorf("ListTags after DeleteRepository = %v, %v; want none", tags, err)
		}
		if ms, err := tx.ListManifests(ctx, repo.ID, store.ListOptions{}); err != nil || len(ms) != 0 {
			t.Errorf("ListManifests after DeleteRepository = %v, %v; want none", ms, err)
		}

		// The other repository is untouched.
		if _, err := tx.Repository(ctx, "kept"); err != nil {
			t.Errorf("Repository of the other repository: %v", err)
		}
		if _, err := tx.Tag(ctx, keep.ID, "latest"); err != nil {
			t.Errorf("Tag of the other repository: %v", err)
		}
		if _, err := tx.Manifest(ctx, keep.ID, km.Digest); err != nil {
			t.Errorf("Manifest of the other repository: %v", err)
		}
		link, err := tx.FindBlob(ctx, blob)
		if err != nil || link.RepositoryID != keep.ID {
			t.Errorf("FindBlob = %+v, %v; want the other repository's link", link, err)
		}
		return nil
	})

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		return tx.DeleteRepository(ctx, keep.ID)
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		linked, err := tx.BlobLinked(ctx, blob)
		if err != nil || linked {
			t.Errorf("BlobLinked after deleting every repository = %v, %v; want false", linked, err)
		}
		return nil
	})

	err := s.Update(t.Context(), func(tx store.MetadataTx) error { return tx.DeleteRepository(t.Context(), repo.ID) })
	metaWantNotFound(t, "DeleteRepository of a missing repository", err)

	// A repository created again under the same name starts empty.
	again := metaCreateRepo(t, s, "doomed")
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		manifests, tags, err := tx.CountRepository(ctx, again.ID)
		if err != nil || manifests != 0 || tags != 0 {
			t.Errorf("CountRepository of a re-created repository = %d, %d, %v; want 0, 0", manifests, tags, err)
		}
		if _, err := tx.Blob(ctx, again.ID, blob); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Blob in a re-created repository: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// metaTestListRepositories pages through repositories with and without ListableOnly.
func metaTestListRepositories(t *testing.T, s store.MetadataStore) {
	names := []string{"zeta", "alpha/one", "alpha", "beta/x/y", "alpha/two", "gamma", "b", "delta", "epsilon", "a-b"}
	hidden := map[string]bool{"alpha": true, "gamma": true, "zeta": true}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for i, n := range names {
			r, err := tx.CreateRepository(ctx, n, metaAt(i))
			if err != nil {
				return err
			}
			if hidden[n] {
				r.ListEnabled = false
				if err := tx.UpdateRepository(ctx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})

	for _, listable := range []bool{false, true} {
		var want []string
		for _, n := range names {
			if !listable || !hidden[n] {
				want = append(want, n)
			}
		}
		slices.Sort(want)
		for _, limit := range []int{0, 1, 3, 4, len(want), len(want) + 1} {
			t.Run(fmt.Sprintf("listable=%v/limit=%d", listable, limit), func(t *testing.T) {
				got := metaPageAll(t, limit, func(after string, limit int) []string {
					var page []string
					metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
						repos, err := tx.ListRepositories(ctx, store.ListOptions{After: after, Limit: limit, ListableOnly: listable})
						for _, r := range repos {
							page = append(page, r.Name)
							metaWantUTC(t, "ListRepositories", r.CreatedAt, r.UpdatedAt)
						}
						return err
					})
					return page
				})
				if !slices.Equal(got, want) {
					t.Errorf("ListRepositories pages = %q, want %q", got, want)
				}
			})
		}
	}

	// A cursor that names no repository is compared lexically.
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		repos, err := tx.ListRepositories(ctx, store.ListOptions{After: "alpha/p", Limit: 2})
		if err != nil {
			return err
		}
		var got []string
		for _, r := range repos {
			got = append(got, r.Name)
		}
		if want := []string{"alpha/two", "b"}; !slices.Equal(got, want) {
			t.Errorf("ListRepositories after a missing name = %q, want %q", got, want)
		}
		return nil
	})
}

// metaPageAll follows a listing page by page, with the last item of a page as the
// cursor of the next, and returns every item in the order received. A page longer
// than limit fails the test; a page shorter than limit ends the listing.
func metaPageAll(t *testing.T, limit int, list func(after string, limit int) []string) []string {
	t.Helper()
	var all []string
	after := ""
	for range 1000 {
		page := list(after, limit)
		if limit > 0 && len(page) > limit {
			t.Fatalf("page after %q has %d items, limit %d", after, len(page), limit)
		}
		all = append(all, page...)
		if limit == 0 || len(page) < limit {
			return all
		}
		after = page[len(page)-1]
	}
	t.Fatalf("listing does not end; so far %q", all)
	return nil
}

// metaTestCountRepository counts manifests and tags.
func metaTestCountRepository(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "counted")
	other := metaCreateRepo(t, s, "other")
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for i := range 3 {
			m := metaManifest(repo.ID, fmt.Sprint("m", i), metaAt(i))
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
			if i < 2 {
				if err := tx.PutTag(ctx, metaTag(repo.ID, fmt.Sprint("t", i), m.Digest, metaAt(i))); err != nil {
					return err
				}
			}
		}
		return tx.PutManifest(ctx, metaManifest(other.ID, "m0", metaAt(0)))
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		manifests, tags, err := tx.CountRepository(ctx, repo.ID)
		if err != nil || manifests != 3 || tags != 2 {
			t.Errorf("CountRepository = %d, %d, %v; want 3, 2", manifests, tags, err)
		}
		manifests, tags, err = tx.CountRepository(ctx, other.ID)
		if err != nil || manifests != 1 || tags != 0 {
			t.Errorf("CountRepository of the other repository = %d, %d, %v; want 1, 0", manifests, tags, err)
		}
		_, _, err = tx.CountRepository(ctx, repo.ID+other.ID+1000)
		metaWantNotFound(t, "CountRepository of a missing repository", err)
		return nil
	})
}

// metaTestBlobLinks covers linking, finding and unlinking blobs.
func metaTestBlobLinks(t *testing.T, s store.MetadataStore) {
	a := metaCreateRepo(t, s, "a")
	b := metaCreateRepo(t, s, "b")
	d := metaDigest("blob")
	missing := metaDigest("missing")
	link := store.BlobLink{RepositoryID: a.ID, Digest: d, Size: 1234, CreatedAt: metaAt(1)}

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.PutBlob(ctx, link); err != nil {
			return err
		}
		// Linking again is not an error.
		return tx.PutBlob(ctx, store.BlobLink{RepositoryID: a.ID, Digest: d, Size: 1234, CreatedAt: metaAt(2)})
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Blob(ctx, a.ID, d)
		if err != nil {
			return err
		}
		if metaNormTime(got.CreatedAt).Equal(metaNormTime(metaAt(2))) {
			got.CreatedAt = metaAt(1) // either CreatedAt is acceptable after a re-link
		}
		metaEqual(t, "Blob", got, link, metaNormBlob)
		metaWantUTC(t, "Blob", got.CreatedAt)
		_, err = tx.Blob(ctx, b.ID, d)
		metaWantNotFound(t, "Blob not linked into the repository", err)
		_, err = tx.Blob(ctx, a.ID, missing)
		metaWantNotFound(t, "Blob of a missing digest", err)

		found, err := tx.FindBlob(ctx, d)
		if err != nil {
			return err
		}
		if found.RepositoryID != a.ID || found.Digest != d || found.Size != 1234 {
			t.Errorf("FindBlob = %+v, want the link of repository %d", found, a.ID)
		}
		metaWantUTC(t, "FindBlob", found.CreatedAt)
		_, err = tx.FindBlob(ctx, missing)
		metaWantNotFound(t, "FindBlob of a missing digest", err)

		for dg, want := range map[digest.Digest]bool{d: true, missing: false} {
			if linked, err := tx.BlobLinked(ctx, dg); err != nil || linked != want {
				t.Errorf("BlobLinked(%s) = %v, %v; want %v", dg, linked, err, want)
			}
		}
		return nil
	})

	// Link into b, unlink from a: still found, through b.
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.PutBlob(ctx, store.BlobLink{RepositoryID: b.ID, Digest: d, Size: 1234, CreatedAt: metaAt(3)}); err != nil {
			return err
		}
		return tx.DeleteBlob(ctx, a.ID, d)
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Blob(ctx, a.ID, d)
		metaWantNotFound(t, "Blob after DeleteBlob", err)
		found, err := tx.FindBlob(ctx, d)
		if err != nil || found.RepositoryID != b.ID {
			t.Errorf("FindBlob = %+v, %v; want the link of repository %d", found, err, b.ID)
		}
		if linked, err := tx.BlobLinked(ctx, d); err != nil || !linked {
			t.Errorf("BlobLinked = %v, %v; want true", linked, err)
		}
		return nil
	})

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.DeleteBlob(ctx, b.ID, d) })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if linked, err := tx.BlobLinked(ctx, d); err != nil || linked {
			t.Errorf("BlobLinked after the last DeleteBlob = %v, %v; want false", linked, err)
		}
		_, err := tx.FindBlob(ctx, d)
		metaWantNotFound(t, "FindBlob after the last DeleteBlob", err)
		return nil
	})
	err := s.Update(t.Context(), func(tx store.MetadataTx) error { return tx.DeleteBlob(t.Context(), b.ID, d) })
	metaWantNotFound(t, "DeleteBlob of a missing link", err)
}

// metaTestManifests covers put, get with content, and the upsert keeping CreatedAt.
func metaTestManifests(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "manifests")
	m := metaManifest(repo.ID, "one", metaAt(1))
	m.Subject = metaDigest("subject")
	bare := store.Manifest{ // only the required fields
		RepositoryID: repo.ID, Digest: metaDigest("bare"), MediaType: "application/vnd.oci.image.index.v1+json",
		Content: []byte(`{"schemaVersion":2,"manifests":[]}`), CreatedAt: metaAt(2), UpdatedAt: metaAt(2),
	}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		return tx.PutManifest(ctx, bare)
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, want := range []store.Manifest{m, bare} {
			got, err := tx.Manifest(ctx, repo.ID, want.Digest)
			if err != nil {
				return err
			}
			metaEqual(t, "Manifest", got, want, metaNormManifest)
			metaWantUTC(t, "Manifest", got.CreatedAt, got.UpdatedAt)
		}
		_, err := tx.Manifest(ctx, repo.ID, metaDigest("missing"))
		metaWantNotFound(t, "Manifest of a missing digest", err)
		_, err = tx.Manifest(ctx, repo.ID+1000, m.Digest)
		metaWantNotFound(t, "Manifest in a missing repository", err)
		return nil
	})

	// Replacing changes every field but CreatedAt.
	changed := store.Manifest{
		RepositoryID:    repo.ID,
		Digest:          m.Digest,
		MediaType:       "application/vnd.docker.distribution.manifest.v2+json",
		ArtifactType:    "application/vnd.example.changed",
		ConfigMediaType: "application/vnd.docker.container.image.v1+json",
		Subject:         metaDigest("other subject"),
		Annotations:     map[string]string{"changed": "yes"},
		Content:         []byte(`{"schemaVersion":2,"changed":true}`),
		Size:            int64(len(`{"schemaVersion":2,"changed":true}`)),
		ImageSize:       99,
		Architecture:    "arm64",
		OS:              "windows",
		Variant:         "v8",
		CreatedAt:       metaAt(50),
		UpdatedAt:       metaAt(51),
		Attributes:      store.Attributes{DeleteEnabled: false, WriteEnabled: false, ReadEnabled: true, ListEnabled: false},
	}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutManifest(ctx, changed) })
	want := changed
	want.CreatedAt = m.CreatedAt
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Manifest(ctx, repo.ID, m.Digest)
		if err != nil {
			return err
		}
		metaEqual(t, "Manifest after replacing", got, want, metaNormManifest)
		// The subject index follows the replacement.
		if refs, err := tx.Referrers(ctx, repo.ID, m.Subject); err != nil || len(refs) != 0 {
			t.Errorf("Referrers of the replaced subject = %v, %v; want none", refs, err)
		}
		if refs, err := tx.Referrers(ctx, repo.ID, changed.Subject); err != nil || len(refs) != 1 || refs[0].Size != changed.Size {
			t.Errorf("Referrers of the new subject = %v, %v; want one of size %d", refs, err, changed.Size)
		}
		return nil
	})

	// Every attribute is stored independently.
	for _, attrs := range []store.Attributes{
		{DeleteEnabled: true}, {WriteEnabled: true}, {ReadEnabled: true}, {ListEnabled: true},
	} {
		changed.Attributes = attrs
		metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutManifest(ctx, changed) })
		metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			got, err := tx.Manifest(ctx, repo.ID, m.Digest)
			if err == nil && got.Attributes != attrs {
				t.Errorf("Manifest attributes = %+v, want %+v", got.Attributes, attrs)
			}
			return err
		})
	}
}

// metaTestDeleteManifest checks that deleting a manifest deletes the tags that point
// at it, and only those.
func metaTestDeleteManifest(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "repo")
	other := metaCreateRepo(t, s, "other")
	doomed := metaManifest(repo.ID, "doomed", metaAt(1))
	kept := metaManifest(repo.ID, "kept", metaAt(1))
	otherDoomed := metaManifest(other.ID, "doomed", metaAt(1)) // same digest elsewhere
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, m := range []store.Manifest{doomed, kept, otherDoomed} {
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
		}
		for _, tg := range []store.Tag{
			metaTag(repo.ID, "a", doomed.Digest, metaAt(1)),
			metaTag(repo.ID, "b", doomed.Digest, metaAt(1)),
			metaTag(repo.ID, "c", kept.Digest, metaAt(1)),
			metaTag(other.ID, "a", doomed.Digest, metaAt(1)),
		} {
			if err := tx.PutTag(ctx, tg); err != nil {
				return err
			}
		}
		return nil
	})
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		return tx.DeleteManifest(ctx, repo.ID, doomed.Digest)
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Manifest(ctx, repo.ID, doomed.Digest)
		metaWantNotFound(t, "Manifest after DeleteManifest", err)
		for _, name := range []string{"a", "b"} {
			_, err := tx.Tag(ctx, repo.ID, name)
			metaWantNotFound(t, "Tag of a deleted manifest", err)
		}
		if _, err := tx.Tag(ctx, repo.ID, "c"); err != nil {
			t.Errorf("Tag of another manifest: %v", err)
		}
		if _, err := tx.Manifest(ctx, repo.ID, kept.Digest); err != nil {
			t.Errorf("Manifest not deleted: %v", err)
		}
		if _, err := tx.Manifest(ctx, other.ID, doomed.Digest); err != nil {
			t.Errorf("Manifest of the same digest in another repository: %v", err)
		}
		if _, err := tx.Tag(ctx, other.ID, "a"); err != nil {
			t.Errorf("Tag of the same digest in another repository: %v", err)
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx store.MetadataTx) error {
		return tx.DeleteManifest(t.Context(), repo.ID, doomed.Digest)
	})
	metaWantNotFound(t, "DeleteManifest of a missing manifest", err)
}

// metaTestReferrers lists the manifests of a subject.
func metaTestReferrers(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "repo")
	other := metaCreateRepo(t, s, "other")
	subject := metaManifest(repo.ID, "subject", metaAt(0))
	var want []store.Manifest
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.PutManifest(ctx, subject); err != nil {
			return err
		}
		for i := range 5 {
			m := metaManifest(repo.ID, fmt.Sprint("sig", i), metaAt(5-i))
			m.Subject = subject.Digest
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
			m.Content = nil // referrers come without content
			want = append(want, m)
		}
		unrelated := metaManifest(repo.ID, "unrelated", metaAt(1))
		unrelated.Subject = metaDigest("another subject")
		if err := tx.PutManifest(ctx, unrelated); err != nil {
			return err
		}
		elsewhere := metaManifest(other.ID, "elsewhere", metaAt(1))
		elsewhere.Subject = subject.Digest
		return tx.PutManifest(ctx, elsewhere)
	})
	sort.Slice(want, func(i, j int) bool { return want[i].Digest < want[j].Digest })

	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Referrers(ctx, repo.ID, subject.Digest)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			t.Fatalf("Referrers returned %d manifests, want %d", len(got), len(want))
		}
		for i := range got {
			if len(got[i].Content) != 0 {
				t.Errorf("Referrers[%d] has content", i)
			}
			metaEqual(t, fmt.Sprintf("Referrers[%d]", i), got[i], want[i], metaNormManifest)
			metaWantUTC(t, "Referrers", got[i].CreatedAt, got[i].UpdatedAt)
		}
		if got, err := tx.Referrers(ctx, repo.ID, metaDigest("no referrers")); err != nil || len(got) != 0 {
			t.Errorf("Referrers of a digest without referrers = %v, %v; want none", got, err)
		}
		return nil
	})
}

// metaListItem is one item of a listing test: its key (tag name or manifest
// digest), its UpdatedAt, whether it is listable and which of two digests it points
// at (tags).
type metaListItem struct {
	key      string
	updated  time.Time
	listable bool
	group    int
}

// metaListItems returns ten items whose lexical and time orders differ, with three
// groups of equal UpdatedAt so that ties must be broken by key, and two unlistable
// items.
func metaListItems(keys []string) []metaListItem {
	// Seconds of UpdatedAt, per item.
	secs := []int{5, 1, 3, 1, 5, 2, 1, 3, 5, 4}
	items := make([]metaListItem, len(keys))
	for i, k := range keys {
		items[i] = metaListItem{key: k, updated: metaAt(secs[i%len(secs)]), listable: i != 3 && i != 7, group: i % 2}
	}
	return items
}

// metaLess orders items as a listing in order must.
func metaLess(order store.Order, a, b metaListItem) bool {
	switch order {
	case store.OrderTimeAsc:
		if !a.updated.Equal(b.updated) {
			return a.updated.Before(b.updated)
		}
		return a.key < b.key
	case store.OrderTimeDesc:
		if !a.updated.Equal(b.updated) {
			return a.updated.After(b.updated)
		}
		return a.key > b.key
	default:
		return a.key < b.key
	}
}

// metaExpected returns the keys a full listing must return, in order.
func metaExpected(items []metaListItem, order store.Order, keep func(metaListItem) bool) []metaListItem {
	var sel []metaListItem
	for _, it := range items {
		if keep(it) {
			sel = append(sel, it)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return metaLess(order, sel[i], sel[j]) })
	return sel
}

// metaKeys returns the keys of items.
func metaKeys(items []metaListItem) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key
	}
	return keys
}

// metaListFilter is one combination of listing filters.
type metaListFilter struct {
	name     string
	opts     store.ListOptions // Digest and ListableOnly
	keep     func(metaListItem) bool
	noDigest bool // not applicable to listings without a digest filter (manifests)
}

// metaListFilters returns the filter combinations; digests[g] is the digest of group g.
func metaListFilters(digests [2]digest.Digest) []metaListFilter {
	return []metaListFilter{
		{name: "all", keep: func(metaListItem) bool { return true }},
		{name: "listable", opts: store.ListOptions{ListableOnly: true}, keep: func(it metaListItem) bool { return it.listable }},
		{name: "digest", opts: store.ListOptions{Digest: digests[1]}, noDigest: true,
			keep: func(it metaListItem) bool { return it.group == 1 }},
		{name: "digest+listable", opts: store.ListOptions{Digest: digests[0], ListableOnly: true}, noDigest: true,
			keep: func(it metaListItem) bool { return it.group == 0 && it.listable }},
	}
}

// metaOrders are the listing orders, with names for subtests.
func metaOrders() []struct {
	name  string
	order store.Order
} {
	return []struct {
		name  string
		order store.Order
	}{{"none", store.OrderNone}, {"time-asc", store.OrderTimeAsc}, {"time-desc", store.OrderTimeDesc}}
}

// metaCheckListing checks a listing in every order, with every filter, at several
// page sizes, followed page by page: each item exactly once, in order. It also
// checks cursors that name no item. list returns the keys of one page.
func metaCheckListing(t *testing.T, items []metaListItem, digests [2]digest.Digest, hasDigestFilter bool,
	list func(t *testing.T, opts store.ListOptions) []string,
) {
	t.Helper()
	for _, o := range metaOrders() {
		for _, f := range metaListFilters(digests) {
			if f.noDigest && !hasDigestFilter {
				continue
			}
			want := metaExpected(items, o.order, f.keep)
			wantKeys := metaKeys(want)
			for _, limit := range []int{0, 1, 2, 3, 4, len(want), len(want) + 1} {
				t.Run(fmt.Sprintf("%s/%s/limit=%d", o.name, f.name, limit), func(t *testing.T) {
					got := metaPageAll(t, limit, func(after string, limit int) []string {
						opts := f.opts
						opts.Order, opts.After, opts.Limit = o.order, after, limit
						return list(t, opts)
					})
					if !slices.Equal(got, wantKeys) {
						t.Errorf("pages = %q\n want %q", got, wantKeys)
					}
				})
			}

			// A cursor naming no item (for example one deleted since the previous
			// page): the key order, which breaks ties, places it. The listing starts
			// at the shown item whose key is next after the cursor in the direction of
			// the tie-break (the smallest greater key ascending, the largest smaller
			// key descending) and goes on from there in its order.
			for _, after := range metaMissingCursors(items) {
				t.Run(fmt.Sprintf("%s/%s/missing-cursor=%s", o.name, f.name, after), func(t *testing.T) {
					next := ""
					for _, it := range want {
						if o.order == store.OrderTimeDesc {
							if it.key < after && (next == "" || it.key > next) {
								next = it.key
							}
						} else if it.key > after && (next == "" || it.key < next) {
							next = it.key
						}
					}
					start := slices.Index(wantKeys, next)
					var tail []string
					if start >= 0 {
						tail = wantKeys[start:]
					}
					opts := f.opts
					opts.Order, opts.After = o.order, after
					if got := list(t, opts); !slices.Equal(got, tail) {
						t.Errorf("listing after %q = %q\n want %q", after, got, tail)
					}
					opts.Limit = 2
					if got, w := list(t, opts), tail[:min(2, len(tail))]; !slices.Equal(got, w) {
						t.Errorf("page of 2 after %q = %q\n want %q", after, got, w)
					}
				})
			}
		}
	}
}

// metaMissingCursors returns cursors that name no item: one between the keys of
// the middle items, one before all and one after all.
func metaMissingCursors(items []metaListItem) []string {
	keys := metaKeys(items)
	slices.Sort(keys)
	mid := keys[len(keys)/2]
	return []string{mid[:len(mid)-1] + "!", "0", "~"}
}

// metaTestListTags pages through tags in every order.
func metaTestListTags(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "tags")
	other := metaCreateRepo(t, s, "other")
	digests := [2]digest.Digest{metaDigest("d0"), metaDigest("d1")}
	items := metaListItems([]string{"india", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "alpha", "juliet"})
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for i, it := range items {
			tg := metaTag(repo.ID, it.key, digests[it.group], it.updated)
			// CreatedAt in the opposite order from UpdatedAt: listings sort by UpdatedAt.
			tg.CreatedAt = metaAt(100 - i)
			tg.ListEnabled = it.listable
			if err := tx.PutTag(ctx, tg); err != nil {
				return err
			}
			// Tags of another repository must not show.
			if err := tx.PutTag(ctx, metaTag(other.ID, it.key+"-other", digests[it.group], it.updated)); err != nil {
				return err
			}
		}
		return nil
	})
	metaCheckListing(t, items, digests, true, func(t *testing.T, opts store.ListOptions) []string {
		var keys []string
		metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			tags, err := tx.ListTags(ctx, repo.ID, opts)
			for _, tg := range tags {
				if tg.RepositoryID != repo.ID {
					t.Errorf("ListTags returned tag %q of repository %d", tg.Name, tg.RepositoryID)
				}
				metaWantUTC(t, "ListTags", tg.CreatedAt, tg.UpdatedAt)
				keys = append(keys, tg.Name)
			}
			return err
		})
		return keys
	})

	// Listed tags are complete.
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		want := metaTag(repo.ID, "alpha", digests[0], metaAt(5))
		want.CreatedAt = metaAt(92)
		if len(tags) != 1 {
			t.Fatalf("ListTags with limit 1 returned %d tags", len(tags))
		}
		metaEqual(t, "ListTags[0]", tags[0], want, metaNormTag)
		return nil
	})
}

// metaTestListManifests pages through manifests in every order.
func metaTestListManifests(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "manifests")
	other := metaCreateRepo(t, s, "other")
	var keys []string
	byKey := map[string]store.Manifest{}
	for i := range 10 {
		m := metaManifest(repo.ID, fmt.Sprint("manifest", i), time.Time{})
		keys = append(keys, string(m.Digest))
		byKey[string(m.Digest)] = m
	}
	items := metaListItems(keys)
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for i, it := range items {
			m := byKey[it.key]
			m.CreatedAt, m.UpdatedAt = metaAt(100-i), it.updated
			m.ListEnabled = it.listable
			byKey[it.key] = m
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
			m.RepositoryID = other.ID
			m.Digest = metaDigest(it.key + "other")
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	metaCheckListing(t, items, [2]digest.Digest{}, false, func(t *testing.T, opts store.ListOptions) []string {
		var keys []string
		metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			ms, err := tx.ListManifests(ctx, repo.ID, opts)
			for _, m := range ms {
				keys = append(keys, string(m.Digest))
				want := byKey[string(m.Digest)]
				want.Content = nil // listings come without content
				metaEqual(t, "ListManifests item", m, want, metaNormManifest)
				metaWantUTC(t, "ListManifests", m.CreatedAt, m.UpdatedAt)
			}
			return err
		})
		return keys
	})
}

// metaTestTags covers put, replace keeping CreatedAt, and delete.
func metaTestTags(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "tags")
	d1, d2 := metaDigest("one"), metaDigest("two")
	tag := metaTag(repo.ID, "latest", d1, metaAt(1))
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutTag(ctx, tag) })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Tag(ctx, repo.ID, "latest")
		if err != nil {
			return err
		}
		metaEqual(t, "Tag", got, tag, metaNormTag)
		metaWantUTC(t, "Tag", got.CreatedAt, got.UpdatedAt)
		_, err = tx.Tag(ctx, repo.ID, "missing")
		metaWantNotFound(t, "Tag of a missing tag", err)
		return nil
	})

	// Replace: every field but CreatedAt, every attribute independently.
	for i, attrs := range []store.Attributes{
		{DeleteEnabled: true}, {WriteEnabled: true}, {ReadEnabled: true}, {ListEnabled: true}, store.DefaultAttributes,
	} {
		replaced := store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: []digest.Digest{d2, d1}[i%2],
			CreatedAt: metaAt(20 + i), UpdatedAt: metaAt(30 + i), Attributes: attrs}
		metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutTag(ctx, replaced) })
		want := replaced
		want.CreatedAt = tag.CreatedAt
		metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
			got, err := tx.Tag(ctx, repo.ID, "latest")
			if err == nil {
				metaEqual(t, "Tag after replacing", got, want, metaNormTag)
			}
			return err
		})
	}

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.DeleteTag(ctx, repo.ID, "latest") })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Tag(ctx, repo.ID, "latest")
		metaWantNotFound(t, "Tag after DeleteTag", err)
		return nil
	})
	err := s.Update(t.Context(), func(tx store.MetadataTx) error { return tx.DeleteTag(t.Context(), repo.ID, "latest") })
	metaWantNotFound(t, "DeleteTag of a missing tag", err)
}

// metaTestUploads covers upload sessions and their listing by age.
func metaTestUploads(t *testing.T, s store.MetadataStore) {
	u1 := store.Upload{ID: "u1", Repository: "library/alpine", CreatedAt: metaAt(1), UpdatedAt: metaAt(1)}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutUpload(ctx, u1) })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Upload(ctx, "u1")
		if err != nil {
			return err
		}
		metaEqual(t, "Upload", got, u1, metaNormUpload)
		metaWantUTC(t, "Upload", got.CreatedAt, got.UpdatedAt)
		_, err = tx.Upload(ctx, "missing")
		metaWantNotFound(t, "Upload of a missing session", err)
		return nil
	})

	// Replace.
	u1.Size, u1.HashState, u1.Generation, u1.UpdatedAt = 1<<20, []byte{0, 1, 2, 0xff, 0}, 1<<40+3, metaAt(3)
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutUpload(ctx, u1) })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Upload(ctx, "u1")
		if err == nil {
			metaEqual(t, "Upload after replacing", got, u1, metaNormUpload)
		}
		return err
	})

	// Listing by age: strictly before the given time.
	uploads := []store.Upload{
		{ID: "u2", Repository: "r", Size: 2, HashState: []byte("h2"), CreatedAt: metaAt(0), UpdatedAt: metaAt(2)},
		{ID: "u3", Repository: "r", Size: 3, CreatedAt: metaAt(0), UpdatedAt: metaAt(5)},
		{ID: "u4", Repository: "r", Size: 4, CreatedAt: metaAt(0), UpdatedAt: metaAt(4)},
	}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, u := range uploads {
			if err := tx.PutUpload(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, tc := range []struct {
			before time.Time
			limit  int
			want   []string // IDs, in any order, or nil to check only the count
			count  int
		}{
			{before: metaAt(4), want: []string{"u1", "u2"}},
			{before: metaAt(10), want: []string{"u1", "u2", "u3", "u4"}},
			{before: metaAt(2), want: []string{}},
			{before: metaAt(10), limit: 3, count: 3},
			{before: metaAt(4), limit: 5, want: []string{"u1", "u2"}},
		} {
			got, err := tx.ListUploads(ctx, tc.before, tc.limit)
			if err != nil {
				return err
			}
			var ids []string
			for _, u := range got {
				ids = append(ids, u.ID)
				if !u.UpdatedAt.Before(tc.before) {
					t.Errorf("ListUploads(%v) returned %s updated at %v", tc.before, u.ID, u.UpdatedAt)
				}
				metaWantUTC(t, "ListUploads", u.CreatedAt, u.UpdatedAt)
			}
			slices.Sort(ids)
			if tc.want != nil && !slices.Equal(ids, tc.want) {
				t.Errorf("ListUploads(%v, %d) = %q, want %q", tc.before, tc.limit, ids, tc.want)
			}
			if tc.want == nil && len(ids) != tc.count {
				t.Errorf("ListUploads(%v, %d) returned %d sessions, want %d", tc.before, tc.limit, len(ids), tc.count)
			}
		}
		return nil
	})

	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.DeleteUpload(ctx, "u1"); err != nil {
			return err
		}
		// Deleting a missing session is not an error.
		return tx.DeleteUpload(ctx, "missing")
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Upload(ctx, "u1")
		metaWantNotFound(t, "Upload after DeleteUpload", err)
		return nil
	})
}

// metaTestMissingRepository checks that items cannot be put into a repository that
// does not exist, and that the failure reads as ErrNotFound (a store that relies on
// foreign keys maps their violation).
func metaTestMissingRepository(t *testing.T, s store.MetadataStore) {
	repo := metaCreateRepo(t, s, "exists")
	missing := repo.ID + 1000
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		fn   func(tx store.MetadataTx) error
	}{
		{"PutBlob", func(tx store.MetadataTx) error {
			return tx.PutBlob(ctx, store.BlobLink{RepositoryID: missing, Digest: metaDigest("b"), Size: 1, CreatedAt: metaAt(1)})
		}},
		{"PutManifest", func(tx store.MetadataTx) error { return tx.PutManifest(ctx, metaManifest(missing, "m", metaAt(1))) }},
		{"PutTag", func(tx store.MetadataTx) error {
			return tx.PutTag(ctx, metaTag(missing, "latest", metaDigest("m"), metaAt(1)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			metaWantNotFound(t, tc.name+" into a missing repository", s.Update(ctx, tc.fn))
		})
	}
}

// metaTestRollback checks that an Update whose fn fails or panics leaves nothing
// behind, returns fn's error, and leaves the store usable.
func metaTestRollback(t *testing.T, s store.MetadataStore) {
	ctx := t.Context()
	errBoom := errors.New("boom")
	err := s.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.CreateRepository(ctx, "rolled/back", metaAt(1))
		if err != nil {
			return err
		}
		if err := tx.PutTag(ctx, metaTag(repo.ID, "latest", metaDigest("m"), metaAt(1))); err != nil {
			return err
		}
		if err := tx.PutUpload(ctx, store.Upload{ID: "rolled-back", Repository: "rolled/back", CreatedAt: metaAt(1), UpdatedAt: metaAt(1)}); err != nil {
			return err
		}
		return fmt.Errorf("failing on purpose: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}

	// A panic in fn propagates, rolls back and does not leave the store stuck.
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Errorf("Update swallowed a panic")
			}
		}()
		_ = s.Update(ctx, func(tx store.MetadataTx) error {
			if _, err := tx.CreateRepository(ctx, "panicked", metaAt(1)); err != nil {
				return err
			}
			panic("panicking on purpose")
		})
	}()

	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		for _, name := range []string{"rolled/back", "panicked"} {
			_, err := tx.Repository(ctx, name)
			metaWantNotFound(t, "Repository created in a rolled back Update", err)
		}
		_, err := tx.Upload(ctx, "rolled-back")
		metaWantNotFound(t, "Upload put in a rolled back Update", err)
		if repos, err := tx.ListRepositories(ctx, store.ListOptions{}); err != nil || len(repos) != 0 {
			t.Errorf("ListRepositories after rolled back Updates = %v, %v; want none", repos, err)
		}
		return nil
	})
	// Still writable.
	metaCreateRepo(t, s, "after")
}

// metaTestViewReadOnly checks that a View cannot change anything.
func metaTestViewReadOnly(t *testing.T, s store.MetadataStore) {
	ctx := t.Context()
	err := s.View(ctx, func(tx store.MetadataTx) error {
		_, err := tx.CreateRepository(ctx, "written/in/view", metaAt(1))
		return err
	})
	if err == nil {
		t.Errorf("CreateRepository in a View succeeded")
	}
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Repository(ctx, "written/in/view")
		metaWantNotFound(t, "Repository created in a View", err)
		return nil
	})
}

// metaTestConcurrentUpdates runs many Updates and Views at once: every Update must
// succeed (a store must queue or retry writers, never fail them for contention) and
// every change must be kept.
func metaTestConcurrentUpdates(t *testing.T, s store.MetadataStore) {
	const writers, perWriter, readers = 20, 10, 4
	ctx := t.Context()
	repo := metaCreateRepo(t, s, "busy")
	dgst := metaDigest("m")
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				tag := metaTag(repo.ID, fmt.Sprintf("w%02d-%02d", w, i), dgst, metaAt(i))
				err := s.Update(ctx, func(tx store.MetadataTx) error {
					// Read-modify-write, as the domain does.
					if _, err := tx.Tag(ctx, repo.ID, tag.Name); !errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("tag %s before put: %v", tag.Name, err)
					}
					return tx.PutTag(ctx, tag)
				})
				if err != nil {
					t.Errorf("writer %d: Update: %v", w, err)
					return
				}
			}
		})
	}
	var readersWG sync.WaitGroup
	for range readers {
		readersWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				err := s.View(ctx, func(tx store.MetadataTx) error {
					_, err := tx.ListTags(ctx, repo.ID, store.ListOptions{Limit: 50, Order: store.OrderTimeDesc})
					return err
				})
				if err != nil {
					t.Errorf("reader: View: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readersWG.Wait()

	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{})
		if err != nil {
			return err
		}
		if len(tags) != writers*perWriter {
			t.Errorf("ListTags returned %d tags, want %d", len(tags), writers*perWriter)
		}
		_, n, err := tx.CountRepository(ctx, repo.ID)
		if err != nil || n != writers*perWriter {
			t.Errorf("CountRepository tags = %d, %v; want %d", n, err, writers*perWriter)
		}
		return nil
	})
}

// metaTestConcurrentCreateRepository creates one repository from many goroutines at
// once: all must succeed and agree on its ID.
func metaTestConcurrentCreateRepository(t *testing.T, s store.MetadataStore) {
	const n = 20
	ctx := t.Context()
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.MetadataTx) error {
				r, err := tx.CreateRepository(ctx, "contended", metaAt(i))
				ids[i] = r.ID
				return err
			})
			if err != nil {
				t.Errorf("CreateRepository: %v", err)
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("CreateRepository %d returned ID %d, another returned %d", i, id, ids[0])
		}
	}
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		repos, err := tx.ListRepositories(ctx, store.ListOptions{})
		if err != nil || len(repos) != 1 {
			t.Errorf("ListRepositories = %v, %v; want one repository", repos, err)
		}
		return nil
	})
}

func metaNormToken(tk store.Token) store.Token {
	tk.CreatedAt, tk.ExpiresAt = metaNormTime(tk.CreatedAt), metaNormTime(tk.ExpiresAt)
	return tk
}

// metaTestTokens checks repository-scoped tokens: put, replace keeping CreatedAt,
// one or two passwords, list by name, delete.
func metaTestTokens(t *testing.T, s store.MetadataStore) {
	a := store.Token{
		Name:           "ci-push",
		PasswordHashes: [][]byte{[]byte("hash-one"), []byte("hash-two")},
		Scopes: []store.TokenScope{
			{Repository: "samples/*", Actions: []string{"content/read", "content/write"}},
			{Repository: "hello", Actions: []string{"metadata/read"}},
		},
		Enabled:   true,
		CreatedAt: metaAt(1),
		ExpiresAt: metaAt(1000),
	}
	b := store.Token{Name: "alpha", PasswordHashes: [][]byte{[]byte("h")}, Scopes: []store.TokenScope{{Repository: "*", Actions: []string{"content/read"}}}, CreatedAt: metaAt(2)}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		if err := tx.PutToken(ctx, a); err != nil {
			return err
		}
		return tx.PutToken(ctx, b)
	})
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Token(ctx, a.Name)
		if err != nil {
			return err
		}
		metaEqual(t, "Token", got, a, metaNormToken)
		list, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "ci-push" {
			t.Errorf("ListTokens = %+v, want alpha, ci-push", list)
		}
		_, err = tx.Token(ctx, "missing")
		metaWantNotFound(t, "Token missing", err)
		return nil
	})
	// Replace: disable, drop a password, keep CreatedAt.
	changed := a
	changed.Enabled, changed.PasswordHashes, changed.CreatedAt, changed.ExpiresAt = false, [][]byte{[]byte("new")}, metaAt(50), time.Time{}
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.PutToken(ctx, changed) })
	want := changed
	want.CreatedAt = a.CreatedAt
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		got, err := tx.Token(ctx, a.Name)
		if err == nil {
			metaEqual(t, "Token after replace", got, want, metaNormToken)
		}
		return err
	})
	metaUpdate(t, s, func(ctx context.Context, tx store.MetadataTx) error { return tx.DeleteToken(ctx, a.Name) })
	metaView(t, s, func(ctx context.Context, tx store.MetadataTx) error {
		_, err := tx.Token(ctx, a.Name)
		metaWantNotFound(t, "Token after delete", err)
		return nil
	})
	err := s.Update(t.Context(), func(tx store.MetadataTx) error { return tx.DeleteToken(t.Context(), a.Name) })
	metaWantNotFound(t, "DeleteToken missing", err)
}
