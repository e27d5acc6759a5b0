package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/internal/sqlstore"
	"github.com/acre-dev/acre/store/storetest"
)

// The tests need a PostgreSQL server: the one ACRE_TEST_POSTGRES names, or a private
// cluster they start themselves when PostgreSQL is installed and they do not run as
// root (see server_test.go). Without either they skip.

func TestMetadataStore(t *testing.T) {
	adminDSN(t) // skip at once rather than in every subtest
	storetest.TestMetadataStore(t, func(t *testing.T) store.MetadataStore {
		return openStore(t, newSchema(t))
	})
}

// schemaVersions returns the versions recorded in schema_migrations, in order.
func schemaVersions(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("schema_migrations: %v", err)
	}
	defer rows.Close()
	var versions []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return versions
}

// allVersions returns the versions a fully migrated database records.
func allVersions() []int64 {
	var v []int64
	for i := range sqlstore.Migrations(postgresDialect()) {
		v = append(v, int64(i+1))
	}
	return v
}

// TestReopen checks that data survives closing and reopening, and that reopening
// applies no migration twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	now := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var repoID int64
	err = s.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.CreateRepository(ctx, "persisted", now)
		if err != nil {
			return err
		}
		repoID = repo.ID
		return tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: digest.FromString("x"),
			CreatedAt: now, UpdatedAt: now, Attributes: store.DefaultAttributes})
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 3 {
		s := openStore(t, dsn)
		if got, want := schemaVersions(t, s), allVersions(); !slices.Equal(got, want) {
			t.Errorf("reopen %d: schema versions %v, want %v", i, got, want)
		}
		err = s.View(ctx, func(tx store.MetadataTx) error {
			repo, err := tx.Repository(ctx, "persisted")
			if err != nil {
				return err
			}
			if repo.ID != repoID || !repo.CreatedAt.Equal(now) {
				t.Errorf("reopen %d: repository %+v, want ID %d created %v", i, repo, repoID, now)
			}
			tag, err := tx.Tag(ctx, repo.ID, "latest")
			if err != nil {
				return err
			}
			if tag.Digest != digest.FromString("x") || !tag.UpdatedAt.Equal(now) {
				t.Errorf("reopen %d: tag %+v", i, tag)
			}
			return nil
		})
		if err != nil {
			t.Errorf("reopen %d: View: %v", i, err)
		}
	}
}

