package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Dialect is what the SQL engines disagree on: a few column types, which the
// migrations are written with placeholders for so that every engine applies the very
// same schema, and how the engine reports the errors the store must tell apart.
type Dialect struct {
	// AutoID is the type and constraint of a generated, never reused, 64-bit primary
	// key. IDs must never be reused because the domain may read a repository in one
	// transaction and use its ID in the next one; a deleted-and-recreated repository
	// must not inherit the old one's ID in between.
	AutoID string
	// Bytes is the type of a binary column.
	Bytes string
	// Key is the type of the text columns that are compared and sorted: names and
	// digests. Listings promise byte-wise (Go string) order, which is SQLite's
	// default BINARY collation but not PostgreSQL's default locale collation, where
	// this must be TEXT COLLATE "C".
	Key string
	// IsForeignKeyViolation reports whether err is the engine's foreign key failure,
	// which for the tables here means that the repository a row belongs to does not
	// exist (reported as store.ErrNotFound).
	IsForeignKeyViolation func(error) bool
}

// Migrations returns the schema migrations in order, written for dialect d:
// migration i (0-based) is schema version i+1. Applied migrations must never be
// edited, only appended to, because a database records the versions it has applied
// and never runs them again.
//
// The SQL is kept portable to PostgreSQL: BIGINT, TEXT and BOOLEAN columns, timestamps
// as BIGINT Unix nanoseconds UTC (exact, and free of time zone and precision
// differences between engines), empty strings rather than NULL for absent optional
// text (so that every column scans into a plain Go string) and no engine-specific
// clauses outside the dialect placeholders.
func Migrations(d Dialect) []string {
	r := strings.NewReplacer("{{autoID}}", d.AutoID, "{{bytes}}", d.Bytes, "{{key}}", d.Key)
	m := []string{schemaV1, schemaV2, schemaV3}
	for i := range m {
		m[i] = r.Replace(m[i])
	}
	return m
}

// Migrate applies the migrations (from Migrations) that the database has not applied
// yet, each in its own transaction together with the record of its version, so that
// a crash leaves the schema at a recorded version and a restart resumes from there.
// Opening a database whose schema is newer than steps fails rather than risking a
// misread.
//
// begin starts each migration transaction. It must exclude every other migration
// transaction, of any process, from the transaction's start to its end (SQLite: BEGIN
// IMMEDIATE, which takes the write lock; PostgreSQL: an advisory transaction lock),
// and each statement after the start must see what was committed before it (so not a
// snapshot taken before the lock was granted). Whether a version is applied is checked
// inside its transaction, so two processes migrating one database at once cannot
// both apply a version; the table of versions itself is created that way too.
func Migrate(ctx context.Context, steps []string, begin func(context.Context) (*sql.Tx, error)) error {
	current, err := schemaVersion(ctx, begin)
	if err != nil {
		return err
	}
	if current > int64(len(steps)) {
		return fmt.Errorf("database schema version %d is newer than the newest known version %d", current, len(steps))
	}
	for i := current; i < int64(len(steps)); i++ {
		if err := applyMigration(ctx, begin, i+1, steps[i]); err != nil {
			return fmt.Errorf("schema version %d: %w", i+1, err)
		}
	}
	return nil
}

// schemaVersion creates the table of applied versions if needed and returns the
// newest version applied, 0 for a new database.
func schemaVersion(ctx context.Context, begin func(context.Context) (*sql.Tx, error)) (int64, error) {
	tx, err := begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // after Commit a no-op
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("create schema_migrations: commit: %w", err)
	}
	return current, nil
}

// applyMigration applies one migration unless it has been applied meanwhile.
func applyMigration(ctx context.Context, begin func(context.Context) (*sql.Tx, error), version int64, step string) error {
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit a no-op
	var applied bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&applied); err != nil {
		return err
	}
	if applied {
		return nil
	}
	if _, err := tx.ExecContext(ctx, step); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// schemaV1 is the initial schema.
