package acr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The Docker media types that map onto the OCI types: a Docker image manifest has
// the shape of an OCI image manifest, a manifest list that of an OCI index.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isImageManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

// isDigestRef tells a digest from a tag: tags cannot contain a colon.
func isDigestRef(reference string) bool { return strings.Contains(reference, ":") }

// SetManifestOptions holds the optional parameters of Client.SetManifest.
type SetManifestOptions struct {
	// Tag is the tag to set on the manifest. Without Tag and Tags the manifest is
	// stored under its digest only.
	Tag string

	// Tags are more tags to set. Registries that support the OCI ?tag= parameters
	// set them all with the one upload; for the others, each tag they did not
	// confirm with an OCI-Tag header is set with an upload of its own.
	Tags []string

	// MediaType is the manifest's media type, sent as Content-Type. It is needed for
	// raw manifests that do not name their type in a mediaType field; for typed
	// manifests it defaults to their MediaType field, and must not contradict it.
	MediaType string
}

// SetManifestResponse is the result of Client.SetManifest.
type SetManifestResponse struct {
	// Digest is the manifest's digest, computed locally and confirmed by the
	// registry when it reports one.
	Digest string

	// MediaType is the media type the manifest was uploaded with.
	MediaType string

	// Size is the length of the uploaded manifest in bytes, so that a descriptor of
	// it can be built without fetching it back.
	Size int64

	// Subject is the digest in the registry's OCI-Subject header: set when the
	// manifest has a subject and the registry indexed it for the referrers API.
	Subject string
}

// SetManifest uploads a manifest and returns its digest. manifest is an
// ocispec.Manifest or ocispec.Index (or a pointer to one), used for Docker image
// manifests and manifest lists as well by setting MediaType, or the exact bytes to
// upload as []byte or json.RawMessage.
//
// A typed manifest whose SchemaVersion or MediaType is zero is sent with
// schemaVersion 2 and its media type filled in (the caller's value is not
// changed), because registries reject the one and may not infer the other. Raw
// bytes are sent unchanged, so that their digest is the one the caller computed.
//
// The digest is computed locally; the manifest is stored under the tags in
// options, or under that digest when there are none, and the digest the registry
// reports must match it (ErrMismatchedHash otherwise). Manifests are capped at
// 4 MiB, as in ACR.
//
// When the manifest has a subject and the registry does not confirm it with an
// OCI-Subject header, and it has no referrers API either, the manifest is added to
// the subject's referrers tag (the OCI fallback, see ListReferrers) so that it can
// still be found. That read-modify-write of the tag is not atomic: referrers of the
// same subject pushed concurrently to such a registry may lose one another.
func (c *Client) SetManifest(ctx context.Context, name string, manifest any, options *SetManifestOptions) (SetManifestResponse, error) {
	var o SetManifestOptions
	if options != nil {
		o = *options
	}
	var out SetManifestResponse
	if err := required("name", name); err != nil {
		return out, err
	}
	content, mediaType, err := encodeManifest(manifest, o.MediaType)
	if err != nil {
		return out, fmt.Errorf("set manifest %s: %w", name, err)
	}
	if len(content) > maxManifestSize {
		return out, fmt.Errorf("set manifest %s: manifest is %d bytes, more than the %d allowed", name, len(content), maxManifestSize)
	}
	d := digest.FromBytes(content)
	out = SetManifestResponse{Digest: string(d), MediaType: mediaType, Size: int64(len(content))}

	var tags []string
	for _, t := range append([]string{o.Tag}, o.Tags...) {
		if t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	var subject string
	switch len(tags) {
	case 0, 1:
		ref := string(d)
		if len(tags) == 1 {
			ref = tags[0]
		}
		put, err := c.putManifest(ctx, name, ref, nil, content, mediaType, d)
		if err != nil {
			return out, fmt.Errorf("set manifest %s:%s: %w", name, ref, err)
		}
		subject = put.subject
	default:
		// One upload by digest with every tag as a ?tag= parameter (OCI distribution
		// spec); registries that ignore the parameters confirm no tag, and get one
		// upload per tag instead.
		put, err := c.putManifest(ctx, name, string(d), tags, content, mediaType, d)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
			// A registry that refuses the parameters rather than ignoring them.
			put, err = c.putManifest(ctx, name, string(d), nil, content, mediaType, d)
		}
		if err != nil {
			return out, fmt.Errorf("set manifest %s@%s: %w", name, d, err)
		}
		subject = put.subject
		for _, t := range tags {
			if slices.Contains(put.tags, t) {
				continue
			}
			if _, err := c.putManifest(ctx, name, t, nil, content, mediaType, d); err != nil {
				return out, fmt.Errorf("set manifest %s:%s: %w", name, t, err)
			}
		}
	}
	out.Subject = subject
	if subject == "" {
		if err := c.indexReferrerFallback(ctx, name, content, ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}); err != nil {
			return out, fmt.Errorf("set manifest %s@%s: %w", name, d, err)
		}
	}
	return out, nil
}

