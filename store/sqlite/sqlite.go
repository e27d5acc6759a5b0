// Package sqlite is the default metadata store: an embedded SQLite database in one
// file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// The database runs in WAL mode so that readers never wait for the writer, with
// synchronous=FULL so that a committed transaction survives a power loss, and with
// foreign keys on so that deleting a repository cascades to its manifests, tags and
// blob links.
//
// SQLite allows one writer at a time. Rather than letting concurrent writers collide
// and fail with SQLITE_BUSY, the store funnels every Update through a pool of exactly
// one connection, whose transactions start with BEGIN IMMEDIATE: the write lock is
// taken at the start, so a transaction never has to be upgraded from reader to writer
// halfway (the upgrade is what fails under contention). Concurrent Updates in this
// process queue for that connection; another process sharing the file waits for the
// lock up to the busy timeout. Views run on a separate pool of read-only connections
// and proceed in parallel with each other and with the writer.
//
// The schema is versioned (table schema_migrations) and migrated forward on Open. The
// schema and the queries are shared with the PostgreSQL store (store/postgres), in
// store/internal/sqlstore; this package adds what is SQLite's own: opening the file,
// the connection settings and the single-writer discipline.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/internal/sqlstore"
)

const (
	// busyTimeout is how long a connection waits for a lock held by another
	// connection (another process, or a checkpoint) before failing with SQLITE_BUSY.
	// It is long because the alternative to waiting is a failed request.
	busyTimeout = 10 * time.Second
	// minReaders is the smallest read pool: enough for a few parallel Views even on
	// one CPU, where a View may be waiting on I/O.
	minReaders = 4
	// filePerm keeps the database private to the server's user: it names private
	// repositories. SQLite gives the -wal and -shm files the database's permissions.
	filePerm = 0o600
	// dirPerm is used when the database's directory has to be created.
	dirPerm = 0o700
)

// Store is a store.MetadataStore in an SQLite database file. It is safe for
// concurrent use.
type Store struct {
	// write has exactly one connection, so that Updates are serialised in process
	// instead of contending for SQLite's single write lock.
	write *sql.DB
	// read has several query_only connections for Views, which WAL lets run
	// alongside the writer.
	read *sql.DB
	// dialect tells the shared queries how SQLite reports errors.
	dialect sqlstore.Dialect
}

var _ store.MetadataStore = (*Store)(nil)

// Open opens the database at path, creating the file (and its directory) if it does
// not exist, and brings its schema up to date. Opening a database whose schema is
// newer than this program knows fails rather than risking a misread. path must name a
// file: an in-memory database cannot be shared by the store's two connection pools.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite store: %q is not a database file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}

	common := url.Values{}
	common.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	common.Set("_foreign_keys", "1")

	writeParams := cloneValues(common)
	writeParams.Set("_txlock", "immediate")
	writeParams.Set("_journal_mode", "WAL")
	writeParams.Set("_synchronous", "FULL")
	write, err := openPool(dsn(abs, writeParams))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	// The one connection is kept for the life of the store: reopening it would only
	// cost the page cache.
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// The write connection switches the file to WAL. Make sure that happened (it
	// cannot on some network filesystems) before any reader opens the file, since the
	// store's concurrency relies on it.
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: journal mode is %q, want wal", abs, mode)
	}

	// Migration transactions start with BEGIN IMMEDIATE (the pool's _txlock), which
	// takes the write lock: that excludes any other process migrating the same file.
	begin := func(ctx context.Context) (*sql.Tx, error) { return write.BeginTx(ctx, nil) }
	if err := sqlstore.Migrate(ctx, sqlstore.Migrations(sqliteDialect()), begin); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite store: migrate %s: %w", abs, err)
	}

	readParams := cloneValues(common)
	// query_only turns any write attempted in a View into an error instead of a
	// silent write outside the single-writer discipline.
	readParams.Set("_query_only", "1")
	read, err := openPool(dsn(abs, readParams))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	readers := max(minReaders, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	// As many idle as open: the default of 2 would close and reopen connections
	// under load.
	read.SetMaxIdleConns(readers)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	return &Store{write: write, read: read, dialect: sqliteDialect()}, nil
}

// openPool returns a connection pool for dsn whose connections cache their
// prepared statements (see stmtcache.go). Like sql.Open, it opens no connection.
func openPool(dsn string) (*sql.DB, error) {
	base, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtConnector{base: base}), nil
}

// createFile creates the database file with private permissions if it does not
// exist yet; SQLite itself would create it world-readable under the usual umask.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn returns the driver's data source name for the file at abs. The file: URI form
// is used because it percent-encodes the path, so that a '?' or '%' in a directory
// name cannot be mistaken for the start of the parameters.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// cloneValues copies v, so that the two pools' parameters cannot share slices.
func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// View runs fn in a read-only transaction, which sees one consistent snapshot of the
// database for its whole duration.
func (s *Store) View(ctx context.Context, fn func(tx store.MetadataTx) error) error {
	sqlTx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite store: begin read: %w", err)
	}
	// A read transaction has nothing to commit; rolling back also guarantees that
	// nothing is ever persisted from a View.
	defer sqlTx.Rollback()
	return fn(sqlstore.NewTx(sqlTx, s.dialect))
}

// Update runs fn in a read-write transaction and commits it if fn returns nil; if
// fn returns an error (or panics) every change is rolled back and fn's error is
// returned as is. fn runs exactly once: with a single writer a transaction never
// needs a retry. fn must not call Update of the same store: Update holds the only
// write connection until fn returns, so the inner call would wait forever.
func (s *Store) Update(ctx context.Context, fn func(tx store.MetadataTx) error) error {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The error that caused the rollback is the one worth reporting.
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(sqlstore.NewTx(sqlTx, s.dialect)); err != nil {
		return err
	}
	committed = true // database/sql ends the transaction even when Commit fails
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: commit: %w", err)
	}
	return nil
}

// Close closes the database. Transactions still running fail.
func (s *Store) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}
