package sqlite

import (
	"errors"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/acre-dev/acre/store/internal/sqlstore"
)

// sqliteDialect returns SQLite's column types and error codes for the schema and
// queries shared with the PostgreSQL store (store/internal/sqlstore). AUTOINCREMENT
// (rather than a plain INTEGER PRIMARY KEY, which may reuse the largest deleted rowid)
// is what makes IDs monotonic. SQLite's default BINARY collation already sorts text
// byte-wise, as listings promise.
func sqliteDialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		AutoID:                "INTEGER PRIMARY KEY AUTOINCREMENT",
		Bytes:                 "BLOB",
		Key:                   "TEXT",
		IsForeignKeyViolation: isForeignKeyViolation,
	}
}

// isForeignKeyViolation reports whether err is SQLite's foreign key failure, which
// for the tables here means that the repository a row belongs to does not exist.
func isForeignKeyViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
