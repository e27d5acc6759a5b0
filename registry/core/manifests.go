package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/internal/manifest"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxConfigSize bounds how much of an image config blob is read to find its platform.
const maxConfigSize = 4 << 20

func manifestUnknown(ref string, isTag bool) *errcode.Error {
	if isTag {
		return errcode.New(errcode.ManifestUnknown, "manifest tagged by %q is not found", ref).WithDetail(map[string]string{"Tag": ref})
	}
	return errcode.New(errcode.ManifestUnknown, "manifest %s is not found", ref)
}

// GetManifest resolves a tag or digest in repository name and returns the manifest
// with its content.
func (r *Registry) GetManifest(ctx context.Context, name, ref string) (store.Manifest, error) {
	var m store.Manifest
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		if !repo.ReadEnabled {
			return errDisallowed
		}
		d, isTag := digest.Digest(ref), false
		if _, perr := digest.Parse(ref); perr != nil {
			isTag = true
			tag, err := tx.Tag(ctx, repo.ID, ref)
			if errors.Is(err, store.ErrNotFound) {
				return manifestUnknown(ref, true)
			} else if err != nil {
				return err
			}
			if !tag.ReadEnabled {
				return errDisallowed
			}
			d = tag.Digest
		}
		m, err = tx.Manifest(ctx, repo.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			return manifestUnknown(ref, isTag)
		} else if err != nil {
			return err
		}
		if !m.ReadEnabled {
			return errDisallowed
		}
		return nil
	})
	return m, err
}

// PutManifestRequest is a manifest push.
type PutManifestRequest struct {
	Repository string
	// Reference is the tag or digest in the request path.
	Reference   string
	ContentType string
	Content     []byte
	// Tags are extra tags to point at the manifest (OCI "?tag=" parameters).
	Tags []string
}

// PutManifestResult is what a push created.
type PutManifestResult struct {
	Digest  digest.Digest
	Subject digest.Digest
	Tags    []string
}

func manifestInvalid(err error) *errcode.Error {
	return errcode.New(errcode.ManifestInvalid, "manifest invalid").WithDetail(err.Error())
}