// TestNewerSchema checks that a database migrated by a newer program is refused.
func TestNewerSchema(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	s := openStore(t, dsn)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (1000, 0)`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, dsn); err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v, want a newer schema error", err)
	}
}

// TestOpenFails checks that Open reports a server it cannot reach, promptly, and a
// DSN it cannot parse.
func TestOpenFails(t *testing.T) {
	adminDSN(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{
		fmt.Sprintf("postgres://acre@127.0.0.1:%d/acre?sslmode=disable&connect_timeout=5", port),
		"postgres://acre@127.0.0.1:notaport/acre",
	} {
		if s, err := Open(t.Context(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		} else if !strings.HasPrefix(err.Error(), "postgres store: ") {
			t.Errorf("Open(%q): %v, want an error that says where it comes from", dsn, err)
		}
	}
}

// TestConcurrentOpen starts several replicas at once on a new database: every Open
// must succeed, and the schema must be migrated exactly once.
func TestConcurrentOpen(t *testing.T) {
	dsn := withParam(newSchema(t), "pool_max_conns", "2")
	const replicas = 10
	stores := openReplicas(t, dsn, replicas)
	if got, want := schemaVersions(t, stores[0]), allVersions(); !slices.Equal(got, want) {
		t.Errorf("schema versions %v, want %v", got, want)
	}
	// Every replica works on the one schema.
	for i, s := range stores {
		err := s.Update(t.Context(), func(tx store.MetadataTx) error {
			_, err := tx.CreateRepository(t.Context(), fmt.Sprint("replica", i), time.Unix(1, 0))
			return err
		})
		if err != nil {
			t.Fatalf("replica %d: Update: %v", i, err)
		}
	}
	err := stores[0].View(t.Context(), func(tx store.MetadataTx) error {
		repos, err := tx.ListRepositories(t.Context(), store.ListOptions{})
		if err == nil && len(repos) != replicas {
			t.Errorf("ListRepositories returned %d repositories, want %d", len(repos), replicas)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openReplicas opens n stores on dsn at the same time, each with its own pool as
// separate processes would have, and closes them at the end of the test.
func openReplicas(t *testing.T, dsn string, n int) []*Store {
	t.Helper()
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
		if errs[i] != nil {
			t.Errorf("replica %d: Open: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return stores
}

// counter is the content of the manifests TestReplicasReadModifyWrite pushes.
type counter struct {
	N int `json:"n"`
}

// TestReplicasReadModifyWrite has several replicas push to one tag at once, each push
// a read-modify-write as the domain does them: read the manifest the tag points at,
// push a manifest derived from it, move the tag, delete the old manifest. With
// serializable transactions and retries, no push may fail and none may be lost: the
// pushes form one chain, which a lost update would fork.
func TestReplicasReadModifyWrite(t *testing.T) {
	ctx := t.Context()
	const replicas, perReplica = 8, 15
	stores := openReplicas(t, withParam(newSchema(t), "pool_max_conns", "2"), replicas)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for j := range perReplica {
				now := time.Unix(int64(1000+j), int64(i))
				err := s.Update(ctx, func(tx store.MetadataTx) error {
					attempts.Add(1)
					return push(ctx, tx, now)
				})
				if err != nil {
					t.Errorf("replica %d push %d: %v", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d pushes took %d attempts", replicas*perReplica, attempts.Load())

	err := stores[0].View(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.Repository(ctx, "contended")
		if err != nil {
			return err
		}
		tag, err := tx.Tag(ctx, repo.ID, "latest")
		if err != nil {
			return err
		}
		m, err := tx.Manifest(ctx, repo.ID, tag.Digest)
		if err != nil {
			return err
		}
		var c counter
		if err := json.Unmarshal(m.Content, &c); err != nil {
			return err
		}
		if c.N != replicas*perReplica {
			t.Errorf("counter is %d after %d pushes: updates were lost", c.N, replicas*perReplica)
		}
		manifests, tags, err := tx.CountRepository(ctx, repo.ID)
		if err != nil {
			return err
		}
		if manifests != 1 || tags != 1 {
			t.Errorf("repository has %d manifests and %d tags, want 1 and 1", manifests, tags)
		}
		repos, err := tx.ListRepositories(ctx, store.ListOptions{})
		if err == nil && len(repos) != 1 {
			t.Errorf("ListRepositories returned %d repositories, want 1", len(repos))
		}
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}

// push is one read-modify-write of TestReplicasReadModifyWrite.
func push(ctx context.Context, tx store.MetadataTx, now time.Time) error {
	repo, err := tx.CreateRepository(ctx, "contended", now)
	if err != nil {
		return err
	}
	var c counter
	old, err := tx.Tag(ctx, repo.ID, "latest")
	switch {
	case err == nil:
		m, err := tx.Manifest(ctx, repo.ID, old.Digest)
		if err != nil {
			return fmt.Errorf("the manifest of the tag: %w", err)
		}
		if err := json.Unmarshal(m.Content, &c); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	c.N++
	content, err := json.Marshal(c)
	if err != nil {
		return err
	}
	m := store.Manifest{RepositoryID: repo.ID, Digest: digest.FromBytes(content), MediaType: "application/json",
		Content: content, CreatedAt: now, UpdatedAt: now, Attributes: store.DefaultAttributes}
	if err := tx.PutManifest(ctx, m); err != nil {
		return err
	}
	if err := tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: m.Digest,
		CreatedAt: now, UpdatedAt: now, Attributes: store.DefaultAttributes}); err != nil {
		return err
	}
	if old.Digest != "" {
		if err := tx.DeleteManifest(ctx, repo.ID, old.Digest); err != nil {
			return err
		}
	}
	repo.UpdatedAt = now
	return tx.UpdateRepository(ctx, repo)
}

// conflict runs fn in an Update of a in which, on the first run only, another
// replica (b) commits a change to the tag fn is about to write, after fn took its
// snapshot: a serialization failure for certain. It returns how many times fn ran
// and the Update's error, and checks that a successful Update left the tag as fn
// (putA) wrote it.
func conflict(t *testing.T, fn func(ctx context.Context, tx store.MetadataTx, run int) error) (runs int, err error) {
	t.Helper()
	ctx := t.Context()
	dsn := newSchema(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	var repo store.Repository
	err = a.Update(ctx, func(tx store.MetadataTx) error {
		var err error
		repo, err = tx.CreateRepository(ctx, "repo", time.Unix(1, 0))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Update(ctx, func(tx store.MetadataTx) error {
		runs++
		// Reading takes the transaction's snapshot.
		if _, err := tx.Tag(ctx, repo.ID, "latest"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if runs == 1 {
			err := b.Update(ctx, func(tx store.MetadataTx) error {
				return tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: digest.FromString("b"),
					CreatedAt: time.Unix(2, 0), UpdatedAt: time.Unix(2, 0), Attributes: store.DefaultAttributes})
			})
			if err != nil {
				t.Fatalf("the other replica's Update: %v", err)
			}
		}
		return fn(ctx, tx, runs)
	})
	var got store.Tag
	verr := a.View(ctx, func(tx store.MetadataTx) error {
		var err error
		got, err = tx.Tag(ctx, repo.ID, "latest")
		return err
	})
	if verr != nil {
		t.Fatal(verr)
	}
	if err == nil && got.Digest != digest.FromString("a") {
		t.Errorf("tag points at %s after the Update, want the retried write", got.Digest)
	}
	return runs, err
}

// putA writes the tag that conflict's other replica writes too.
func putA(ctx context.Context, tx store.MetadataTx) error {
	repo, err := tx.Repository(ctx, "repo")
	if err != nil {
		return err
	}
	return tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: digest.FromString("a"),
		CreatedAt: time.Unix(3, 0), UpdatedAt: time.Unix(3, 0), Attributes: store.DefaultAttributes})
}

// TestUpdateRetriesSerializationFailure checks that an Update that loses a race runs
// fn again, and succeeds, instead of returning the serialization failure.
func TestUpdateRetriesSerializationFailure(t *testing.T) {
	runs, err := conflict(t, func(ctx context.Context, tx store.MetadataTx, run int) error {
		err := putA(ctx, tx)
		if run == 1 && sqlState(err) != codeSerializationFailure {
			t.Errorf("first run: PutTag returned %v, want a serialization failure", err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2", runs)
	}
}

// TestUpdateRetriesSwallowedFailure checks that a serialization failure is retried
// even when fn does not return it: the transaction is aborted all the same.
func TestUpdateRetriesSwallowedFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result func(err error) error
	}{
		{"nil", func(error) error { return nil }},
		{"another error", func(err error) error {
			if err != nil {
				return errors.New("something went wrong") // no %w
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, err := conflict(t, func(ctx context.Context, tx store.MetadataTx, run int) error {
				return tc.result(putA(ctx, tx))
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if runs != 2 {
				t.Errorf("fn ran %d times, want 2", runs)
			}
		})
	}
}

// TestWriteSkew checks that Updates are serializable, not only free of lost updates:
// one replica tags a manifest after checking that it exists while another deletes
// the manifest with its tags. Each transaction writes what the other only read, so
// under snapshot isolation (REPEATABLE READ) both would commit and leave a tag that
// points at nothing. Serializable, the tagging runs again and finds the manifest gone.
func TestWriteSkew(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	var repo store.Repository
	m := store.Manifest{Digest: digest.FromString("m"), MediaType: "application/json", Content: []byte("{}"),
		CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0), Attributes: store.DefaultAttributes}
	err := a.Update(ctx, func(tx store.MetadataTx) error {
		var err error
		if repo, err = tx.CreateRepository(ctx, "repo", time.Unix(1, 0)); err != nil {
			return err
		}
		m.RepositoryID = repo.ID
		return tx.PutManifest(ctx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	err = a.Update(ctx, func(tx store.MetadataTx) error {
		runs++
		if _, err := tx.Manifest(ctx, repo.ID, m.Digest); err != nil {
			return err
		}
		if runs == 1 {
			if err := b.Update(ctx, func(tx store.MetadataTx) error {
				return tx.DeleteManifest(ctx, repo.ID, m.Digest)
			}); err != nil {
				t.Fatalf("the other replica's Update: %v", err)
			}
		}
		return tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: "latest", Digest: m.Digest,
			CreatedAt: time.Unix(2, 0), UpdatedAt: time.Unix(2, 0), Attributes: store.DefaultAttributes})
	})
	if !errors.Is(err, store.ErrNotFound) || runs != 2 {
		t.Errorf("tagging a manifest deleted concurrently = %v after %d runs; want ErrNotFound after 2", err, runs)
	}
	err = a.View(ctx, func(tx store.MetadataTx) error {
		if tag, err := tx.Tag(ctx, repo.ID, "latest"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tag = %+v, %v; want no tag left pointing at the deleted manifest", tag, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpdateGivesUp checks the limits of retrying: a transaction that keeps failing to
// serialise ends with an error wrapping store.ErrConflict and the failure; other
// errors are not retried; a cancelled context stops the retries.
func TestUpdateGivesUp(t *testing.T) {
	s := openStore(t, newSchema(t))
	s.retry = retryPolicy{attempts: 4, base: time.Microsecond, max: time.Millisecond}
	ctx := t.Context()
	for _, code := range []string{codeSerializationFailure, codeDeadlockDetected} {
		runs := 0
		err := s.Update(ctx, func(tx store.MetadataTx) error {
			runs++
			return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "synthetic"})
		})
		if !errors.Is(err, store.ErrConflict) || sqlState(err) != code {
			t.Errorf("%s: Update returned %v, want an error wrapping store.ErrConflict and the failure", code, err)
		}
		if runs != s.retry.attempts {
			t.Errorf("%s: fn ran %d times, want %d", code, runs, s.retry.attempts)
		}
	}

	runs := 0
	errBoom := errors.New("boom")
	err := s.Update(ctx, func(tx store.MetadataTx) error { runs++; return errBoom })
	if err != errBoom || runs != 1 {
		t.Errorf("Update with a failing fn = %v after %d runs; want fn's error after 1", err, runs)
	}

	s.retry = retryPolicy{attempts: 100, base: time.Hour, max: time.Hour}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Update(cctx, func(tx store.MetadataTx) error {
		return &pgconn.PgError{Code: codeSerializationFailure, Message: "synthetic"}
	})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("Update with a cancelled context = %v after %v; want the context's error, promptly", err, time.Since(start))
	}
}

// TestKeyCollation checks that every key column sorts byte-wise (COLLATE "C"), which
// the listings promise whatever the database's locale, and that listings follow it.
func TestKeyCollation(t *testing.T) {
	s := openStore(t, newSchema(t))
	ctx := t.Context()
	rows, err := s.db.QueryContext(ctx, `SELECT c.relname, a.attname, COALESCE(co.collname, '')
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_collation co ON co.oid = a.attcollation
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]bool{"repositories.name": true, "blob_links.digest": true, "manifests.digest": true,
		"manifests.subject": true, "tags.name": true, "tags.digest": true, "uploads.id": true, "tokens.name": true}
	seen := 0
	for rows.Next() {
		var table, column, collation string
		if err := rows.Scan(&table, &column, &collation); err != nil {
			t.Fatal(err)
		}
		if keys[table+"."+column] {
			seen++
			if collation != "C" {
				t.Errorf("%s.%s has collation %q, want C", table, column, collation)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(keys) {
		t.Errorf("found %d of the %d key columns", seen, len(keys))
	}

	var defaultOrder bool
	if err := s.db.QueryRowContext(ctx, `SELECT 'a' < 'B'`).Scan(&defaultOrder); err != nil {
		t.Fatal(err)
	}
	t.Logf("the database's default collation sorts byte-wise: %v", !defaultOrder)

	// Names whose byte order differs from a language's.
	names := []string{"b", "B", "a", "A", "a-b", "ab", "a_b", "a.b", "Z", "é", "e", "~x", "a0", "a10", "a9"}
	var repo store.Repository
	err = s.Update(ctx, func(tx store.MetadataTx) error {
		var err error
		// Sorts before the others' "r/" prefix.
		if repo, err = tx.CreateRepository(ctx, "0tags", time.Unix(1, 0)); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := tx.CreateRepository(ctx, "r/"+n, time.Unix(1, 0)); err != nil {
				return err
			}
			if err := tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: n, Digest: digest.FromString(n),
				CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0), Attributes: store.DefaultAttributes}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(names))
	err = s.View(ctx, func(tx store.MetadataTx) error {
		for _, order := range []store.Order{store.OrderNone, store.OrderTimeAsc} { // equal times: by name
			tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{Order: order})
			if err != nil {
				return err
			}
			var got []string
			for _, tg := range tags {
				got = append(got, tg.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListTags order %d = %q, want %q", order, got, want)
			}
			// A cursor compares byte-wise too.
			tags, err = tx.ListTags(ctx, repo.ID, store.ListOptions{Order: order, After: "Z", Limit: 2})
			if err != nil {
				return err
			}
			if len(tags) != 2 || tags[0].Name != "a" || tags[1].Name != "a-b" {
				t.Errorf("ListTags after Z = %+v, want a, a-b", tags)
			}
		}
		repos, err := tx.ListRepositories(ctx, store.ListOptions{After: "r/"})
		if err != nil {
			return err
		}
		var got []string
		for _, r := range repos {
			got = append(got, strings.TrimPrefix(r.Name, "r/"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListRepositories = %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueryPlans checks with EXPLAIN that every listing is a range scan of the right
// index in the listing's order: no Sort node (which would make a page cost
// O(repository)), no sequential or bitmap scan, the cursor as an index condition
// rather than a filter, descending listings walking the index backward. The
// statements are the store's own (sqlstore.PlanCases, checked on SQLite too). Each
// is checked with the plan PostgreSQL makes for the statement's values (a custom
// plan) and with the plan it may cache for a prepared statement after a few runs (a
// generic plan, which knows no values): pgx prepares and caches every statement, so
// both happen in production.
func TestQueryPlans(t *testing.T) {
	s := openStore(t, newSchema(t))
	ctx := t.Context()
	// Enough rows, then ANALYZE, for the planner to decide as it would in production
	// rather than from its defaults for empty tables.
	var repoID int64
	for r := range 3 {
		err := s.Update(ctx, func(tx store.MetadataTx) error {
			repo, err := tx.CreateRepository(ctx, fmt.Sprint("repo", r), time.Unix(1, 0))
			if err != nil {
				return err
			}
			if r == 0 {
				repoID = repo.ID
			}
			for i := range 1000 {
				now := time.Unix(int64(1+i/3), 0)
				d := digest.FromString(fmt.Sprint(r, i))
				attrs := store.DefaultAttributes
				attrs.ListEnabled = i%10 != 0
				if err := tx.PutManifest(ctx, store.Manifest{RepositoryID: repo.ID, Digest: d, MediaType: "m",
					Subject: digest.FromString(fmt.Sprint(r, i/4)), Content: []byte("{}"), CreatedAt: now, UpdatedAt: now,
					Attributes: attrs}); err != nil {
					return err
				}
				if err := tx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: fmt.Sprintf("t%04d", i), Digest: d,
					CreatedAt: now, UpdatedAt: now, Attributes: attrs}); err != nil {
					return err
				}
				if err := tx.PutBlob(ctx, store.BlobLink{RepositoryID: repo.ID, Digest: d, Size: 1, CreatedAt: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Many repositories, and many uploads to expire (all updated before the cases'
	// limit, as after an outage): expiry takes them a batch at a time.
	for i := range 1000 {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO repositories (name, created_at, updated_at) VALUES ($1, 1, 1)`,
			fmt.Sprintf("filler/%04d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO uploads (id, repository, size, created_at, updated_at) VALUES ($1, 'r', 0, $2, $2)`,
			fmt.Sprint("u", i), int64(i)*int64(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, c := range sqlstore.PlanCases(repoID) {
		t.Run(c.Name+"/custom", func(t *testing.T) {
			checkPlan(t, c, explain(t, conn, "EXPLAIN (FORMAT JSON) "+c.SQL, c.Args...))
		})
		t.Run(c.Name+"/generic", func(t *testing.T) {
			name := fmt.Sprint("plan_case_", i)
			for _, stmt := range []string{`SET plan_cache_mode = force_generic_plan`, `PREPARE ` + name + ` AS ` + c.SQL} {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			defer conn.ExecContext(ctx, `DEALLOCATE `+name)
			defer conn.ExecContext(ctx, `RESET plan_cache_mode`)
			checkPlan(t, c, explain(t, conn, "EXPLAIN (FORMAT JSON) EXECUTE "+name+"("+literals(t, c.Args)+")"))
		})
	}
}

// literals renders arguments as SQL literals, for EXECUTE.
func literals(t *testing.T, args []any) string {
	var out []string
	for _, a := range args {
		switch v := a.(type) {
		case int:
			out = append(out, strconv.Itoa(v))
		case int64:
			out = append(out, strconv.FormatInt(v, 10))
		case string:
			out = append(out, "'"+strings.ReplaceAll(v, "'", "''")+"'")
		default:
			t.Fatalf("no literal for %T", a)
		}
	}
	return strings.Join(out, ", ")
}

// planNode is a node of EXPLAIN (FORMAT JSON) output, with the fields checked here.
type planNode struct {
	NodeType      string     `json:"Node Type"`
	RelationName  string     `json:"Relation Name"`
	IndexName     string     `json:"Index Name"`
	IndexCond     string     `json:"Index Cond"`
	ScanDirection string     `json:"Scan Direction"`
	Plans         []planNode `json:"Plans"`
}

// explain runs an EXPLAIN (FORMAT JSON) statement and returns the plan's root.
func explain(t *testing.T, conn *sql.Conn, stmt string, args ...any) planNode {
	t.Helper()
	var out string
	if err := conn.QueryRowContext(t.Context(), stmt, args...).Scan(&out); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", out, err)
	}
	t.Logf("%s\n%s", stmt, out)
	return plans[0].Plan
}

// checkPlan checks a plan against what c requires.
func checkPlan(t *testing.T, c sqlstore.PlanCase, root planNode) {
	t.Helper()
	var scans []planNode
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Sort", "Incremental Sort":
			t.Errorf("the plan sorts")
		case "Seq Scan", "Bitmap Heap Scan", "Bitmap Index Scan":
			t.Errorf("the plan has a %s of %s", n.NodeType, n.RelationName)
		case "Index Scan", "Index Only Scan":
			scans = append(scans, n)
		}
		for _, child := range n.Plans {
			walk(child)
		}
	}
	walk(root)
	if len(scans) != 1 {
		t.Fatalf("the plan has %d index scans, want 1", len(scans))
	}
	scan := scans[0]
	index := c.Index
	switch {
	case index == "" && c.Table == "repositories":
		index = "repositories_name_key"
	case index == "":
		index = c.Table + "_pkey"
	}
	if scan.IndexName != index {
		t.Errorf("the plan walks index %s, want %s", scan.IndexName, index)
	}
	wantDir := "Forward"
	if c.Descending {
		wantDir = "Backward"
	}
	if scan.ScanDirection != wantDir {
		t.Errorf("the plan walks the index %s, want %s", scan.ScanDirection, wantDir)
	}
	if len(c.Bound) > 0 {
		bound := "(" + c.Bound[0] + " " + c.Cmp + " "
		if len(c.Bound) > 1 {
			bound = "ROW(" + strings.Join(c.Bound, ", ") + ") " + c.Cmp + " ROW("
		}
		if !strings.Contains(scan.IndexCond, bound) {
			t.Errorf("index condition %q lacks the range %q", scan.IndexCond, bound)
		}
	}
}
