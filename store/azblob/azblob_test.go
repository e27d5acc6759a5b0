package azblob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/storetest"
)

// testGens hands out write generations: one counter for every upload of the tests
// gives each upload increasing generations, which is all WriteUpload asks.
var testGens atomic.Int64

// nextGen returns a generation above every one handed out before.
func nextGen() int64 { return testGens.Add(1) }

// newTestStore returns a store on container under prefix, with blocks of blockSize
// bytes (0 for the default).
func newTestStore(t testing.TB, container, prefix string, blockSize int) *Store {
	t.Helper()
	s, err := New(Options{ConnectionString: connString(t), Container: container, Prefix: prefix, BlockSize: blockSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBlobStore(t *testing.T) {
	container := testContainer(t)
	storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore {
		return newTestStore(t, container, randomHex(6)+"/", 0)
	})
}

// TestBlobStoreSmallBlocks runs the suite with blocks far smaller than its writes,
// so that writes stage many blocks and rewrites cut blocks in the middle.
func TestBlobStoreSmallBlocks(t *testing.T) {
	container := testContainer(t)
	storetest.TestBlobStore(t, func(t *testing.T) store.BlobStore {
		return newTestStore(t, container, randomHex(6)+"/", 64<<10)
	})
}

// TestReplicas drives one upload through two stores, as two server replicas
// would: each PATCH lands on another replica, and the commit on a third.
func TestReplicas(t *testing.T) {
	ctx := t.Context()
	container := testContainer(t)
	replicas := []*Store{
		newTestStore(t, container, "shared/", 1000),
		newTestStore(t, container, "shared/", 1000),
		newTestStore(t, container, "shared/", 1000),
	}
	content := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	const id = "replicated-1"
	if err := replicas[0].CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, chunk := range [][]byte{content[:2500], content[2500:2501], content[2501:9000], content[9000:]} {
		n, err := replicas[i%2].WriteUpload(ctx, id, off, nextGen(), bytes.NewReader(chunk))
		if err != nil || n != int64(len(chunk)) {
			t.Fatalf("chunk %d: n=%d err=%v", i, n, err)
		}
		off += n
	}
	// A retry of the last chunk on the other replica replaces it.
	if n, err := replicas[0].WriteUpload(ctx, id, 9000, nextGen(), bytes.NewReader(content[9000:])); err != nil || n != int64(len(content)-9000) {
		t.Fatalf("retried chunk: n=%d err=%v", n, err)
	}
	dgst := digest.FromBytes(content)
	if err := replicas[2].CommitUpload(ctx, id, int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		rc, err := r.Open(ctx, dgst, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read through a replica: %d bytes, err=%v", len(got), err)
		}
	}
}

// TestConcurrentWriteLoses checks that a write based on a stale view of the upload
// (another replica wrote meanwhile) fails with ErrConflict instead of undoing the
// other write.
func TestConcurrentWriteLoses(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testContainer(t), "", 0)
	const id = "race-1"
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The reader runs while WriteUpload holds the block list it read: it lets
	// another write through before handing out its bytes.
	other := false
	r := readerFunc(func(p []byte) (int, error) {
		if !other {
			other = true
			if _, err := s.WriteUpload(ctx, id, 0, nextGen(), strings.NewReader("other")); err != nil {
				t.Errorf("interleaved write: %v", err)
			}
			return copy(p, "mine"), io.EOF
		}
		return 0, io.EOF
	})
	if _, err := s.WriteUpload(ctx, id, 0, nextGen(), r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale write: got %v, want ErrConflict", err)
	}
	rc, err := s.OpenUpload(ctx, id, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "other" {
		t.Fatalf("upload holds %q, want the winning write %q", got, "other")
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestSignedURL(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, testContainer(t), "signed/", 0)
	content := []byte("signed content")
	dgst := digest.FromBytes(content)
	if err := s.CreateUpload(ctx, "signed-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, "signed-1", 0, nextGen(), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitUpload(ctx, "signed-1", int64(len(content)), dgst); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(ctx, dgst, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("GET signed URL: %s %q", resp.Status, got)
	}
	// The signature covers reading that blob only.
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Fatalf("DELETE through a read-only signed URL: %s", resp.Status)
	}
	other := strings.Replace(u, dgst.Encoded(), digest.FromString("other").Encoded(), 1)
	resp, err = http.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET another blob with the signature: %s, want 403", resp.Status)
	}
}

// TestSignedURLNeedsKey checks that a store with a token credential says it cannot
// sign, rather than handing out a URL that does not work.
func TestSignedURLNeedsKey(t *testing.T) {
	s, err := New(Options{ServiceURL: "https://acct.blob.core.windows.net", Credential: fakeCredential{}, Container: "acre"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignedURL(t.Context(), digest.FromString("x"), time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("SignedURL with a token credential: got %v, want ErrUnsupported", err)
	}
}

type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no token")
}

// TestMemoryBounded streams a 64 MiB blob through WriteUpload, CommitUpload, Open and
// OpenUpload and checks that the heap never grows by more than a few blocks: the
// data is streamed, never held whole.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB through the service")
	}
	ctx := t.Context()
	s := newTestStore(t, testContainer(t), "mem/", 0)
	const size = 64 << 20
	const id = "mem-1"
	d := digest.Canonical.Digester()
	if _, err := io.Copy(d.Hash(), newPattern(size)); err != nil {
		t.Fatal(err)
	}
	dgst := d.Digest()

	peak := watchHeap(t)
	if err := s.CreateUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteUpload(ctx, id, 0, nextGen(), newPattern(size)); err != nil || n != size {
		t.Fatalf("WriteUpload: n=%d err=%v", n, err)
	}
	rc, err := s.OpenUpload(ctx, id, size)
	if err != nil {
		t.Fatal(err)
	}
	checkDigest(t, rc, dgst)
	if err := s.CommitUpload(ctx, id, size, dgst); err != nil {
		t.Fatal(err)
	}
	rc, err = s.Open(ctx, dgst, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkDigest(t, rc, dgst)
	grown := peak()
	t.Logf("heap grew by at most %d MiB for a %d MiB blob", grown>>20, size>>20)
	// One block buffer, plus what the SDK and HTTP keep in flight; a whole blob
	// in memory would be 64 MiB.
	if limit := uint64(3*DefaultBlockSize + 8<<20); grown > limit {
		t.Fatalf("heap grew by %d MiB, want at most %d MiB", grown>>20, limit>>20)
	}
}

func checkDigest(t *testing.T, rc io.ReadCloser, want digest.Digest) {
	t.Helper()
	defer rc.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		t.Fatal(err)
	}
	if !v.Verified() {
		t.Fatalf("content does not match %s", want)
	}
}