// PutManifest validates and stores a manifest, tagging it when the reference is a tag.
// Everything it references must exist in the repository unless sparse manifests are
// allowed; the manifest, its tags and the repository change in one transaction.
func (r *Registry) PutManifest(ctx context.Context, req PutManifestRequest) (PutManifestResult, error) {
	var res PutManifestResult
	parsed, err := manifest.Parse(req.ContentType, req.Content)
	if err != nil {
		return res, manifestInvalid(err)
	}
	tags := req.Tags
	alg := digest.Canonical
	_, perr := digest.Parse(req.Reference)
	byDigest := perr == nil
	if byDigest {
		alg = digest.Digest(req.Reference).Algorithm()
	} else {
		tags = append([]string{req.Reference}, tags...)
	}
	d := manifest.Digest(alg, req.Content)
	if byDigest && d != digest.Digest(req.Reference) {
		return res, errcode.New(errcode.DigestInvalid, "provided digest did not match uploaded content").
			WithDetail(map[string]string{"expected": req.Reference, "computed": string(d)})
	}
	res.Digest, res.Tags = d, dedupe(tags)
	if parsed.Subject != nil {
		res.Subject = parsed.Subject.Digest
	}

	rec := store.Manifest{
		Digest:       d,
		MediaType:    parsed.MediaType,
		ArtifactType: parsed.ArtifactType,
		Subject:      res.Subject,
		Annotations:  parsed.Annotations,
		Content:      req.Content,
		ImageSize:    int64(len(req.Content)) + parsed.ReferencedSize(),
		Attributes:   store.DefaultAttributes,
	}
	if parsed.Config != nil {
		rec.ConfigMediaType = parsed.Config.MediaType
		if manifest.IsImageConfig(parsed.Config.MediaType) {
			// Best effort: a missing or odd config is caught by the existence check below.
			if cfg, err := r.readImageConfig(ctx, *parsed.Config); err == nil {
				rec.Architecture, rec.OS, rec.Variant = cfg.Architecture, cfg.OS, cfg.Variant
			}
		}
	}

	err = r.meta.Update(ctx, func(tx store.MetadataTx) error {
		now := r.now()
		repo, err := r.writableRepository(ctx, tx, req.Repository)
		if err != nil {
			return err
		}
		childSize, err := r.checkReferences(ctx, tx, repo, parsed)
		if err != nil {
			return err
		}
		m := rec
		m.RepositoryID = repo.ID
		m.CreatedAt, m.UpdatedAt = now, now
		if parsed.IsIndex() {
			// ACR reports an index's size as the sum of its images'.
			m.ImageSize = int64(len(req.Content)) + childSize
		}
		changed := false
		switch _, err := tx.Manifest(ctx, repo.ID, d); {
		case err == nil:
			// Identical content is already there: keep its history and locks, and
			// change nothing (a write-locked manifest stays untouched).
		case errors.Is(err, store.ErrNotFound):
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
			changed = true
		default:
			return err
		}
		for _, name := range res.Tags {
			tag := store.Tag{RepositoryID: repo.ID, Name: name, Digest: d, CreatedAt: now, UpdatedAt: now, Attributes: store.DefaultAttributes}
			old, err := tx.Tag(ctx, repo.ID, name)
			switch {
			case err == nil:
				if old.Digest == d {
					continue // already there: nothing moves, nothing changes
				}
				if !old.WriteEnabled {
					return errDisallowed
				}
				tag.CreatedAt, tag.Attributes = old.CreatedAt, old.Attributes
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			if err := tx.PutTag(ctx, tag); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			repo.UpdatedAt = now
			return tx.UpdateRepository(ctx, repo)
		}
		return nil
	})
	return res, err
}

func dedupe(tags []string) []string {
	seen := make(map[string]bool, len(tags))
	out := tags[:0:0]
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// checkReferences refuses a manifest whose blobs or child manifests are not in the
// repository. For an index it returns the sum of its children's image sizes.
func (r *Registry) checkReferences(ctx context.Context, tx store.MetadataTx, repo store.Repository, m *manifest.Manifest) (int64, error) {
	for i, b := range m.Blobs() {
		if i > 0 && r.opts.AllowSparseManifests {
			break // sparse images may lack layers, never their config
		}
		if _, err := tx.Blob(ctx, repo.ID, b.Digest); errors.Is(err, store.ErrNotFound) {
			return 0, errcode.New(errcode.ManifestBlobUnknown, "blob unknown to registry").WithDetail(map[string]string{"digest": string(b.Digest)})
		} else if err != nil {
			return 0, err
		}
	}
	var size int64
	for _, c := range m.Manifests {
		child, err := tx.Manifest(ctx, repo.ID, c.Digest)
		switch {
		case err == nil:
			size += child.ImageSize
		case errors.Is(err, store.ErrNotFound) && r.opts.AllowSparseManifests:
			size += c.Size
		case errors.Is(err, store.ErrNotFound):
			return 0, errcode.New(errcode.ManifestBlobUnknown, "manifest unknown to registry").WithDetail(map[string]string{"digest": string(c.Digest)})
		default:
			return 0, err
		}
	}
	return size, nil
}

// readImageConfig reads the platform fields of an image config blob.
func (r *Registry) readImageConfig(ctx context.Context, desc ocispec.Descriptor) (manifest.ImageConfig, error) {
	var cfg manifest.ImageConfig
	if desc.Size > maxConfigSize {
		return cfg, fmt.Errorf("config blob of %d bytes is too large to inspect", desc.Size)
	}
	rc, err := r.blobs.Open(ctx, desc.Digest, 0)
	if err != nil {
		return cfg, err
	}
	defer rc.Close()
	err = json.NewDecoder(io.LimitReader(rc, maxConfigSize)).Decode(&cfg)
	return cfg, err
}

// DeleteManifest deletes a manifest by digest, with the tags that point at it.
func (r *Registry) DeleteManifest(ctx context.Context, name string, d digest.Digest) error {
	return r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return manifestUnknownIfNoRepo(err, string(d))
		}
		m, err := tx.Manifest(ctx, repo.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			return manifestUnknown(string(d), false)
		} else if err != nil {
			return err
		}
		if !repo.WriteEnabled || !m.WriteEnabled || !m.DeleteEnabled {
			return errDisallowed
		}
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{Digest: d})
		if err != nil {
			return err
		}
		for _, t := range tags {
			if !t.WriteEnabled || !t.DeleteEnabled {
				return errDisallowed
			}
		}
		if err := tx.DeleteManifest(ctx, repo.ID, d); err != nil {
			return err
		}
		repo.UpdatedAt = r.now()
		return tx.UpdateRepository(ctx, repo)
	})
}

