// Package route parses registry request paths into typed operations.
//
// The path is decoded once, here: repository names may arrive with "/" escaped as
// "%2F" (the official Azure SDKs escape path parameters), digests keep their ':',
// and every name, tag and digest is validated before a handler sees it. Handlers and
// the authorization step receive a Route and never re-parse a URL.
package route

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/internal/reference"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
)

// Kind is the operation family a path addresses.
type Kind int

// Kinds of the OCI distribution API under /v2/.
const (
	Unknown      Kind = iota
	Ping              // /v2/
	Catalog           // /v2/_catalog
	TagList           // /v2/<name>/tags/list
	Manifest          // /v2/<name>/manifests/<reference>
	Blob              // /v2/<name>/blobs/<digest>
	UploadStart       // /v2/<name>/blobs/uploads/
	Upload            // /v2/<name>/blobs/uploads/<id>
	ReferrerList      // /v2/<name>/referrers/<digest>
)

var kindNames = [...]string{"unknown", "ping", "catalog", "tags", "manifest", "blob", "upload-start", "upload", "referrers"}

var acrKindNames = [...]string{"acr-catalog", "acr-repository", "acr-tags", "acr-tag", "acr-manifests", "acr-manifest"}

func (k Kind) String() string {
	switch {
	case int(k) < len(kindNames):
		return kindNames[k]
	case k >= ACRCatalog && int(k-ACRCatalog) < len(acrKindNames):
		return acrKindNames[k-ACRCatalog]
	}
	return "unknown"
}

// Route is a parsed request path.
type Route struct {
	Kind Kind
	// Name is the repository name, decoded ("library/hello-world").
	Name string
	// Reference is a tag or a digest (Manifest routes).
	Reference string
	// Digest is set for Blob and ReferrerList routes, and for Manifest routes whose
	// reference is a digest.
	Digest digest.Digest
	// UploadID identifies an upload session (Upload routes).
	UploadID string
}

// ErrNotFound means the path is not one the registry serves.
var ErrNotFound = errors.New("no such route")

// IsTag reports whether a Manifest route addresses a tag rather than a digest.
func (r Route) IsTag() bool { return r.Kind == Manifest && r.Digest == "" }

// ParseV2 parses the escaped path of a request under /v2/ (use URL.EscapedPath, so
// that "%2F" inside a repository name is told apart from a path separator).
// It returns ErrNotFound for paths outside the API and an *errcode.Error for paths
// inside it whose name, tag or digest is invalid.
func ParseV2(escapedPath string) (Route, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2/")
	if !ok {
		if escapedPath == "/v2" {
			return Route{Kind: Ping}, nil
		}
		return Route{}, ErrNotFound
	}
	if rest == "" {
		return Route{Kind: Ping}, nil
	}
	if rest == "_catalog" {
		return Route{Kind: Catalog}, nil
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	// Operations are identified by their trailing segments; everything before them
	// is the repository name. Reading from the right keeps a repository whose name
	// contains "manifests" or "blobs" unambiguous.
	switch {
	case n >= 3 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		name, err := parseName(segs[:n-3])
		if err != nil {
			return Route{}, err
		}
		if segs[n-1] == "" {
			return Route{Kind: UploadStart, Name: name}, nil
		}
		id, err := url.PathUnescape(segs[n-1])
		if err != nil || store.ValidateUploadID(id) != nil {
			return Route{}, errcode.New(errcode.BlobUploadUnknown, "blob upload unknown to registry")
		}
		return Route{Kind: Upload, Name: name, UploadID: id}, nil
	case n >= 2 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		// POST /v2/<name>/blobs/uploads without the trailing slash.
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		return Route{Kind: UploadStart, Name: name}, nil
	case n >= 3 && segs[n-2] == "blobs":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		d, err := parseDigest(segs[n-1])
		if err != nil {
			return Route{}, err
		}
		return Route{Kind: Blob, Name: name, Digest: d}, nil
	case n >= 3 && segs[n-2] == "manifests":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		ref, err := url.PathUnescape(segs[n-1])
		if err != nil {
			return Route{}, errcode.New(errcode.ManifestInvalid, "invalid manifest reference")
		}
		if reference.IsDigest(ref) {
			d, err := parseDigest(ref)
			if err != nil {
				return Route{}, err
			}
			return Route{Kind: Manifest, Name: name, Reference: ref, Digest: d}, nil
		}
		if err := reference.ValidateTag(ref); err != nil {
			return Route{}, errcode.New(errcode.TagInvalid, "invalid tag").WithDetail(map[string]string{"Tag": ref})
		}
		return Route{Kind: Manifest, Name: name, Reference: ref}, nil
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		return Route{Kind: TagList, Name: name}, nil
	case n >= 3 && segs[n-2] == "referrers":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		d, err := parseDigest(segs[n-1])
		if err != nil {
			return Route{}, err
		}
		return Route{Kind: ReferrerList, Name: name, Digest: d}, nil
	}
	return Route{}, ErrNotFound
}

// parseName joins escaped path segments into a repository name, decoding "%2F".
func parseName(segs []string) (string, error) {
	if len(segs) == 0 {
		return "", ErrNotFound
	}
	parts := make([]string, len(segs))
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", nameInvalid(strings.Join(segs, "/"))
		}
		parts[i] = u
	}
	name := strings.Join(parts, "/")
	if err := reference.ValidateName(name); err != nil {
		return "", nameInvalid(name)
	}
	return name, nil
}

func nameInvalid(name string) error {
	return errcode.New(errcode.NameInvalid, "invalid repository name").WithDetail(map[string]string{"name": name})
}

func parseDigest(escaped string) (digest.Digest, error) {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return "", errcode.New(errcode.DigestInvalid, "invalid digest")
	}
	return ParseDigest(s)
}

