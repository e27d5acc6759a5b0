package acr

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
)

// maxManifestSize is the largest manifest read, as in ACR and the other Azure SDKs.
const maxManifestSize = 4 << 20

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// BlobDigestCalculator computes the digest of a blob uploaded in chunks with
// BlobClient.UploadChunk, for BlobClient.CompleteUpload. Use one per blob. It also
// tracks how many bytes were uploaded, so UploadChunk can state each chunk's
// 64-bit range.
type BlobDigestCalculator struct {
	h    hash.Hash
	size int64
}

// NewBlobDigestCalculator returns a calculator for a new upload.
func NewBlobDigestCalculator() *BlobDigestCalculator {
	return &BlobDigestCalculator{h: sha256.New()}
}

func (c *BlobDigestCalculator) digest() digest.Digest { return digest.NewDigest(digest.SHA256, c.h) }

// snapshot and restore let a failed chunk be undone, so the calculator can be
// reused to send the chunk again.
func (c *BlobDigestCalculator) snapshot() (state []byte, size int64) {
	b, _ := c.h.(encoding.BinaryMarshaler).MarshalBinary()
	return b, c.size
}

func (c *BlobDigestCalculator) restore(state []byte, size int64) {
	_ = c.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
	c.size = size
}

// DigestValidationReader checks that what it reads matches a digest: at the end of
// the data its Read returns ErrMismatchedHash instead of io.EOF if the content does
// not match. Only reading to the end validates.
type DigestValidationReader struct {
	want   string
	h      hash.Hash
	reader io.Reader
}

func newHash(d string) (hash.Hash, error) {
	alg, _, ok := strings.Cut(d, ":")
	if !ok {
		return nil, ErrDigestAlgNotSupported
	}
	switch alg {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, ErrDigestAlgNotSupported
}

// NewDigestValidationReader returns a reader that validates reader's content
// against digest ("sha256:<hex>" or "sha512:<hex>").
func NewDigestValidationReader(digest string, reader io.Reader) (*DigestValidationReader, error) {
	h, err := newHash(digest)
	if err != nil {
		return nil, err
	}
	return &DigestValidationReader{want: digest, h: h, reader: reader}, nil
}

// Read implements io.Reader.
func (d *DigestValidationReader) Read(p []byte) (int, error) {
	n, err := d.reader.Read(p)
	if err == nil || err == io.EOF {
		d.h.Write(p[:n])
	}
	if err == io.EOF {
		alg, _, _ := strings.Cut(d.want, ":")
		if got := fmt.Sprintf("%s:%x", alg, d.h.Sum(nil)); got != d.want {
			return n, ErrMismatchedHash
		}
	}
	return n, err
}

// verifyingReader reads at most max bytes and checks them at EOF against every
// expected digest.
type verifyingReader struct {
	r      io.Reader
	closer io.Closer
	want   []digest.Digest
	hashes []hash.Hash
	n, max int64
}

func newVerifyingReader(r io.Reader, closer io.Closer, want []digest.Digest, max int64) io.ReadCloser {
	v := &verifyingReader{r: r, closer: closer, max: max}
	for _, d := range want {
		if h, err := newHash(string(d)); err == nil {
			v.want = append(v.want, d)
			v.hashes = append(v.hashes, h)
		}
	}
	return v
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.max > 0 && v.n > v.max {
		return n, fmt.Errorf("acr: content is larger than %d bytes", v.max)
	}
	for _, h := range v.hashes {
		h.Write(p[:n])
	}
	if err == io.EOF {
		for i, h := range v.hashes {
			if digest.NewDigest(v.want[i].Algorithm(), h) != v.want[i] {
				return n, fmt.Errorf("content does not match %s: %w", v.want[i], ErrMismatchedHash)
			}
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.closer.Close() }
