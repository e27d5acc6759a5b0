package acr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/opencontainers/go-digest"
)

// defaultChunkSize is the upload chunk size of the .NET, JS and Python SDKs: large
// enough that per-request overhead is small, small enough to buffer.
const defaultChunkSize = 4 << 20

// defaultMaxResumes is how many dropped connections DownloadBlob survives by default.
const defaultMaxResumes = 5

// cancelTimeout bounds the best-effort DELETE of a failed upload session, which runs
// even when the caller's context is already done.
const cancelTimeout = 30 * time.Second

// chunkPool recycles default-size chunk buffers, so that many uploads in a row (a
// Copy of an image, say) do not each allocate and collect 4 MiB.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, defaultChunkSize); return &b }}

// Progress reports bytes transferred so far and the total (-1 if unknown). It is
// called from the goroutine doing the transfer, so it should return quickly.
type Progress func(transferred, total int64)

// UploadBlobOptions holds the optional parameters of BlobClient.UploadBlob.
type UploadBlobOptions struct {
	// ChunkSize is the most UploadBlob holds in memory and sends in one request;
	// default 4 MiB, as the other Azure SDKs use.
	ChunkSize int64

	// Size is the blob's total size if known, else 0. It is the total reported to
	// Progress, and a stream of another length fails the upload instead of storing
	// something the caller did not expect.
	Size int64

	// Digest is the blob's expected digest ("sha256:…" or "sha512:…"), if known. The
	// upload is skipped when the repository already has the blob, the content is
	// hashed with Digest's algorithm, and content that does not match fails with
	// ErrMismatchedHash before the upload is completed.
	Digest string

	// Progress, if set, is called after each chunk the registry accepts.
	Progress Progress
}

// UploadBlobResponse is the result of BlobClient.UploadBlob.
type UploadBlobResponse struct {
	// Digest is the blob's digest, computed while uploading and confirmed by the
	// registry (or Options.Digest when the blob was already there).
	Digest string
	// Size is the blob's size in bytes.
	Size int64
}

// UploadBlob uploads a whole blob from a stream into repository name and returns
// its digest and size.
//
// It streams: the blob is read one chunk at a time into a single reused buffer, so
// memory does not grow with the blob. Each chunk is hashed once as it is read from
// blob, then sent as a PATCH with its 64-bit Content-Range, following the Location
// each answer returns; a chunk that fails with a retriable error is resent from the
// buffer by the pipeline's retry policy, which cannot disturb the digest. The last
// chunk goes with the completing PUT ?digest=, so a blob that fits in one chunk
// costs two requests (POST, PUT), the OCI "POST then PUT" monolithic upload. The
// digest the registry reports is checked against the one computed.
//
// If the upload fails after it started, the session is cancelled (best effort). The
// default digest is sha256; see UploadBlobOptions.Digest for the other behaviours.
func (c *BlobClient) UploadBlob(ctx context.Context, name string, blob io.Reader, options *UploadBlobOptions) (UploadBlobResponse, error) {
	var o UploadBlobOptions
	if options != nil {
		o = *options
	}
	if err := required("name", name); err != nil {
		return UploadBlobResponse{}, err
	}
	if blob == nil {
		return UploadBlobResponse{}, errors.New("parameter blob cannot be nil")
	}
	if o.ChunkSize < 0 || o.Size < 0 {
		return UploadBlobResponse{}, errors.New("acr: ChunkSize and Size cannot be negative")
	}
	alg := digest.SHA256
	if o.Digest != "" {
		want, err := parseDigest(o.Digest)
		if err != nil {
			return UploadBlobResponse{}, fmt.Errorf("acr: upload blob: %w", err)
		}
		alg = want.Algorithm()
		if done, ok, err := c.existingBlob(ctx, name, o); ok || err != nil {
			return done, err
		}
	}
	u := &blobUpload{c: c, ctx: ctx, name: name, scopes: []string{repoScope(name, "pull,push")}, opts: o, alg: alg, h: alg.Hash(), total: -1}
	if o.Size > 0 {
		u.total = o.Size
	}
	res, err := u.run(blob)
	if err != nil {
		return UploadBlobResponse{}, fmt.Errorf("acr: upload blob to %s: %w", name, err)
	}
	return res, nil
}

// parseDigest parses a digest and checks that this package can compute it.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", s, err)
	}
	if _, err := newHash(s); err != nil {
		return "", fmt.Errorf("digest %q: %w", s, err)
	}
	return d, nil
}

