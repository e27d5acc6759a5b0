package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/internal/sqlstore"
	"github.com/acre-dev/acre/store/storetest"
)

// openTemp opens a store in a new temporary directory and closes it at the end of
// the test.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestMetadataStore(t *testing.T) {
	storetest.TestMetadataStore(t, func(t *testing.T) store.MetadataStore { return openTemp(t) })
}

// schemaVersions returns the versions recorded in schema_migrations, in order.
func schemaVersions(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
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

// TestReopen checks that data survives closing and reopening, and that reopening
// applies no migration twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "metadata.db") // the directory is created
	now := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	var wantVersions []int64
	for i := range sqlstore.Migrations(sqliteDialect()) {
		wantVersions = append(wantVersions, int64(i+1))
	}

	s, err := Open(ctx, path)
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
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if got := schemaVersions(t, s); fmt.Sprint(got) != fmt.Sprint(wantVersions) {
			t.Errorf("reopen %d: schema versions %v, want %v", i, got, wantVersions)
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
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// TestNewerSchema checks that a database migrated by a newer program is refused.
func TestNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (1000, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v, want a newer schema error", err)
	}
}

// TestOpenRejectsNonFiles checks that Open refuses names that are not file paths.
func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestPathWithSpecialCharacters checks that a path is not mistaken for DSN syntax:
// the data must land in, and be read back from, exactly the named file.
func TestPathWithSpecialCharacters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "a dir?x=1&_pragma=y#%20", "meta.db")
	for i := range 2 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		err = s.Update(ctx, func(tx store.MetadataTx) error {
			_, err := tx.CreateRepository(ctx, "repo", time.Unix(1, 0))
			return err
		})
		if err != nil {
			t.Fatalf("open %d: Update: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Open creates the file itself; only SQLite makes it non-empty (closing the last
	// connection checkpoints the WAL into it).
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database file %q: %v, %v", path, fi, err)
	}
}

// TestPragmas checks the connection settings the store's durability and concurrency
// rely on, on both pools.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	check := func(db *sql.DB, pool, pragma, want string) {
		t.Helper()
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", pool, pragma, err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("%s: PRAGMA %s = %s, want %s", pool, pragma, got, want)
		}
	}
	busy := fmt.Sprint(busyTimeout.Milliseconds())
	check(s.write, "write", "journal_mode", "wal")
	check(s.write, "write", "synchronous", "2") // FULL
	check(s.write, "write", "foreign_keys", "1")
	check(s.write, "write", "busy_timeout", busy)
	check(s.write, "write", "query_only", "0")
	check(s.read, "read", "journal_mode", "wal")
	check(s.read, "read", "foreign_keys", "1")
	check(s.read, "read", "busy_timeout", busy)
	check(s.read, "read", "query_only", "1")
}

// TestUpdateTakesWriteLockAtBegin checks that Update transactions start with
// BEGIN IMMEDIATE: while one is open, a write from another connection cannot start.
func TestUpdateTakesWriteLockAtBegin(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another connection, as another process would have, that gives up at once.
	other, err := sql.Open("sqlite", dsn(path, map[string][]string{"_busy_timeout": {"0"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	err = s.Update(ctx, func(store.MetadataTx) error {
		// fn has not written anything, yet the lock is held.
		_, err := other.ExecContext(ctx, `BEGIN IMMEDIATE`)
		if err == nil {
			other.ExecContext(ctx, `ROLLBACK`)
			t.Errorf("another writer could begin while an Update was open")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueryPlans checks with EXPLAIN QUERY PLAN that every listing query walks an
// index in the order of the listing (no sort of the whole set, which would make a
// page cost O(repository)), and that cursors are index ranges rather than filters.
// The cases are the shared queries' (sqlstore.PlanCases), so the PostgreSQL store
// checks the very same statements.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	// Some data, then ANALYZE, so that the planner decides as it would in production
	// and not only from its defaults for empty tables.
	err := s.Update(ctx, func(mtx store.MetadataTx) error {
		for r := range 3 {
			repo, err := mtx.CreateRepository(ctx, fmt.Sprint("repo", r), time.Unix(1, 0))
			if err != nil {
				return err
			}
			for i := range 200 {
				now := time.Unix(int64(1+i%7), 0)
				d := digest.FromString(fmt.Sprint(r, i))
				if err := mtx.PutManifest(ctx, store.Manifest{RepositoryID: repo.ID, Digest: d, MediaType: "m",
					Subject: digest.FromString(fmt.Sprint(i % 5)), Content: []byte("{}"), CreatedAt: now, UpdatedAt: now,
					Attributes: store.DefaultAttributes}); err != nil {
					return err
				}
				if err := mtx.PutTag(ctx, store.Tag{RepositoryID: repo.ID, Name: fmt.Sprint("t", i), Digest: d,
					CreatedAt: now, UpdatedAt: now, Attributes: store.DefaultAttributes}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	for _, c := range sqlstore.PlanCases(1) {
		t.Run(c.Name, func(t *testing.T) {
			plan := explain(t, s, c.SQL, c.Args)
			t.Logf("%s\n%s", c.SQL, plan)
			if strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan sorts:\n%s\nquery: %s", plan, c.SQL)
			}
			if strings.Contains(plan, "SCAN ") {
				t.Errorf("plan scans a whole table or index:\n%s\nquery: %s", plan, c.SQL)
			}
			for _, w := range planWants(c) {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s\nquery: %s", w, plan, c.SQL)
				}
			}
		})
	}
}

// planWants returns substrings SQLite's plan for c must contain: the index, and its
// range as SQLite prints it, e.g. "name>?" or "(updated_at,name)<(?,?)".
func planWants(c sqlstore.PlanCase) []string {
	index := c.Index
	if index == "" {
		// The primary key of a table with a non-integer key, or the UNIQUE of
		// repositories.name, is SQLite's first automatic index.
		index = "sqlite_autoindex_" + c.Table + "_1"
	}
	wants := []string{"USING INDEX " + index}
	if len(c.Bound) > 0 {
		// SQLite shows >= and <= ranges like > and <.
		cmp := strings.TrimSuffix(c.Cmp, "=")
		if len(c.Bound) == 1 {
			wants = append(wants, c.Bound[0]+cmp+"?")
		} else {
			params := strings.TrimSuffix(strings.Repeat("?,", len(c.Bound)), ",")
			wants = append(wants, "("+strings.Join(c.Bound, ",")+")"+cmp+"("+params+")")
		}
	}
	return wants
}

// explain returns the EXPLAIN QUERY PLAN of a statement, one step per line.
func explain(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v\nquery: %s", err, query)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
