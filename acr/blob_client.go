package acr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// BlobClient uploads, downloads and deletes blobs. Create it with NewBlobClient; it
// is safe for concurrent use.
type BlobClient struct {
	endpoint string
	base     *url.URL
	pl       runtime.Pipeline
}

// NewBlobClient returns a blob client for the registry at endpoint; see NewClient
// for endpoint and credential.
func NewBlobClient(endpoint string, credential azcore.TokenCredential, options *BlobClientOptions) (*BlobClient, error) {
	e, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(e)
	var o *azcore.ClientOptions
	if options != nil {
		o = &options.ClientOptions
	}
	return &BlobClient{endpoint: e, base: base, pl: newPipelines(credential, o, false)}, nil
}

// resolveLocation turns an upload Location (relative, with or without the leading
// slash, or absolute) into a URL on the registry.
func (c *BlobClient) resolveLocation(location string) (*url.URL, error) {
	if location == "" {
		return nil, errors.New("parameter location cannot be empty")
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("acr: invalid upload location %q: %w", location, err)
	}
	if !u.IsAbs() && !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	r := c.base.ResolveReference(u)
	if r.Scheme != "http" && r.Scheme != "https" {
		return nil, fmt.Errorf("acr: invalid upload location %q", location)
	}
	return r, nil
}

// uploadScopes derives the repository of an upload location for its token scope.
func uploadScopes(u *url.URL) []string {
	p := u.Path
	if i := strings.Index(p, "/blobs/uploads"); i > 0 && strings.HasPrefix(p, "/v2/") {
		name, err := url.PathUnescape(p[len("/v2/"):i])
		if err == nil {
			return []string{repoScope(name, "pull,push")}
		}
	}
	return nil
}

func headerPtr(resp *http.Response, name string) *string {
	if v := resp.Header.Get(name); v != "" {
		return &v
	}
	return nil
}

func contentLength(resp *http.Response) *int64 {
	if v := resp.Header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return &n
		}
	}
	if resp.ContentLength >= 0 {
		n := resp.ContentLength
		return &n
	}
	return nil
}

func (c *BlobClient) blobURL(name, dgst string) string {
	return c.endpoint + "/v2/" + escapeName(name) + "/blobs/" + url.PathEscape(dgst)
}

// CancelUpload cancels an upload and discards what it received.
func (c *BlobClient) CancelUpload(ctx context.Context, location string, options *BlobClientCancelUploadOptions) (BlobClientCancelUploadResponse, error) {
	u, err := c.resolveLocation(location)
	if err != nil {
		return BlobClientCancelUploadResponse{}, err
	}
	resp, err := send(ctx, c.pl, http.MethodDelete, u.String(), uploadScopes(u), nil, "", false, http.StatusNoContent)
	if err == nil {
		drainAndClose(resp)
	}
	return BlobClientCancelUploadResponse{}, err
}

// CheckBlobExists reports a blob's size and digest; a missing blob is a 404 error.
func (c *BlobClient) CheckBlobExists(ctx context.Context, name string, digest string, options *BlobClientCheckBlobExistsOptions) (BlobClientCheckBlobExistsResponse, error) {
	var out BlobClientCheckBlobExistsResponse
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodHead, c.blobURL(name, digest), []string{repoScope(name, "pull")}, nil, "", false, http.StatusOK)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.ContentLength, out.DockerContentDigest = contentLength(resp), headerPtr(resp, "Docker-Content-Digest")
	return out, nil
}

// CheckChunkExists checks a range of a blob (rangeParam such as "bytes=0-299").
func (c *BlobClient) CheckChunkExists(ctx context.Context, name string, digest string, rangeParam string, options *BlobClientCheckChunkExistsOptions) (BlobClientCheckChunkExistsResponse, error) {
	var out BlobClientCheckChunkExistsResponse
	if err := errors.Join(required("name", name), required("digest", digest), required("rangeParam", rangeParam)); err != nil {
		return out, err
	}
	req, err := runtime.NewRequest(ctx, http.MethodHead, c.blobURL(name, digest))
	if err != nil {
		return out, err
	}
	withScopes(req, repoScope(name, "pull"))
	req.Raw().Header.Set("Range", rangeParam)
	resp, err := c.pl.Do(req)
	if err != nil {
		return out, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusPartialContent) {
		return out, newResponseError(resp)
	}
	drainAndClose(resp)
	out.ContentLength, out.ContentRange = contentLength(resp), headerPtr(resp, "Content-Range")
	return out, nil
}

