// Package postgres is the metadata store for running several acre replicas against
// one database: PostgreSQL, through pgx (github.com/jackc/pgx/v5).
//
// The schema and every query are those of the embedded SQLite store, shared through
// store/internal/sqlstore with a PostgreSQL dialect: identity columns for IDs, BYTEA
// for binary columns and TEXT COLLATE "C" for the names and digests that listings sort
// and compare, so that listings come out in byte-wise order whatever the database's
// locale, and so that each listing is a keyset range scan of an index in its order.
// What this package adds is what differs when several processes write at once:
//
//   - Updates run at SERIALIZABLE isolation. The domain's transactions are
//     read-modify-write (is the repository write-locked? does the manifest a tag
//     names exist? which digest does the tag point at now?), and only serializable
//     transactions make such decisions safe against a concurrent transaction in
//     another replica, as the single SQLite writer makes them in one process.
//     PostgreSQL resolves a conflict by failing one transaction with a serialization
//     failure (SQLSTATE 40001, or 40P01 for a deadlock); Update then rolls back and
//     runs fn again on a fresh snapshot, after a short randomised backoff, as the
//     store.MetadataStore contract allows. Callers never see the failure unless a
//     transaction loses its race many times in a row (then the error wraps
//     store.ErrConflict).
//   - Views run at REPEATABLE READ, READ ONLY: one consistent snapshot for the whole
//     View (a listing reads its cursor and its page in two statements), and a
//     read-only snapshot transaction never fails to serialise, so Views never retry.
//   - The schema is migrated forward on Open, and Open is safe when several replicas
//     start at once: every migration transaction first takes a transaction-level
//     advisory lock (pg_advisory_xact_lock), so migrations run one at a time and each
//     sees the versions the others applied. The lock is released at commit or
//     rollback, and by PostgreSQL if the process dies, so it can never be left held.
//
// The tables are created in the first schema of the connection's search_path. To keep
// acre's tables in a schema of their own, create the schema and name it in the DSN
// (search_path=acre).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/internal/sqlstore"
)

// SQLSTATE codes the store tells apart.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeForeignKeyViolation  = "23503"
)

// migrationLockKey is the key of the advisory lock that serialises migrations. Any
// constant does, as long as nothing else in the database uses it: this one is "acremigr"
// in ASCII. Advisory locks are per database, so acre databases in one cluster do not
// wait for each other.
const migrationLockKey int64 = 0x6163_7265_6d69_6772

// retryPolicy says how often and how patiently Update runs a transaction again after
// a serialization failure.
type retryPolicy struct {
	// attempts is the number of times fn runs at most.
	attempts int
	// base is the backoff after the first failure; it doubles with every further
	// failure, up to max.
	base, max time.Duration
}

// defaultRetry returns the policy of a new Store. It gives up only after many
// failures: a failure means that another transaction committed (the system as a whole
// made progress), and each retry of a small metadata transaction costs milliseconds,
// so giving up early would turn ordinary contention (many pushes of one tag) into
// failed requests. The backoff, randomised, spreads the retries of transactions that
// collided so that they do not collide again.
func defaultRetry() retryPolicy {
	return retryPolicy{attempts: 50, base: 2 * time.Millisecond, max: 250 * time.Millisecond}
}

// wait sleeps before attempt number attempt+1, or returns early with ctx's error.
func (p retryPolicy) wait(ctx context.Context, attempt int) error {
	d := p.max
	if attempt < 30 { // beyond that the shift would overflow; max applies anyway
		d = min(p.max, p.base<<(attempt-1))
	}
	// Half fixed, half random ("equal jitter"): always some pause, never in step.
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Store is a store.MetadataStore in a PostgreSQL database. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share one database.
type Store struct {
	// pool holds the connections; db runs the shared database/sql queries over it.
	pool    *pgxpool.Pool
	db      *sql.DB
	dialect sqlstore.Dialect
	retry   retryPolicy
}

var _ store.MetadataStore = (*Store)(nil)

// Open connects to the database named by dsn and brings its schema up to date.
// Opening a database whose schema is newer than this program knows fails rather than
// risking a misread.
//
// dsn is anything pgx accepts: a URL (postgres://user:password@host:5432/db?sslmode=...)
// or keyword/value pairs (host=... dbname=...), with the libpq environment variables
// (PGHOST, PGPASSWORD, ...) and files (.pgpass) filling in what it leaves out, and
// pgxpool's pool settings (pool_max_conns, by default the greater of 4 and the number
// of CPUs; pool_max_conn_lifetime; ...). The store needs a role that may create tables
// in the first schema of its search_path, for migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s := &Store{pool: pool, db: stdlib.OpenDBFromPool(pool), dialect: postgresDialect(), retry: defaultRetry()}
	// The pool connects lazily; connect now so that a wrong DSN fails Open, not the
	// first request.
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres store: connect: %w", err)
	}
	if err := sqlstore.Migrate(ctx, sqlstore.Migrations(s.dialect), s.beginMigration); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres store: migrate: %w", err)
	}
	return s, nil
}

