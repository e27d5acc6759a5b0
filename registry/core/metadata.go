package core

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AttributesPatch changes some changeable attributes; nil fields stay as they are.
type AttributesPatch struct {
	DeleteEnabled *bool `json:"deleteEnabled,omitempty"`
	WriteEnabled  *bool `json:"writeEnabled,omitempty"`
	ReadEnabled   *bool `json:"readEnabled,omitempty"`
	ListEnabled   *bool `json:"listEnabled,omitempty"`
}

func (p AttributesPatch) apply(a store.Attributes) store.Attributes {
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.DeleteEnabled, p.DeleteEnabled)
	set(&a.WriteEnabled, p.WriteEnabled)
	set(&a.ReadEnabled, p.ReadEnabled)
	set(&a.ListEnabled, p.ListEnabled)
	return a
}

func tagUnknown(tag string) *errcode.Error {
	return errcode.New(errcode.TagUnknown, "the specified tag does not exist").WithDetail(nil)
}

// RepositoryInfo is a repository with its counts.
type RepositoryInfo struct {
	store.Repository
	ManifestCount int
	TagCount      int
}

func repositoryInfo(ctx context.Context, tx store.MetadataTx, repo store.Repository) (RepositoryInfo, error) {
	m, t, err := tx.CountRepository(ctx, repo.ID)
	return RepositoryInfo{Repository: repo, ManifestCount: m, TagCount: t}, err
}

// Repository returns a repository's properties.
func (r *Registry) Repository(ctx context.Context, name string) (RepositoryInfo, error) {
	var info RepositoryInfo
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		info, err = repositoryInfo(ctx, tx, repo)
		return err
	})
	return info, err
}

// UpdateRepository changes a repository's attributes. Its lastUpdateTime stays: only
// content changes move it.
func (r *Registry) UpdateRepository(ctx context.Context, name string, patch AttributesPatch) (RepositoryInfo, error) {
	var info RepositoryInfo
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		repo.Attributes = patch.apply(repo.Attributes)
		if err := tx.UpdateRepository(ctx, repo); err != nil {
			return err
		}
		info, err = repositoryInfo(ctx, tx, repo)
		return err
	})
	return info, err
}

// DeletedRepository lists what deleting a repository removed.
type DeletedRepository struct {
	Manifests []digest.Digest
	Tags      []string
}

// DeleteRepository deletes a repository with everything in it. It refuses, and
// changes nothing, if the repository or anything in it is locked against deletion.
func (r *Registry) DeleteRepository(ctx context.Context, name string) (DeletedRepository, error) {
	var out DeletedRepository
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		out = DeletedRepository{Manifests: []digest.Digest{}, Tags: []string{}}
		repo, err := tx.Repository(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return errcode.New(errcode.NameUnknown, "repository name not known to registry").WithDetail(map[string]string{"name": name})
		} else if err != nil {
			return err
		}
		if !repo.DeleteEnabled || !repo.WriteEnabled {
			return errDisallowed
		}
		manifests, err := tx.ListManifests(ctx, repo.ID, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, m := range manifests {
			if !m.DeleteEnabled || !m.WriteEnabled {
				return errDisallowed
			}
			out.Manifests = append(out.Manifests, m.Digest)
		}
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, t := range tags {
			if !t.DeleteEnabled || !t.WriteEnabled {
				return errDisallowed
			}
			out.Tags = append(out.Tags, t.Name)
		}
		return tx.DeleteRepository(ctx, repo.ID)
	})
	return out, err
}

// ListRequest selects a page of an ACR listing.
type ListRequest struct {
	// After is the last tag name or manifest digest of the previous page.
	After string
	Limit int
	Order store.Order
	// Digest keeps only the tags of one manifest.
	Digest digest.Digest
}

// Tag returns a tag's properties.
func (r *Registry) Tag(ctx context.Context, name, tag string) (store.Tag, error) {
	var t store.Tag
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		t, err = tx.Tag(ctx, repo.ID, tag)
		if errors.Is(err, store.ErrNotFound) {
			return tagUnknown(tag)
		}
		return err
	})
	return t, err
}

// UpdateTag changes a tag's attributes (not its lastUpdateTime).
func (r *Registry) UpdateTag(ctx context.Context, name, tag string, patch AttributesPatch) (store.Tag, error) {
	var t store.Tag
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		t, err = tx.Tag(ctx, repo.ID, tag)
		if errors.Is(err, store.ErrNotFound) {
			return tagUnknown(tag)
		} else if err != nil {
			return err
		}
		t.Attributes = patch.apply(t.Attributes)
		return tx.PutTag(ctx, t)
	})
	return t, err
}

