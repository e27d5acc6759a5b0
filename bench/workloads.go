package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The server-side workloads. Each takes a regClient and does one timed run; the
// caller (main.go, smoke_test.go) prepares data, alternates servers and repeats.
// Nothing here knows which server it talks to.

const mib = 1 << 20

// pushBlobs uploads the blobs one after the other and returns MiB/s.
func pushBlobs(ctx context.Context, c *regClient, repo string, blobs []blobSpec) (float64, error) {
	start := time.Now()
	var total int64
	for _, b := range blobs {
		if err := c.pushBlob(ctx, repo, b); err != nil {
			return 0, err
		}
		total += b.size
	}
	return float64(total) / mib / time.Since(start).Seconds(), nil
}

// pullBlobs downloads the blobs one after the other and returns MiB/s.
func pullBlobs(ctx context.Context, c *regClient, repo string, blobs []blobSpec) (float64, error) {
	start := time.Now()
	var total int64
	for _, b := range blobs {
		n, err := c.pullBlob(ctx, repo, b)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return float64(total) / mib / time.Since(start).Seconds(), nil
}

// verifyPull downloads a blob and checks its digest (the timed pulls only count
// bytes).
func verifyPull(ctx context.Context, c *regClient, repo string, b blobSpec) error {
	res, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+b.digest, nil, 0, nil)
	if err != nil {
		return err
	}
	defer drain(res)
	if res.StatusCode != http.StatusOK {
		return &statusError{"GET", b.digest, res.StatusCode, ""}
	}
	h := sha256.New()
	if _, err := io.Copy(h, res.Body); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != b.digest {
		return fmt.Errorf("pull %s: content has digest %s", b.digest, got)
	}
	return nil
}

// mixedOp is one operation of the mixed workload.
type mixedOp struct {
	push bool
	blob blobSpec
}

// mixedClass is a size class of the mixed workload and its share of operations.
type mixedClass struct {
	size  int64
	share float64
}

// mixedClasses are the sizes of the mixed workload: 20% 1 MiB, 70% 10 MiB, 10% 100
// MiB.
var mixedClasses = []mixedClass{{1 * mib, 0.2}, {10 * mib, 0.7}, {100 * mib, 0.1}}

// mixedPushShare is the share of pushes (the rest are pulls).
const mixedPushShare = 0.25

// mixedPlan returns n operations in an order drawn from rng: exactly the shares
// of classes by size, and in each class 25% pushes of new blobs (seeds from
// seedBase up) and 75% pulls of blobs drawn from pool (by class). Every plan of a
// given n has the same composition, so runs differ only in order and in which
// blobs are pulled, and every server gets the same plan in a run. Push digests
// are computed here, outside the timing.
func mixedPlan(rng *rand.Rand, n int, classes []mixedClass, pool [][]blobSpec, seedBase uint64) []mixedOp {
	ops := make([]mixedOp, 0, n)
	left := n
	for ci, cl := range classes {
		k := int(math.Round(cl.share * float64(n)))
		if ci == len(classes)-1 || k > left {
			k = left
		}
		left -= k
		pushes := int(math.Round(mixedPushShare * float64(k)))
		for j := range k {
			if j < pushes {
				ops = append(ops, mixedOp{push: true, blob: blobSpec{seed: seedBase + uint64(len(ops)), size: cl.size}})
			} else {
				p := pool[ci]
				ops = append(ops, mixedOp{blob: p[rng.IntN(len(p))]})
			}
		}
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	var wg sync.WaitGroup
	for i := range ops {
		if ops[i].push {
			wg.Go(func() { ops[i].blob.computeDigest() })
		}
	}
	wg.Wait()
	return ops
}

// newRand is a deterministic generator: the same seeds give the same plan.
func newRand(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

// mixedResult is the outcome of one mixed run.
type mixedResult struct {
	opsPerSec, mibPerSec float64
}

// runMixed executes ops with conc workers taking the next operation from a shared
// counter, and returns operations and MiB per second of wall time.
func runMixed(ctx context.Context, c *regClient, repo string, ops []mixedOp, conc int) (mixedResult, error) {
	var next atomic.Int64
	var bytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range conc {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ops) || gctx.Err() != nil {
					return nil
				}
				op := ops[i]
				if op.push {
					if err := c.pushBlob(gctx, repo, op.blob); err != nil {
						return err
					}
				} else if _, err := c.pullBlob(gctx, repo, op.blob); err != nil {
					return err
				}
				bytes.Add(op.blob.size)
			}
		})
	}
	if err := g.Wait(); err != nil {
		return mixedResult{}, err
	}
	el := time.Since(start).Seconds()
	return mixedResult{opsPerSec: float64(len(ops)) / el, mibPerSec: float64(bytes.Load()) / mib / el}, nil
}

