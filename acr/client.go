package acr

import (
	"bytes"
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
	"github.com/opencontainers/go-digest"
)

// Client reads and changes a registry's repositories, tags and manifests. Create it
// with NewClient; it is safe for concurrent use.
type Client struct {
	endpoint string
	pl       runtime.Pipeline
}

// NewClient returns a client for the registry at endpoint ("https://myregistry.azurecr.io",
// or "http://127.0.0.1:5000" for a local registry). credential may be any azidentity
// credential (exchanged for ACR tokens), a registry credential from
// NewBasicCredential or NewRefreshTokenCredential, or nil for anonymous access.
// options may be nil.
func NewClient(endpoint string, credential azcore.TokenCredential, options *ClientOptions) (*Client, error) {
	e, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var o *azcore.ClientOptions
	if options != nil {
		o = &options.ClientOptions
	}
	return &Client{endpoint: e, pl: newPipelines(credential, o, false)}, nil
}

// escapeName escapes a repository name for a URL path: each component on its own,
// so "library/hello" stays two segments, which every registry understands.
func escapeName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func required(name, value string) error {
	if value == "" {
		return fmt.Errorf("parameter %s cannot be empty", name)
	}
	return nil
}

// acrURL builds an /acr/v1 URL with api-version.
func (c *Client) acrURL(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", apiVersion)
	return c.endpoint + "/acr/v1/" + path + "?" + q.Encode()
}

// send builds and sends a request; it returns an error for statuses not in ok.
func send(ctx context.Context, pl runtime.Pipeline, method, target string, scopes []string, body io.ReadSeekCloser, contentType string, stream bool, ok ...int) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, target)
	if err != nil {
		return nil, err
	}
	withScopes(req, scopes...)
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := req.SetBody(body, contentType); err != nil {
			return nil, err
		}
	}
	if stream {
		runtime.SkipBodyDownload(req)
	}
	resp, err := pl.Do(req)
	if err != nil {
		return nil, err
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return nil, newResponseError(resp)
	}
	return resp, nil
}

func jsonBody(v any) (io.ReadSeekCloser, error) {
	b, err := jsonMarshal(v)
	if err != nil {
		return nil, err
	}
	return streaming.NopCloser(bytes.NewReader(b)), nil
}

// DeleteManifest deletes a manifest by digest, with the tags that point at it.
// Deleting a manifest that does not exist succeeds.
//
// digest may also be a tag, which the official SDK does not allow: the tag is
// resolved with ResolveManifest (a HEAD request, so it works on any registry) and
// the manifest it names is deleted, with every tag that points at it. To remove
// only the tag, use DeleteTag. A tag that does not exist is a manifest that does
// not exist: deleting it succeeds.
func (c *Client) DeleteManifest(ctx context.Context, name string, digest string, options *ClientDeleteManifestOptions) (ClientDeleteManifestResponse, error) {
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return ClientDeleteManifestResponse{}, err
	}
	if !isDigestRef(digest) {
		desc, err := c.ResolveManifest(ctx, name, digest)
		if isNotFound(err) {
			return ClientDeleteManifestResponse{}, nil
		}
		if err != nil {
			return ClientDeleteManifestResponse{}, err
		}
		digest = string(desc.Digest)
	}
	_, err := send(ctx, c.pl, http.MethodDelete, c.endpoint+"/v2/"+escapeName(name)+"/manifests/"+url.PathEscape(digest),
		[]string{repoScope(name, "delete")}, nil, "", false, http.StatusAccepted, http.StatusNotFound)
	return ClientDeleteManifestResponse{}, err
}

// DeleteRepository deletes a repository with everything in it. Deleting a repository
// that does not exist succeeds.
func (c *Client) DeleteRepository(ctx context.Context, name string, options *ClientDeleteRepositoryOptions) (ClientDeleteRepositoryResponse, error) {
	if err := required("name", name); err != nil {
		return ClientDeleteRepositoryResponse{}, err
	}
	_, err := send(ctx, c.pl, http.MethodDelete, c.acrURL(escapeName(name), nil),
		[]string{repoScope(name, "delete")}, nil, "", false, http.StatusAccepted, http.StatusNotFound)
	return ClientDeleteRepositoryResponse{}, err
}

