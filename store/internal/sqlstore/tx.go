package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
)

// Tx implements store.MetadataTx on one database/sql transaction, for every engine.
//
// Every statement uses $N placeholders, which SQLite binds by position and which are
// PostgreSQL's native syntax, and otherwise only SQL that both engines read alike
// (ON CONFLICT upserts, row-value comparisons, boolean columns), so that the
// statements are written once.
//
// Tx remembers the first error the database returned (Failure), because on some
// engines that error decides what the caller of a transaction must do even when fn
// handled or replaced it: PostgreSQL aborts a transaction at its first failed
// statement, and a serialization failure means "run the transaction again".
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	failure error
}

var _ store.MetadataTx = (*Tx)(nil)

// NewTx returns a store.MetadataTx that runs its statements in tx, reading the
// engine's errors as dialect says.
func NewTx(tx *sql.Tx, dialect Dialect) *Tx {
	return &Tx{tx: tx, dialect: dialect}
}

// Failure returns the first error a statement of the transaction failed with, or
// nil. A missing row (sql.ErrNoRows) is an answer, not a failure.
func (t *Tx) Failure() error { return t.failure }

// note records err as the transaction's failure if it is the first one.
func (t *Tx) note(err error) {
	if err != nil && t.failure == nil && !errors.Is(err, sql.ErrNoRows) {
		t.failure = err
	}
}

// exec runs a statement that returns no rows.
func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, query, args...)
	t.note(err)
	return res, err
}

// query runs a statement that returns rows; read them with collect.
func (t *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	t.note(err)
	return rows, err
}

// queryRow runs a statement that returns at most one row. Its error, if any, comes
// from Scan (an engine may report a failed statement only when the row is read).
func (t *Tx) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return row{row: t.tx.QueryRowContext(ctx, query, args...), tx: t}
}

// row is a *sql.Row whose Scan errors are noted in its transaction.
type row struct {
	row *sql.Row
	tx  *Tx
}

// Scan scans the row, noting a failure.
func (r row) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.tx.note(err)
	return err
}

