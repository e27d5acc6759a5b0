// Package acrapi serves ACR's data-plane metadata API under /acr/v1/: repository,
// tag and manifest properties, their changeable attributes (locks), ordered and
// paged listings, and deletes, with the JSON field names, status codes and error
// bodies ACR uses, so the official Azure SDKs work unchanged.
package acrapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/registry/route"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
)

// Page sizes of the listings.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Handler serves /acr/v1/ requests whose route is already parsed and authorised.
type Handler struct {
	Registry *core.Registry
	// LoginServer is reported as "registry"; empty means the request's Host.
	LoginServer string
	Logger      *slog.Logger
}

// Time is a timestamp as ACR writes it: UTC, up to 7 fraction digits, trailing
// zeros trimmed (2024-01-24T06:16:01.534509Z).
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Truncate(100*time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z07:00") + `"`), nil
}

// ChangeableAttributes are the locks of a repository, tag or manifest.
type ChangeableAttributes struct {
	DeleteEnabled bool `json:"deleteEnabled"`
	WriteEnabled  bool `json:"writeEnabled"`
	ReadEnabled   bool `json:"readEnabled"`
	ListEnabled   bool `json:"listEnabled"`
}

func attrs(a store.Attributes) ChangeableAttributes {
	return ChangeableAttributes{DeleteEnabled: a.DeleteEnabled, WriteEnabled: a.WriteEnabled, ReadEnabled: a.ReadEnabled, ListEnabled: a.ListEnabled}
}

// RepositoryAttributes is GET /acr/v1/{name}.
type RepositoryAttributes struct {
	Registry             string               `json:"registry"`
	ImageName            string               `json:"imageName"`
	CreatedTime          Time                 `json:"createdTime"`
	LastUpdateTime       Time                 `json:"lastUpdateTime"`
	ManifestCount        int                  `json:"manifestCount"`
	TagCount             int                  `json:"tagCount"`
	ChangeableAttributes ChangeableAttributes `json:"changeableAttributes"`
}

// TagAttributesBase describes one tag.
type TagAttributesBase struct {
	Name                 string               `json:"name"`
	Digest               string               `json:"digest"`
	CreatedTime          Time                 `json:"createdTime"`
	LastUpdateTime       Time                 `json:"lastUpdateTime"`
	Signed               bool                 `json:"signed"`
	ChangeableAttributes ChangeableAttributes `json:"changeableAttributes"`
}

// TagAttributes is GET /acr/v1/{name}/_tags/{tag}.
type TagAttributes struct {
	Registry  string            `json:"registry"`
	ImageName string            `json:"imageName"`
	Tag       TagAttributesBase `json:"tag"`
}

// TagList is GET /acr/v1/{name}/_tags.
type TagList struct {
	Registry  string              `json:"registry"`
	ImageName string              `json:"imageName"`
	Tags      []TagAttributesBase `json:"tags"`
}

// Reference is a child of an index.
type Reference struct {
	Digest       string `json:"digest"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// ManifestAttributesBase describes one manifest.
type ManifestAttributesBase struct {
	Digest               string               `json:"digest"`
	ImageSize            int64                `json:"imageSize"`
	CreatedTime          Time                 `json:"createdTime"`
	LastUpdateTime       Time                 `json:"lastUpdateTime"`
	Architecture         string               `json:"architecture,omitempty"`
	OS                   string               `json:"os,omitempty"`
	MediaType            string               `json:"mediaType,omitempty"`
	ConfigMediaType      string               `json:"configMediaType,omitempty"`
	Tags                 []string             `json:"tags,omitempty"`
	References           []Reference          `json:"references,omitempty"`
	ChangeableAttributes ChangeableAttributes `json:"changeableAttributes"`
}

// ManifestAttributes is GET /acr/v1/{name}/_manifests/{digest}.
type ManifestAttributes struct {
	Registry  string                 `json:"registry"`
	ImageName string                 `json:"imageName"`
	Manifest  ManifestAttributesBase `json:"manifest"`
}

// Manifests is GET /acr/v1/{name}/_manifests.
type Manifests struct {
	Registry  string                   `json:"registry"`
	ImageName string                   `json:"imageName"`
	Manifests []ManifestAttributesBase `json:"manifests"`
}

// Repositories is GET /acr/v1/_catalog.
type Repositories struct {
	Repositories []string `json:"repositories"`
}

// DeletedRepository is DELETE /acr/v1/{name}.
type DeletedRepository struct {
	ManifestsDeleted []string `json:"manifestsDeleted"`
	TagsDeleted      []string `json:"tagsDeleted"`
}

func (h *Handler) loginServer(r *http.Request) string {
	if h.LoginServer != "" {
		return h.LoginServer
	}
	return r.Host
}

// ServeRoute answers one request.
func (h *Handler) ServeRoute(w http.ResponseWriter, r *http.Request, rt route.Route) {
	var err error
	switch rt.Kind {
	case route.ACRCatalog:
		err = h.catalog(w, r)
	case route.ACRRepository:
		err = h.repository(w, r, rt)
	case route.ACRTagList:
		err = h.tagList(w, r, rt)
	case route.ACRTag:
		err = h.tag(w, r, rt)
	case route.ACRManifestList:
		err = h.manifestList(w, r, rt)
	case route.ACRManifest:
		err = h.manifest(w, r, rt)
	default:
		err = errcode.New(errcode.Unsupported, "the operation is unsupported")
	}
	if err != nil {
		if _, ok := errcode.As(err); !ok && h.Logger != nil {
			h.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.EscapedPath(), "error", err)
		}
		errcode.Write(w, err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

func methodNotAllowed(allowed string) error {
	return errcode.New(errcode.Unsupported, "the requested method is not allowed; use %s", allowed)
}

// maxPatchSize bounds a PATCH body: four booleans.
const maxPatchSize = 4 << 10

// readPatch reads an optional changeable-attributes body.
func readPatch(r *http.Request) (core.AttributesPatch, error) {
	var p core.AttributesPatch
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPatchSize+1))
	if err != nil {
		return p, errcode.New(errcode.Unsupported, "cannot read request body").WithStatus(http.StatusBadRequest)
	}
	if len(body) > maxPatchSize {
		return p, errcode.New(errcode.SizeInvalid, "request body too large")
	}
	if len(body) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, errcode.New("INVALID_REQUEST", "request body is not valid changeable attributes").WithDetail(err.Error()).WithStatus(http.StatusBadRequest)
	}
	return p, nil
}

