package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
)

// The statement cache.
//
// database/sql runs a query on a connection that implements driver.QueryerContext
// (as every modernc.org/sqlite connection does) by handing it the SQL text, and
// the driver prepares that text afresh every time: SQLite tokenises, parses and
// plans it, then runs it. For the store's short queries the preparing cost as much
// CPU as the running (a manifest GET spent 18% of the registry's CPU in
// sqlite3_prepare). The store runs a small fixed set of SQL texts, so each
// connection keeps its prepared statements by text and runs them again; the
// driver resets a statement for reuse when its rows are closed.
//
// A cached statement serves one query at a time. While its rows are open (a query
// run inside the iteration of another with the same text), the same text is run
// the uncached way, as is every text once the cache is full. A text that fails to
// prepare is not cached, and runs the uncached way so that its error is the
// driver's usual one. SQLite re-prepares a statement by itself when the schema
// changes, so cached statements survive migrations.

// maxCachedStmts bounds the statements cached per connection; the store uses far
// fewer distinct texts.
const maxCachedStmts = 256

// stmtConnector opens connections with a statement cache in front.
type stmtConnector struct{ base driver.Connector }

// baseConn is what a connection of the driver implements and the cache relies on
// (see modernc.org/sqlite's NewConnector on wrapping its connections).
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// Connect implements driver.Connector.
func (c stmtConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	bc, ok := conn.(baseConn)
	if !ok {
		return conn, nil // a driver that changed: no cache rather than a broken one
	}
	return &stmtConn{baseConn: bc, stmts: map[string]*cachedStmt{}}, nil
}

// Driver implements driver.Connector.
func (c stmtConnector) Driver() driver.Driver { return c.base.Driver() }

// cachedStmt is a prepared statement and whether rows of it are open.
type cachedStmt struct {
	stmt driver.Stmt
	busy bool
}

// stmtConn is a driver connection whose ExecContext and QueryContext run cached
// prepared statements. database/sql uses a connection from one goroutine at a
// time, so the cache needs no lock.
type stmtConn struct {
	baseConn
	stmts map[string]*cachedStmt
}

// Unwrap returns the driver's connection (modernc.org/sqlite's Limit looks for it).
func (c *stmtConn) Unwrap() driver.Conn { return c.baseConn }

// acquire returns the cached statement for query, prepared now if need be, marked
// busy until release is called; or nil if query must run the uncached way.
func (c *stmtConn) acquire(ctx context.Context, query string) (driver.Stmt, func()) {
	cs, ok := c.stmts[query]
	if !ok {
		if len(c.stmts) >= maxCachedStmts {
			return nil, nil
		}
		st, err := c.baseConn.PrepareContext(ctx, query)
		if err != nil {
			return nil, nil
		}
		if _, ok := st.(driver.StmtQueryContext); !ok {
			_ = st.Close()
			return nil, nil
		}
		if _, ok := st.(driver.StmtExecContext); !ok {
			_ = st.Close()
			return nil, nil
		}
		cs = &cachedStmt{stmt: st}
		c.stmts[query] = cs
	}
	if cs.busy {
		return nil, nil
	}
	cs.busy = true
	return cs.stmt, func() { cs.busy = false }
}

// ExecContext implements driver.ExecerContext.
func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, release := c.acquire(ctx, query)
	if st == nil {
		return c.baseConn.ExecContext(ctx, query, args)
	}
	defer release()
	return st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext.
func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, release := c.acquire(ctx, query)
	if st == nil {
		return c.baseConn.QueryContext(ctx, query, args)
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		release()
		return nil, err
	}
	return &cachedRows{Rows: rows, release: release}, nil
}

// Close closes the cached statements and the connection.
func (c *stmtConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.baseConn.Close())...)
}

// cachedRows are the rows of a cached statement: closing them frees the statement
// for the next query. The optional column-type methods are passed through.
type cachedRows struct {
	driver.Rows
	release func()
}

// Close implements driver.Rows.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName.
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeLength implements driver.RowsColumnTypeLength.
func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

// ColumnTypeNullable implements driver.RowsColumnTypeNullable.
func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

// ColumnTypePrecisionScale implements driver.RowsColumnTypePrecisionScale.
func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