// rowScanner is what *sql.Row, row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// toNanos converts t to the stored form, Unix nanoseconds. The zero time, which
// UnixNano cannot represent, is stored as 0 and read back as the zero time.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos converts a stored timestamp back to a time in UTC (the location in which
// every time leaves the store, whatever the location it came in with).
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// notFoundIfNone turns a missing row into store.ErrNotFound, described by what.
func notFoundIfNone(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// expectOne checks that a change affected a row, returning a wrapped
// store.ErrNotFound if it affected none.
func expectOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// query builds a statement and its arguments together, so that placeholders are
// numbered by the order the arguments are added in.
type query struct {
	sb   strings.Builder
	args []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// add appends SQL text.
func (q *query) add(s ...string) {
	for _, p := range s {
		q.sb.WriteString(p)
	}
}

// limit appends the LIMIT clause of a listing; 0 (or less) means no limit.
func (q *query) limit(n int) {
	if n > 0 {
		q.add(" LIMIT ", q.arg(n))
	}
}

// --- repositories ---

// repositoryColumns are the columns of a store.Repository, in scanRepository order.
const repositoryColumns = `id, name, created_at, updated_at, delete_enabled, write_enabled, read_enabled, list_enabled`

// scanRepository scans repositoryColumns.
func scanRepository(s rowScanner) (store.Repository, error) {
	var r store.Repository
	var created, updated int64
	err := s.Scan(&r.ID, &r.Name, &created, &updated, &r.DeleteEnabled, &r.WriteEnabled, &r.ReadEnabled, &r.ListEnabled)
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	return r, err
}

// Repository returns a repository by name.
func (t *Tx) Repository(ctx context.Context, name string) (store.Repository, error) {
	r, err := scanRepository(t.queryRow(ctx,
		`SELECT `+repositoryColumns+` FROM repositories WHERE name = $1`, name))
	if err != nil {
		return store.Repository{}, notFoundIfNone(err, "repository "+name)
	}
	return r, nil
}

// CreateRepository returns the named repository, creating it if needed. The insert
// tolerates a concurrent creation (ON CONFLICT DO NOTHING) so that the same statements
// are race-free on a multi-writer database too.
func (t *Tx) CreateRepository(ctx context.Context, name string, now time.Time) (store.Repository, error) {
	r, err := t.Repository(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	if _, err := t.exec(ctx,
		`INSERT INTO repositories (name, created_at, updated_at) VALUES ($1, $2, $2)
		ON CONFLICT (name) DO NOTHING`, name, toNanos(now)); err != nil {
		return store.Repository{}, fmt.Errorf("create repository %s: %w", name, err)
	}
	return t.Repository(ctx, name)
}

// UpdateRepository stores UpdatedAt and Attributes of repo.
func (t *Tx) UpdateRepository(ctx context.Context, repo store.Repository) error {
	res, err := t.exec(ctx, `UPDATE repositories SET updated_at = $2,
		delete_enabled = $3, write_enabled = $4, read_enabled = $5, list_enabled = $6
		WHERE id = $1`,
		repo.ID, toNanos(repo.UpdatedAt),
		repo.DeleteEnabled, repo.WriteEnabled, repo.ReadEnabled, repo.ListEnabled)
	return expectOne(res, err, fmt.Sprintf("repository %d", repo.ID))
}

// DeleteRepository deletes a repository; the foreign keys cascade to its manifests,
// tags and blob links.
func (t *Tx) DeleteRepository(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, `DELETE FROM repositories WHERE id = $1`, id)
	return expectOne(res, err, fmt.Sprintf("repository %d", id))
}

// ListRepositories lists repositories by name, a keyset scan of the unique index
// on name.
func (t *Tx) ListRepositories(ctx context.Context, opts store.ListOptions) ([]store.Repository, error) {
	q := repositoriesQuery(opts)
	rows, err := t.query(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return collect(t, rows, scanRepository, "list repositories")
}

// repositoriesQuery selects one page of repositories.
func repositoriesQuery(opts store.ListOptions) *query {
	q := &query{}
	q.add(`SELECT `, repositoryColumns, ` FROM repositories WHERE name > `, q.arg(opts.After))
	if opts.ListableOnly {
		q.add(` AND list_enabled`)
	}
	q.add(` ORDER BY name`)
	q.limit(opts.Limit)
	return q
}

// CountRepository returns the number of manifests and tags in a repository.
func (t *Tx) CountRepository(ctx context.Context, id int64) (manifests, tags int, err error) {
	err = t.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM manifests WHERE repository_id = $1),
		(SELECT COUNT(*) FROM tags WHERE repository_id = $1)
		FROM repositories WHERE id = $1`, id).Scan(&manifests, &tags)
	if err != nil {
		return 0, 0, notFoundIfNone(err, fmt.Sprintf("repository %d", id))
	}
	return manifests, tags, nil
}

// collect reads every row of rows with scan and closes rows, noting a failure in t.
func collect[T any](t *Tx, rows *sql.Rows, scan func(rowScanner) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			t.note(err)
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.note(err)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// --- blob links ---

// blobColumns are the columns of a store.BlobLink, in scanBlob order.
const blobColumns = `repository_id, digest, size, created_at`

// scanBlob scans blobColumns.
func scanBlob(s rowScanner) (store.BlobLink, error) {
	var b store.BlobLink
	var created int64
	err := s.Scan(&b.RepositoryID, &b.Digest, &b.Size, &created)
	b.CreatedAt = fromNanos(created)
	return b, err
}

// Blob returns a repository's link to a blob.
func (t *Tx) Blob(ctx context.Context, repoID int64, dgst digest.Digest) (store.BlobLink, error) {
	b, err := scanBlob(t.queryRow(ctx,
		`SELECT `+blobColumns+` FROM blob_links WHERE repository_id = $1 AND digest = $2`, repoID, string(dgst)))
	if err != nil {
		return store.BlobLink{}, notFoundIfNone(err, "blob "+string(dgst))
	}
	return b, nil
}

// findBlobQuery selects the link of a digest with the lowest repository ID.
const findBlobQuery = `SELECT ` + blobColumns + ` FROM blob_links WHERE digest = $1 ORDER BY repository_id LIMIT 1`

// FindBlob returns a link to the blob from any repository: the one with the lowest
// repository ID, so that the answer does not change from call to call.
func (t *Tx) FindBlob(ctx context.Context, dgst digest.Digest) (store.BlobLink, error) {
	b, err := scanBlob(t.queryRow(ctx, findBlobQuery, string(dgst)))
	if err != nil {
		return store.BlobLink{}, notFoundIfNone(err, "blob "+string(dgst))
	}
	return b, nil
}

// PutBlob links a blob into a repository. An existing link is kept as it is (with
// its original CreatedAt): linking again is not an error.
func (t *Tx) PutBlob(ctx context.Context, link store.BlobLink) error {
	_, err := t.exec(ctx, `INSERT INTO blob_links (`+blobColumns+`) VALUES ($1, $2, $3, $4)
		ON CONFLICT (repository_id, digest) DO NOTHING`,
		link.RepositoryID, string(link.Digest), link.Size, toNanos(link.CreatedAt))
	return t.putError(err, "put blob "+string(link.Digest), link.RepositoryID)
}

// putError describes the failure of an insert into a repository's table, turning
// the foreign key failure of a missing repository into store.ErrNotFound.
func (t *Tx) putError(err error, what string, repoID int64) error {
	switch {
	case err == nil:
		return nil
	case t.dialect.IsForeignKeyViolation(err):
		return fmt.Errorf("%s: repository %d: %w", what, repoID, store.ErrNotFound)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// DeleteBlob removes a repository's link to a blob.
func (t *Tx) DeleteBlob(ctx context.Context, repoID int64, dgst digest.Digest) error {
	res, err := t.exec(ctx, `DELETE FROM blob_links WHERE repository_id = $1 AND digest = $2`,
		repoID, string(dgst))
	return expectOne(res, err, "blob "+string(dgst))
}

// BlobLinked reports whether any repository links the blob.
func (t *Tx) BlobLinked(ctx context.Context, dgst digest.Digest) (bool, error) {
	var linked bool
	if err := t.queryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM blob_links WHERE digest = $1)`, string(dgst)).Scan(&linked); err != nil {
		return false, fmt.Errorf("blob %s: %w", dgst, err)
	}
	return linked, nil
}

// --- manifests ---

// manifestColumns are every column but content, which listings never load (it is
// the only large one, and last in the table so that skipping it is free).
const manifestColumns = `repository_id, digest, media_type, artifact_type, config_media_type, subject,
	annotations, size, image_size, architecture, os, variant, created_at, updated_at,
	delete_enabled, write_enabled, read_enabled, list_enabled`

// scanManifest scans manifestColumns, followed by content if withContent.
func scanManifest(s rowScanner, withContent bool) (store.Manifest, error) {
	var m store.Manifest
	var annotations string
	var created, updated int64
	dest := []any{&m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.ConfigMediaType, &m.Subject,
		&annotations, &m.Size, &m.ImageSize, &m.Architecture, &m.OS, &m.Variant, &created, &updated,
		&m.DeleteEnabled, &m.WriteEnabled, &m.ReadEnabled, &m.ListEnabled}
	if withContent {
		dest = append(dest, &m.Content)
	}
	if err := s.Scan(dest...); err != nil {
		return store.Manifest{}, err
	}
	m.CreatedAt, m.UpdatedAt = fromNanos(created), fromNanos(updated)
	if annotations != "" {
		if err := json.Unmarshal([]byte(annotations), &m.Annotations); err != nil {
			return store.Manifest{}, fmt.Errorf("manifest %s: annotations: %w", m.Digest, err)
		}
	}
	return m, nil
}

// scanManifestNoContent scans manifestColumns, for listings.
func scanManifestNoContent(s rowScanner) (store.Manifest, error) { return scanManifest(s, false) }

// Manifest returns a manifest by digest, with its content.
func (t *Tx) Manifest(ctx context.Context, repoID int64, dgst digest.Digest) (store.Manifest, error) {
	m, err := scanManifest(t.queryRow(ctx,
		`SELECT `+manifestColumns+`, content FROM manifests WHERE repository_id = $1 AND digest = $2`,
		repoID, string(dgst)), true)
	if err != nil {
		return store.Manifest{}, notFoundIfNone(err, "manifest "+string(dgst))
	}
	return m, nil
}

// PutManifest inserts a manifest, or replaces every field of an existing one but
// created_at.
func (t *Tx) PutManifest(ctx context.Context, m store.Manifest) error {
	what := "put manifest " + string(m.Digest)
	// Annotations are stored as JSON text (not a JSON column type) so that the
	// schema stays the same on every engine; no annotations is the empty string.
	var annotations string
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return fmt.Errorf("%s: annotations: %w", what, err)
		}
		annotations = string(b)
	}
	content := m.Content
	if content == nil {
		content = []byte{} // the column is NOT NULL; a nil slice would bind as NULL
	}
	_, err := t.exec(ctx, `INSERT INTO manifests (`+manifestColumns+`, content)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (repository_id, digest) DO UPDATE SET
			media_type = excluded.media_type,
			artifact_type = excluded.artifact_type,
			config_media_type = excluded.config_media_type,
			subject = excluded.subject,
			annotations = excluded.annotations,
			size = excluded.size,
			image_size = excluded.image_size,
			architecture = excluded.architecture,
			os = excluded.os,
			variant = excluded.variant,
			updated_at = excluded.updated_at,
			delete_enabled = excluded.delete_enabled,
			write_enabled = excluded.write_enabled,
			read_enabled = excluded.read_enabled,
			list_enabled = excluded.list_enabled,
			content = excluded.content`,
		m.RepositoryID, string(m.Digest), m.MediaType, m.ArtifactType, m.ConfigMediaType, string(m.Subject),
		annotations, int64(len(content)), m.ImageSize, m.Architecture, m.OS, m.Variant, toNanos(m.CreatedAt), toNanos(m.UpdatedAt),
		m.DeleteEnabled, m.WriteEnabled, m.ReadEnabled, m.ListEnabled, content)
	return t.putError(err, what, m.RepositoryID)
}

