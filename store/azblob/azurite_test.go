package azblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// The tests run against a real Azure Storage API: the one ACRE_TEST_AZURITE names
// (a connection string, or the URL of an Azurite blob endpoint such as
// http://127.0.0.1:10000/devstoreaccount1, which is given the well-known key), or
// else an Azurite the tests start themselves, if azurite-blob is on PATH or where
// .ci/services/azurite.sh installs it. Without either they are skipped.

// engine is the Azurite the tests use, found or started once per test binary.
var engine struct {
	once sync.Once
	conn string // connection string; "" when skipped
	skip string // why the tests are skipped
	err  error  // why the engine could not be started
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if engine.stop != nil {
		engine.stop()
	}
	os.Exit(code)
}

// connString returns the connection string of the test engine, or skips t.
func connString(t testing.TB) string {
	t.Helper()
	engine.once.Do(func() {
		engine.conn, engine.skip, engine.stop, engine.err = findAzurite()
	})
	if engine.err != nil {
		// An engine that is installed but does not start is a failure, not a skip.
		t.Fatal(engine.err)
	}
	if engine.conn == "" {
		t.Skip(engine.skip)
	}
	return engine.conn
}

func findAzurite() (conn, skip string, stop func(), err error) {
	if v := os.Getenv("ACRE_TEST_AZURITE"); v != "" {
		if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
			return fmt.Sprintf("AccountName=%s;AccountKey=%s;BlobEndpoint=%s", DevAccountName, DevAccountKey, strings.TrimRight(v, "/")), "", nil, nil
		}
		return v, "", nil, nil
	}
	bin := azuriteBinary()
	if bin == "" {
		return "", "no Azurite: set ACRE_TEST_AZURITE, or install it (npm install -g azurite, or .ci/services/azurite.sh)", nil, nil
	}
	conn, stop, err = startAzurite(bin)
	if err != nil {
		return "", "", nil, fmt.Errorf("starting Azurite (%s): %w", bin, err)
	}
	return conn, "", stop, nil
}

// azuriteBinary looks for azurite-blob on PATH, then where .ci/services/azurite.sh
// installs it.
func azuriteBinary() string {
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	tools := os.Getenv("ACRE_TOOLS")
	if tools == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		tools = filepath.Join(home, ".cache", "acre-tools")
	}
	p := filepath.Join(tools, "azurite", "bin", "azurite-blob")
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p
	}
	return ""
}

// startAzurite starts azurite-blob on a free loopback port with a temporary
// workspace and waits until it answers.
func startAzurite(bin string) (conn string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "acre-azurite-")
	if err != nil {
		return "", nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		var logs strings.Builder
		cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", port, "--location", dir,
			"--skipApiVersionCheck", "--disableTelemetry", "--silent")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
			os.RemoveAll(dir)
		}
		endpoint := "http://127.0.0.1:" + port + "/" + DevAccountName
		if err := waitHTTP(endpoint+"?comp=list", exited, 60*time.Second); err != nil {
			stop()
			// The port may have been taken between freePort and the start: retry.
			if attempt < 2 {
				continue
			}
			return "", nil, fmt.Errorf("%w; output: %s", err, logs.String())
		}
		return fmt.Sprintf("AccountName=%s;AccountKey=%s;BlobEndpoint=%s", DevAccountName, DevAccountKey, endpoint), stop, nil
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}

// waitHTTP waits until url answers any HTTP status, the process exits, or timeout.
func waitHTTP(url string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before answering on %s", url)
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s after %v", url, timeout)
}

// testContainer creates a container with a unique name for t and deletes it, with
// everything in it, when t ends. It returns the container name.
func testContainer(t testing.TB) string {
	t.Helper()
	cs, err := parseConnectionString(connString(t))
	if err != nil {
		t.Fatal(err)
	}
	name := "acre-test-" + randomHex(8)
	if err := containerOp(t.Context(), cs, http.MethodPut, name); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		if err := containerOp(context.Background(), cs, http.MethodDelete, name); err != nil {
			t.Errorf("delete container: %v", err)
		}
	})
	return name
}

// containerOp creates (PUT) or deletes (DELETE) a container through an account SAS.
// The store itself never manages containers, and the SDK's container package would
// pull large dependencies into the module for this alone.
func containerOp(ctx context.Context, cs connectionString, method, name string) error {
	cred, err := blob.NewSharedKeyCredential(cs.accountName, cs.accountKey)
	if err != nil {
		return err
	}
	qp, err := sas.AccountSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   (&sas.AccountPermissions{Read: true, Write: true, Create: true, Delete: true}).String(),
		ResourceTypes: (&sas.AccountResourceTypes{Container: true}).String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(cs.serviceURL, "/")+"/"+name+"?restype=container&"+qp.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s container %s: %s: %s", method, name, resp.Status, body)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