// DeleteTag deletes a tag; the manifest stays. Deleting a tag that does not exist
// succeeds.
func (c *Client) DeleteTag(ctx context.Context, name string, tag string, options *ClientDeleteTagOptions) (ClientDeleteTagResponse, error) {
	if err := errors.Join(required("name", name), required("tag", tag)); err != nil {
		return ClientDeleteTagResponse{}, err
	}
	_, err := send(ctx, c.pl, http.MethodDelete, c.acrURL(escapeName(name)+"/_tags/"+url.PathEscape(tag), nil),
		[]string{repoScope(name, "delete")}, nil, "", false, http.StatusAccepted, http.StatusNotFound)
	return ClientDeleteTagResponse{}, err
}

// manifestAccept is what GetManifest accepts when the caller names no media type:
// every manifest type, so that any registry serves what it has.
var manifestAccept = []string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.artifact.manifest.v1+json",
}

// GetManifest gets a manifest by tag or digest. Close ManifestData when done. When
// read to the end, ManifestData checks the content against the digest the registry
// reports and, for a digest reference, the digest asked for, and fails with
// ErrMismatchedHash otherwise. Manifests are capped at 4 MiB.
func (c *Client) GetManifest(ctx context.Context, name string, reference string, options *ClientGetManifestOptions) (ClientGetManifestResponse, error) {
	if err := errors.Join(required("name", name), required("reference", reference)); err != nil {
		return ClientGetManifestResponse{}, err
	}
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.endpoint+"/v2/"+escapeName(name)+"/manifests/"+url.PathEscape(reference))
	if err != nil {
		return ClientGetManifestResponse{}, err
	}
	withScopes(req, repoScope(name, "pull"))
	accept := strings.Join(manifestAccept, ", ")
	if options != nil && options.Accept != nil {
		accept = *options.Accept
	}
	req.Raw().Header.Set("Accept", accept)
	runtime.SkipBodyDownload(req)
	resp, err := c.pl.Do(req)
	if err != nil {
		return ClientGetManifestResponse{}, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return ClientGetManifestResponse{}, newResponseError(resp)
	}
	out := ClientGetManifestResponse{ManifestData: resp.Body}
	var want []digest.Digest
	if d := resp.Header.Get("Docker-Content-Digest"); d != "" {
		out.DockerContentDigest = &d
		want = append(want, digest.Digest(d))
	}
	if d, err := digest.Parse(reference); err == nil {
		want = append(want, d)
	}
	out.ManifestData = newVerifyingReader(io.LimitReader(resp.Body, maxManifestSize+1), resp.Body, want, maxManifestSize)
	return out, nil
}

// tagDigest resolves a tag to its digest; a digest is returned as it is.
func (c *Client) tagDigest(ctx context.Context, name, tagOrDigest string) (string, error) {
	if strings.Contains(tagOrDigest, ":") {
		return tagOrDigest, nil
	}
	t, err := c.GetTagProperties(ctx, name, tagOrDigest, nil)
	if err != nil {
		return "", err
	}
	if t.Tag == nil || t.Tag.Digest == nil {
		return "", fmt.Errorf("acr: tag %s:%s has no digest", name, tagOrDigest)
	}
	return *t.Tag.Digest, nil
}

// GetManifestProperties gets a manifest's properties. digest may also be a tag.
func (c *Client) GetManifestProperties(ctx context.Context, name string, digest string, options *ClientGetManifestPropertiesOptions) (ClientGetManifestPropertiesResponse, error) {
	var out ClientGetManifestPropertiesResponse
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return out, err
	}
	d, err := c.tagDigest(ctx, name, digest)
	if err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodGet, c.acrURL(escapeName(name)+"/_manifests/"+url.PathEscape(d), nil),
		[]string{repoScope(name, "metadata_read")}, nil, "", false, http.StatusOK)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ArtifactManifestProperties)
	return out, err
}

// GetRepositoryProperties gets a repository's properties.
func (c *Client) GetRepositoryProperties(ctx context.Context, name string, options *ClientGetRepositoryPropertiesOptions) (ClientGetRepositoryPropertiesResponse, error) {
	var out ClientGetRepositoryPropertiesResponse
	if err := required("name", name); err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodGet, c.acrURL(escapeName(name), nil),
		[]string{repoScope(name, "metadata_read")}, nil, "", false, http.StatusOK)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ContainerRepositoryProperties)
	return out, err
}