// existingBlob reports whether the repository already holds the blob o.Digest,
// which makes the upload unnecessary. Only an answer that says the blob is there
// skips the upload: a 404, a refused HEAD or a registry that does not answer HEAD
// sends the blob, and the upload reports any real problem.
func (c *BlobClient) existingBlob(ctx context.Context, name string, o UploadBlobOptions) (UploadBlobResponse, bool, error) {
	res, err := c.CheckBlobExists(ctx, name, o.Digest, nil)
	if err != nil {
		if ctx.Err() != nil {
			return UploadBlobResponse{}, false, fmt.Errorf("acr: upload blob to %s: %w", name, ctx.Err())
		}
		return UploadBlobResponse{}, false, nil
	}
	if res.DockerContentDigest != nil && *res.DockerContentDigest != o.Digest {
		return UploadBlobResponse{}, false, nil // not the blob we asked for: upload it
	}
	size := o.Size
	if res.ContentLength != nil {
		size = *res.ContentLength
	}
	if o.Progress != nil {
		o.Progress(size, size)
	}
	return UploadBlobResponse{Digest: o.Digest, Size: size}, true, nil
}

// blobUpload is the state of one UploadBlob call.
type blobUpload struct {
	c      *BlobClient
	ctx    context.Context
	name   string
	scopes []string
	opts   UploadBlobOptions
	alg    digest.Algorithm
	h      hash.Hash // of everything read from the source, each byte once
	total  int64     // for Progress: opts.Size or -1
	loc    *url.URL  // the session's current Location; nil before POST
	sent   int64     // bytes the registry has accepted
}

func (u *blobUpload) progress(total int64) {
	if u.opts.Progress != nil {
		u.opts.Progress(u.sent, total)
	}
}

// chunkBuffer returns the chunk buffer and the function that gives it back.
func chunkBuffer(size int64) ([]byte, func()) {
	if size == defaultChunkSize {
		p := chunkPool.Get().(*[]byte)
		return *p, func() { chunkPool.Put(p) }
	}
	return make([]byte, size), func() {}
}

func (u *blobUpload) run(blob io.Reader) (res UploadBlobResponse, err error) {
	size := u.opts.ChunkSize
	if size == 0 {
		size = defaultChunkSize
	}
	buf, release := chunkBuffer(size)
	defer release()

	if err := u.start(); err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			u.cancel()
		}
	}()

	// To send the last chunk with the PUT, UploadBlob must know a chunk is the last
	// before sending it. After a full chunk it reads one byte more: EOF means the
	// chunk was the last, otherwise the byte starts the next chunk. This keeps one
	// buffer instead of two.
	var peek [1]byte
	carried := false
	for {
		n := 0
		if carried {
			buf[0], n = peek[0], 1
		}
		m, rerr := io.ReadFull(blob, buf[n:])
		n += m
		last := false
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			last = true
		case rerr != nil:
			return res, fmt.Errorf("read blob at byte %d: %w", u.sent+int64(n), rerr)
		default:
			k, perr := io.ReadFull(blob, peek[:])
			switch {
			case k == 1:
				carried = true
			case perr == io.EOF:
				last = true
			default:
				return res, fmt.Errorf("read blob at byte %d: %w", u.sent+int64(n), perr)
			}
		}
		u.h.Write(buf[:n])
		if last {
			return u.finish(buf[:n])
		}
		if u.opts.Size > 0 && u.sent+int64(n) > u.opts.Size {
			return res, fmt.Errorf("blob is longer than the declared size %d", u.opts.Size)
		}
		if err := u.patch(buf[:n]); err != nil {
			return res, err
		}
		u.progress(u.total)
	}
}

// start opens the upload session.
func (u *blobUpload) start() error {
	resp, err := send(u.ctx, u.c.pl, http.MethodPost, u.c.endpoint+"/v2/"+escapeName(u.name)+"/blobs/uploads/", u.scopes, nil, "", false, http.StatusAccepted)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	drainAndClose(resp)
	return u.follow(resp)
}

// follow moves the session to the Location of resp. Registries must send one with
// every answer, but keeping the previous one when it is missing costs nothing.
func (u *blobUpload) follow(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		if u.loc == nil {
			return errNoLocation
		}
		return nil
	}
	l, err := u.c.resolveLocation(loc)
	if err != nil {
		return err
	}
	u.loc = l
	return nil
}

