package s3

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The tests run against a real S3 API: the one ACRE_TEST_S3 names, as
// http://ACCESS-KEY:SECRET-KEY@HOST:PORT (optionally ?region=R), or else a MinIO the
// tests start themselves, if minio is on PATH or where .ci/services/minio.sh
// installs it. Without either they are skipped. Each test works in a bucket of its
// own, which it empties and deletes at the end.

// engine is the S3 service the tests use, found or started once per test binary.
var engine struct {
	once sync.Once
	opts Options // Endpoint, Region, Credentials, PathStyle; Bucket unset
	skip string  // why the tests are skipped
	err  error   // why the engine could not be started
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if engine.stop != nil {
		engine.stop()
	}
	os.Exit(code)
}

// service returns the options of the test service, or skips t.
func service(t testing.TB) Options {
	t.Helper()
	engine.once.Do(func() {
		engine.opts, engine.skip, engine.stop, engine.err = findS3()
	})
	if engine.err != nil {
		// An engine that is installed but does not start is a failure, not a skip.
		t.Fatal(engine.err)
	}
	if engine.skip != "" {
		t.Skip(engine.skip)
	}
	return engine.opts
}

func findS3() (opts Options, skip string, stop func(), err error) {
	if v := os.Getenv("ACRE_TEST_S3"); v != "" {
		opts, err := parseTestURL(v)
		return opts, "", nil, err
	}
	bin := minioBinary()
	if bin == "" {
		return Options{}, "no S3 service: set ACRE_TEST_S3=http://KEY:SECRET@HOST:PORT, or build MinIO (.ci/services/minio.sh)", nil, nil
	}
	endpoint, stop, err := startMinio(bin)
	if err != nil {
		return Options{}, "", nil, fmt.Errorf("starting MinIO (%s): %w", bin, err)
	}
	return Options{Endpoint: endpoint, PathStyle: true, Credentials: StaticCredentials(minioUser, minioPassword, "")}, "", stop, nil
}

// parseTestURL reads ACRE_TEST_S3: http(s)://KEY:SECRET@HOST:PORT[?region=R].
func parseTestURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("ACRE_TEST_S3: %w", err)
	}
	pw, ok := u.User.Password()
	if !ok || u.User.Username() == "" {
		return Options{}, errors.New("ACRE_TEST_S3: want http://KEY:SECRET@HOST:PORT")
	}
	return Options{
		Endpoint:    u.Scheme + "://" + u.Host,
		Region:      u.Query().Get("region"),
		PathStyle:   true,
		Credentials: StaticCredentials(u.User.Username(), pw, ""),
	}, nil
}

// The root credentials of the MinIO the tests start; it listens on loopback only.
const (
	minioUser     = "acre-test"
	minioPassword = "acre-test-secret"
)

// minioBinary looks for minio on PATH, then where .ci/services/minio.sh installs it.
func minioBinary() string {
	if p, err := exec.LookPath("minio"); err == nil {
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
	p := filepath.Join(tools, "bin", "minio")
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p
	}
	return ""
}

// startMinio starts a single-drive MinIO on a free loopback port with a temporary
// data directory and waits until it is ready.
func startMinio(bin string) (endpoint string, stop func(), err error) {
	for attempt := 0; ; attempt++ {
		dir, err := os.MkdirTemp("", "acre-minio-")
		if err != nil {
			return "", nil, err
		}
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		console, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		var logs strings.Builder
		cmd := exec.Command(bin, "server", dir, "--quiet", "--address", "127.0.0.1:"+port, "--console-address", "127.0.0.1:"+console)
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
			// No update checks or other calls out: the tests stay on loopback.
			"MINIO_UPDATE=off", "MINIO_BROWSER=off", "MINIO_CALLHOME_ENABLE=off")
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
		endpoint := "http://127.0.0.1:" + port
		if err := waitReady(endpoint+"/minio/health/ready", exited, 60*time.Second); err != nil {
			stop()
			// The port may have been taken between freePort and the start: retry.
			if attempt < 2 {
				continue
			}
			return "", nil, fmt.Errorf("%w; output: %s", err, logs.String())
		}
		return endpoint, stop, nil
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

// waitReady waits until url answers 200, the process exits, or timeout.
func waitReady(url string, exited <-chan struct{}, timeout time.Duration) error {
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
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready on %s after %v", url, timeout)
}

// testBucket creates a bucket with a unique name for t and returns options for it;
// the bucket is emptied (objects and multipart uploads) and deleted when t ends, and
// the test fails if anything is left under an uploads/ folder by then.
func testBucket(t testing.TB) Options {
	t.Helper()
	opts := service(t)
	opts.Bucket = "acre-test-" + randomHex(8)
	c := s3.New(s3.Options{
		Region: cmp.Or(opts.Region, "us-east-1"), Credentials: opts.Credentials,
		BaseEndpoint: aws.String(opts.Endpoint), UsePathStyle: opts.PathStyle,
	})
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &opts.Bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &opts.Bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("list bucket: %v", err)
				return
			}
			for _, o := range page.Contents {
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &opts.Bucket, Key: o.Key}); err != nil {
					t.Errorf("delete %s: %v", aws.ToString(o.Key), err)
				}
			}
		}
		mus, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &opts.Bucket})
		if err != nil {
			t.Errorf("list multipart uploads: %v", err)
		} else {
			for _, mu := range mus.Uploads {
				t.Errorf("multipart upload left behind: %s", aws.ToString(mu.Key))
				_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &opts.Bucket, Key: mu.Key, UploadId: mu.UploadId})
			}
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &opts.Bucket}); err != nil {
			t.Errorf("delete bucket: %v", err)
		}
	})
	return opts
}

// listKeys returns the keys in the store's bucket under prefix. It may run in a
// cleanup, after t's context is done.
func listKeys(t testing.TB, s *Store, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// multipartUploads lists the incomplete multipart uploads in the store's bucket. It
// may run in a cleanup, after t's context is done.
func multipartUploads(t testing.TB, s *Store) []types.MultipartUpload {
	t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &s.bucket})
	if err != nil {
		t.Fatal(err)
	}
	return out.Uploads
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