// listParams reads n, last and orderby.
func listParams(q url.Values) (core.ListRequest, string, error) {
	req := core.ListRequest{Limit: DefaultPageSize, After: q.Get("last")}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return req, "", errcode.New("PAGINATION_NUMBER_INVALID", "invalid number of results requested").WithDetail(map[string]string{"n": s}).WithStatus(http.StatusBadRequest)
		}
		req.Limit = min(n, MaxPageSize)
	}
	orderby := q.Get("orderby")
	switch orderby {
	case "", "none":
		req.Order = store.OrderNone
	case "timeasc":
		req.Order = store.OrderTimeAsc
	case "timedesc":
		req.Order = store.OrderTimeDesc
	default:
		return req, "", errcode.New("INVALID_REQUEST", "orderby must be timedesc, timeasc or none").WithDetail(map[string]string{"orderby": orderby}).WithStatus(http.StatusBadRequest)
	}
	return req, orderby, nil
}

// setNextLink sets the relative Link header ACR sends when a listing has more.
func setNextLink(w http.ResponseWriter, path, next string, n int, orderby string, extra url.Values) {
	if next == "" {
		return
	}
	q := url.Values{"last": {next}, "n": {strconv.Itoa(n)}, "orderby": {orderby}}
	for k, v := range extra {
		q[k] = v
	}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	req, orderby, err := listParams(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := h.Registry.ListRepositories(r.Context(), req.After, req.Limit)
	if err != nil {
		return err
	}
	setNextLink(w, "/acr/v1/_catalog", page.Next, req.Limit, orderby, nil)
	return writeJSON(w, http.StatusOK, Repositories{Repositories: page.Items})
}

func (h *Handler) repositoryBody(r *http.Request, info core.RepositoryInfo) RepositoryAttributes {
	return RepositoryAttributes{
		Registry: h.loginServer(r), ImageName: info.Name,
		CreatedTime: Time(info.CreatedAt), LastUpdateTime: Time(info.UpdatedAt),
		ManifestCount: info.ManifestCount, TagCount: info.TagCount,
		ChangeableAttributes: attrs(info.Attributes),
	}
}

func (h *Handler) repository(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		info, err := h.Registry.Repository(ctx, rt.Name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, h.repositoryBody(r, info))
	case http.MethodPatch:
		patch, err := readPatch(r)
		if err != nil {
			return err
		}
		info, err := h.Registry.UpdateRepository(ctx, rt.Name, patch)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, h.repositoryBody(r, info))
	case http.MethodDelete:
		del, err := h.Registry.DeleteRepository(ctx, rt.Name)
		if err != nil {
			return err
		}
		body := DeletedRepository{ManifestsDeleted: make([]string, len(del.Manifests)), TagsDeleted: del.Tags}
		for i, d := range del.Manifests {
			body.ManifestsDeleted[i] = string(d)
		}
		return writeJSON(w, http.StatusAccepted, body)
	}
	return methodNotAllowed("GET, PATCH, DELETE")
}