// postgresDialect returns PostgreSQL's column types and error codes for the schema and
// queries shared with the SQLite store. Identity columns come from a sequence, which
// never hands out a value twice, so IDs are never reused. "C" is PostgreSQL's
// byte-wise collation: with it, comparisons and ORDER BY on keys agree with Go's
// string order and with the indexes on those columns whatever the database's locale.
func postgresDialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		AutoID: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		Bytes:  "BYTEA",
		Key:    `TEXT COLLATE "C"`,
		IsForeignKeyViolation: func(err error) bool {
			return sqlState(err) == codeForeignKeyViolation
		},
	}
}

// sqlState returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// retryable reports whether err means that the transaction lost a race with another
// one and would succeed if run again.
func retryable(err error) bool {
	switch sqlState(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// beginMigration starts a migration transaction holding the migration lock (see
// sqlstore.Migrate). It runs at READ COMMITTED whatever the server's default, because
// each statement must see what was committed while the transaction waited for the
// lock; a snapshot taken before the lock was granted would not show a version that
// another replica applied in the meantime.
func (s *Store) beginMigration(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		_ = tx.Rollback() // the lock error is the one worth reporting
		return nil, fmt.Errorf("take the migration lock: %w", err)
	}
	return tx, nil
}

// View runs fn in a read-only transaction, which sees one consistent snapshot of the
// database for its whole duration.
func (s *Store) View(ctx context.Context, fn func(tx store.MetadataTx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("postgres store: begin read: %w", err)
	}
	// A read transaction has nothing to commit; rolling back also guarantees that
	// nothing is ever persisted from a View.
	defer sqlTx.Rollback()
	return fn(sqlstore.NewTx(sqlTx, s.dialect))
}

// Update runs fn in a serializable read-write transaction and commits it if fn
// returns nil; if fn returns an error (or panics) every change is rolled back and
// fn's error is returned as is.
//
// If the transaction fails to serialise with a concurrent one, in fn or at commit,
// it is rolled back and fn runs again, so fn must not have effects outside tx (see
// store.MetadataStore). That holds even if fn handled the failure itself or returned
// another error because of it: PostgreSQL aborts a transaction at its first failed
// statement, so nothing fn did after the failure could have counted.
func (s *Store) Update(ctx context.Context, fn func(tx store.MetadataTx) error) error {
	for attempt := 1; ; attempt++ {
		retry, err := s.attempt(ctx, fn)
		if !retry {
			return err
		}
		if attempt >= s.retry.attempts {
			return fmt.Errorf("postgres store: transaction failed to serialise %d times (%w): %w",
				attempt, store.ErrConflict, err)
		}
		if werr := s.retry.wait(ctx, attempt); werr != nil {
			return fmt.Errorf("postgres store: retrying after %v: %w", err, werr)
		}
	}
}

// attempt runs fn once in a transaction. retry reports that the transaction failed
// to serialise and should run again.
func (s *Store) attempt(ctx context.Context, fn func(tx store.MetadataTx) error) (retry bool, err error) {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return false, fmt.Errorf("postgres store: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The error that caused the rollback is the one worth reporting.
			_ = sqlTx.Rollback()
		}
	}()
	tx := sqlstore.NewTx(sqlTx, s.dialect)
	if err := fn(tx); err != nil {
		return retryable(err) || retryable(tx.Failure()), err
	}
	committed = true // database/sql ends the transaction even when Commit fails
	if err := sqlTx.Commit(); err != nil {
		if failure := tx.Failure(); failure != nil {
			// fn went on after a failed statement and returned nil; the server then
			// answers COMMIT with a rollback. The failure is the cause.
			err = fmt.Errorf("%w (after a failed statement: %w)", err, failure)
		}
		return retryable(err), fmt.Errorf("postgres store: commit: %w", err)
	}
	return false, nil
}

// Close closes the store's connections. Transactions still running fail.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	if err != nil {
		return fmt.Errorf("postgres store: close: %w", err)
	}
	return nil
}
