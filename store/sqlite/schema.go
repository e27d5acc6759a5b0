package sqlite

import "strings"

// dialect names the few column types on which SQLite and PostgreSQL disagree. The
// migrations are written once, with placeholders for these, so that the PostgreSQL
// store can apply the very same schema with its own dialect.
type dialect struct {
	// autoID is the type and constraint of a generated, never reused, 64-bit primary
	// key. IDs must never be reused because the domain may read a repository in one
	// transaction and use its ID in the next one; a deleted-and-recreated repository
	// must not inherit the old one's ID in between.
	autoID string
	// bytes is the type of a binary column.
	bytes string
	// key is the type of the text columns that are compared and sorted: names and
	// digests. Listings promise byte-wise (Go string) order, which is SQLite's
	// default BINARY collation but not PostgreSQL's default locale collation, where
	// this must be TEXT COLLATE "C".
	key string
}

// sqliteDialect returns the SQLite column types. AUTOINCREMENT (rather than a plain
// INTEGER PRIMARY KEY, which may reuse the largest deleted rowid) is what makes IDs
// monotonic.
func sqliteDialect() dialect {
	return dialect{autoID: "INTEGER PRIMARY KEY AUTOINCREMENT", bytes: "BLOB", key: "TEXT"}
}

// migrations returns the schema migrations in order: migration i (0-based) is schema
// version i+1. Applied migrations must never be edited, only appended to, because a
// database records the versions it has applied and never runs them again.
//
// The SQL is kept portable to PostgreSQL: BIGINT, TEXT and BOOLEAN columns, timestamps
// as BIGINT Unix nanoseconds UTC (exact, and free of time zone and precision
// differences between engines), empty strings rather than NULL for absent optional
// text (so that every column scans into a plain Go string) and no engine-specific
// clauses outside the dialect placeholders.
func migrations(d dialect) []string {
	r := strings.NewReplacer("{{autoID}}", d.autoID, "{{bytes}}", d.bytes, "{{key}}", d.key)
	m := []string{schemaV1, schemaV2}
	for i := range m {
		m[i] = r.Replace(m[i])
	}
	return m
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