// DeleteManifest deletes a manifest and the tags that point at it.
func (t *Tx) DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) error {
	what := "manifest " + string(dgst)
	res, err := t.exec(ctx, `DELETE FROM manifests WHERE repository_id = $1 AND digest = $2`,
		repoID, string(dgst))
	if err := expectOne(res, err, what); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM tags WHERE repository_id = $1 AND digest = $2`,
		repoID, string(dgst)); err != nil {
		return fmt.Errorf("%s: delete tags: %w", what, err)
	}
	return nil
}

// ListManifests lists a repository's manifests, without Content.
func (t *Tx) ListManifests(ctx context.Context, repoID int64, opts store.ListOptions) ([]store.Manifest, error) {
	opts.Digest = "" // no digest filter on manifests: the digest is the key
	rows, err := t.list(ctx, manifestListing(), repoID, opts)
	if err != nil || rows == nil {
		return nil, err
	}
	return collect(t, rows, scanManifestNoContent, "list manifests")
}

// referrersQuery selects the manifests of a subject, by digest.
const referrersQuery = `SELECT ` + manifestColumns + ` FROM manifests
	WHERE repository_id = $1 AND subject = $2 ORDER BY digest`

// Referrers lists the manifests whose subject is subject, by digest, along the
// (repository_id, subject, digest) index.
func (t *Tx) Referrers(ctx context.Context, repoID int64, subject digest.Digest) ([]store.Manifest, error) {
	if subject == "" {
		return nil, nil // the empty subject is stored for manifests that have none
	}
	rows, err := t.query(ctx, referrersQuery, repoID, string(subject))
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", subject, err)
	}
	return collect(t, rows, scanManifestNoContent, "referrers of "+string(subject))
}

// --- tags ---

// tagColumns are the columns of a store.Tag, in scanTag order.
const tagColumns = `repository_id, name, digest, created_at, updated_at,
	delete_enabled, write_enabled, read_enabled, list_enabled`

// scanTag scans tagColumns.
func scanTag(s rowScanner) (store.Tag, error) {
	var tg store.Tag
	var created, updated int64
	err := s.Scan(&tg.RepositoryID, &tg.Name, &tg.Digest, &created, &updated,
		&tg.DeleteEnabled, &tg.WriteEnabled, &tg.ReadEnabled, &tg.ListEnabled)
	tg.CreatedAt, tg.UpdatedAt = fromNanos(created), fromNanos(updated)
	return tg, err
}

// Tag returns a tag by name.
func (t *Tx) Tag(ctx context.Context, repoID int64, name string) (store.Tag, error) {
	tg, err := scanTag(t.queryRow(ctx,
		`SELECT `+tagColumns+` FROM tags WHERE repository_id = $1 AND name = $2`, repoID, name))
	if err != nil {
		return store.Tag{}, notFoundIfNone(err, "tag "+name)
	}
	return tg, nil
}

// PutTag inserts or replaces a tag, keeping created_at on replace.
func (t *Tx) PutTag(ctx context.Context, tg store.Tag) error {
	_, err := t.exec(ctx, `INSERT INTO tags (`+tagColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (repository_id, name) DO UPDATE SET
			digest = excluded.digest,
			updated_at = excluded.updated_at,
			delete_enabled = excluded.delete_enabled,
			write_enabled = excluded.write_enabled,
			read_enabled = excluded.read_enabled,
			list_enabled = excluded.list_enabled`,
		tg.RepositoryID, tg.Name, string(tg.Digest), toNanos(tg.CreatedAt), toNanos(tg.UpdatedAt),
		tg.DeleteEnabled, tg.WriteEnabled, tg.ReadEnabled, tg.ListEnabled)
	return t.putError(err, "put tag "+tg.Name, tg.RepositoryID)
}