// patch sends one chunk, at offset u.sent.
func (u *blobUpload) patch(chunk []byte) error {
	start := u.sent
	end := start + int64(len(chunk)) - 1
	req, err := runtime.NewRequest(u.ctx, http.MethodPatch, u.loc.String())
	if err != nil {
		return err
	}
	withScopes(req, u.scopes...)
	req.Raw().Header.Set("Accept", "application/json")
	req.Raw().Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, end))
	// A seekable body: the retry and authentication policies rewind it to resend the
	// chunk from the buffer.
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(chunk)), "application/octet-stream"); err != nil {
		return err
	}
	resp, err := u.c.pl.Do(req)
	if err != nil {
		return fmt.Errorf("upload bytes %d-%d: %w", start, end, err)
	}
	switch {
	case runtime.HasStatusCode(resp, http.StatusAccepted, http.StatusNoContent):
		// 202 is the standard answer; some registries (older go-containerregistry
		// releases) answer 204, which means the same.
		drainAndClose(resp)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The registry disagrees about the offset. That happens when a retry resent a
		// chunk the registry had already stored (its answer was lost): if the
		// registry holds exactly up to this chunk's end, the chunk is in.
		rerr := newResponseError(resp)
		if !u.holds(end + 1) {
			return fmt.Errorf("upload bytes %d-%d: %w", start, end, rerr)
		}
		u.sent = end + 1
		return nil
	default:
		return fmt.Errorf("upload bytes %d-%d: %w", start, end, newResponseError(resp))
	}
	if err := u.follow(resp); err != nil {
		return fmt.Errorf("upload bytes %d-%d: %w", start, end, err)
	}
	u.sent = end + 1
	return nil
}

// holds asks the registry how much of the session it has and reports whether that
// is exactly size bytes, following the session's new Location.
func (u *blobUpload) holds(size int64) bool {
	resp, err := send(u.ctx, u.c.pl, http.MethodGet, u.loc.String(), u.scopes, nil, "", false, http.StatusNoContent)
	if err != nil {
		return false
	}
	drainAndClose(resp)
	_, last, ok := strings.Cut(strings.TrimPrefix(resp.Header.Get("Range"), "bytes="), "-")
	n, perr := strconv.ParseInt(last, 10, 64)
	// "0-0" means both "nothing" and "one byte", so a size of 1 cannot be confirmed.
	if !ok || perr != nil || n+1 != size || size < 2 {
		return false
	}
	return u.follow(resp) == nil
}

// finish checks what was read and sends the completing PUT with the last chunk.
func (u *blobUpload) finish(last []byte) (UploadBlobResponse, error) {
	var res UploadBlobResponse
	size := u.sent + int64(len(last))
	got := digest.NewDigest(u.alg, u.h)
	if u.opts.Digest != "" && string(got) != u.opts.Digest {
		return res, fmt.Errorf("content is %s, expected %s: %w", got, u.opts.Digest, ErrMismatchedHash)
	}
	if u.opts.Size > 0 && size != u.opts.Size {
		return res, fmt.Errorf("blob is %d bytes, declared size %d", size, u.opts.Size)
	}
	target := *u.loc
	q := target.Query()
	q.Set("digest", string(got))
	target.RawQuery = q.Encode()
	req, err := runtime.NewRequest(u.ctx, http.MethodPut, target.String())
	if err != nil {
		return res, err
	}
	withScopes(req, u.scopes...)
	req.Raw().Header.Set("Accept", "application/json")
	if len(last) > 0 {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(last)), "application/octet-stream"); err != nil {
			return res, err
		}
	}
	resp, err := u.c.pl.Do(req)
	if err == nil && !runtime.HasStatusCode(resp, http.StatusCreated) {
		err = newResponseError(resp)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && u.stored(got) {
			// A retry of a PUT the registry had completed (its answer was lost) finds
			// the session gone; the blob being there is what the PUT was for.
			err, resp = nil, nil
		}
	}
	if err != nil {
		return res, fmt.Errorf("complete upload of %s: %w", got, err)
	}
	if resp != nil {
		drainAndClose(resp)
		if d := resp.Header.Get("Docker-Content-Digest"); d != "" && d != string(got) {
			return res, fmt.Errorf("registry stored %s, uploaded %s: %w", d, got, ErrMismatchedHash)
		}
	}
	u.sent = size
	u.progress(size) // the total is known now, even if it was not before
	return UploadBlobResponse{Digest: string(got), Size: size}, nil
}

