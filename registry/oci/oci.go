// Package oci serves the OCI distribution API v1.1 under /v2/.
//
// Handlers translate between the wire (paths already parsed by package route,
// headers, status codes, the error JSON, relative Location and Link headers) and
// the registry domain in package core. They hold no rules of their own.
package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/internal/manifest"
	"github.com/acre-dev/acre/internal/reference"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/registry/route"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultPageSize is the page size of tag and repository listings when the client
// gives no n; a Link header leads to the rest.
const DefaultPageSize = 1000

// MaxPageSize caps n.
const MaxPageSize = 10000

// Handler serves /v2/ requests whose route is already parsed and authorised.
type Handler struct {
	Registry *core.Registry
	Logger   *slog.Logger
}

// ServeRoute answers one request.
func (h *Handler) ServeRoute(w http.ResponseWriter, r *http.Request, rt route.Route) {
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	var err error
	switch rt.Kind {
	case route.Ping:
		err = h.ping(w, r)
	case route.Catalog:
		err = h.catalog(w, r)
	case route.TagList:
		err = h.tags(w, r, rt)
	case route.Manifest:
		err = h.manifest(w, r, rt)
	case route.Blob:
		err = h.blob(w, r, rt)
	case route.UploadStart:
		err = h.uploadStart(w, r, rt)
	case route.Upload:
		err = h.upload(w, r, rt)
	case route.ReferrerList:
		err = h.referrers(w, r, rt)
	default:
		err = errcode.New(errcode.Unsupported, "the operation is unsupported")
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := errcode.As(err); !ok && h.Logger != nil {
		h.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.EscapedPath(), "error", err)
	}
	if r.Method == http.MethodHead {
		// HEAD answers carry no body; send the status and the code's headers only.
		e, ok := errcode.As(err)
		status := http.StatusInternalServerError
		if ok {
			status = e.Status()
		}
		w.WriteHeader(status)
		return
	}
	errcode.Write(w, err)
}

func methodNotAllowed(allowed ...string) error {
	return errcode.New(errcode.Unsupported, "method not allowed; use %s", strings.Join(allowed, ", ")).WithStatus(http.StatusMethodNotAllowed)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

func (h *Handler) ping(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed("GET", "HEAD")
	}
	return writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct{}{})
}

// pageParams reads n and last. n absent → DefaultPageSize.
func pageParams(q url.Values) (n int, last string, err error) {
	n = DefaultPageSize
	if s := q.Get("n"); s != "" {
		v, perr := strconv.Atoi(s)
		if perr != nil || v < 0 {
			return 0, "", errcode.New("PAGINATION_NUMBER_INVALID", "invalid number of results requested").
				WithDetail(map[string]string{"n": s}).WithStatus(http.StatusBadRequest)
		}
		n = min(v, MaxPageSize)
	}
	return n, q.Get("last"), nil
}

// nextLink builds a relative RFC 5988 Link header for the next page.
func nextLink(path, last string, n int) string {
	q := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	n, last, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	page := core.Page[string]{Items: []string{}}
	if n > 0 {
		if page, err = h.Registry.ListRepositories(r.Context(), last, n); err != nil {
			return err
		}
	}
	if page.Next != "" {
		w.Header().Set("Link", nextLink("/v2/_catalog", page.Next, n))
	}
	return writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string][]string{"repositories": page.Items})
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	n, last, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	page := core.Page[string]{Items: []string{}}
	if n > 0 {
		if page, err = h.Registry.ListTags(r.Context(), rt.Name, last, n); err != nil {
			return err
		}
	}
	if page.Next != "" {
		w.Header().Set("Link", nextLink("/v2/"+rt.Name+"/tags/list", page.Next, n))
	}
	return writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.Name, page.Items})
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.getManifest(w, r, rt)
	case http.MethodPut:
		return h.putManifest(w, r, rt)
	case http.MethodDelete:
		if rt.IsTag() {
			if _, err := h.Registry.DeleteTag(r.Context(), rt.Name, rt.Reference); err != nil {
				if e, ok := errcode.As(err); ok && e.Code == errcode.TagUnknown {
					// The OCI API speaks of manifests, not tags.
					return errcode.New(errcode.ManifestUnknown, "manifest tagged by %q is not found", rt.Reference).WithDetail(map[string]string{"Tag": rt.Reference})
				}
				return err
			}
		} else if err := h.Registry.DeleteManifest(r.Context(), rt.Name, rt.Digest); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed("GET", "HEAD", "PUT", "DELETE")
}

// acceptable reports whether a manifest of media type mt may be served to a client
// that sent these Accept header lines. Every line and every comma-separated value
// counts (the official Azure SDK sends "application/json" first and the wanted type
// on a second line). No specific manifest type at all means the client takes any.
func acceptable(accept []string, mt string) bool {
	specific := false
	for _, line := range accept {
		for _, v := range strings.Split(line, ",") {
			v = strings.TrimSpace(v)
			if i := strings.IndexByte(v, ';'); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
			switch v {
			case "", "application/json":
				continue
			case "*/*", "application/*":
				return true
			case mt:
				return true
			}
			specific = true
		}
	}
	return !specific
}

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	m, err := h.Registry.GetManifest(r.Context(), rt.Name, rt.Reference)
	if err != nil {
		return err
	}
	if !acceptable(r.Header.Values("Accept"), m.MediaType) {
		return errcode.New(errcode.ManifestUnknown, "manifest of type %s does not match the Accept header", m.MediaType).
			WithDetail(map[string]string{"mediaType": m.MediaType})
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Content-Length", strconv.Itoa(len(m.Content)))
	hd.Set("Docker-Content-Digest", string(m.Digest))
	hd.Set("ETag", `"`+string(m.Digest)+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.Content)
	}
	return nil
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.ContentLength > manifest.MaxSize {
		return errcode.New(errcode.ManifestInvalid, "manifest exceeds the %d byte limit", manifest.MaxSize).WithStatus(http.StatusRequestEntityTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, manifest.MaxSize+1))
	if err != nil {
		return errcode.New(errcode.ManifestInvalid, "failed to read manifest body").WithDetail(err.Error())
	}
	if len(body) > manifest.MaxSize {
		return errcode.New(errcode.ManifestInvalid, "manifest exceeds the %d byte limit", manifest.MaxSize).WithStatus(http.StatusRequestEntityTooLarge)
	}
	var tags []string
	if !rt.IsTag() {
		for _, t := range r.URL.Query()["tag"] {
			if err := validateTagParam(t); err != nil {
				return err
			}
			tags = append(tags, t)
		}
	}
	res, err := h.Registry.PutManifest(r.Context(), core.PutManifestRequest{
		Repository: rt.Name, Reference: rt.Reference, ContentType: r.Header.Get("Content-Type"), Content: body, Tags: tags,
	})
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.Name+"/manifests/"+string(res.Digest))
	hd.Set("Docker-Content-Digest", string(res.Digest))
	if res.Subject != "" {
		hd.Set("OCI-Subject", string(res.Subject))
	}
	if len(tags) > 0 {
		for _, t := range res.Tags {
			hd.Add("OCI-Tag", t)
		}
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func validateTagParam(t string) error {
	if err := reference.ValidateTag(t); err != nil {
		return errcode.New(errcode.TagInvalid, "invalid tag").WithDetail(map[string]string{"Tag": t})
	}
	return nil
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed("GET")
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := h.Registry.Referrers(r.Context(), rt.Name, rt.Digest, at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, http.StatusOK, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specsVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}
