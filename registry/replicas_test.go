package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/fs"
	"github.com/acre-dev/acre/store/sqlite"
)

// These tests run two registry replicas in one process, each with a blob store of
// its own on one shared directory (as replicas on a shared filesystem) and one
// shared metadata store, and race PATCHes of one upload session between them.

// gatedBlobs is a blob store that, once armed, stops the next WriteUpload at a
// gate: before the write reaches the data (the window between the registry's read
// of the session and its write), or after the data is written, before the registry
// can save the session (the window in which one replica's bytes are in the blob
// store while the session still describes the bytes before them). It reports
// reaching the gate (with the write's result, after) on reached and waits for
// release.
type gatedBlobs struct {
	store.BlobStore
	mu      sync.Mutex
	before  bool
	reached chan error
	release chan struct{}
}

// arm makes the next write stop at the gate, before or after writing, and returns
// the gate's channels.
func (g *gatedBlobs) arm(before bool) (reached <-chan error, release chan<- struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.before, g.reached, g.release = before, make(chan error, 1), make(chan struct{})
	return g.reached, g.release
}

func (g *gatedBlobs) WriteUpload(ctx context.Context, id string, offset, gen int64, r io.Reader) (int64, error) {
	g.mu.Lock()
	before, reached, release := g.before, g.reached, g.release
	g.reached, g.release = nil, nil // one write per arming
	g.mu.Unlock()
	if reached != nil && before {
		reached <- nil
		<-release
	}
	n, err := g.BlobStore.WriteUpload(ctx, id, offset, gen, r)
	if reached != nil && !before {
		reached <- err
		<-release
	}
	return n, err
}

// replicaPair starts two replicas that share one blob directory and one metadata
// store; the blob store of each is gated.
func replicaPair(t *testing.T) (servers [2]*registrytest.Server, gates [2]*gatedBlobs) {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(t.Context(), filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = meta.Close() })
	for i := range servers {
		blobs, err := fs.New(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		gates[i] = &gatedBlobs{BlobStore: blobs}
		servers[i] = registrytest.New(t, registrytest.WithoutAuth(), registrytest.With(func(s *registrytest.Settings) {
			s.Registry.Blobs, s.Registry.Metadata = gates[i], meta
		}))
	}
	return servers, gates
}