// stored reports whether the repository holds blob d.
func (u *blobUpload) stored(d digest.Digest) bool {
	_, err := u.c.CheckBlobExists(u.ctx, u.name, string(d), nil)
	return err == nil
}

// cancel deletes the upload session so that the registry can free what it holds.
// It is best effort, and runs even when the caller's context is done.
func (u *blobUpload) cancel() {
	if u.loc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), cancelTimeout)
	defer cancel()
	resp, err := send(ctx, u.c.pl, http.MethodDelete, u.loc.String(), u.scopes, nil, "", false, http.StatusNoContent, http.StatusAccepted, http.StatusOK)
	if err == nil {
		drainAndClose(resp)
	}
}

// DownloadBlobOptions holds the optional parameters of BlobClient.DownloadBlob.
type DownloadBlobOptions struct {
	// Progress, if set, is called as bytes are read from the body.
	Progress Progress

	// MaxResumes is how many times a dropped connection is resumed with a Range
	// request; default 5, negative for never.
	MaxResumes int
}

// DownloadBlobResponse is the result of BlobClient.DownloadBlob.
type DownloadBlobResponse struct {
	// Body streams the blob. Read it to the end to validate it, and close it.
	Body io.ReadCloser
	// Size is the blob's size from Content-Length, or -1 if the registry did not say.
	Size int64
	// Digest is the digest the content is checked against.
	Digest string
}

// DownloadBlob streams blob digest from repository name.
//
// Body checks the content as it is read: at the end it returns an error wrapping
// ErrMismatchedHash instead of io.EOF if the content does not match digest (sha256
// or sha512), and an error if it is longer or shorter than Content-Length. When the
// connection drops mid-body, Body resumes where it stopped with a
// "Range: bytes=<offset>-<last>" request, up to MaxResumes times, so the caller sees
// one uninterrupted stream. Registries that redirect blob downloads to storage on
// another host (ACR does) work: the redirect is followed, and nothing depends on
// headers only the registry sends. Memory does not grow with the blob.
func (c *BlobClient) DownloadBlob(ctx context.Context, name string, digest string, options *DownloadBlobOptions) (DownloadBlobResponse, error) {
	var o DownloadBlobOptions
	if options != nil {
		o = *options
	}
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return DownloadBlobResponse{}, err
	}
	d, err := parseDigest(digest)
	if err != nil {
		return DownloadBlobResponse{}, fmt.Errorf("acr: download blob: %w", err)
	}
	h, _ := newHash(digest)
	switch {
	case o.MaxResumes == 0:
		o.MaxResumes = defaultMaxResumes
	case o.MaxResumes < 0:
		o.MaxResumes = 0
	}
	r := &blobReader{c: c, ctx: ctx, name: name, digest: d, h: h, opts: o}
	resp, err := r.get("")
	if err != nil {
		return DownloadBlobResponse{}, fmt.Errorf("acr: download blob %s@%s: %w", name, digest, err)
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return DownloadBlobResponse{}, fmt.Errorf("acr: download blob %s@%s: %w", name, digest, newResponseError(resp))
	}
	// A registry that names the content answers for it; storage behind a redirect
	// names nothing, and the content check at the end covers both.
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		drainAndClose(resp)
		return DownloadBlobResponse{}, fmt.Errorf("acr: download blob %s@%s: registry answered with %s: %w", name, digest, got, ErrMismatchedHash)
	}
	r.body, r.size = resp.Body, resp.ContentLength
	if r.size < 0 {
		r.size = -1
	}
	return DownloadBlobResponse{Body: r, Size: r.size, Digest: digest}, nil
}

// blobReader is DownloadBlob's Body: it hashes, counts, reports progress, resumes
// after dropped connections and validates at the end.
type blobReader struct {
	c      *BlobClient
	ctx    context.Context
	name   string
	digest digest.Digest
	h      hash.Hash
	opts   DownloadBlobOptions

	// mu guards body and closed only: Close may come from another goroutine to
	// abort a Read blocked on the network, so Read must not hold it while reading.
	mu     sync.Mutex
	body   io.ReadCloser
	closed bool

	// The reading goroutine's state.
	size    int64 // -1 if unknown
	offset  int64 // bytes returned so far
	resumes int
	err     error // sticky: io.EOF after validation, or the failure
}