// encodeManifest returns the bytes and media type to upload for a manifest given
// to SetManifest.
func encodeManifest(manifest any, mediaType string) ([]byte, string, error) {
	switch m := manifest.(type) {
	case []byte:
		return rawManifest(m, mediaType)
	case json.RawMessage:
		return rawManifest(m, mediaType)
	case *ocispec.Manifest:
		if m == nil {
			return nil, "", errors.New("manifest is nil")
		}
		return encodeManifest(*m, mediaType)
	case *ocispec.Index:
		if m == nil {
			return nil, "", errors.New("manifest is nil")
		}
		return encodeManifest(*m, mediaType)
	case ocispec.Manifest:
		mt, err := typedMediaType(m.MediaType, mediaType, ocispec.MediaTypeImageManifest)
		if err != nil {
			return nil, "", err
		}
		m.MediaType = mt
		m.Versioned = defaultVersion(m.Versioned)
		b, err := json.Marshal(m)
		return b, mt, err
	case ocispec.Index:
		mt, err := typedMediaType(m.MediaType, mediaType, ocispec.MediaTypeImageIndex)
		if err != nil {
			return nil, "", err
		}
		m.MediaType = mt
		m.Versioned = defaultVersion(m.Versioned)
		b, err := json.Marshal(m)
		return b, mt, err
	case nil:
		return nil, "", errors.New("manifest is nil")
	}
	return nil, "", fmt.Errorf("manifest of type %T: want ocispec.Manifest, ocispec.Index, []byte or json.RawMessage", manifest)
}

func defaultVersion(v specs.Versioned) specs.Versioned {
	if v.SchemaVersion == 0 {
		v.SchemaVersion = 2
	}
	return v
}

func typedMediaType(field, option, def string) (string, error) {
	switch {
	case field != "" && option != "" && field != option:
		return "", fmt.Errorf("media type %q contradicts the manifest's mediaType %q", option, field)
	case field != "":
		return field, nil
	case option != "":
		return option, nil
	}
	return def, nil
}

