// Command bench compares acre with its peers on this machine: `acre serve` with
// the CNCF distribution registry on identical server-side workloads, and acre's
// client (the acre CLI) with crane and oras on pushing and pulling one image.
//
// It builds everything it runs at run time, into a temporary directory: acre from
// this module, and distribution, crane and oras with `go install pkg@version` from
// the Go module proxy (nothing is added to go.mod). Each server runs on a free
// loopback port with durable filesystem storage in a temporary directory, and is
// started afresh for each workload group. Runs alternate between the systems, in
// counterbalanced order (acre, distribution, distribution, acre, ...), so that
// drift of the machine hits both alike, and the tables report medians with the
// range of the runs.
//
// Usage, from the module root:
//
//	go run ./bench                         # everything (about 7 minutes on 2 cores)
//	go run ./bench --quick                 # fewer repetitions, no 1 GiB cases (about 3 minutes)
//	go run ./bench --only blob1g,clients   # some groups only
//	go run ./bench --compare-acre old=/tmp/acre-old --only manifest   # measure a change to acre
//
// See bench/RESULTS.md for what each workload does and the numbers of one run,
// and smoke_test.go for the CI smoke check.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// groups are the workload groups in the order they run.
var groups = []string{"limits", "blob", "mixed", "manifest", "tags", "acrlist", "clients", "blob1g"}

// params are the sizes and repetitions of a run.
type params struct {
	blobs          []blobCase
	blob1g         blobCase
	mixedOps       int
	mixedRuns      int
	mixedConc      []int
	manifestConc   int
	manifestDur    time.Duration
	manifestRuns   int
	tagCount       int
	tagChunks      int
	listRuns       int
	listsPerRun    int
	acrLevels      []int
	acrRuns        int
	acrReqs        int
	clientLayer    int64
	clientLayers   int
	clientRuns     int
	sha256Duration time.Duration
}

// blobCase is one size of the single-blob workload: each run moves ops blobs of
// size one after the other.
type blobCase struct {
	size int64
	ops  int
	runs int
}

func fullParams() params {
	return params{
		blobs:          []blobCase{{1 * mib, 64, 5}, {10 * mib, 16, 5}, {100 * mib, 4, 5}},
		blob1g:         blobCase{1024 * mib, 1, 3},
		mixedOps:       128,
		mixedRuns:      5,
		mixedConc:      []int{1, 8, 32},
		manifestConc:   64,
		manifestDur:    5 * time.Second,
		manifestRuns:   3,
		tagCount:       10000,
		tagChunks:      10,
		listRuns:       5,
		listsPerRun:    5,
		acrLevels:      []int{1000, 10000, 100000},
		acrRuns:        5,
		acrReqs:        20,
		clientLayer:    256 * mib,
		clientLayers:   4,
		clientRuns:     3,
		sha256Duration: 3 * time.Second,
	}
}

func quickParams() params {
	p := fullParams()
	p.blobs = []blobCase{{1 * mib, 16, 3}, {10 * mib, 4, 3}, {100 * mib, 1, 3}}
	p.blob1g.runs = 2
	p.mixedOps, p.mixedRuns = 48, 3
	p.manifestDur, p.manifestRuns = 2*time.Second, 2
	p.listRuns = 3
	p.acrLevels, p.acrRuns = []int{1000, 10000}, 3
	p.clientLayer, p.clientRuns = 16*mib, 2
	p.sha256Duration = time.Second
	return p
}

// bench is one run of the command.
type bench struct {
	p       params
	tools   tools
	tmp     string
	res     *results
	notes   []string
	acreArg []string
	root    string
	load    []loadRow
	compare [][2]string // other acre binaries to run alongside: name, path
	acreBin string      // a prebuilt acre to use, or "" to build one
}

