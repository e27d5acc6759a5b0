package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// envDSN names the environment variable with the DSN of a PostgreSQL server for the
// tests. The role needs to be allowed to create schemas in the database (the owner
// is); each test works in a schema of its own, dropped at the end.
// .ci/services/postgres.sh starts such a server and prints the variable.
const envDSN = "ACRE_TEST_POSTGRES"

// testServer is the PostgreSQL server of this test binary: the one envDSN names or,
// failing that, a private cluster started on first use and stopped by TestMain.
type testServer struct {
	once sync.Once
	dsn  string // a superuser or database owner
	skip string // why there is no server, when the tests must skip
	err  error  // why starting the private cluster failed
	stop func()
}

// pg is the test binary's server. Tests get at it through adminDSN.
var pg testServer

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.stop != nil {
		pg.stop()
	}
	os.Exit(code)
}

// adminDSN returns the DSN of the tests' server, starting a private cluster if
// needed, and skips the test if there is no PostgreSQL to be had.
func adminDSN(t *testing.T) string {
	t.Helper()
	pg.once.Do(func() {
		if dsn := os.Getenv(envDSN); dsn != "" {
			pg.dsn = dsn
			return
		}
		pg.dsn, pg.stop, pg.skip, pg.err = startCluster()
	})
	switch {
	case pg.skip != "":
		t.Skip(pg.skip)
	case pg.err != nil:
		t.Fatalf("starting a private PostgreSQL (set %s to use another server): %v", envDSN, pg.err)
	}
	return pg.dsn
}

// serverBinDir returns the directory of PostgreSQL's initdb and pg_ctl: on PATH, or
// where Debian and Ubuntu keep them (/usr/lib/postgresql/<version>/bin, newest
// version first), or "".
func serverBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

// versionOf returns the major version in a /usr/lib/postgresql/<version>/bin path.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startCluster starts a private PostgreSQL cluster in a new temporary directory,
// listening on a free loopback port, and returns the DSN of its superuser and a
// function that stops it and removes the directory. skip is set instead when
// PostgreSQL is not installed or cannot run here.
func startCluster() (dsn string, stop func(), skip string, err error) {
	bin := serverBinDir()
	if bin == "" {
		return "", nil, "PostgreSQL not available: set " + envDSN + " or install postgresql", nil
	}
	if os.Geteuid() == 0 {
		return "", nil, "PostgreSQL not available: initdb refuses to run as root; set " + envDSN +
			` (for example eval "$(.ci/services/postgres.sh)")`, nil
	}
	dir, err := os.MkdirTemp("", "acre-postgres-test-")
	if err != nil {
		return "", nil, "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	password := rand.Text()
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return "", nil, "", err
	}
	// A non-bytewise default collation (ICU en-US) where this build has ICU, so that
	// a key column without COLLATE "C" would break the listing tests; then fallbacks.
	var initErr error
	for _, locale := range [][]string{
		{"--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"},
		{"--locale=C.UTF-8"},
		{"--no-locale"},
	} {
		os.RemoveAll(data)
		args := append([]string{"-D", data, "-U", "acre", "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8"}, locale...)
		if initErr = run(filepath.Join(bin, "initdb"), args...); initErr == nil {
			break
		}
	}
	if initErr != nil {
		return "", nil, "", initErr
	}

	// The port is found free and then handed to the server, which another process
	// could take in between: try a few.
	logFile := filepath.Join(dir, "postgres.log")
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			return "", nil, "", err
		}
		conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
`, port)
		if err := os.WriteFile(filepath.Join(data, "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
			return "", nil, "", err
		}
		err = run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", logFile, "-w", "-t", "60", "start")
		if err == nil {
			stop := func() {
				_ = run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
				os.RemoveAll(dir)
			}
			u := url.URL{Scheme: "postgres", User: url.UserPassword("acre", password),
				Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}
			return u.String(), stop, "", nil
		}
		if try == 2 {
			log, _ := os.ReadFile(logFile)
			return "", nil, "", fmt.Errorf("%w\n%s", err, log)
		}
	}
}

// run runs a command, returning its output in the error if it fails.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

// freePort returns a loopback TCP port that nothing listens on at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// openAdmin opens a database/sql handle on the tests' server, closed at the end of
// the test.
func openAdmin(t *testing.T) *sql.DB {
	t.Helper()
	// "pgx" is the database/sql driver that package stdlib, which the store uses,
	// registers.
	db, err := sql.Open("pgx", adminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newSchema creates an empty schema for one test, dropped when the test ends, and
// returns a DSN whose search_path selects it: every test gets a database of its own
// without needing the right to create databases.
func newSchema(t *testing.T) string {
	t.Helper()
	admin := openAdmin(t)
	name := "acre_test_" + randomHex(6)
	if _, err := admin.ExecContext(t.Context(), `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return withParam(adminDSN(t), "search_path", name)
}

// withParam returns dsn, in URL or keyword/value form, with a parameter set.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			panic(fmt.Sprintf("%s is not a URL: %v", envDSN, err)) // the server's DSN was used already
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// openStore opens a store on dsn, closed at the end of the test.
func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
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