// rawManifest works out the media type of raw manifest bytes: the caller's, else
// the document's mediaType field, else inferred from its shape as the OCI image
// spec allows (manifests and no config make an index).
func rawManifest(b []byte, mediaType string) ([]byte, string, error) {
	if len(b) == 0 {
		return nil, "", errors.New("manifest is empty")
	}
	if mediaType != "" {
		return b, mediaType, nil
	}
	var doc struct {
		MediaType string          `json:"mediaType"`
		Config    json.RawMessage `json:"config"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, "", fmt.Errorf("manifest is not JSON and options.MediaType is empty: %w", err)
	}
	switch {
	case doc.MediaType != "":
		return b, doc.MediaType, nil
	case doc.Manifests != nil && doc.Config == nil:
		return b, ocispec.MediaTypeImageIndex, nil
	}
	return b, ocispec.MediaTypeImageManifest, nil
}

type putResult struct {
	subject string
	tags    []string // confirmed by OCI-Tag headers
}

// putManifest uploads content under reference (with ?tag= parameters for tags)
// and checks the digest the registry reports against want.
func (c *Client) putManifest(ctx context.Context, name, reference string, tags []string, content []byte, mediaType string, want digest.Digest) (putResult, error) {
	target := c.endpoint + "/v2/" + escapeName(name) + "/manifests/" + url.PathEscape(reference)
	if len(tags) > 0 {
		target += "?" + url.Values{"tag": tags}.Encode()
	}
	resp, err := send(ctx, c.pl, http.MethodPut, target, []string{repoScope(name, "pull,push")},
		streaming.NopCloser(bytes.NewReader(content)), mediaType, false, http.StatusCreated)
	if err != nil {
		return putResult{}, err
	}
	defer drainAndClose(resp)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != string(want) {
		return putResult{}, fmt.Errorf("registry reports digest %s, uploaded %s: %w", got, want, ErrMismatchedHash)
	}
	var out putResult
	out.subject = resp.Header.Get("OCI-Subject")
	for _, v := range resp.Header.Values("OCI-Tag") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out.tags = append(out.tags, t)
			}
		}
	}
	return out, nil
}

// FetchManifestOptions holds the optional parameters of Client.FetchManifest.
type FetchManifestOptions struct {
	// Platform selects, when the reference is an index or a manifest list, the
	// child manifest for this platform, which is then returned instead of the
	// index. Architectures and variants are normalised as container runtimes do:
	// "arm64" matches "arm64/v8", "arm" means "arm/v7" and accepts older variants
	// when nothing better is there, "aarch64" and "x86_64" are aliases, and an empty
	// variant accepts any. It has no effect when the reference is an image.
	Platform *ocispec.Platform
}

// FetchManifestResponse is the result of Client.FetchManifest.
type FetchManifestResponse struct {
	// Digest is the manifest's digest, checked against the content.
	Digest string

	// MediaType is the manifest's media type, from Content-Type or, when the
	// registry sends a generic one, from the document.
	MediaType string

	// Content is the manifest exactly as stored: the bytes Digest is computed over.
	Content []byte

	// Manifest is the decoded manifest when it is an OCI image manifest or a Docker
	// image manifest (schema 2), which has the same shape.
	Manifest *ocispec.Manifest

	// Index is the decoded index when it is an OCI index or a Docker manifest list,
	// which has the same shape.
	Index *ocispec.Index
}

// ErrNoMatchingPlatform is returned when an index has no manifest for the platform
// asked for.
var ErrNoMatchingPlatform = errors.New("no manifest matches the platform")

// maxIndexDepth bounds the descent through nested indexes when selecting a
// platform, so that a malicious registry cannot keep the client busy.
const maxIndexDepth = 4

// FetchManifest gets a manifest by tag or digest, reads it whole and decodes it.
// It accepts every manifest type, requires a Content-Length of at most 4 MiB, and
// checks the content against the digest the registry reports and, for a digest
// reference, the digest asked for (ErrMismatchedHash otherwise). With
// options.Platform it resolves an index to the manifest for that platform.
func (c *Client) FetchManifest(ctx context.Context, name, reference string, options *FetchManifestOptions) (FetchManifestResponse, error) {
	if err := errors.Join(required("name", name), required("reference", reference)); err != nil {
		return FetchManifestResponse{}, err
	}
	out, err := c.fetchManifest(ctx, name, reference)
	if err != nil {
		return out, fmt.Errorf("fetch manifest %s: %w", manifestRef(name, reference), err)
	}
	if options == nil || options.Platform == nil {
		return out, nil
	}
	for depth := 0; out.Index != nil; depth++ {
		if depth == maxIndexDepth {
			return FetchManifestResponse{}, fmt.Errorf("fetch manifest %s: indexes nested deeper than %d", manifestRef(name, reference), maxIndexDepth)
		}
		child, ok := selectPlatform(out.Index.Manifests, *options.Platform)
		if !ok {
			return FetchManifestResponse{}, fmt.Errorf("fetch manifest %s for %s: %w", manifestRef(name, reference), platformString(*options.Platform), ErrNoMatchingPlatform)
		}
		next, err := c.fetchManifest(ctx, name, string(child.Digest))
		if err == nil && int64(len(next.Content)) != child.Size {
			err = fmt.Errorf("manifest is %d bytes, the index says %d", len(next.Content), child.Size)
		}
		if err != nil {
			return FetchManifestResponse{}, fmt.Errorf("fetch manifest %s for %s: %w", manifestRef(name, string(child.Digest)), platformString(*options.Platform), err)
		}
		out = next
	}
	return out, nil
}

func manifestRef(name, reference string) string {
	if isDigestRef(reference) {
		return name + "@" + reference
	}
	return name + ":" + reference
}

// doManifestRequest sends a GET or HEAD of a manifest that accepts every manifest
// type, and returns the 200 response (for a GET, with its body unread).
func (c *Client) doManifestRequest(ctx context.Context, method, name, reference string) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, c.endpoint+"/v2/"+escapeName(name)+"/manifests/"+url.PathEscape(reference))
	if err != nil {
		return nil, err
	}
	withScopes(req, repoScope(name, "pull"))
	raw := req.Raw()
	raw.Header.Set("Accept", strings.Join(manifestAccept, ", "))
	// Without this, Go's transport asks for gzip and, when it gets it, drops
	// Content-Length, which the size check relies on.
	raw.Header.Set("Accept-Encoding", "identity")
	if method == http.MethodGet {
		runtime.SkipBodyDownload(req)
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return nil, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return nil, newResponseError(resp)
	}
	return resp, nil
}

// fetchManifest GETs one manifest and checks it.
func (c *Client) fetchManifest(ctx context.Context, name, reference string) (FetchManifestResponse, error) {
	var out FetchManifestResponse
	var want digest.Digest
	if isDigestRef(reference) {
		d, err := digest.Parse(reference)
		if err != nil {
			return out, fmt.Errorf("invalid digest %q: %w", reference, err)
		}
		if !d.Algorithm().Available() {
			return out, ErrDigestAlgNotSupported
		}
		want = d
	}
	resp, err := c.doManifestRequest(ctx, http.MethodGet, name, reference)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	size, err := declaredLength(resp)
	if err != nil {
		return out, err
	}
	content, err := io.ReadAll(io.LimitReader(resp.Body, size+1))
	if err != nil {
		return out, fmt.Errorf("read manifest: %w", err)
	}
	if int64(len(content)) != size {
		return out, fmt.Errorf("manifest is %d bytes, Content-Length says %d", len(content), size)
	}
	got := digest.Canonical.FromBytes(content)
	if want != "" {
		if got = want.Algorithm().FromBytes(content); got != want {
			return out, fmt.Errorf("content is %s, asked for %s: %w", got, want, ErrMismatchedHash)
		}
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		hd, err := digest.Parse(h)
		if err != nil {
			return out, fmt.Errorf("registry sent a malformed Docker-Content-Digest %q: %w", h, err)
		}
		if hd.Algorithm().Available() {
			if hd.Algorithm().FromBytes(content) != hd {
				return out, fmt.Errorf("content does not match the registry's digest %s: %w", hd, ErrMismatchedHash)
			}
			if want == "" {
				got = hd
			}
		}
	}
	out.Digest, out.Content = string(got), content
	out.MediaType = manifestMediaType(resp.Header.Get("Content-Type"), content)
	if err := decodeManifest(&out); err != nil {
		return out, err
	}
	return out, nil
}

// declaredLength returns the Content-Length of a manifest response, which must be
// there and within the 4 MiB cap, so the size is checked before anything is read.
func declaredLength(resp *http.Response) (int64, error) {
	n := resp.ContentLength
	if v := resp.Header.Get("Content-Length"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, fmt.Errorf("registry sent a malformed Content-Length %q", v)
		}
	}
	switch {
	case n < 0:
		return 0, errors.New("registry sent no Content-Length for the manifest")
	case n > maxManifestSize:
		return 0, fmt.Errorf("manifest is %d bytes, more than the %d allowed", n, maxManifestSize)
	}
	return n, nil
}

// manifestMediaType takes the media type from Content-Type unless the registry
// sent a generic one, in which case the document's mediaType field (or its shape)
// says what it is.
func manifestMediaType(contentType string, content []byte) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.TrimSpace(contentType)
	}
	switch mt {
	case "", "application/json", "text/plain", "application/octet-stream":
		if _, inferred, err := rawManifest(content, ""); err == nil {
			return inferred
		}
	}
	return mt
}

// decodeManifest fills Manifest or Index from Content by media type.
func decodeManifest(out *FetchManifestResponse) error {
	switch {
	case isImageManifestType(out.MediaType):
		var m ocispec.Manifest
		if err := json.Unmarshal(out.Content, &m); err != nil {
			return fmt.Errorf("decode %s: %w", out.MediaType, err)
		}
		out.Manifest = &m
	case isIndexType(out.MediaType):
		var ix ocispec.Index
		if err := json.Unmarshal(out.Content, &ix); err != nil {
			return fmt.Errorf("decode %s: %w", out.MediaType, err)
		}
		out.Index = &ix
	}
	return nil
}

// ResolveManifest returns the descriptor (media type, digest and size) of the
// manifest a tag or digest names, with a HEAD request, so nothing is downloaded.
// Registries that leave Docker-Content-Digest, Content-Type or Content-Length out
// of HEAD answers are asked with a GET instead, and the digest computed.
func (c *Client) ResolveManifest(ctx context.Context, name, reference string) (ocispec.Descriptor, error) {
	if err := errors.Join(required("name", name), required("reference", reference)); err != nil {
		return ocispec.Descriptor{}, err
	}
	resp, err := c.doManifestRequest(ctx, http.MethodHead, name, reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve manifest %s: %w", manifestRef(name, reference), err)
	}
	drainAndClose(resp)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	d, derr := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	size, serr := declaredLength(resp)
	generic := mt == "" || mt == "application/json" || mt == "text/plain" || mt == "application/octet-stream"
	if derr == nil && serr == nil && !generic {
		if isDigestRef(reference) && string(d) != reference {
			return ocispec.Descriptor{}, fmt.Errorf("resolve manifest %s: registry reports %s: %w", manifestRef(name, reference), d, ErrMismatchedHash)
		}
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
	}
	m, err := c.fetchManifest(ctx, name, reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve manifest %s: %w", manifestRef(name, reference), err)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.Digest(m.Digest), Size: int64(len(m.Content))}, nil
}

// isNotFound reports whether err is a registry's 404.
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