// image is a small OCI image (a config and one layer) used by the manifest, tag
// and listing workloads.
type image struct {
	config, layer []byte
}

func newImage() image {
	layer := make([]byte, 4096)
	copy(layer, patternBlock())
	return image{
		config: []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digestOf(layer) + `"]},"config":{}}`),
		layer:  layer,
	}
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// manifest returns an image manifest of img; a non-empty note is set as an
// annotation, which makes a distinct manifest (and digest) per note.
func (img image) manifest(note string) []byte {
	var ann string
	if note != "" {
		ann = `,"annotations":{"org.example.note":"` + note + `"}`
	}
	return []byte(`{"schemaVersion":2,"mediaType":"` + ociManifest + `",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digestOf(img.config) + `","size":` + fmt.Sprint(len(img.config)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + digestOf(img.layer) + `","size":` + fmt.Sprint(len(img.layer)) + `}]` + ann + `}`)
}

// pushSmall uploads a small blob monolithically (POST, then PUT with the body).
func (c *regClient) pushSmall(ctx context.Context, repo string, content []byte) error {
	res, _, err := c.expect(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := c.location(res)
	if err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	res, err = c.do(ctx, http.MethodPut, loc+sep+"digest="+url.QueryEscape(digestOf(content)), hdr, int64(len(content)), func() io.Reader { return bytes.NewReader(content) })
	if err != nil {
		return err
	}
	defer drain(res)
	if res.StatusCode != http.StatusCreated {
		return &statusError{"PUT", loc, res.StatusCode, ""}
	}
	return nil
}

// pushImage uploads img's blobs and its manifest under tag (by digest if tag is
// empty), and returns the manifest.
func pushImage(ctx context.Context, c *regClient, repo, tag string, img image) ([]byte, error) {
	for _, b := range [][]byte{img.config, img.layer} {
		if err := c.pushSmall(ctx, repo, b); err != nil {
			return nil, err
		}
	}
	m := img.manifest("")
	if tag == "" {
		tag = digestOf(m)
	}
	return m, c.putManifest(ctx, repo, tag, ociManifest, m)
}

// manifestRate sends HEAD or GET requests for repo:reference from conc clients for
// d and returns requests per second. Every answer must be 200.
func manifestRate(ctx context.Context, c *regClient, method, repo, reference string, conc int, d time.Duration) (float64, error) {
	hdr := http.Header{"Accept": {ociManifest + ", application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"}}
	path := "/v2/" + repo + "/manifests/" + reference
	var count atomic.Int64
	deadline := time.Now().Add(d)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range conc {
		g.Go(func() error {
			buf := make([]byte, 4096)
			for time.Now().Before(deadline) {
				res, err := c.do(gctx, method, path, hdr, 0, nil)
				if err != nil {
					return err
				}
				for {
					if _, err := res.Body.Read(buf); err != nil {
						break
					}
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					return &statusError{method, path, res.StatusCode, ""}
				}
				count.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

// putTags tags manifest m (already pushed with its blobs) with every tag, from conc
// clients, and returns tags per second.
func putTags(ctx context.Context, c *regClient, repo string, m []byte, tags []string, conc int) (float64, error) {
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range conc {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tags) {
					return nil
				}
				if err := c.putManifest(gctx, repo, tags[i], ociManifest, m); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(len(tags)) / time.Since(start).Seconds(), nil
}

var nextLinkRE = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// listTags lists every tag of repo the way clients do (GET tags/list without n,
// following Link headers) and returns how many there were.
func listTags(ctx context.Context, c *regClient, repo string) (int, error) {
	path := "/v2/" + repo + "/tags/list"
	n := 0
	for path != "" {
		res, body, err := c.expect(ctx, http.MethodGet, path, nil, http.StatusOK)
		if err != nil {
			return n, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return n, err
		}
		n += len(page.Tags)
		path = ""
		if m := nextLinkRE.FindStringSubmatch(res.Header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	return n, nil
}

// putManifests uploads count distinct manifests of img (notes prefix-0 ... ) by
// digest from conc clients and returns manifests per second.
func putManifests(ctx context.Context, c *regClient, repo string, img image, prefix string, from, to, conc int) (float64, error) {
	var next atomic.Int64
	next.Store(int64(from))
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range conc {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return nil
				}
				m := img.manifest(fmt.Sprintf("%s-%07d", prefix, i))
				if err := c.putManifest(gctx, repo, digestOf(m), ociManifest, m); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(to-from) / time.Since(start).Seconds(), nil
}

// acrPage is one page of ACR's manifest listing.
type acrPage struct {
	count int
	last  string // the digest of the page's last manifest
	next  string // the Link to the next page, if any
}

// acrManifestPage gets one page of /acr/v1/<repo>/_manifests?orderby=timedesc.
func acrManifestPage(ctx context.Context, c *regClient, path string) (acrPage, error) {
	res, body, err := c.expect(ctx, http.MethodGet, path, nil, http.StatusOK)
	if err != nil {
		return acrPage{}, err
	}
	var b struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return acrPage{}, err
	}
	p := acrPage{count: len(b.Manifests)}
	if len(b.Manifests) > 0 {
		p.last = b.Manifests[len(b.Manifests)-1].Digest
	}
	if m := nextLinkRE.FindStringSubmatch(res.Header.Get("Link")); m != nil {
		p.next = m[1]
	}
	return p, nil
}

// acrListPath is the ordered listing's path: n items after digest last ("" for the
// first page).
func acrListPath(repo, last string, n int) string {
	q := url.Values{"orderby": {"timedesc"}, "n": {fmt.Sprint(n)}}
	if last != "" {
		q.Set("last", last)
	}
	return "/acr/v1/" + repo + "/_manifests?" + q.Encode()
}

// acrWalk pages through the whole ordered listing with pages of n, and returns the
// number of items and the cursor (the last digest of the page before) of the page
// that starts at fraction depth of the listing.
func acrWalk(ctx context.Context, c *regClient, repo string, n int, depth float64, total int) (int, string, error) {
	path := acrListPath(repo, "", n)
	count := 0
	cursor := ""
	target := int(float64(total) * depth)
	for path != "" {
		p, err := acrManifestPage(ctx, c, path)
		if err != nil {
			return count, "", err
		}
		count += p.count
		if cursor == "" && count >= target && count < total {
			cursor = p.last
		}
		path = p.next
	}
	return count, cursor, nil
}

// acrPageLatency requests the page after cursor reps times and returns the mean
// latency in milliseconds.
func acrPageLatency(ctx context.Context, c *regClient, repo, cursor string, n, reps int) (float64, error) {
	path := acrListPath(repo, cursor, n)
	start := time.Now()
	for range reps {
		p, err := acrManifestPage(ctx, c, path)
		if err != nil {
			return 0, err
		}
		if p.count != n {
			return 0, fmt.Errorf("page after %s: %d items, want %d", cursor, p.count, n)
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(reps), nil
}