// target is a system under test in a server-side workload: a running server and
// the client that talks to it.
type target struct {
	name string
	srv  *server
	c    *regClient
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == spawnArg {
		spawnMain(os.Args[2:])
		return
	}
	quick := flag.Bool("quick", false, "fewer repetitions, skip the 1 GiB cases (blob1g) and use a 64 MiB image for the clients")
	only := flag.String("only", "", "comma-separated workload groups to run (default: all but blob1g with --quick): "+strings.Join(groups, ","))
	out := flag.String("out", "", "also write the report (markdown) to this file")
	binDir := flag.String("bin-dir", "", "directory for the built binaries (default: a temporary directory); peers already there are reused")
	keep := flag.Bool("keep", false, "keep the temporary directory (server data and logs)")
	acreBin := flag.String("acre-bin", "", "benchmark this acre binary instead of building one from the module")
	sizes := flag.String("blob-sizes", "", "blob group: comma-separated blob sizes in MiB instead of 1,10,100 (a run moves about 400 MiB, in at most 64 blobs)")
	compare := flag.String("compare-acre", "", "also run these acre binaries in the server-side workloads, as NAME=PATH[,NAME=PATH...], to measure a change to acre")
	acreFlags := flag.String("acre-flags", "", "extra flags for acre serve, space-separated (e.g. --pprof-addr=127.0.0.1:6060)")
	distVersion := flag.String("distribution-version", "v3.1.2", "version of "+distributionPkg)
	craneVersion := flag.String("crane-version", "v0.22.1", "version of "+cranePkg)
	orasVersion := flag.String("oras-version", "v1.3.6", "version of "+orasPkg)
	flag.Parse()

	p := fullParams()
	if *quick {
		p = quickParams()
	}
	if *sizes != "" {
		runs := p.blobs[0].runs
		p.blobs = nil
		for v := range strings.SplitSeq(*sizes, ",") {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "--blob-sizes: %q is not a size in MiB\n", v)
				os.Exit(2)
			}
			p.blobs = append(p.blobs, blobCase{size: n * mib, ops: int(min(64, max(1, 400/n))), runs: runs})
		}
	}
	selected := map[string]bool{}
	if *only != "" {
		for g := range strings.SplitSeq(*only, ",") {
			g = strings.TrimSpace(g)
			if !slices.Contains(groups, g) {
				fmt.Fprintf(os.Stderr, "unknown group %q; groups: %s\n", g, strings.Join(groups, ","))
				os.Exit(2)
			}
			selected[g] = true
		}
	} else {
		for _, g := range groups {
			selected[g] = !(*quick && g == "blob1g")
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{p: p, res: newResults(), acreArg: strings.Fields(*acreFlags)}
	for kv := range strings.SplitSeq(*compare, ",") {
		if kv == "" {
			continue
		}
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" || name == "acre" || name == "distribution" {
			fmt.Fprintf(os.Stderr, "--compare-acre %q: want NAME=PATH with a new name\n", kv)
			os.Exit(2)
		}
		b.compare = append(b.compare, [2]string{name, path})
	}
	b.acreBin = *acreBin
	err := b.run(ctx, selected, *binDir, *keep, *out, map[string]string{
		distributionPkg: *distVersion, cranePkg: *craneVersion, orasPkg: *orasVersion,
	}, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (b *bench) run(ctx context.Context, selected map[string]bool, binDir string, keep bool, out string, versions map[string]string, args []string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	b.root = root
	b.tmp, err = os.MkdirTemp("", "acre-bench-")
	if err != nil {
		return err
	}
	if keep {
		logf("keeping %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	if binDir == "" {
		binDir = filepath.Join(b.tmp, "bin")
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	if b.tools, err = buildTools(ctx, root, binDir, versions, b.acreBin); err != nil {
		return err
	}
	logf("built in %s", time.Since(start).Round(time.Second))

	runners := map[string]func(context.Context) error{
		"limits":   b.runLimits,
		"blob":     func(ctx context.Context) error { return b.runBlobs(ctx, "blob", b.p.blobs) },
		"blob1g":   func(ctx context.Context) error { return b.runBlobs(ctx, "blob1g", []blobCase{b.p.blob1g}) },
		"mixed":    b.runMixed,
		"manifest": b.runManifest,
		"tags":     b.runTags,
		"acrlist":  b.runACRList,
		"clients":  b.runClients,
	}
	for _, g := range groups {
		if !selected[g] {
			continue
		}
		m0 := markCPU()
		logf("== %s", g)
		if err := runners[g](ctx); err != nil {
			return fmt.Errorf("%s: %w", g, err)
		}
		m1 := markCPU()
		b.load = append(b.load, loadRow{g, m1.t.Sub(m0.t), m1.foreignCores(m0)})
		logf("== %s done in %s", g, m1.t.Sub(m0.t).Round(time.Second))
	}
	total := time.Since(start)

	var w strings.Builder
	b.report(&w, versions, "go run ./bench "+strings.Join(args, " "), total)
	fmt.Print(w.String())
	if out != "" {
		return os.WriteFile(out, []byte(w.String()), 0o644)
	}
	return nil
}

// moduleRoot is the directory of acre's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run from inside the acre module")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(b), "module github.com/acre-dev/acre\n") {
		return "", fmt.Errorf("%s is not acre's go.mod", gomod)
	}
	return filepath.Dir(gomod), nil
}

// startPair starts acre and distribution (and the acre to compare with, if any)
// with fresh data directories for a group, and returns them as targets in the
// order runs alternate.
func (b *bench) startPair(ctx context.Context, group string) ([]*target, func(), error) {
	a, err := startAcre(ctx, b.tools.acre, filepath.Join(b.tmp, group, "acre"), b.acreArg...)
	if err != nil {
		return nil, nil, err
	}
	d, err := startDistribution(ctx, b.tools.registry, filepath.Join(b.tmp, group, "distribution"))
	if err != nil {
		a.stop()
		return nil, nil, err
	}
	ts := []*target{{"acre", a, newRegClient(a.url)}, {"distribution", d, newRegClient(d.url)}}
	for _, c := range b.compare {
		o, err := startAcre(ctx, c[1], filepath.Join(b.tmp, group, c[0]), b.acreArg...)
		if err != nil {
			for _, t := range ts {
				t.srv.stop()
			}
			return nil, nil, err
		}
		ts = append(ts, &target{c[0], o, newRegClient(o.url)})
	}
	return ts, func() {
		for _, t := range ts {
			b.res.add("rss", group, "MiB", false, t.name, float64(t.srv.peakRSS())/mib)
			t.c.close()
			t.srv.stop()
		}
		if err := os.RemoveAll(filepath.Join(b.tmp, group)); err != nil {
			logf("remove %s: %v", group, err)
		}
	}, nil
}

// each runs f for every target in turn, runs times, interleaved and in
// counterbalanced order (A B, B A, A B, ...: see inOrder). It checks that the
// servers are still up after each run.
func each(ts []*target, runs int, f func(run int, t *target) error) error {
	for r := range runs {
		for _, t := range inOrder(ts, r) {
			if err := f(r, t); err != nil {
				return fmt.Errorf("%s run %d: %w", t.name, r, err)
			}
			if err := t.srv.alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

// inOrder is the order of the targets in run r: as given in even runs, reversed in
// odd ones. Runs still alternate between the systems, but none always goes first
// or second, so that whatever favours a position (warm caches, the state of memory
// the previous run left) is shared.
func inOrder(ts []*target, r int) []*target {
	if r%2 == 0 {
		return ts
	}
	rev := slices.Clone(ts)
	slices.Reverse(rev)
	return rev
}

// runLimits measures what bounds push and pull on this machine: single-core
// crypto/sha256 over 1 MiB buffers (every byte a registry receives must be hashed
// once, so this bounds push throughput per core), and the disk's durable write
// bandwidth and sync latency in the directory the servers keep their data in
// (both servers sync every blob before acknowledging it).
func (b *bench) runLimits(ctx context.Context) error {
	buf := make([]byte, mib)
	copy(buf, patternBlock())
	for range 3 {
		h := sha256.New()
		start := time.Now()
		var n int
		for time.Since(start) < b.p.sha256Duration/3 {
			for range 64 {
				h.Write(buf)
			}
			n += 64
		}
		h.Sum(nil)
		b.res.add("limits", "sha256, one core, 1 MiB writes", "MiB/s", true, "value", float64(n)/time.Since(start).Seconds())
	}
	f, err := os.CreateTemp(b.tmp, "disk-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const total = 256 * mib
	for range 3 {
		if err := f.Truncate(0); err != nil {
			return err
		}
		start := time.Now()
		for off := int64(0); off < total; off += mib {
			if _, err := f.WriteAt(buf, off); err != nil {
				return err
			}
		}
		if err := f.Sync(); err != nil {
			return err
		}
		b.res.add("limits", "disk: write 256 MiB in 1 MiB writes, then fsync", "MiB/s", true, "value", total/mib/time.Since(start).Seconds())
	}
	for range 3 {
		if err := f.Truncate(0); err != nil {
			return err
		}
		const chunk, n = 4 * mib, 32
		big := make([]byte, chunk)
		start := time.Now()
		for i := range n {
			copy(big, buf)
			if _, err := f.WriteAt(big, int64(i)*chunk); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
		}
		b.res.add("limits", "disk: 4 MiB write + fsync, repeated (a chunked upload)", "MiB/s", true, "value", chunk*n/mib/time.Since(start).Seconds())
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	for r := range 3 {
		const n = 50
		start := time.Now()
		for i := range n {
			if _, err := f.WriteAt(buf[:4096], int64(r*n+i)*4096); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
		}
		b.res.add("limits", "disk: 4 KiB write + fsync", "ms", false, "value", float64(time.Since(start).Microseconds())/1000/n)
	}
	return ctx.Err()
}

// sizeName is "1 MiB", "1 GiB" and so on.
func sizeName(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// runBlobs pushes and pulls single blobs of each size. In run r every system
// pushes the same new blobs, then pulls them back.
func (b *bench) runBlobs(ctx context.Context, group string, cases []blobCase) error {
	ts, stop, err := b.startPair(ctx, group)
	if err != nil {
		return err
	}
	defer stop()
	const repo = "bench/blob"
	if err := warmBlobs(ctx, ts, repo); err != nil {
		return err
	}
	for ci, bc := range cases {
		name := sizeName(bc.size)
		logf("%s: %d runs of %d × %s", group, bc.runs, bc.ops, name)
		for r := range bc.runs {
			specs := make([]blobSpec, bc.ops)
			for i := range specs {
				specs[i] = blobSpec{seed: uint64(1_000_000*(ci+1) + 1000*r + i), size: bc.size}
				specs[i].computeDigest()
			}
			cpu := map[string]float64{}
			for _, t := range inOrder(ts, r) {
				c0 := t.srv.cpuSeconds()
				v, err := pushBlobs(ctx, t.c, repo, specs)
				if err != nil {
					return fmt.Errorf("%s push %s: %w", t.name, name, err)
				}
				cpu[t.name] = t.srv.cpuSeconds() - c0
				b.res.add("server", "push "+name, "MiB/s", true, t.name, v)
				b.res.add("cpu", "push "+name, "CPU s/GiB", false, t.name, cpu[t.name]/(float64(bc.size*int64(bc.ops))/(1<<30)))
			}
			for _, t := range inOrder(ts, r) {
				c0 := t.srv.cpuSeconds()
				v, err := pullBlobs(ctx, t.c, repo, specs)
				if err != nil {
					return fmt.Errorf("%s pull %s: %w", t.name, name, err)
				}
				b.res.add("server", "pull "+name, "MiB/s", true, t.name, v)
				b.res.add("cpu", "pull "+name, "CPU s/GiB", false, t.name, (t.srv.cpuSeconds()-c0)/(float64(bc.size*int64(bc.ops))/(1<<30)))
				if err := t.srv.alive(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// warmBlobs pushes a 1 MiB blob to every target and pulls it back with its digest
// checked: connections and tokens exist afterwards, and the server is correct.
func warmBlobs(ctx context.Context, ts []*target, repo string) error {
	spec := blobSpec{seed: 42, size: mib}
	spec.computeDigest()
	for _, t := range ts {
		if err := t.c.pushBlob(ctx, repo, spec); err != nil {
			return fmt.Errorf("%s warm-up push: %w", t.name, err)
		}
		if err := verifyPull(ctx, t.c, repo, spec); err != nil {
			return fmt.Errorf("%s warm-up pull: %w", t.name, err)
		}
	}
	return nil
}

// runMixed runs the mixed workload at each concurrency. Every system gets the same
// plan in a run; plans differ between runs (new blobs to push).
func (b *bench) runMixed(ctx context.Context) error {
	ts, stop, err := b.startPair(ctx, "mixed")
	if err != nil {
		return err
	}
	defer stop()
	const repo = "bench/mixed"
	if err := warmBlobs(ctx, ts, repo); err != nil {
		return err
	}
	// The pool the pulls draw from: three blobs of each class on every server.
	pool := make([][]blobSpec, len(mixedClasses))
	for ci, cl := range mixedClasses {
		for i := range 3 {
			s := blobSpec{seed: uint64(2_000_000 + 100*ci + i), size: cl.size}
			s.computeDigest()
			pool[ci] = append(pool[ci], s)
			for _, t := range ts {
				if err := t.c.pushBlob(ctx, repo, s); err != nil {
					return fmt.Errorf("%s: seed pool: %w", t.name, err)
				}
			}
		}
	}
	for ti, conc := range b.p.mixedConc {
		logf("mixed: concurrency %d, %d runs of %d operations", conc, b.p.mixedRuns, b.p.mixedOps)
		for r := range b.p.mixedRuns {
			rng := newRand(uint64(conc), uint64(r))
			ops := mixedPlan(rng, b.p.mixedOps, mixedClasses, pool, uint64(3_000_000+100_000*ti+1000*r))
			var total int64
			for _, op := range ops {
				total += op.blob.size
			}
			for _, t := range inOrder(ts, r) {
				c0 := t.srv.cpuSeconds()
				v, err := runMixed(ctx, t.c, repo, ops, conc)
				if err != nil {
					return fmt.Errorf("%s mixed c=%d: %w", t.name, conc, err)
				}
				name := fmt.Sprintf("mixed, concurrency %d", conc)
				b.res.add("server", name, "ops/s", true, t.name, v.opsPerSec)
				b.res.add("server", name+" (throughput)", "MiB/s", true, t.name, v.mibPerSec)
				b.res.add("cpu", name, "CPU s/GiB", false, t.name, (t.srv.cpuSeconds()-c0)/(float64(total)/(1<<30)))
				if err := t.srv.alive(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// runManifest measures HEAD and GET of one manifest by tag from many clients.
func (b *bench) runManifest(ctx context.Context) error {
	ts, stop, err := b.startPair(ctx, "manifest")
	if err != nil {
		return err
	}
	defer stop()
	const repo = "bench/manifest"
	img := newImage()
	for _, t := range ts {
		if _, err := pushImage(ctx, t.c, repo, "v1", img); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	conc := b.p.manifestConc
	for _, method := range []string{"HEAD", "GET"} {
		logf("manifest: %s, %d clients, %d runs of %s", method, conc, b.p.manifestRuns, b.p.manifestDur)
		for _, t := range ts { // warm-up: open the connections
			if _, err := manifestRate(ctx, t.c, method, repo, "v1", conc, 500*time.Millisecond); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
		err := each(ts, b.p.manifestRuns, func(_ int, t *target) error {
			c0 := t.srv.cpuSeconds()
			t0 := time.Now()
			v, err := manifestRate(ctx, t.c, method, repo, "v1", conc, b.p.manifestDur)
			if err != nil {
				return err
			}
			n := v * time.Since(t0).Seconds()
			name := fmt.Sprintf("manifest %s by tag, %d clients", method, conc)
			b.res.add("server", name, "req/s", true, t.name, v)
			b.res.add("cpu", name, "CPU µs/req", false, t.name, (t.srv.cpuSeconds()-c0)/n*1e6)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runTags tags one manifest 10,000 times (in chunks, alternating, so the tagging
// rate is measured too) and then lists the tags.
func (b *bench) runTags(ctx context.Context) error {
	ts, stop, err := b.startPair(ctx, "tags")
	if err != nil {
		return err
	}
	defer stop()
	const repo = "bench/tags"
	img := newImage()
	var m []byte
	for _, t := range ts {
		if m, err = pushImage(ctx, t.c, repo, "", img); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	per := b.p.tagCount / b.p.tagChunks
	logf("tags: tagging %d times in %d chunks, 8 clients", b.p.tagCount, b.p.tagChunks)
	err = each(ts, b.p.tagChunks, func(r int, t *target) error {
		tags := make([]string, per)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%05d", r*per+i)
		}
		v, err := putTags(ctx, t.c, repo, m, tags, 8)
		if err != nil {
			return err
		}
		b.res.add("server", "tag a manifest (PUT by tag), 8 clients", "tags/s", true, t.name, v)
		return nil
	})
	if err != nil {
		return err
	}
	logf("tags: %d runs of %d listings", b.p.listRuns, b.p.listsPerRun)
	for _, t := range ts { // warm-up and check
		n, err := listTags(ctx, t.c, repo)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if n != b.p.tagCount {
			return fmt.Errorf("%s lists %d tags, want %d", t.name, n, b.p.tagCount)
		}
	}
	return each(ts, b.p.listRuns, func(_ int, t *target) error {
		t0 := time.Now()
		for range b.p.listsPerRun {
			if _, err := listTags(ctx, t.c, repo); err != nil {
				return err
			}
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000 / float64(b.p.listsPerRun)
		b.res.add("server", fmt.Sprintf("list %s tags (all pages)", groupThousands(fmt.Sprint(b.p.tagCount))), "ms", false, t.name, ms)
		return nil
	})
}

// runACRList measures ACR's ordered manifest listing deep in a repository of 1k,
// 10k and 100k manifests (acre only: distribution has no such API; acre binaries
// given with --compare-acre run alongside).
func (b *bench) runACRList(ctx context.Context) error {
	bins := append([][2]string{{"acre", b.tools.acre}}, b.compare...)
	var ts []*target
	defer func() {
		for _, t := range ts {
			b.res.add("rss", "acrlist", "MiB", false, t.name, float64(t.srv.peakRSS())/mib)
			t.c.close()
			t.srv.stop()
		}
		_ = os.RemoveAll(filepath.Join(b.tmp, "acrlist"))
	}()
	for _, bin := range bins {
		a, err := startAcre(ctx, bin[1], filepath.Join(b.tmp, "acrlist", bin[0]), b.acreArg...)
		if err != nil {
			return err
		}
		ts = append(ts, &target{bin[0], a, newRegClient(a.url)})
	}
	const repo = "bench/acrlist"
	img := newImage()
	for _, t := range ts {
		for _, blob := range [][]byte{img.config, img.layer} {
			if err := t.c.pushSmall(ctx, repo, blob); err != nil {
				return err
			}
		}
	}
	have := 0
	for _, level := range b.p.acrLevels {
		k := groupThousands(fmt.Sprint(level))
		cursors := map[string]string{}
		logf("acrlist: pushing manifests %d to %d", have, level)
		for _, t := range ts {
			rate, err := putManifests(ctx, t.c, repo, img, "m", have, level, 8)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			b.res.add("acr", fmt.Sprintf("push manifests by digest, 8 clients (up to %s)", k), "manifests/s", true, t.name, rate)
			t0 := time.Now()
			n, cursor, err := acrWalk(ctx, t.c, repo, 100, 0.9, level)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if n != level {
				return fmt.Errorf("%s: acr listing of %d manifests returned %d", t.name, level, n)
			}
			cursors[t.name] = cursor
			b.res.add("acr", fmt.Sprintf("walk all %s manifests, timedesc, n=100", k), "s", false, t.name, time.Since(t0).Seconds())
		}
		have = level
		err := each(ts, b.p.acrRuns, func(_ int, t *target) error {
			first, err := acrPageLatency(ctx, t.c, repo, "", 100, b.p.acrReqs)
			if err != nil {
				return err
			}
			deep, err := acrPageLatency(ctx, t.c, repo, cursors[t.name], 100, b.p.acrReqs)
			if err != nil {
				return err
			}
			b.res.add("acr", fmt.Sprintf("first page of %s, timedesc, n=100", k), "ms", false, t.name, first)
			b.res.add("acr", fmt.Sprintf("page at 90%% of %s, timedesc, n=100", k), "ms", false, t.name, deep)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// report writes the results as markdown.
func (b *bench) report(w io.Writer, versions map[string]string, command string, total time.Duration) {
	fmt.Fprintf(w, "## Results\n\n")
	fmt.Fprintf(w, "Command: `%s` (%s, including builds)\n\n", command, total.Round(time.Second))
	fmt.Fprintf(w, "Machine: %s\n\n", machine(b.tmp))
	if b.acreBin != "" {
		fmt.Fprintf(w, "acre: the prebuilt binary %s.\n\n", b.acreBin)
	} else {
		fmt.Fprintf(w, "acre: %s.\n\n", acreVersion(b.root))
	}
	fmt.Fprintf(w, "Peers: distribution %s, crane %s, oras %s (built from the Go module proxy with %s).\n\n",
		versions[distributionPkg], versions[cranePkg], versions[orasPkg], runtime.Version())
	fmt.Fprintf(w, "Cells are the median of the runs with (min–max); ↑ higher is better, ↓ lower is better; ratios are of the medians.\n\n")
	sections := []struct {
		title   string
		groups  []string
		systems []string
	}{
		{"Server-side workloads (same client code for both servers)", []string{"server"}, []string{"acre", "distribution"}},
		{"Server CPU time (user+system, from /proc/<pid>/stat)", []string{"cpu"}, []string{"acre", "distribution"}},
		{"ACR ordered listing (acre only)", []string{"acr"}, []string{"acre"}},
		{"Clients against acre serve (4-layer image)", []string{"client"}, []string{"acre", "crane", "oras"}},
		{"Peak RSS of the servers per workload group (VmHWM)", []string{"rss"}, []string{"acre", "distribution"}},
		{"Physical limit", []string{"limits"}, []string{"value"}},
	}
	for _, s := range sections {
		if s.systems[0] == "acre" && (len(s.systems) == 1 || s.systems[1] == "distribution") {
			for _, c := range b.compare {
				s.systems = append(s.systems, c[0])
			}
		}
		var sb strings.Builder
		b.res.table(&sb, s.groups, s.systems)
		if sb.Len() == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s\n\n%s", s.title, sb.String())
	}
	if len(b.load) > 0 {
		fmt.Fprintf(w, "### Other load on the machine\n\n")
		fmt.Fprintf(w, "CPU used by processes other than the bench, its servers and its clients (from /proc/stat), on average over each group: anything well above 0 means the numbers of that group are disturbed.\n\n")
		fmt.Fprintf(w, "| group | wall time | other processes, cores |\n|---|---:|---:|\n")
		for _, l := range b.load {
			fmt.Fprintf(w, "| %s | %s | %.2f |\n", l.group, l.wall.Round(time.Second), l.cores)
		}
		fmt.Fprintln(w)
	}
	for _, n := range b.notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// acreVersion is the commit acre was built from, and whether the working tree had
// changes (read-only git commands; "unknown" without git).
func acreVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "built from " + root + " (commit unknown)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// machine describes the CPU, the cores, the Go version and the filesystem of dir.
func machine(dir string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if n, err := procMeminfo("MemTotal"); err == nil {
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%s, %d cores%s, %s %s/%s, %s", cpu, runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, fsType(dir))
}

func procMeminfo(field string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var n int64
			_, err := fmt.Sscan(v, &n)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("no %s", field)
}

// fsType names the filesystem dir is on, from the longest matching mount point in
// /proc/mounts.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown filesystem"
	}
	best, typ, dev := "", "unknown", ""
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ, dev = mp, f[2], f[0]
		}
	}
	return fmt.Sprintf("%s (%s on %s) for %s", typ, dev, best, filepath.Dir(dir))
}
