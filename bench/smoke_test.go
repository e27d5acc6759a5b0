package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/registrytest"
)

// The smoke checks run the server-side workloads at tiny sizes against an
// in-process acre (registrytest.New: the default stores in a temporary directory,
// the token challenge on), so that CI notices when a workload or the registry's
// fast paths break. They assert nothing about timing; the comparison with the
// peers is `go run ./bench` (see RESULTS.md).
//
//	go test ./bench                                          # TestSmoke: every workload once (~3 s)
//	go test ./bench -run '^$' -bench . -benchtime 100ms      # the benchmarks (~5 s)
//
// With the default -benchtime the benchmarks take some 20 s, so -short skips them.

// smokeClient starts an in-process acre and returns a client of it.
func smokeClient(tb testing.TB) *regClient {
	tb.Helper()
	srv := registrytest.New(tb)
	c := newRegClient(srv.URL)
	tb.Cleanup(c.close)
	return c
}

// smokeClasses are the mixed workload's classes scaled down 64 times.
var smokeClasses = []mixedClass{{16 << 10, 0.2}, {160 << 10, 0.7}, {1600 << 10, 0.1}}

// seedPool pushes two blobs of every class and returns them by class.
func seedPool(tb testing.TB, c *regClient, repo string, classes []mixedClass) [][]blobSpec {
	tb.Helper()
	pool := make([][]blobSpec, len(classes))
	for ci, cl := range classes {
		for i := range 2 {
			s := blobSpec{seed: uint64(900_000 + 10*ci + i), size: cl.size}
			s.computeDigest()
			if err := c.pushBlob(context.Background(), repo, s); err != nil {
				tb.Fatal(err)
			}
			pool[ci] = append(pool[ci], s)
		}
	}
	return pool
}

// TestSmoke runs every server-side workload once, small, and checks what each
// returns.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry; skipped with -short")
	}
	ctx := context.Background()
	c := smokeClient(t)

	specs := []blobSpec{{seed: 1, size: 64 << 10}, {seed: 2, size: 1 << 20}, {seed: 3, size: 0}}
	for i := range specs {
		specs[i].computeDigest()
	}
	if _, err := pushBlobs(ctx, c, "smoke/blob", specs); err != nil {
		t.Fatal(err)
	}
	if _, err := pullBlobs(ctx, c, "smoke/blob", specs); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if err := verifyPull(ctx, c, "smoke/blob", s); err != nil {
			t.Fatal(err)
		}
	}

	pool := seedPool(t, c, "smoke/mixed", smokeClasses)
	ops := mixedPlan(newRand(1, 2), 24, smokeClasses, pool, 1000)
	if r, err := runMixed(ctx, c, "smoke/mixed", ops, 4); err != nil || r.opsPerSec <= 0 {
		t.Fatalf("mixed: %+v, %v", r, err)
	}

	img := newImage()
	m, err := pushImage(ctx, c, "smoke/manifest", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"HEAD", "GET"} {
		if v, err := manifestRate(ctx, c, method, "smoke/manifest", "v1", 4, 50*time.Millisecond); err != nil || v <= 0 {
			t.Fatalf("manifest %s: %v, %v", method, v, err)
		}
	}

	tags := make([]string, 1100) // more than one page of acre's default 1,000
	for i := range tags {
		tags[i] = fmt.Sprintf("t%05d", i)
	}
	if _, err := putTags(ctx, c, "smoke/manifest", m, tags, 4); err != nil {
		t.Fatal(err)
	}
	if n, err := listTags(ctx, c, "smoke/manifest"); err != nil || n != len(tags)+1 {
		t.Fatalf("listTags: %d tags, %v; want %d", n, err, len(tags)+1)
	}

	for _, b := range [][]byte{img.config, img.layer} {
		if err := c.pushSmall(ctx, "smoke/acr", b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := putManifests(ctx, c, "smoke/acr", img, "m", 0, 250, 4); err != nil {
		t.Fatal(err)
	}
	n, cursor, err := acrWalk(ctx, c, "smoke/acr", 10, 0.9, 250)
	if err != nil || n != 250 || cursor == "" {
		t.Fatalf("acrWalk: %d items, cursor %q, %v", n, cursor, err)
	}
	if _, err := acrPageLatency(ctx, c, "smoke/acr", cursor, 10, 2); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSmoke runs the server-side workloads at tiny sizes against an
// in-process acre.
func BenchmarkSmoke(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a registry; skipped with -short")
	}
	ctx := context.Background()
	c := smokeClient(b)
	const size = 64 << 10
	var seed uint64 = 1 << 32

	b.Run("push-64KiB", func(b *testing.B) {
		specs := make([]blobSpec, b.N)
		for i := range specs {
			seed++
			specs[i] = blobSpec{seed: seed, size: size}
			specs[i].computeDigest()
		}
		b.SetBytes(size)
		b.ResetTimer()
		for i := range b.N {
			if err := c.pushBlob(ctx, "smoke/blob", specs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("pull-64KiB", func(b *testing.B) {
		s := blobSpec{seed: 7, size: size}
		s.computeDigest()
		if err := c.pushBlob(ctx, "smoke/blob", s); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			if _, err := c.pullBlob(ctx, "smoke/blob", s); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("mixed-c8", func(b *testing.B) {
		pool := seedPool(b, c, "smoke/mixed", smokeClasses)
		plans := make([][]mixedOp, b.N)
		for i := range plans {
			seed += 100
			plans[i] = mixedPlan(newRand(seed, 0), 16, smokeClasses, pool, seed)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := runMixed(ctx, c, "smoke/mixed", plans[i], 8); err != nil {
				b.Fatal(err)
			}
		}
	})

	img := newImage()
	m, err := pushImage(ctx, c, "smoke/manifest", "v1", img)
	if err != nil {
		b.Fatal(err)
	}
	for _, method := range []string{"HEAD", "GET"} {
		b.Run("manifest-"+method, func(b *testing.B) {
			hdr := map[string][]string{"Accept": {ociManifest}}
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.do(ctx, method, "/v2/smoke/manifest/manifests/v1", hdr, 0, nil)
					if err != nil {
						b.Error(err)
						return
					}
					drain(res)
					if res.StatusCode != 200 {
						b.Errorf("%s manifest: %s", method, res.Status)
						return
					}
				}
			})
		})
	}

	b.Run("list-500-tags", func(b *testing.B) {
		tags := make([]string, 500)
		for i := range tags {
			tags[i] = fmt.Sprintf("l%04d", i)
		}
		if _, err := pushImage(ctx, c, "smoke/tags", "", img); err != nil {
			b.Fatal(err)
		}
		if _, err := putTags(ctx, c, "smoke/tags", m, tags, 8); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if n, err := listTags(ctx, c, "smoke/tags"); err != nil || n != len(tags) {
				b.Fatalf("listTags: %d, %v", n, err)
			}
		}
	})

	b.Run("acr-list-deep-of-500", func(b *testing.B) {
		for _, blob := range [][]byte{img.config, img.layer} {
			if err := c.pushSmall(ctx, "smoke/acr", blob); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := putManifests(ctx, c, "smoke/acr", img, "b", 0, 500, 8); err != nil {
			b.Fatal(err)
		}
		_, cursor, err := acrWalk(ctx, c, "smoke/acr", 100, 0.5, 500)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if p, err := acrManifestPage(ctx, c, acrListPath("smoke/acr", cursor, 100)); err != nil || p.count != 100 {
				b.Fatalf("page: %d items, %v", p.count, err)
			}
		}
	})
}