var errBodyClosed = errors.New("acr: read on closed blob body")

// current returns the body to read from, or errBodyClosed.
func (r *blobReader) current() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errBodyClosed
	}
	return r.body, nil
}

// get sends a GET for the blob, with rangeHeader if not empty.
func (r *blobReader) get(rangeHeader string) (*http.Response, error) {
	req, err := runtime.NewRequest(r.ctx, http.MethodGet, r.c.blobURL(r.name, string(r.digest)))
	if err != nil {
		return nil, err
	}
	withScopes(req, repoScope(r.name, "pull"))
	req.Raw().Header.Set("Accept", "application/octet-stream")
	if rangeHeader != "" {
		req.Raw().Header.Set("Range", rangeHeader)
	}
	runtime.SkipBodyDownload(req)
	return r.c.pl.Do(req)
}

// Read implements io.Reader.
func (r *blobReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		body, err := r.current()
		if err != nil {
			return 0, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		n, err := body.Read(p)
		if r.size >= 0 && r.offset+int64(n) > r.size {
			r.err = fmt.Errorf("acr: blob %s is longer than its Content-Length %d", r.digest, r.size)
			return 0, r.err
		}
		r.h.Write(p[:n])
		r.offset += int64(n)
		if n > 0 && r.opts.Progress != nil {
			r.opts.Progress(r.offset, r.size)
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && (r.size < 0 || r.offset == r.size):
			r.err = r.validate()
			return n, r.err
		}
		// The body ended early or broke: resume from where it stopped, unless the
		// caller stopped it.
		if _, cerr := r.current(); cerr != nil {
			return n, cerr
		}
		if cerr := r.ctx.Err(); cerr != nil {
			r.err = fmt.Errorf("acr: download blob %s: %w", r.digest, cerr)
			return n, r.err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if r.resumes >= r.opts.MaxResumes {
			r.err = fmt.Errorf("acr: download blob %s: connection lost at byte %d of %d after %d resumes: %w", r.digest, r.offset, r.size, r.resumes, err)
			return n, r.err
		}
		r.resumes++
		if rerr := r.resume(); rerr != nil {
			r.err = fmt.Errorf("acr: download blob %s: resume at byte %d after %v: %w", r.digest, r.offset, err, rerr)
			return n, r.err
		}
		if n > 0 {
			return n, nil
		}
	}
}

// validate compares the content read with the digest, at the end of the body.
func (r *blobReader) validate() error {
	if got := digest.NewDigest(r.digest.Algorithm(), r.h); got != r.digest {
		return fmt.Errorf("acr: downloaded content is %s, expected %s: %w", got, r.digest, ErrMismatchedHash)
	}
	return io.EOF
}

// resume replaces the broken body with the rest of the blob from r.offset. The
// range is closed when the size is known: some registries (go-containerregistry's)
// understand only "bytes=a-b", and every server that understands "a-" understands it.
func (r *blobReader) resume() error {
	if body, err := r.current(); err == nil {
		body.Close() // free the broken connection before opening another
	}
	rng := fmt.Sprintf("bytes=%d-", r.offset)
	if r.size >= 0 {
		rng = fmt.Sprintf("bytes=%d-%d", r.offset, r.size-1)
	}
	resp, err := r.get(rng)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != r.offset || (r.size >= 0 && total >= 0 && total != r.size) {
			drainAndClose(resp)
			return fmt.Errorf("unexpected Content-Range %q for %s", resp.Header.Get("Content-Range"), rng)
		}
		if r.size < 0 && total >= 0 {
			r.size = total
		}
	case http.StatusOK:
		// Range is optional for servers: this one sent the whole blob again. Skip
		// what was read already (it was hashed the first time).
		if r.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != r.size {
			drainAndClose(resp)
			return fmt.Errorf("blob is now %d bytes, was %d", resp.ContentLength, r.size)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, r.offset); err != nil {
			resp.Body.Close()
			return fmt.Errorf("skip %d bytes already read: %w", r.offset, err)
		}
	default:
		return newResponseError(resp)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		resp.Body.Close()
		return errBodyClosed
	}
	r.body = resp.Body
	return nil
}

// parseContentRange parses "bytes start-end/total" (total may be "*", returned as -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	start, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if !found || err != nil {
		return 0, 0, false
	}
	total = -1
	if tot = strings.TrimSpace(tot); tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

// Close implements io.Closer.
func (r *blobReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.body.Close()
}