func manifestUnknownIfNoRepo(err error, ref string) error {
	var e *errcode.Error
	if errors.As(err, &e) && e.Code == errcode.NameUnknown {
		return manifestUnknown(ref, false)
	}
	return err
}

// DeleteTag deletes a tag and returns the digest it pointed at; the manifest stays.
// A missing tag is TAG_UNKNOWN.
func (r *Registry) DeleteTag(ctx context.Context, name, tag string) (digest.Digest, error) {
	var d digest.Digest
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		t, err := tx.Tag(ctx, repo.ID, tag)
		if errors.Is(err, store.ErrNotFound) {
			return tagUnknown(tag)
		} else if err != nil {
			return err
		}
		if !repo.WriteEnabled || !t.WriteEnabled || !t.DeleteEnabled {
			return errDisallowed
		}
		d = t.Digest
		if err := tx.DeleteTag(ctx, repo.ID, tag); err != nil {
			return err
		}
		repo.UpdatedAt = r.now()
		return tx.UpdateRepository(ctx, repo)
	})
	return d, err
}

// Page is one page of a listing, with the cursor for the next page ("" at the end).
type Page[T any] struct {
	Items []T
	Next  string
}

// ListTags lists tag names in lexical order (the OCI tags/list API).
func (r *Registry) ListTags(ctx context.Context, name, after string, limit int) (Page[string], error) {
	var page Page[string]
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		if !repo.ListEnabled {
			page.Items = []string{}
			return nil
		}
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{After: after, Limit: limit + 1, ListableOnly: true})
		if err != nil {
			return err
		}
		page.Items = make([]string, 0, len(tags))
		for i, t := range tags {
			if i == limit {
				page.Next = page.Items[limit-1]
				break
			}
			page.Items = append(page.Items, t.Name)
		}
		return nil
	})
	return page, err
}

// ListRepositories lists repository names in lexical order (the OCI _catalog API).
func (r *Registry) ListRepositories(ctx context.Context, after string, limit int) (Page[string], error) {
	var page Page[string]
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repos, err := tx.ListRepositories(ctx, store.ListOptions{After: after, Limit: limit + 1, ListableOnly: true})
		if err != nil {
			return err
		}
		page.Items = make([]string, 0, len(repos))
		for i, rp := range repos {
			if i == limit {
				page.Next = page.Items[limit-1]
				break
			}
			page.Items = append(page.Items, rp.Name)
		}
		return nil
	})
	return page, err
}

// Referrers lists the manifests in repository name whose subject is d, optionally
// only those of one artifact type, as OCI descriptors.
func (r *Registry) Referrers(ctx context.Context, name string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := tx.Repository(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil // no referrers yet: an empty index, not an error
		} else if err != nil {
			return err
		}
		if !repo.ReadEnabled {
			return errDisallowed
		}
		refs, err := tx.Referrers(ctx, repo.ID, d)
		if err != nil {
			return err
		}
		for _, m := range refs {
			at := m.ArtifactType
			if at == "" {
				at = m.ConfigMediaType
			}
			if artifactType != "" && at != artifactType {
				continue
			}
			if !m.ListEnabled {
				continue
			}
			out = append(out, ocispec.Descriptor{
				MediaType:    m.MediaType,
				Digest:       m.Digest,
				Size:         m.Size,
				ArtifactType: at,
				Annotations:  m.Annotations,
			})
		}
		return nil
	})
	return out, err
}