// ParseDigest parses a digest from a path or query parameter, answering
// DIGEST_INVALID for a malformed digest or an unsupported algorithm.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := reference.ParseDigest(s)
	if err != nil {
		if errors.Is(err, reference.ErrUnsupported) {
			return "", errcode.New(errcode.DigestInvalid, "unsupported digest algorithm").WithDetail(map[string]string{"digest": s})
		}
		return "", errcode.New(errcode.DigestInvalid, "invalid digest").WithDetail(map[string]string{"digest": s})
	}
	return d, nil
}

// Action is a token scope action, as ACR names them.
type Action string

// Actions used in repository scopes.
const (
	ActionPull          Action = "pull"
	ActionPush          Action = "push"
	ActionDelete        Action = "delete"
	ActionMetadataRead  Action = "metadata_read"
	ActionMetadataWrite Action = "metadata_write"
	ActionAll           Action = "*"
)

// Scope is one access a request needs: "repository:<name>:pull,push" or
// "registry:catalog:*".
type Scope struct {
	Type    string // "repository" or "registry"
	Name    string
	Actions []Action
}

// String formats the scope as it appears in a token challenge.
func (s Scope) String() string {
	acts := make([]string, len(s.Actions))
	for i, a := range s.Actions {
		acts[i] = string(a)
	}
	return s.Type + ":" + s.Name + ":" + strings.Join(acts, ",")
}

// Scopes returns the accesses a request with this method needs on this route, as
// ACR asks for them in its challenge. Ping needs none.
func (r Route) Scopes(method string, query url.Values) []Scope {
	repo := func(acts ...Action) []Scope {
		return []Scope{{Type: "repository", Name: r.Name, Actions: acts}}
	}
	switch r.Kind {
	case Catalog:
		return []Scope{{Type: "registry", Name: "catalog", Actions: []Action{ActionAll}}}
	case TagList, ReferrerList:
		return repo(ActionPull)
	case Manifest, Blob:
		switch method {
		case http.MethodGet, http.MethodHead:
			return repo(ActionPull)
		case http.MethodDelete:
			return repo(ActionDelete)
		default:
			return repo(ActionPull, ActionPush)
		}
	case UploadStart:
		scopes := repo(ActionPull, ActionPush)
		if from := query.Get("from"); from != "" && query.Get("mount") != "" {
			if reference.ValidateName(from) == nil && from != r.Name {
				scopes = append(scopes, Scope{Type: "repository", Name: from, Actions: []Action{ActionPull}})
			}
		}
		return scopes
	case Upload:
		return repo(ActionPull, ActionPush)
	case ACRCatalog:
		return []Scope{{Type: "registry", Name: "catalog", Actions: []Action{ActionAll}}}
	case ACRRepository, ACRTagList, ACRTag, ACRManifestList, ACRManifest:
		switch method {
		case http.MethodPatch:
			return repo(ActionMetadataWrite)
		case http.MethodDelete:
			return repo(ActionDelete)
		default:
			return repo(ActionMetadataRead)
		}
	}
	return nil
}

// Kinds of ACR's metadata API under /acr/v1/.
const (
	ACRCatalog      Kind = iota + 100 // /acr/v1/_catalog
	ACRRepository                     // /acr/v1/<name>
	ACRTagList                        // /acr/v1/<name>/_tags
	ACRTag                            // /acr/v1/<name>/_tags/<tag>
	ACRManifestList                   // /acr/v1/<name>/_manifests
	ACRManifest                       // /acr/v1/<name>/_manifests/<digest>
)

// ParseACR parses the escaped path of a request under /acr/v1/. Repository names may
// come with "/" escaped (the Python SDK) or not (the Go SDK). As in ACR, a value
// that is not a digest where a digest belongs is not a route at all (ErrNotFound,
// answered with a plain 404 before any authentication).
func ParseACR(escapedPath string) (Route, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/acr/v1/")
	if !ok || rest == "" {
		return Route{}, ErrNotFound
	}
	if rest == "_catalog" {
		return Route{Kind: ACRCatalog}, nil
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	n := len(segs)
	// Repository name components start with a letter or digit, so "_tags" and
	// "_manifests" can only be the operation.
	switch {
	case n >= 2 && segs[n-1] == "_tags":
		name, err := parseName(segs[:n-1])
		return Route{Kind: ACRTagList, Name: name}, err
	case n >= 3 && segs[n-2] == "_tags":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		tag, err := url.PathUnescape(segs[n-1])
		if err != nil || reference.ValidateTag(tag) != nil {
			return Route{}, errcode.New(errcode.TagInvalid, "invalid tag").WithDetail(map[string]string{"Tag": tag})
		}
		return Route{Kind: ACRTag, Name: name, Reference: tag}, nil
	case n >= 2 && segs[n-1] == "_manifests":
		name, err := parseName(segs[:n-1])
		return Route{Kind: ACRManifestList, Name: name}, err
	case n >= 3 && segs[n-2] == "_manifests":
		name, err := parseName(segs[:n-2])
		if err != nil {
			return Route{}, err
		}
		s, err := url.PathUnescape(segs[n-1])
		if err != nil {
			return Route{}, ErrNotFound
		}
		d, err := reference.ParseDigest(s)
		if err != nil {
			return Route{}, ErrNotFound
		}
		return Route{Kind: ACRManifest, Name: name, Reference: s, Digest: d}, nil
	}
	for _, s := range segs {
		if strings.HasPrefix(s, "_") {
			return Route{}, ErrNotFound
		}
	}
	name, err := parseName(segs)
	return Route{Kind: ACRRepository, Name: name}, err
}