// watchHeap samples the heap until the returned function is called, which returns
// how far the heap grew above its level at the start.
func watchHeap(t *testing.T) func() uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once bool
	finish := func() uint64 {
		if !once {
			once = true
			close(stop)
			<-done
		}
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}

// pattern is a reader of n deterministic bytes that holds nothing in memory.
type pattern struct {
	pos, n int64
}

func newPattern(n int64) *pattern { return &pattern{n: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.pos >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.pos {
		b = b[:p.n-p.pos]
	}
	for i := range b {
		x := uint64(p.pos + int64(i))
		b[i] = byte(x ^ x>>8 ^ x>>16 ^ x>>24)
	}
	p.pos += int64(len(b))
	return len(b), nil
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Options
		err  bool
	}{
		{in: "azblob://acre", want: Options{Container: "acre"}},
		{in: "azblob://acre/reg/one/?account=myacct", want: Options{Container: "acre", Prefix: "reg/one/", ServiceURL: "https://myacct.blob.core.windows.net", AccountName: "myacct"}},
		{in: "azblob://acre?endpoint=http://127.0.0.1:10000/devstoreaccount1", want: Options{Container: "acre", ServiceURL: "http://127.0.0.1:10000/devstoreaccount1"}},
		{in: "azblob://acre?account=a&endpoint=http://x", err: true},
		{in: "azblob://acre?bogus=1", err: true},
		{in: "azblob://user:key@acre", err: true},
		{in: "azblob://Bad_Name", err: true},
		{in: "s3://acre", err: true},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseURL(%q): err=%v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		in   string
		want connectionString
		err  bool
	}{
		{in: "DefaultEndpointsProtocol=https;AccountName=a1;AccountKey=a2V5;EndpointSuffix=core.windows.net",
			want: connectionString{serviceURL: "https://a1.blob.core.windows.net", accountName: "a1", accountKey: "a2V5"}},
		{in: "AccountName=a1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1234/a1;",
			want: connectionString{serviceURL: "http://127.0.0.1:1234/a1", accountName: "a1", accountKey: "a2V5"}},
		{in: "UseDevelopmentStorage=true",
			want: connectionString{serviceURL: "http://127.0.0.1:10000/devstoreaccount1", accountName: DevAccountName, accountKey: DevAccountKey}},
		{in: "BlobEndpoint=https://a1.blob.core.windows.net;SharedAccessSignature=sv=x", err: true},
		{in: "garbage", err: true},
	}
	for _, tt := range tests {
		got, err := parseConnectionString(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseConnectionString(%q): err=%v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("parseConnectionString(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	key := DevAccountKey
	for name, opts := range map[string]Options{
		"no credential":     {ServiceURL: "https://a.blob.core.windows.net", Container: "acre"},
		"no service":        {AccountName: "a", AccountKey: key, Container: "acre"},
		"bad container":     {ServiceURL: "https://a.blob.core.windows.net", AccountName: "a", AccountKey: key, Container: "A"},
		"both credentials":  {ServiceURL: "https://a.blob.core.windows.net", AccountName: "a", AccountKey: key, Credential: fakeCredential{}, Container: "acre"},
		"conn and url":      {ConnectionString: "UseDevelopmentStorage=true", ServiceURL: "http://x", Container: "acre"},
		"block too large":   {ServiceURL: "https://a.blob.core.windows.net", AccountName: "a", AccountKey: key, Container: "acre", BlockSize: 5000 << 20},
		"invalid key":       {ServiceURL: "https://a.blob.core.windows.net", AccountName: "a", AccountKey: "%%%", Container: "acre"},
		"non-http endpoint": {ServiceURL: "ftp://a", AccountName: "a", AccountKey: key, Container: "acre"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New accepted %+v", name, opts)
		}
	}
}

// TestCreateUploadTwice checks that a second upload of the same id is refused.
func TestCreateUploadTwice(t *testing.T) {
	s := newTestStore(t, testContainer(t), "", 0)
	if err := s.CreateUpload(t.Context(), "twice"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUpload(t.Context(), "twice"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateUpload: got %v, want ErrConflict", err)
	}
}