// GetTagProperties gets a tag's properties.
func (c *Client) GetTagProperties(ctx context.Context, name string, tag string, options *ClientGetTagPropertiesOptions) (ClientGetTagPropertiesResponse, error) {
	var out ClientGetTagPropertiesResponse
	if err := errors.Join(required("name", name), required("tag", tag)); err != nil {
		return out, err
	}
	resp, err := send(ctx, c.pl, http.MethodGet, c.acrURL(escapeName(name)+"/_tags/"+url.PathEscape(tag), nil),
		[]string{repoScope(name, "metadata_read")}, nil, "", false, http.StatusOK)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ArtifactTagProperties)
	return out, err
}

func pageQuery(last *string, n *int32) url.Values {
	q := url.Values{}
	if last != nil {
		q.Set("last", *last)
	}
	if n != nil {
		q.Set("n", strconv.FormatInt(int64(*n), 10))
	}
	return q
}

// NewListManifestsPager lists a repository's manifests, page by page.
func (c *Client) NewListManifestsPager(name string, options *ClientListManifestsOptions) *runtime.Pager[ClientListManifestsResponse] {
	q := url.Values{}
	if options != nil {
		q = pageQuery(options.Last, options.MaxNum)
		if options.OrderBy != nil {
			q.Set("orderby", string(*options.OrderBy))
		}
	}
	return pageFetcher[ClientListManifestsResponse]{
		pl: c.pl, first: c.acrURL(escapeName(name)+"/_manifests", q), scopes: []string{repoScope(name, "metadata_read")},
		decode: func(resp *http.Response) (ClientListManifestsResponse, error) {
			var page ClientListManifestsResponse
			if err := runtime.UnmarshalAsJSON(resp, &page.Manifests); err != nil {
				return page, err
			}
			var err error
			page.Link, err = linkOf(resp)
			return page, err
		},
		getLink: func(p ClientListManifestsResponse) *string { return p.Link },
	}.pager()
}

// NewListRepositoriesPager lists the registry's repositories, page by page.
func (c *Client) NewListRepositoriesPager(options *ClientListRepositoriesOptions) *runtime.Pager[ClientListRepositoriesResponse] {
	q := url.Values{}
	if options != nil {
		q = pageQuery(options.Last, options.MaxNum)
	}
	return pageFetcher[ClientListRepositoriesResponse]{
		pl: c.pl, first: c.acrURL("_catalog", q), scopes: []string{"registry:catalog:*"},
		decode: func(resp *http.Response) (ClientListRepositoriesResponse, error) {
			var page ClientListRepositoriesResponse
			if err := runtime.UnmarshalAsJSON(resp, &page.Repositories); err != nil {
				return page, err
			}
			var err error
			page.Link, err = linkOf(resp)
			return page, err
		},
		getLink: func(p ClientListRepositoriesResponse) *string { return p.Link },
	}.pager()
}

// NewListTagsPager lists a repository's tags, page by page.
func (c *Client) NewListTagsPager(name string, options *ClientListTagsOptions) *runtime.Pager[ClientListTagsResponse] {
	q := url.Values{}
	if options != nil {
		q = pageQuery(options.Last, options.MaxNum)
		if options.OrderBy != nil {
			q.Set("orderby", string(*options.OrderBy))
		}
		if options.Digest != nil {
			q.Set("digest", *options.Digest)
		}
	}
	return pageFetcher[ClientListTagsResponse]{
		pl: c.pl, first: c.acrURL(escapeName(name)+"/_tags", q), scopes: []string{repoScope(name, "metadata_read")},
		decode: func(resp *http.Response) (ClientListTagsResponse, error) {
			var page ClientListTagsResponse
			if err := runtime.UnmarshalAsJSON(resp, &page.TagList); err != nil {
				return page, err
			}
			var err error
			page.Link, err = linkOf(resp)
			return page, err
		},
		getLink: func(p ClientListTagsResponse) *string { return p.Link },
	}.pager()
}

