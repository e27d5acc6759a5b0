package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"sync"
)

// patternBlock is the pseudo-random block every generated blob repeats. Its odd
// length keeps the repetitions out of step with every buffer and chunk size, and
// its content does not compress (no client or server here compresses, but a
// filesystem might).
var patternBlock = sync.OnceValue(func() []byte {
	buf := make([]byte, 1<<20+7)
	x := uint32(2463534242)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = byte(x)
	}
	return buf
})

// headerSize is the length of the unique header that starts every generated blob.
const headerSize = 16

// blobSpec names one generated blob: its content is a function of seed and size
// alone, so that a workload can be replayed identically against every server.
type blobSpec struct {
	seed   uint64
	size   int64
	digest string // "sha256:<hex>", filled in by computeDigest
}

// header is the blob's first 16 bytes: seed and size, which makes every blob of a
// run distinct, so that no server can skip work because it already holds it.
func (b blobSpec) header() [headerSize]byte {
	var h [headerSize]byte
	binary.BigEndian.PutUint64(h[:8], b.seed)
	binary.BigEndian.PutUint64(h[8:], uint64(b.size))
	return h
}

// reader streams the blob's content without holding more than patternBlock.
func (b blobSpec) reader() *genReader {
	h := b.header()
	return &genReader{block: patternBlock(), head: h, size: b.size, shift: int64(b.seed % 9973)}
}

// computeDigest hashes the content (outside any timed section) and records it.
func (b *blobSpec) computeDigest() {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, b.reader(), buf); err != nil {
		panic(err) // genReader never fails
	}
	b.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// genReader is the content of a blobSpec: its header, then patternBlock repeated
// from a seed-dependent offset. It implements io.WriterTo so that io.Copy (and
// net/http's request body writer) moves it in 1 MiB writes.
type genReader struct {
	block []byte
	head  [headerSize]byte
	size  int64
	shift int64
	off   int64
}

// Read implements io.Reader.
func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		pos := g.off + int64(n)
		if pos < headerSize {
			n += copy(p[n:], g.head[pos:])
			continue
		}
		n += copy(p[n:], g.block[(pos+g.shift)%int64(len(g.block)):])
	}
	g.off += int64(n)
	return n, nil
}

// WriteTo implements io.WriterTo. It writes straight from patternBlock, copying
// nothing.
func (g *genReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for g.off < g.size {
		var p []byte
		if g.off < headerSize {
			p = g.head[g.off:min(headerSize, g.size)]
		} else {
			start := (g.off + g.shift) % int64(len(g.block))
			p = g.block[start:min(int64(len(g.block)), start+(g.size-g.off))]
		}
		m, err := w.Write(p)
		g.off += int64(m)
		total += int64(m)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