// DeleteTag deletes a tag.
func (t *Tx) DeleteTag(ctx context.Context, repoID int64, name string) error {
	res, err := t.exec(ctx, `DELETE FROM tags WHERE repository_id = $1 AND name = $2`, repoID, name)
	return expectOne(res, err, "tag "+name)
}

// ListTags lists a repository's tags.
func (t *Tx) ListTags(ctx context.Context, repoID int64, opts store.ListOptions) ([]store.Tag, error) {
	rows, err := t.list(ctx, tagListing(), repoID, opts)
	if err != nil || rows == nil {
		return nil, err
	}
	return collect(t, rows, scanTag, "list tags")
}

// --- keyset listing ---

// listing describes a table listed by list: its rows belong to a repository, are
// identified within it by key, and carry updated_at and list_enabled. For each table
// there are two indexes, (repository_id, key) and (repository_id, updated_at, key),
// so that every order is a range scan of an index in index order: a page costs
// O(page) however many rows precede it, and never needs a sort.
type listing struct {
	table   string
	key     string
	columns string
}

// tagListing and manifestListing are the two listed tables.
func tagListing() listing { return listing{table: "tags", key: "name", columns: tagColumns} }

func manifestListing() listing {
	return listing{table: "manifests", key: "digest", columns: manifestColumns}
}