// UpdateManifestProperties changes a manifest's changeable attributes. digest may
// also be a tag.
func (c *Client) UpdateManifestProperties(ctx context.Context, name string, digest string, options *ClientUpdateManifestPropertiesOptions) (ClientUpdateManifestPropertiesResponse, error) {
	var out ClientUpdateManifestPropertiesResponse
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return out, err
	}
	d, err := c.tagDigest(ctx, name, digest)
	if err != nil {
		return out, err
	}
	var value any
	if options != nil && options.Value != nil {
		value = options.Value
	}
	resp, err := c.patch(ctx, c.acrURL(escapeName(name)+"/_manifests/"+url.PathEscape(d), nil), name, value)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ArtifactManifestProperties)
	return out, err
}

func (c *Client) patch(ctx context.Context, target, name string, value any) (*http.Response, error) {
	var body io.ReadSeekCloser
	if value != nil {
		var err error
		if body, err = jsonBody(value); err != nil {
			return nil, err
		}
	}
	return send(ctx, c.pl, http.MethodPatch, target, []string{repoScope(name, "metadata_write")}, body, "application/json", false, http.StatusOK)
}

// UpdateRepositoryProperties changes a repository's changeable attributes.
func (c *Client) UpdateRepositoryProperties(ctx context.Context, name string, options *ClientUpdateRepositoryPropertiesOptions) (ClientUpdateRepositoryPropertiesResponse, error) {
	var out ClientUpdateRepositoryPropertiesResponse
	if err := required("name", name); err != nil {
		return out, err
	}
	var value any
	if options != nil && options.Value != nil {
		value = options.Value
	}
	resp, err := c.patch(ctx, c.acrURL(escapeName(name), nil), name, value)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ContainerRepositoryProperties)
	return out, err
}

// UpdateTagProperties changes a tag's changeable attributes.
func (c *Client) UpdateTagProperties(ctx context.Context, name string, tag string, options *ClientUpdateTagPropertiesOptions) (ClientUpdateTagPropertiesResponse, error) {
	var out ClientUpdateTagPropertiesResponse
	if err := errors.Join(required("name", name), required("tag", tag)); err != nil {
		return out, err
	}
	var value any
	if options != nil && options.Value != nil {
		value = options.Value
	}
	resp, err := c.patch(ctx, c.acrURL(escapeName(name)+"/_tags/"+url.PathEscape(tag), nil), name, value)
	if err != nil {
		return out, err
	}
	err = runtime.UnmarshalAsJSON(resp, &out.ArtifactTagProperties)
	return out, err
}

// UploadManifest uploads a manifest under a tag or its digest. The manifest is read
// once (it may be at most 4 MiB) so that its digest can be checked against the one
// the registry reports.
func (c *Client) UploadManifest(ctx context.Context, name string, reference string, contentType ContentType, manifestData io.ReadSeekCloser, options *ClientUploadManifestOptions) (ClientUploadManifestResponse, error) {
	var out ClientUploadManifestResponse
	if err := errors.Join(required("name", name), required("reference", reference)); err != nil {
		return out, err
	}
	var body []byte
	if manifestData != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(manifestData, maxManifestSize+1))
		manifestData.Close()
		if err != nil {
			return out, fmt.Errorf("read manifest: %w", err)
		}
		if len(body) > maxManifestSize {
			return out, fmt.Errorf("acr: manifest is larger than %d bytes", maxManifestSize)
		}
	}
	resp, err := send(ctx, c.pl, http.MethodPut, c.endpoint+"/v2/"+escapeName(name)+"/manifests/"+url.PathEscape(reference),
		[]string{repoScope(name, "pull,push")}, streaming.NopCloser(bytes.NewReader(body)), string(contentType), false, http.StatusCreated)
	if err != nil {
		return out, err
	}
	defer drainAndClose(resp)
	if v := resp.Header.Get("Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			out.ContentLength = &n
		}
	}
	if v := resp.Header.Get("Location"); v != "" {
		out.Location = &v
	}
	if v := resp.Header.Get("Docker-Content-Digest"); v != "" {
		out.DockerContentDigest = &v
		if d, err := digest.Parse(v); err == nil && d.Algorithm().Available() && d.Algorithm().FromBytes(body) != d {
			return out, fmt.Errorf("acr: registry reports digest %s for the manifest: %w", v, ErrMismatchedHash)
		}
	}
	return out, nil
}