// replicaResponse is an HTTP answer, read whole.
type replicaResponse struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r replicaResponse) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// replicaDo sends a request to srv; path may be absolute or relative to the server.
// It never fails the test, so that it may run on any goroutine.
func replicaDo(ctx context.Context, srv *registrytest.Server, method, path string, body []byte, hdr ...string) replicaResponse {
	base, err := url.Parse(srv.URL)
	if err != nil {
		return replicaResponse{err: err}
	}
	ref, err := url.Parse(path)
	if err != nil {
		return replicaResponse{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, method, base.ResolveReference(ref).String(), bytes.NewReader(body))
	if err != nil {
		return replicaResponse{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return replicaResponse{err: fmt.Errorf("%s %s: %w", method, path, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return replicaResponse{err: fmt.Errorf("%s %s: %w", method, path, err)}
	}
	return replicaResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// replicaStart opens an upload session on srv and returns its location.
func replicaStart(t *testing.T, srv *registrytest.Server, repo string) string {
	t.Helper()
	res := replicaDo(t.Context(), srv, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if res.status != http.StatusAccepted || res.header.Get("Location") == "" {
		t.Fatalf("POST upload: %v, want 202 with a Location", res)
	}
	return res.header.Get("Location")
}

// replicaWithDigest adds the digest parameter to an upload location.
func replicaWithDigest(loc string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(string(d))
}

// replicaCheckBlob checks that every replica serves blob d of repo with content
// whose digest is d.
func replicaCheckBlob(t *testing.T, servers []*registrytest.Server, repo string, d digest.Digest) {
	t.Helper()
	for i, srv := range servers {
		res := replicaDo(t.Context(), srv, http.MethodGet, "/v2/"+repo+"/blobs/"+string(d), nil)
		if res.status != http.StatusOK {
			t.Errorf("GET blob %s from replica %d: %v, want 200", d, i, res)
			continue
		}
		if got := digest.FromBytes(res.body); got != d {
			t.Errorf("replica %d serves blob %s with content whose digest is %s: committed under a wrong digest", i, d, got)
		}
	}
}

// TestRacingPatchesAcrossReplicas reproduces races between two PATCHes of one
// session (the same range, different bytes) on two replicas, deterministically:
//
//   - "A saves first": replica A's bytes land in the blob store; replica B then reads
//     the session (still at the old size), truncates A's bytes and writes its own;
//     then A saves its state, then B. Before write generations, A's hash state was
//     saved over B's bytes, and the session then committed B's bytes under the
//     digest of A's chunk.
//   - "B saves first": the same, the saves in the other order.
//   - "A writes last": A reads the session and stalls before writing; B writes and
//     saves; then A wakes up and writes over B's saved bytes (a paused process, a
//     slow client).
//
// Whatever the order, exactly one PATCH must be acknowledged, the session must
// complete with the digest of that chunk and refuse the other's, and every blob
// committed must be digest-correct.
func TestRacingPatchesAcrossReplicas(t *testing.T) {
	servers, gates := replicaPair(t)
	all := servers[:]
	ctx := t.Context()

	for _, order := range []string{"A saves first", "B saves first", "A writes last"} {
		for _, completeWith := range []string{"A", "B"} {
			name := order + ", complete with " + completeWith
			t.Run(name, func(t *testing.T) {
				repo := "race/" + strings.NewReplacer(" ", "-", ",", "").Replace(strings.ToLower(name))
				// Content of its own in each case: blobs are stored once, so a blob
				// committed by an earlier case would hide a wrong commit.
				chunkA := bytes.Repeat([]byte("replica A wrote this chunk: "+name+". "), 1000)
				chunkB := bytes.Repeat([]byte("replica B wrote another one: "+name+"! "), 1000)[:len(chunkA)]
				loc := replicaStart(t, servers[0], repo)
				patch := func(srv *registrytest.Server, chunk []byte, out chan<- replicaResponse) {
					out <- replicaDo(ctx, srv, http.MethodPatch, loc, chunk, "Content-Range", fmt.Sprintf("0-%d", len(chunk)-1))
				}
				resA, resB := make(chan replicaResponse, 1), make(chan replicaResponse, 1)
				var a, b replicaResponse

				reachedA, gateA := gates[0].arm(order == "A writes last")
				releaseA := sync.OnceFunc(func() { close(gateA) })
				t.Cleanup(releaseA) // never leave a request stuck at a gate
				go patch(servers[0], chunkA, resA)
				if err := <-reachedA; err != nil {
					t.Fatalf("replica A's write: %v", err)
				}
				if order == "A writes last" {
					// A has read the session and stalls before writing: B writes and saves.
					go patch(servers[1], chunkB, resB)
					b = <-resB
					releaseA()
					a = <-resA
				} else {
					// A's bytes are in the blob store; its session is not saved yet.
					reachedB, gateB := gates[1].arm(false)
					releaseB := sync.OnceFunc(func() { close(gateB) })
					t.Cleanup(releaseB)
					go patch(servers[1], chunkB, resB)
					t.Logf("replica B's write, after A's and before A saved: %v", <-reachedB)
					if order == "A saves first" {
						releaseA()
						a = <-resA
						releaseB()
						b = <-resB
					} else {
						releaseB()
						b = <-resB
						releaseA()
						a = <-resA
					}
				}
				t.Logf("PATCH through A: %v; through B: %v", a, b)
				for _, r := range []replicaResponse{a, b} {
					if r.err != nil || r.status != http.StatusAccepted && r.status != http.StatusRequestedRangeNotSatisfiable {
						t.Fatalf("PATCH: %v, want 202 or 416", r)
					}
				}
				acked := map[string]bool{"A": a.status == http.StatusAccepted, "B": b.status == http.StatusAccepted}
				if acked["A"] == acked["B"] {
					t.Fatalf("PATCHes of the same range acknowledged: A %v, B %v; want exactly one", acked["A"], acked["B"])
				}

				chunk := chunkA
				if completeWith == "B" {
					chunk = chunkB
				}
				d := digest.FromBytes(chunk)
				res := replicaDo(ctx, servers[1], http.MethodPut, replicaWithDigest(loc, d), nil)
				switch res.status {
				case http.StatusCreated:
					replicaCheckBlob(t, all, repo, d)
					if !acked[completeWith] {
						t.Errorf("the session completed with the digest of %s's chunk, which was refused", completeWith)
					}
				case http.StatusBadRequest:
					if !bytes.Contains(res.body, []byte("DIGEST_INVALID")) {
						t.Fatalf("PUT to complete: %v, want 201 or DIGEST_INVALID", res)
					}
					if acked[completeWith] {
						t.Errorf("the session refused the digest of %s's chunk, which was acknowledged: %v", completeWith, res)
					}
				default:
					t.Fatalf("PUT to complete: %v, want 201 or 400 DIGEST_INVALID", res)
				}
			})
		}
	}
}

// TestConcurrentPatchesAcrossReplicas sends, round after round, several PATCHes of
// one session at once through two replicas, without a Content-Range (streamed
// chunks, appended wherever the session stands). Each acknowledged chunk reports the
// session's new size: in that order, the acknowledged chunks must make up the whole
// session, whose digest must complete it, giving a digest-correct blob.
func TestConcurrentPatchesAcrossReplicas(t *testing.T) {
	servers, _ := replicaPair(t)
	all := servers[:]
	ctx := t.Context()
	const rounds, writers = 12, 4
	for round := range rounds {
		repo := fmt.Sprintf("race/concurrent-%d", round)
		loc := replicaStart(t, servers[round%2], repo)
		var session []byte
		for step := range 3 {
			chunks := make([][]byte, writers)
			results := make([]replicaResponse, writers)
			var wg sync.WaitGroup
			for i := range writers {
				chunks[i] = bytes.Repeat([]byte(fmt.Sprintf("round %d step %d writer %d|", round, step, i)), 3000+500*i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = replicaDo(ctx, servers[i%2], http.MethodPatch, loc, chunks[i])
				}()
			}
			wg.Wait()
			type ack struct {
				end   int64
				chunk []byte
			}
			var acks []ack
			for i, r := range results {
				switch {
				case r.err != nil:
					t.Fatal(r.err)
				case r.status == http.StatusAccepted:
					_, last, _ := strings.Cut(r.header.Get("Range"), "-")
					end, err := strconv.ParseInt(last, 10, 64)
					if err != nil {
						t.Fatalf("PATCH answered Range %q", r.header.Get("Range"))
					}
					acks = append(acks, ack{end: end + 1, chunk: chunks[i]})
				case r.status != http.StatusRequestedRangeNotSatisfiable:
					t.Fatalf("PATCH: %v, want 202 or 416", r)
				}
			}
			slices.SortFunc(acks, func(a, b ack) int { return int(a.end - b.end) })
			for _, a := range acks {
				session = append(session, a.chunk...)
				if int64(len(session)) != a.end {
					t.Fatalf("round %d step %d: acknowledged chunks do not add up: %d bytes, a PATCH reported %d", round, step, len(session), a.end)
				}
			}
		}
		d := digest.FromBytes(session)
		res := replicaDo(ctx, servers[(round+1)%2], http.MethodPut, replicaWithDigest(loc, d), nil)
		if res.status != http.StatusCreated {
			t.Fatalf("round %d: PUT with the digest of the %d bytes acknowledged: %v, want 201", round, len(session), res)
		}
		replicaCheckBlob(t, all, repo, d)
	}
}