// CompleteUpload finishes an upload whose chunks went through UploadChunk with
// blobDigestCalculator, and checks the digest the registry reports.
func (c *BlobClient) CompleteUpload(ctx context.Context, location string, blobDigestCalculator *BlobDigestCalculator, options *BlobClientCompleteUploadOptions) (BlobClientCompleteUploadResponse, error) {
	var out BlobClientCompleteUploadResponse
	if blobDigestCalculator == nil {
		return out, errors.New("parameter blobDigestCalculator cannot be nil")
	}
	u, err := c.resolveLocation(location)
	if err != nil {
		return out, err
	}
	want := blobDigestCalculator.digest()
	q := u.Query()
	q.Set("digest", string(want))
	u.RawQuery = q.Encode()
	resp, err := send(ctx, c.pl, http.MethodPut, u.String(), uploadScopes(u), nil, "", false, http.StatusCreated)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.DockerContentDigest, out.Location, out.Range = headerPtr(resp, "Docker-Content-Digest"), headerPtr(resp, "Location"), headerPtr(resp, "Range")
	if out.DockerContentDigest != nil && *out.DockerContentDigest != string(want) {
		return out, fmt.Errorf("acr: registry stored %s, uploaded %s: %w", *out.DockerContentDigest, want, ErrMismatchedHash)
	}
	return out, nil
}

// DeleteBlob deletes a blob from a repository; a missing blob is a 404 error.
func (c *BlobClient) DeleteBlob(ctx context.Context, name string, digest string, options *BlobClientDeleteBlobOptions) (BlobClientDeleteBlobResponse, error) {
	var out BlobClientDeleteBlobResponse
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodDelete, c.blobURL(name, digest), []string{repoScope(name, "delete")}, nil, "", false, http.StatusAccepted)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.DockerContentDigest = headerPtr(resp, "Docker-Content-Digest")
	return out, nil
}

// GetBlob streams a blob. Close BlobData when done; wrap it in a
// DigestValidationReader to check it, or use DownloadBlob, which checks and resumes.
func (c *BlobClient) GetBlob(ctx context.Context, name string, digest string, options *BlobClientGetBlobOptions) (BlobClientGetBlobResponse, error) {
	var out BlobClientGetBlobResponse
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return out, err
	}
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.blobURL(name, digest))
	if err != nil {
		return out, err
	}
	withScopes(req, repoScope(name, "pull"))
	req.Raw().Header.Set("Accept", "application/octet-stream")
	runtime.SkipBodyDownload(req)
	resp, err := c.pl.Do(req)
	if err != nil {
		return out, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return out, newResponseError(resp)
	}
	out.BlobData, out.ContentLength, out.DockerContentDigest = resp.Body, contentLength(resp), headerPtr(resp, "Docker-Content-Digest")
	return out, nil
}

// GetChunk streams a range of a blob (rangeParam such as "bytes=0-4999").
func (c *BlobClient) GetChunk(ctx context.Context, name string, digest string, rangeParam string, options *BlobClientGetChunkOptions) (BlobClientGetChunkResponse, error) {
	var out BlobClientGetChunkResponse
	if err := errors.Join(required("name", name), required("digest", digest), required("rangeParam", rangeParam)); err != nil {
		return out, err
	}
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.blobURL(name, digest))
	if err != nil {
		return out, err
	}
	withScopes(req, repoScope(name, "pull"))
	req.Raw().Header.Set("Accept", "application/octet-stream")
	req.Raw().Header.Set("Range", rangeParam)
	runtime.SkipBodyDownload(req)
	resp, err := c.pl.Do(req)
	if err != nil {
		return out, err
	}
	if !runtime.HasStatusCode(resp, http.StatusPartialContent) {
		return out, newResponseError(resp)
	}
	out.ChunkData, out.ContentLength, out.ContentRange = resp.Body, contentLength(resp), headerPtr(resp, "Content-Range")
	return out, nil
}

// GetUploadStatus reports how much of an upload the registry holds.
func (c *BlobClient) GetUploadStatus(ctx context.Context, location string, options *BlobClientGetUploadStatusOptions) (BlobClientGetUploadStatusResponse, error) {
	var out BlobClientGetUploadStatusResponse
	u, err := c.resolveLocation(location)
	if err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodGet, u.String(), uploadScopes(u), nil, "", false, http.StatusNoContent)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.DockerUploadUUID, out.Range = headerPtr(resp, "Docker-Upload-UUID"), headerPtr(resp, "Range")
	return out, nil
}