//
// Index choices follow the queries in tx.go: every listing is a keyset scan of one
// index in its sort order, so a page costs O(page) whatever the repository's size.
// Primary keys lead with repository_id so that the ON DELETE CASCADE from a
// repository is an index range delete. Large columns (content, hash_state) come last
// in their tables so that reading the other columns of a row never walks the large
// value's overflow pages in SQLite.
const schemaV1 = `
CREATE TABLE repositories (
	id             {{autoID}},
	name           {{key}} NOT NULL UNIQUE,
	created_at     BIGINT  NOT NULL,
	updated_at     BIGINT  NOT NULL,
	delete_enabled BOOLEAN NOT NULL DEFAULT TRUE,
	write_enabled  BOOLEAN NOT NULL DEFAULT TRUE,
	read_enabled   BOOLEAN NOT NULL DEFAULT TRUE,
	list_enabled   BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE blob_links (
	repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
	digest        {{key}} NOT NULL,
	size          BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	PRIMARY KEY (repository_id, digest)
);
-- FindBlob and BlobLinked look a digest up across repositories; repository_id makes
-- FindBlob's choice deterministic without a sort.
CREATE INDEX blob_links_digest ON blob_links (digest, repository_id);

CREATE TABLE manifests (
	repository_id     BIGINT  NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
	digest            {{key}} NOT NULL,
	media_type        TEXT    NOT NULL,
	artifact_type     TEXT    NOT NULL DEFAULT '',
	config_media_type TEXT    NOT NULL DEFAULT '',
	subject           {{key}} NOT NULL DEFAULT '',
	annotations       TEXT    NOT NULL DEFAULT '',
	size              BIGINT  NOT NULL DEFAULT 0,
	image_size        BIGINT  NOT NULL DEFAULT 0,
	architecture      TEXT    NOT NULL DEFAULT '',
	os                TEXT    NOT NULL DEFAULT '',
	variant           TEXT    NOT NULL DEFAULT '',
	created_at        BIGINT  NOT NULL,
	updated_at        BIGINT  NOT NULL,
	delete_enabled    BOOLEAN NOT NULL DEFAULT TRUE,
	write_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
	read_enabled      BOOLEAN NOT NULL DEFAULT TRUE,
	list_enabled      BOOLEAN NOT NULL DEFAULT TRUE,
	content           {{bytes}} NOT NULL,
	PRIMARY KEY (repository_id, digest)
);
-- Referrers: the manifests of one subject, by digest.
CREATE INDEX manifests_subject ON manifests (repository_id, subject, digest);
-- Time-ordered listings, ties broken by digest.
CREATE INDEX manifests_updated ON manifests (repository_id, updated_at, digest);

CREATE TABLE tags (
	repository_id  BIGINT  NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
	name           {{key}} NOT NULL,
	digest         {{key}} NOT NULL,
	created_at     BIGINT  NOT NULL,
	updated_at     BIGINT  NOT NULL,
	delete_enabled BOOLEAN NOT NULL DEFAULT TRUE,
	write_enabled  BOOLEAN NOT NULL DEFAULT TRUE,
	read_enabled   BOOLEAN NOT NULL DEFAULT TRUE,
	list_enabled   BOOLEAN NOT NULL DEFAULT TRUE,
	PRIMARY KEY (repository_id, name)
);
-- Time-ordered listings, ties broken by name.
CREATE INDEX tags_updated ON tags (repository_id, updated_at, name);
-- The tags of one digest (DeleteManifest, the digest filter), by name.
CREATE INDEX tags_digest ON tags (repository_id, digest, name);

-- Uploads name their repository instead of referencing it: a session is only checked
-- against the name it was started for, and expiry must be able to remove it whatever
-- became of the repository.
CREATE TABLE uploads (
	id         {{key}} NOT NULL PRIMARY KEY,
	repository TEXT   NOT NULL,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	hash_state {{bytes}}
);
-- Expiry: the oldest sessions first.
CREATE INDEX uploads_updated ON uploads (updated_at, id);
`

// schemaV2 adds repository-scoped access tokens. Passwords are stored only as
// hashes; the scope map is JSON text (a list of {repository, actions}).
const schemaV2 = `
CREATE TABLE tokens (
	name       {{key}} NOT NULL PRIMARY KEY,
	enabled    BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT  NOT NULL,
	expires_at BIGINT  NOT NULL DEFAULT 0,
	scopes     TEXT    NOT NULL,
	password1  {{bytes}},
	password2  {{bytes}}
);
`

// schemaV3 adds the write generation of upload sessions (store.Upload.Generation),
// the fencing token that keeps a session's size and hash state true to the bytes in
// the blob store when writes race on several replicas. Sessions started before it
// begin at 0, as the blob stores' uploads do.
const schemaV3 = `
ALTER TABLE uploads ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
`