func tagBase(t store.Tag) TagAttributesBase {
	return TagAttributesBase{
		Name: t.Name, Digest: string(t.Digest),
		CreatedTime: Time(t.CreatedAt), LastUpdateTime: Time(t.UpdatedAt),
		ChangeableAttributes: attrs(t.Attributes),
	}
}

func (h *Handler) tagList(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	q := r.URL.Query()
	req, orderby, err := listParams(q)
	if err != nil {
		return err
	}
	var extra url.Values
	if ds := q.Get("digest"); ds != "" {
		d, err := digest.Parse(ds)
		if err != nil {
			return errcode.New(errcode.DigestInvalid, "invalid digest").WithDetail(map[string]string{"digest": ds})
		}
		req.Digest = d
		extra = url.Values{"digest": {ds}}
	}
	page, err := h.Registry.ListTagsPage(r.Context(), rt.Name, req)
	if err != nil {
		return err
	}
	body := TagList{Registry: h.loginServer(r), ImageName: rt.Name, Tags: make([]TagAttributesBase, 0, len(page.Items))}
	for _, t := range page.Items {
		body.Tags = append(body.Tags, tagBase(t))
	}
	setNextLink(w, "/acr/v1/"+rt.Name+"/_tags", page.Next, req.Limit, orderby, extra)
	return writeJSON(w, http.StatusOK, body)
}

func (h *Handler) tag(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	ctx := r.Context()
	var t store.Tag
	var err error
	switch r.Method {
	case http.MethodGet:
		t, err = h.Registry.Tag(ctx, rt.Name, rt.Reference)
	case http.MethodPatch:
		var patch core.AttributesPatch
		if patch, err = readPatch(r); err != nil {
			return err
		}
		t, err = h.Registry.UpdateTag(ctx, rt.Name, rt.Reference, patch)
	case http.MethodDelete:
		d, err := h.Registry.DeleteTag(ctx, rt.Name, rt.Reference)
		if err != nil {
			return err
		}
		w.Header().Set("X-Ms-Int-Docker-Content-Digest", string(d))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	default:
		return methodNotAllowed("GET, PATCH, DELETE")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, TagAttributes{Registry: h.loginServer(r), ImageName: rt.Name, Tag: tagBase(t)})
}

func manifestBase(m core.ManifestInfo) ManifestAttributesBase {
	b := ManifestAttributesBase{
		Digest: string(m.Digest), ImageSize: m.ImageSize,
		CreatedTime: Time(m.CreatedAt), LastUpdateTime: Time(m.UpdatedAt),
		Architecture: m.Architecture, OS: m.OS,
		MediaType: m.MediaType, ConfigMediaType: m.ConfigMediaType,
		Tags:                 m.Tags,
		ChangeableAttributes: attrs(m.Attributes),
	}
	for _, ref := range m.References {
		b.References = append(b.References, Reference{Digest: string(ref.Digest), Architecture: ref.Architecture, OS: ref.OS})
	}
	return b
}

func (h *Handler) manifestList(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	req, orderby, err := listParams(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := h.Registry.ListManifestsPage(r.Context(), rt.Name, req)
	if err != nil {
		return err
	}
	body := Manifests{Registry: h.loginServer(r), ImageName: rt.Name, Manifests: make([]ManifestAttributesBase, 0, len(page.Items))}
	for _, m := range page.Items {
		body.Manifests = append(body.Manifests, manifestBase(m))
	}
	setNextLink(w, "/acr/v1/"+rt.Name+"/_manifests", page.Next, req.Limit, orderby, nil)
	return writeJSON(w, http.StatusOK, body)
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	ctx := r.Context()
	var info core.ManifestInfo
	var err error
	switch r.Method {
	case http.MethodGet:
		info, err = h.Registry.Manifest(ctx, rt.Name, rt.Digest)
	case http.MethodPatch:
		var patch core.AttributesPatch
		if patch, err = readPatch(r); err != nil {
			return err
		}
		info, err = h.Registry.UpdateManifest(ctx, rt.Name, rt.Digest, patch)
	case http.MethodDelete:
		// ACR deletes manifests through /v2; accept the /acr/v1 form too.
		if err := h.Registry.DeleteManifest(ctx, rt.Name, rt.Digest); err != nil {
			return err
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	default:
		return methodNotAllowed("GET, PATCH")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ManifestAttributes{Registry: h.loginServer(r), ImageName: rt.Name, Manifest: manifestBase(info)})
}