// cursor is where a time-ordered page starts: the (updated_at, key) of a row, and
// whether that row itself belongs to the page.
type cursor struct {
	updated   int64
	key       string
	inclusive bool
}

// direction returns the comparison that selects the rows after a cursor in order,
// and the SQL sort direction: greater ascending, smaller descending.
func direction(order store.Order) (cmp, dir string) {
	if order == store.OrderTimeDesc {
		return "<", "DESC"
	}
	return ">", "ASC"
}

// filters appends the WHERE clause common to every query of a listing.
func (l listing) filters(q *query, repoID int64, opts store.ListOptions) {
	q.add(` WHERE repository_id = `, q.arg(repoID))
	if opts.Digest != "" {
		q.add(` AND digest = `, q.arg(string(opts.Digest)))
	}
	if opts.ListableOnly {
		q.add(` AND list_enabled`)
	}
}

// pageQuery builds the query for one page. For time orders with a cursor, start is
// where the page starts (see cursorQuery); it is ignored otherwise.
func (l listing) pageQuery(repoID int64, opts store.ListOptions, start cursor) *query {
	q := &query{}
	q.add(`SELECT `, l.columns, ` FROM `, l.table)
	l.filters(q, repoID, opts)
	switch opts.Order {
	case store.OrderTimeAsc, store.OrderTimeDesc:
		cmp, dir := direction(opts.Order)
		if opts.After != "" {
			if start.inclusive {
				cmp += "="
			}
			// A row-value comparison, which SQLite and PostgreSQL both turn into a
			// range of the (repository_id, updated_at, key) index.
			q.add(` AND (updated_at, `, l.key, `) `, cmp, ` (`, q.arg(start.updated), `, `, q.arg(start.key), `)`)
		}
		q.add(` ORDER BY updated_at `, dir, `, `, l.key, ` `, dir)
	default:
		if opts.After != "" {
			q.add(` AND `, l.key, ` > `, q.arg(opts.After))
		}
		q.add(` ORDER BY `, l.key)
	}
	q.limit(opts.Limit)
	return q
}

