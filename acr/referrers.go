package acr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ListReferrersOptions holds the optional parameters of Client.ListReferrers.
type ListReferrersOptions struct {
	// ArtifactType keeps only the referrers of this artifact type. The registry
	// filters when it can; otherwise the client does.
	ArtifactType string
}

// maxReferrerPages bounds how many pages of referrers are followed, so that a
// registry whose Link headers loop cannot keep the client busy.
const maxReferrerPages = 1000

// ListReferrers lists the manifests whose subject is the manifest digest in
// repository name (signatures, SBOMs, attestations...), as descriptors carrying
// their artifactType and annotations.
//
// It uses the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest>), following
// Link headers to the last page. A registry without that API (it answers 404
// without an OCI index, 400 or 405) is read the way the OCI distribution spec's
// fallback writes it: the index tagged "<alg>-<hex>" of the subject's digest, which
// SetManifest keeps up to date on such registries. No referrers is an empty list,
// not an error.
func (c *Client) ListReferrers(ctx context.Context, name, digest string, options *ListReferrersOptions) ([]ocispec.Descriptor, error) {
	var o ListReferrersOptions
	if options != nil {
		o = *options
	}
	if err := errors.Join(required("name", name), required("digest", digest)); err != nil {
		return nil, err
	}
	out, supported, err := c.referrersAPI(ctx, name, digest, o.ArtifactType)
	if err == nil && !supported {
		out, err = c.referrersFromTag(ctx, name, digest, o.ArtifactType)
	}
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s@%s: %w", name, digest, err)
	}
	return out, nil
}

// referrersAPI reads every page of the referrers API; supported is false when the
// registry does not have the API.
func (c *Client) referrersAPI(ctx context.Context, name, subject, artifactType string) (_ []ocispec.Descriptor, supported bool, _ error) {
	if _, err := digest.Parse(subject); err != nil {
		return nil, false, fmt.Errorf("invalid digest %q: %w", subject, err)
	}
	target := c.endpoint + "/v2/" + escapeName(name) + "/referrers/" + url.PathEscape(subject)
	if artifactType != "" {
		target += "?" + url.Values{"artifactType": {artifactType}}.Encode()
	}
	out := []ocispec.Descriptor{}
	for page := 0; target != ""; page++ {
		if page == maxReferrerPages {
			return nil, true, fmt.Errorf("more than %d pages of referrers", maxReferrerPages)
		}
		req, err := runtime.NewRequest(ctx, http.MethodGet, target)
		if err != nil {
			return nil, false, err
		}
		withScopes(req, repoScope(name, "pull"))
		req.Raw().Header.Set("Accept", ocispec.MediaTypeImageIndex)
		runtime.SkipBodyDownload(req)
		resp, err := c.pl.Do(req)
		if err != nil {
			return nil, false, err
		}
		isIndex := func() bool {
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			return mt == ocispec.MediaTypeImageIndex
		}
		switch {
		case resp.StatusCode == http.StatusOK || (resp.StatusCode == http.StatusNotFound && isIndex()):
		case page == 0 && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMethodNotAllowed):
			// The spec forbids a 404 from a registry that has the API, and the digest
			// was checked above, so these mean the API is not there.
			drainAndClose(resp)
			return nil, false, nil
		default:
			return nil, true, newResponseError(resp)
		}
		var ix ocispec.Index
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize+1)).Decode(&ix)
		resp.Body.Close()
		if err != nil {
			return nil, true, fmt.Errorf("decode referrers: %w", err)
		}
		descs := ix.Manifests
		if artifactType != "" && !filterApplied(resp.Header.Values("OCI-Filters-Applied"), "artifactType") {
			descs = filterArtifactType(descs, artifactType)
		}
		out = append(out, descs...)
		if target, err = nextLink(resp.Request.URL, resp.Header.Values("Link")); err != nil {
			return nil, true, err
		}
	}
	return out, true, nil
}

func filterApplied(values []string, filter string) bool {
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == filter {
				return true
			}
		}
	}
	return false
}

func filterArtifactType(descs []ocispec.Descriptor, artifactType string) []ocispec.Descriptor {
	out := []ocispec.Descriptor{}
	for _, d := range descs {
		if d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out
}

// referrersTag returns the tag under which the OCI distribution spec's fallback
// keeps the referrers of a manifest on registries without the referrers API:
// "<alg>-<hex>", each part truncated as the spec says, for example "sha256-5b0b...".
func referrersTag(d digest.Digest) string {
	alg, enc := string(d.Algorithm()), d.Encoded()
	if len(alg) > 32 {
		alg = alg[:32]
	}
	if len(enc) > 64 {
		enc = enc[:64]
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
				return r
			}
			return '-'
		}, s)
	}
	return clean(alg) + "-" + clean(enc)
}

// referrersFromTag reads the fallback referrers index of a subject.
func (c *Client) referrersFromTag(ctx context.Context, name, subject, artifactType string) ([]ocispec.Descriptor, error) {
	ix, err := c.referrersIndex(ctx, name, digest.Digest(subject))
	if err != nil {
		return nil, err
	}
	if artifactType != "" {
		return filterArtifactType(ix.Manifests, artifactType), nil
	}
	return append([]ocispec.Descriptor{}, ix.Manifests...), nil
}

// referrersIndex fetches the fallback referrers index of a subject; a missing one
// is empty.
func (c *Client) referrersIndex(ctx context.Context, name string, subject digest.Digest) (ocispec.Index, error) {
	tag := referrersTag(subject)
	m, err := c.fetchManifest(ctx, name, tag)
	switch {
	case isNotFound(err):
		return ocispec.Index{}, nil
	case err != nil:
		return ocispec.Index{}, fmt.Errorf("fetch referrers tag %s: %w", tag, err)
	case m.Index == nil:
		return ocispec.Index{}, fmt.Errorf("referrers tag %s is a %s, not an index", tag, m.MediaType)
	}
	return *m.Index, nil
}

// indexReferrerFallback adds a just-pushed manifest to its subject's fallback
// referrers index when the manifest has a subject and the registry has no
// referrers API: the client side of the OCI distribution spec's fallback.
func (c *Client) indexReferrerFallback(ctx context.Context, name string, content []byte, desc ocispec.Descriptor) error {
	var doc struct {
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if json.Unmarshal(content, &doc) != nil || doc.Subject == nil || doc.Subject.Digest.Validate() != nil {
		return nil
	}
	// Registries may index the subject without saying so with OCI-Subject; ask.
	if _, supported, err := c.referrersAPI(ctx, name, string(doc.Subject.Digest), ""); err != nil || supported {
		return err
	}
	desc.ArtifactType = doc.ArtifactType
	if desc.ArtifactType == "" && doc.Config != nil && isImageManifestType(desc.MediaType) {
		desc.ArtifactType = doc.Config.MediaType
	}
	desc.Annotations = doc.Annotations
	ix, err := c.referrersIndex(ctx, name, doc.Subject.Digest)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(ix.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == desc.Digest }) {
		return nil
	}
	ix.SchemaVersion, ix.MediaType = 2, ocispec.MediaTypeImageIndex
	ix.Manifests = append(ix.Manifests, desc)
	b, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	tag := referrersTag(doc.Subject.Digest)
	if _, err := c.putManifest(ctx, name, tag, nil, b, ocispec.MediaTypeImageIndex, digest.FromBytes(b)); err != nil {
		return fmt.Errorf("update referrers tag %s: %w", tag, err)
	}
	return nil
}