// ListTagsPage lists a page of a repository's tags with their properties, in any
// order, hiding tags whose listEnabled is false.
func (r *Registry) ListTagsPage(ctx context.Context, name string, req ListRequest) (Page[store.Tag], error) {
	var page Page[store.Tag]
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		tags, err := tx.ListTags(ctx, repo.ID, store.ListOptions{After: req.After, Limit: req.Limit + 1, Order: req.Order,
			Digest: req.Digest, ListableOnly: true})
		if err != nil {
			return err
		}
		page.Items = tags
		if len(tags) > req.Limit {
			page.Items = tags[:req.Limit]
			page.Next = page.Items[req.Limit-1].Name
		}
		return nil
	})
	return page, err
}

// PlatformRef is a child of an index, as ACR reports it in "references".
type PlatformRef struct {
	Digest       digest.Digest
	Architecture string
	OS           string
}

// ManifestInfo is a manifest with its tags and, for indexes, its children.
type ManifestInfo struct {
	store.Manifest
	Tags       []string
	References []PlatformRef
}

func manifestInfo(ctx context.Context, tx store.MetadataTx, m store.Manifest) (ManifestInfo, error) {
	info := ManifestInfo{Manifest: m}
	tags, err := tx.ListTags(ctx, m.RepositoryID, store.ListOptions{Digest: m.Digest, ListableOnly: true})
	if err != nil {
		return info, err
	}
	for _, t := range tags {
		info.Tags = append(info.Tags, t.Name)
	}
	if len(m.Content) > 0 {
		var idx struct {
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if json.Unmarshal(m.Content, &idx) == nil {
			for _, c := range idx.Manifests {
				ref := PlatformRef{Digest: c.Digest}
				if c.Platform != nil {
					ref.Architecture, ref.OS = c.Platform.Architecture, c.Platform.OS
				}
				info.References = append(info.References, ref)
			}
		}
	}
	return info, nil
}

func (r *Registry) manifestRecord(ctx context.Context, tx store.MetadataTx, name string, d digest.Digest) (store.Manifest, error) {
	repo, err := repository(ctx, tx, name)
	if err != nil {
		return store.Manifest{}, err
	}
	m, err := tx.Manifest(ctx, repo.ID, d)
	if errors.Is(err, store.ErrNotFound) {
		return m, manifestUnknown(string(d), false)
	}
	return m, err
}

// Manifest returns a manifest's properties.
func (r *Registry) Manifest(ctx context.Context, name string, d digest.Digest) (ManifestInfo, error) {
	var info ManifestInfo
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		m, err := r.manifestRecord(ctx, tx, name, d)
		if err != nil {
			return err
		}
		info, err = manifestInfo(ctx, tx, m)
		return err
	})
	return info, err
}

// UpdateManifest changes a manifest's attributes (not its lastUpdateTime).
func (r *Registry) UpdateManifest(ctx context.Context, name string, d digest.Digest, patch AttributesPatch) (ManifestInfo, error) {
	var info ManifestInfo
	err := r.meta.Update(ctx, func(tx store.MetadataTx) error {
		m, err := r.manifestRecord(ctx, tx, name, d)
		if err != nil {
			return err
		}
		m.Attributes = patch.apply(m.Attributes)
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		info, err = manifestInfo(ctx, tx, m)
		return err
	})
	return info, err
}

// ListManifestsPage lists a page of a repository's manifests with their tags, in
// any order, hiding manifests whose listEnabled is false.
func (r *Registry) ListManifestsPage(ctx context.Context, name string, req ListRequest) (Page[ManifestInfo], error) {
	var page Page[ManifestInfo]
	err := r.meta.View(ctx, func(tx store.MetadataTx) error {
		repo, err := repository(ctx, tx, name)
		if err != nil {
			return err
		}
		ms, err := tx.ListManifests(ctx, repo.ID, store.ListOptions{After: req.After, Limit: req.Limit + 1, Order: req.Order, ListableOnly: true})
		if err != nil {
			return err
		}
		if len(ms) > req.Limit {
			ms = ms[:req.Limit]
			page.Next = string(ms[req.Limit-1].Digest)
		}
		page.Items = make([]ManifestInfo, 0, len(ms))
		for _, m := range ms {
			info, err := manifestInfo(ctx, tx, m)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, info)
		}
		return nil
	})
	return page, err
}