// fallbackQuery builds the query that finds where a time-ordered page starts when no
// row has the cursor's key (see cursor): the shown row whose key is next to After in
// the direction of the tie-break, found along the key index (or the digest index) in
// O(log n).
func (l listing) fallbackQuery(repoID int64, opts store.ListOptions) *query {
	cmp, dir := direction(opts.Order)
	q := &query{}
	q.add(`SELECT updated_at, `, l.key, ` FROM `, l.table)
	l.filters(q, repoID, opts)
	q.add(` AND `, l.key, ` `, cmp, ` `, q.arg(opts.After), ` ORDER BY `, l.key, ` `, dir, ` LIMIT 1`)
	return q
}

// list runs the query for one page and returns its rows, or nil rows (and nil
// error) when the page is known to be empty without querying.
func (t *Tx) list(ctx context.Context, l listing, repoID int64, opts store.ListOptions) (*sql.Rows, error) {
	what := "list " + l.table
	var start cursor
	if opts.After != "" && (opts.Order == store.OrderTimeAsc || opts.Order == store.OrderTimeDesc) {
		var ok bool
		var err error
		if start, ok, err = t.cursor(ctx, l, repoID, opts); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !ok {
			return nil, nil
		}
	}
	q := l.pageQuery(repoID, opts, start)
	rows, err := t.query(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return rows, nil
}

// cursor finds where a time-ordered page starts.
//
// Normally opts.After names the last row of the previous page: the page starts
// right after it, wherever it sorts, even if the filters would hide it. If no row has
// that key (it was deleted since the previous page, or the client made the cursor up)
// there is no time to resume from, so the time order cannot place the cursor and the
// key order, which breaks ties, does it instead: the page starts at the row the
// listing shows whose key is next after After in the direction of the tie-break (the
// smallest key > After ascending, the largest key < After descending), includes that
// row, and continues from there in the listing's time order. (This is how this store
// reads store.ListOptions' "the first item that would sort after a name equal to
// After, lexical order being used for ties".) The answer is deterministic, the
// following pages continue without gap or repetition, and finding the row is one
// O(log n) index lookup, so a made-up cursor costs no more than a real one. ok is
// false if there is no such row: the page is empty.
func (t *Tx) cursor(ctx context.Context, l listing, repoID int64, opts store.ListOptions) (c cursor, ok bool, err error) {
	err = t.queryRow(ctx, `SELECT updated_at FROM `+l.table+` WHERE repository_id = $1 AND `+l.key+` = $2`,
		repoID, opts.After).Scan(&c.updated)
	if err == nil {
		c.key = opts.After
		return c, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return cursor{}, false, err
	}

	q := l.fallbackQuery(repoID, opts)
	err = t.queryRow(ctx, q.sb.String(), q.args...).Scan(&c.updated, &c.key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cursor{}, false, nil
	case err != nil:
		return cursor{}, false, err
	}
	c.inclusive = true
	return c, true, nil
}

// --- uploads ---

// uploadColumns are the columns of a store.Upload, in scanUpload order; hash_state
// last, like content in manifests.
const uploadColumns = `id, repository, size, generation, created_at, updated_at, hash_state`

// scanUpload scans uploadColumns.
func scanUpload(s rowScanner) (store.Upload, error) {
	var u store.Upload
	var created, updated int64
	err := s.Scan(&u.ID, &u.Repository, &u.Size, &u.Generation, &created, &updated, &u.HashState)
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, err
}

// Upload returns an upload session.
func (t *Tx) Upload(ctx context.Context, id string) (store.Upload, error) {
	u, err := scanUpload(t.queryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if err != nil {
		return store.Upload{}, notFoundIfNone(err, "upload "+id)
	}
	return u, nil
}

// PutUpload inserts or replaces an upload session (every field).
func (t *Tx) PutUpload(ctx context.Context, u store.Upload) error {
	if _, err := t.exec(ctx, `INSERT INTO uploads (`+uploadColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET
			repository = excluded.repository,
			size = excluded.size,
			generation = excluded.generation,
			created_at = excluded.created_at,
			updated_at = excluded.updated_at,
			hash_state = excluded.hash_state`,
		u.ID, u.Repository, u.Size, u.Generation, toNanos(u.CreatedAt), toNanos(u.UpdatedAt), u.HashState); err != nil {
		return fmt.Errorf("put upload %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUpload deletes an upload session; a missing one is not an error.
func (t *Tx) DeleteUpload(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `DELETE FROM uploads WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// uploadsQuery selects the sessions last updated before updatedBefore, oldest first.
func uploadsQuery(updatedBefore time.Time, limit int) *query {
	q := &query{}
	q.add(`SELECT `, uploadColumns, ` FROM uploads WHERE updated_at < `, q.arg(toNanos(updatedBefore)),
		` ORDER BY updated_at, id`)
	q.limit(limit)
	return q
}

// ListUploads lists the sessions last updated before updatedBefore, oldest first,
// along the (updated_at, id) index. limit 0 (or less) means no limit.
func (t *Tx) ListUploads(ctx context.Context, updatedBefore time.Time, limit int) ([]store.Upload, error) {
	q := uploadsQuery(updatedBefore, limit)
	rows, err := t.query(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	return collect(t, rows, scanUpload, "list uploads")
}

// --- tokens ---

// tokenColumns are the columns of a store.Token, in scanToken order.
const tokenColumns = `name, enabled, created_at, expires_at, scopes, password1, password2`

// scanToken scans tokenColumns.
func scanToken(s rowScanner) (store.Token, error) {
	var tk store.Token
	var created, expires int64
	var scopes string
	var p1, p2 []byte
	if err := s.Scan(&tk.Name, &tk.Enabled, &created, &expires, &scopes, &p1, &p2); err != nil {
		return store.Token{}, err
	}
	tk.CreatedAt, tk.ExpiresAt = fromNanos(created), fromNanos(expires)
	for _, p := range [][]byte{p1, p2} {
		if len(p) > 0 {
			tk.PasswordHashes = append(tk.PasswordHashes, p)
		}
	}
	if err := json.Unmarshal([]byte(scopes), &tk.Scopes); err != nil {
		return store.Token{}, fmt.Errorf("token %s: scopes: %w", tk.Name, err)
	}
	return tk, nil
}

// Token returns a token by name.
func (t *Tx) Token(ctx context.Context, name string) (store.Token, error) {
	tk, err := scanToken(t.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE name = $1`, name))
	if err != nil {
		return store.Token{}, notFoundIfNone(err, "token "+name)
	}
	return tk, nil
}

// PutToken inserts or replaces a token, keeping created_at on replace.
func (t *Tx) PutToken(ctx context.Context, tk store.Token) error {
	if len(tk.PasswordHashes) > 2 {
		return fmt.Errorf("put token %s: at most two passwords", tk.Name)
	}
	scopes := tk.Scopes
	if scopes == nil {
		scopes = []store.TokenScope{}
	}
	b, err := json.Marshal(scopes)
	if err != nil {
		return fmt.Errorf("put token %s: scopes: %w", tk.Name, err)
	}
	var p [2][]byte
	copy(p[:], tk.PasswordHashes)
	_, err = t.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (name) DO UPDATE SET
			enabled = excluded.enabled,
			expires_at = excluded.expires_at,
			scopes = excluded.scopes,
			password1 = excluded.password1,
			password2 = excluded.password2`,
		tk.Name, tk.Enabled, toNanos(tk.CreatedAt), toNanos(tk.ExpiresAt), string(b), p[0], p[1])
	if err != nil {
		return fmt.Errorf("put token %s: %w", tk.Name, err)
	}
	return nil
}

// DeleteToken deletes a token.
func (t *Tx) DeleteToken(ctx context.Context, name string) error {
	res, err := t.exec(ctx, `DELETE FROM tokens WHERE name = $1`, name)
	return expectOne(res, err, "token "+name)
}

// ListTokens lists every token by name.
func (t *Tx) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := t.query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return collect(t, rows, scanToken, "list tokens")
}