// MountBlob links a blob from repository from into repository name without
// uploading it. If the registry cannot mount it, it answers with an upload session
// instead (Location set, DockerContentDigest nil).
func (c *BlobClient) MountBlob(ctx context.Context, name string, from string, mount string, options *BlobClientMountBlobOptions) (BlobClientMountBlobResponse, error) {
	var out BlobClientMountBlobResponse
	if err := errors.Join(required("name", name), required("from", from), required("mount", mount)); err != nil {
		return out, err
	}
	q := url.Values{"from": {from}, "mount": {mount}}
	resp, err := send(ctx, c.pl, http.MethodPost, c.endpoint+"/v2/"+escapeName(name)+"/blobs/uploads/?"+q.Encode(),
		[]string{repoScope(name, "pull,push"), repoScope(from, "pull")}, nil, "", false, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.DockerContentDigest, out.DockerUploadUUID, out.Location = headerPtr(resp, "Docker-Content-Digest"), headerPtr(resp, "Docker-Upload-UUID"), headerPtr(resp, "Location")
	if resp.StatusCode == http.StatusAccepted {
		out.DockerContentDigest = nil
	}
	return out, nil
}

// StartUpload opens an upload session in a repository.
func (c *BlobClient) StartUpload(ctx context.Context, name string, options *BlobClientStartUploadOptions) (BlobClientStartUploadResponse, error) {
	var out BlobClientStartUploadResponse
	if err := required("name", name); err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodPost, c.endpoint+"/v2/"+escapeName(name)+"/blobs/uploads/",
		[]string{repoScope(name, "pull,push")}, nil, "", false, http.StatusAccepted)
	if err != nil {
		return out, err
	}
	drainAndClose(resp)
	out.DockerUploadUUID, out.Location, out.Range = headerPtr(resp, "Docker-Upload-UUID"), headerPtr(resp, "Location"), headerPtr(resp, "Range")
	if out.Location == nil {
		return out, errNoLocation
	}
	return out, nil
}

// UploadChunk uploads chunkData (the whole seekable stream, from its start) as the
// next chunk of an upload, and adds it to blobDigestCalculator. The chunk is hashed
// before it is sent, so transport retries cannot corrupt the digest; if the request
// fails, the calculator is rolled back and the chunk can be sent again. Without
// RangeStart and RangeEnd the chunk's 64-bit range is computed from the calculator.
func (c *BlobClient) UploadChunk(ctx context.Context, location string, chunkData io.ReadSeeker, blobDigestCalculator *BlobDigestCalculator, options *BlobClientUploadChunkOptions) (BlobClientUploadChunkResponse, error) {
	var out BlobClientUploadChunkResponse
	if blobDigestCalculator == nil {
		return out, errors.New("parameter blobDigestCalculator cannot be nil")
	}
	if chunkData == nil {
		return out, errors.New("parameter chunkData cannot be nil")
	}
	u, err := c.resolveLocation(location)
	if err != nil {
		return out, err
	}
	if _, err := chunkData.Seek(0, io.SeekStart); err != nil {
		return out, fmt.Errorf("rewind chunk: %w", err)
	}
	state, start := blobDigestCalculator.snapshot()
	n, err := io.Copy(blobDigestCalculator.h, chunkData)
	if err != nil {
		blobDigestCalculator.restore(state, start)
		return out, fmt.Errorf("read chunk: %w", err)
	}
	blobDigestCalculator.size += n
	if _, err := chunkData.Seek(0, io.SeekStart); err != nil {
		blobDigestCalculator.restore(state, start)
		return out, fmt.Errorf("rewind chunk: %w", err)
	}
	req, err := runtime.NewRequest(ctx, http.MethodPatch, u.String())
	if err == nil {
		withScopes(req, uploadScopes(u)...)
		req.Raw().Header.Set("Accept", "application/json")
		switch {
		case options != nil && options.RangeStart != nil && options.RangeEnd != nil:
			req.Raw().Header.Set("Content-Range", fmt.Sprintf("%d-%d", *options.RangeStart, *options.RangeEnd))
		case n > 0:
			req.Raw().Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
		}
		err = req.SetBody(streaming.NopCloser(chunkData), "application/octet-stream")
	}
	var resp *http.Response
	if err == nil {
		resp, err = c.pl.Do(req)
	}
	if err == nil && !runtime.HasStatusCode(resp, http.StatusAccepted) {
		err = newResponseError(resp)
	}
	if err != nil {
		blobDigestCalculator.restore(state, start)
		return out, err
	}
	drainAndClose(resp)
	out.DockerUploadUUID, out.Location, out.Range = headerPtr(resp, "Docker-Upload-UUID"), headerPtr(resp, "Location"), headerPtr(resp, "Range")
	if out.Location == nil {
		return out, errNoLocation
	}
	return out, nil
}
