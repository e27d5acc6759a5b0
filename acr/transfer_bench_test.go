package acr_test

import (
	"context"
	"io"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
)

// benchSizes are the blob sizes of the transfer benchmarks: memory must be the
// same for both.
var benchSizes = []struct {
	name string
	n    int64
}{
	{"16MiB", 16 << 20},
	{"1GiB", 1 << 30},
}

// genReader produces n bytes by cycling a random pattern: a blob of any size
// without holding it in memory, and cheap enough not to dominate the benchmark.
type genReader struct {
	pattern []byte
	off, n  int64
}

var benchPattern = testData(64<<10+13, 42) // odd length: chunks do not repeat

func newGenReader(n int64) *genReader { return &genReader{pattern: benchPattern, n: n} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	k := 0
	for k < len(p) {
		k += copy(p[k:], g.pattern[(g.off+int64(k))%int64(len(g.pattern)):])
	}
	g.off += int64(k)
	return k, nil
}

// heapPeak samples the heap in use (HeapInuse: objects plus free space in their
// spans) every millisecond while a benchmark runs, without stopping the world as
// ReadMemStats would. It covers the whole process, the in-process registry too.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func heapInuse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	h.peak = heapInuse(s)
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.peak = max(h.peak, heapInuse(s))
			}
		}
	}()
	return h
}

// report stops sampling and reports the peak in MiB.
func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	h.done.Wait()
	b.ReportMetric(float64(h.peak)/(1<<20), "peak-heap-MiB")
}

func BenchmarkUploadBlob(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			if bs.n > 64<<20 && testing.Short() {
				b.Skip("large blob skipped in -short mode")
			}
			c := newBlobs(b, registrytest.New(b).URL)
			ctx := context.Background()
			b.SetBytes(bs.n)
			b.ReportAllocs()
			peak := startHeapPeak()
			for b.Loop() {
				res, err := c.UploadBlob(ctx, "bench/upload", newGenReader(bs.n), nil)
				if err != nil || res.Size != bs.n {
					b.Fatalf("UploadBlob = %+v, %v", res, err)
				}
			}
			peak.report(b)
		})
	}
}

func BenchmarkDownloadBlob(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			if bs.n > 64<<20 && testing.Short() {
				b.Skip("large blob skipped in -short mode")
			}
			c := newBlobs(b, registrytest.New(b).URL)
			ctx := context.Background()
			res, err := c.UploadBlob(ctx, "bench/download", newGenReader(bs.n), nil)
			if err != nil {
				b.Fatal(err)
			}
			d := digest.Digest(res.Digest)
			b.SetBytes(bs.n)
			b.ReportAllocs()
			peak := startHeapPeak()
			for b.Loop() {
				dl, err := c.DownloadBlob(ctx, "bench/download", string(d), nil)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, dl.Body)
				dl.Body.Close()
				if err != nil || n != bs.n {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
			peak.report(b)
		})
	}
}
