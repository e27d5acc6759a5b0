package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Peer versions, as served by the Go module proxy. They are built at run time
// into a temporary directory; nothing is added to go.mod.
const (
	distributionPkg = "github.com/distribution/distribution/v3/cmd/registry"
	cranePkg        = "github.com/google/go-containerregistry/cmd/crane"
	orasPkg         = "oras.land/oras/cmd/oras"
)

// tools are the binaries a run uses.
type tools struct {
	acre, registry, crane, oras string
}

// buildTools builds acre from the module at root (unless acreBin names a prebuilt
// one) and installs the peers with `go install pkg@version` into dir.
func buildTools(ctx context.Context, root, dir string, versions map[string]string, acreBin string) (tools, error) {
	t := tools{
		acre:     filepath.Join(dir, "acre"),
		registry: filepath.Join(dir, "registry"),
		crane:    filepath.Join(dir, "crane"),
		oras:     filepath.Join(dir, "oras"),
	}
	if acreBin != "" {
		abs, err := filepath.Abs(acreBin)
		if err != nil {
			return t, err
		}
		t.acre = abs
	} else {
		logf("building acre from %s", root)
		build := exec.CommandContext(ctx, "go", "build", "-o", t.acre, "./cmd/acre")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return t, fmt.Errorf("build acre: %v\n%s", err, out)
		}
	}
	for _, pkg := range []string{distributionPkg, cranePkg, orasPkg} {
		bin := filepath.Join(dir, filepath.Base(pkg))
		if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
			logf("using %s already in %s", filepath.Base(pkg), dir)
			continue
		}
		ref := pkg + "@" + versions[pkg]
		logf("go install %s", ref)
		cmd := exec.CommandContext(ctx, "go", "install", ref)
		cmd.Dir = dir // outside the module, so that its go.mod plays no part
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return t, fmt.Errorf("go install %s: %v\n%s", ref, err, out)
		}
	}
	return t, nil
}

// server is a registry running as a child process.
type server struct {
	name string
	url  string // http://127.0.0.1:port
	host string // 127.0.0.1:port
	dir  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startAcre runs `acre serve` with its defaults (SQLite metadata and filesystem
// blobs under --data, open on loopback) in dir. extra are more flags.
func startAcre(ctx context.Context, bin, dir string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"serve", "--addr", host, "--data", filepath.Join(dir, "data"), "--log-format", "json"}, extra...)
	return startServer(ctx, "acre", bin, args, dir, host)
}

// distributionConfig is the CNCF distribution configuration: filesystem storage
// (which fsyncs each write before it is acknowledged, like acre), the in-memory
// blob descriptor cache of the stock configuration, deletes enabled, and no
// authentication (it has no open-with-token mode like acre's).
const distributionConfig = `version: 0.1
log:
  level: info
  formatter: json
storage:
  filesystem:
    rootdirectory: %s
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
  tag:
    concurrencylimit: 8
http:
  addr: %s
health:
  storagedriver:
    enabled: false
`

// startDistribution runs the CNCF distribution registry with filesystem storage in
// dir.
func startDistribution(ctx context.Context, bin, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, distributionConfig, filepath.Join(dir, "data"), host), 0o600); err != nil {
		return nil, err
	}
	return startServer(ctx, "distribution", bin, []string{"serve", cfg}, dir, host)
}

func startServer(ctx context.Context, name, bin string, args []string, dir, host string) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, url: "http://" + host, host: host, dir: dir, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(s.url + "/v2/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusUnauthorized {
				return s, nil
			}
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("%s exited at start: %s", name, tail(b, 2000))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer on %s", name, host)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server (SIGTERM, then SIGKILL after 10 s).
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
}

// procStatus reads a field of /proc/<pid>/status in bytes (kB fields).
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// peakRSS is the server's peak resident set size (VmHWM) since it started or since
// resetPeak.
func (s *server) peakRSS() int64 {
	n, err := procStatus(s.pid(), "VmHWM")
	if err != nil {
		return 0
	}
	return n
}

// resetPeak resets VmHWM to the current RSS (Linux: echo 5 > clear_refs).
func (s *server) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.pid()), []byte("5"), 0)
}

// cpuSeconds is the user+system CPU time the server has used so far.
func (s *server) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

var errStopped = errors.New("server stopped")

// alive reports an error if the server has exited.
func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s: %w (see %s)", s.name, errStopped, s.log.Name())
	default:
		return nil
	}
}
