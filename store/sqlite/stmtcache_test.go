package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// cacheOf returns the statement cache of one connection of db (a pool of one).
func cacheOf(t *testing.T, conn *sql.Conn) map[string]*cachedStmt {
	t.Helper()
	var stmts map[string]*cachedStmt
	err := conn.Raw(func(dc any) error {
		sc, ok := dc.(*stmtConn)
		if !ok {
			return fmt.Errorf("connection is a %T, want *stmtConn", dc)
		}
		stmts = sc.stmts
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stmts
}

func TestStatementCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.write.ExecContext(ctx, `INSERT INTO t (n, s) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	const q = `SELECT n, s FROM t WHERE n >= ? ORDER BY n`
	count := func(from int) int {
		t.Helper()
		rows, err := conn.QueryContext(ctx, q, from)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var i int
			var v string
			if err := rows.Scan(&i, &v); err != nil {
				t.Fatal(err)
			}
			if v != fmt.Sprint("v", i) || i != from+n {
				t.Fatalf("row %d: (%d, %q)", n, i, v)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Reused: the same text runs again and again from one prepared statement.
	for range 3 {
		if n := count(4); n != 6 {
			t.Fatalf("got %d rows, want 6", n)
		}
	}
	if got := len(cacheOf(t, conn)); got != 1 {
		t.Fatalf("%d cached statements, want 1", got)
	}

	// The same text inside an open iteration of itself runs uncached, and neither
	// iteration disturbs the other.
	outer, err := conn.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for outer.Next() {
		var i int
		var v string
		if err := outer.Scan(&i, &v); err != nil {
			t.Fatal(err)
		}
		if i != seen {
			t.Fatalf("outer row %d is %d", seen, i)
		}
		if n := count(i); n != 10-i {
			t.Fatalf("inner query from %d: %d rows, want %d", i, n, 10-i)
		}
		seen++
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if seen != 10 {
		t.Fatalf("outer query: %d rows, want 10", seen)
	}
	if cs := cacheOf(t, conn)[q]; cs == nil || cs.busy {
		t.Fatalf("statement after the nested queries: %+v, want cached and free", cs)
	}

	// A text that does not prepare fails as usual and is not cached.
	if _, err := conn.QueryContext(ctx, `SELECT nope FROM t`); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad query: %v", err)
	}
	if _, ok := cacheOf(t, conn)[`SELECT nope FROM t`]; ok {
		t.Fatal("a statement that failed to prepare was cached")
	}

	// A query whose context ends leaves the statement usable.
	cctx, cancel := context.WithCancel(ctx)
	rows, err := conn.QueryContext(cctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	cancel()
	rows.Close()
	if n := count(0); n != 10 {
		t.Fatalf("after a cancelled query: %d rows, want 10", n)
	}

	// Past the bound, texts run uncached, correctly.
	for i := range maxCachedStmts + 10 {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) + %d FROM t`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 10+i {
			t.Fatalf("query %d: %d", i, n)
		}
	}
	if got := len(cacheOf(t, conn)); got != maxCachedStmts {
		t.Fatalf("%d cached statements, want the bound, %d", got, maxCachedStmts)
	}
}

// TestStatementCacheWrites checks cached statements in write transactions:
// inserted rows are there after the commit and gone after a rollback.
func TestStatementCacheWrites(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE w (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(commit bool, from int) {
		t.Helper()
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+5; i++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO w (n) VALUES (?)`, i); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	insert(true, 0)
	insert(false, 5)
	insert(true, 10)
	// A duplicate key fails, and the statement still works afterwards.
	if _, err := s.write.ExecContext(ctx, `INSERT INTO w (n) VALUES (?)`, 0); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	insert(true, 20)
	var n, sum int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*), sum(n) FROM w`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if want := (0 + 1 + 2 + 3 + 4) + (10 + 11 + 12 + 13 + 14) + (20 + 21 + 22 + 23 + 24); n != 15 || sum != want {
		t.Fatalf("%d rows summing to %d, want 15 summing to %d", n, sum, want)
	}
}
