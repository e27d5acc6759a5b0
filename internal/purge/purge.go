// Package purge deletes old tags and untagged manifests from a registry that speaks
// the ACR API, as Azure's `acr purge` does: tags selected by repository and tag
// regular expressions, older than a minimum age, beyond the newest few; then,
// optionally, the manifests left without tags.
//
// It streams every listing page by page, so a repository of any size is purged in
// bounded memory: what it holds is one or two pages, the deletions in flight, and
// the set of manifests that kept indexes protect (bounded by the number of those
// children, not by the repository's size). Listings are ordered newest first and
// the deletions of a page start only after the next page has been fetched, so the
// cursor of every page request (the last item of the page before) still exists
// when it is used, whatever the registry does with a cursor that names a deleted
// item.
//
// Untagged manifests are deleted only when nothing keeps them:
//
//   - a manifest that an index still in the repository lists (an index that is
//     tagged, too young, locked, a referrer, or kept by Keep), recursively through
//     nested indexes, is kept;
//   - a referrer (a manifest with a subject) whose subject exists is kept; one whose
//     subject is gone is deleted (acr purge keeps every referrer, relying on ACR to
//     delete referrers with their subject; other registries leave them dangling);
//   - a manifest updated less than Ago before the run started is kept, as is
//     anything updated after the run started.
package purge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/acre-dev/acre/acr"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Registry is what purge needs of a registry client. *acr.Client implements it.
type Registry interface {
	NewListRepositoriesPager(options *acr.ClientListRepositoriesOptions) *runtime.Pager[acr.ClientListRepositoriesResponse]
	NewListTagsPager(name string, options *acr.ClientListTagsOptions) *runtime.Pager[acr.ClientListTagsResponse]
	NewListManifestsPager(name string, options *acr.ClientListManifestsOptions) *runtime.Pager[acr.ClientListManifestsResponse]
	GetRepositoryProperties(ctx context.Context, name string, options *acr.ClientGetRepositoryPropertiesOptions) (acr.ClientGetRepositoryPropertiesResponse, error)
	GetManifest(ctx context.Context, name string, reference string, options *acr.ClientGetManifestOptions) (acr.ClientGetManifestResponse, error)
	GetManifestProperties(ctx context.Context, name string, digest string, options *acr.ClientGetManifestPropertiesOptions) (acr.ClientGetManifestPropertiesResponse, error)
	DeleteTag(ctx context.Context, name string, tag string, options *acr.ClientDeleteTagOptions) (acr.ClientDeleteTagResponse, error)
	DeleteManifest(ctx context.Context, name string, digest string, options *acr.ClientDeleteManifestOptions) (acr.ClientDeleteManifestResponse, error)
	UpdateTagProperties(ctx context.Context, name string, tag string, options *acr.ClientUpdateTagPropertiesOptions) (acr.ClientUpdateTagPropertiesResponse, error)
	UpdateManifestProperties(ctx context.Context, name string, digest string, options *acr.ClientUpdateManifestPropertiesOptions) (acr.ClientUpdateManifestPropertiesResponse, error)
}

var _ Registry = (*acr.Client)(nil)

// Limits and defaults.
const (
	// DefaultConcurrency is how many registry calls run at once by default.
	DefaultConcurrency = 5
	// MaxConcurrency is the most registry calls allowed at once: ACR's advice for
	// parallel deletes, which acr purge follows too.
	MaxConcurrency = 32
	// DefaultPageSize is the number of tags or manifests asked for per page.
	DefaultPageSize = 100
	// maxManifestRead bounds a manifest read to learn its children or subject.
	maxManifestRead = 4 << 20
)

// Options configure Run.
type Options struct {
	// Rules are applied in order; each sees what the earlier ones deleted (in a dry
	// run, what they would have deleted).
	Rules []Rule
	// DryRun changes nothing: the actions are reported as they would happen.
	DryRun bool
	// IncludeLocked unlocks locked tags and manifests (writeEnabled or
	// deleteEnabled false) and deletes them. Without it they are reported as
	// skipped. Locked repositories are always skipped.
	IncludeLocked bool
	// Concurrency is the number of registry calls in parallel (deletions, and the
	// manifest reads that decide them); 0 means DefaultConcurrency.
	Concurrency int
	// Now is when the run starts, against which ages are measured; the zero value
	// means time.Now(). Items updated after Now are never deleted.
	Now time.Time
	// PageSize is the number of tags or manifests per listing page; 0 means
	// DefaultPageSize.
	PageSize int32
	// RepositoryPageSize is the number of repositories per catalog page; 0 means
	// DefaultPageSize.
	RepositoryPageSize int32
	// Report, if set, receives every action as it happens, one call at a time.
	Report func(Action)
}

// Op is what was done to an item.
type Op string

// The operations an Action reports.
const (
	// OpDelete is a deletion (in a dry run, one that would happen).
	OpDelete Op = "delete"
	// OpSkip is an item that would be deleted but is locked.
	OpSkip Op = "skip"
	// OpFail is a deletion, or the check that decides it, that failed.
	OpFail Op = "fail"
)

// Kind is the kind of item an action is about.
type Kind string

// The kinds of item.
const (
	KindTag        Kind = "tag"
	KindManifest   Kind = "manifest"
	KindRepository Kind = "repository"
)

// Action is one thing purge did, would do, or failed to do.
type Action struct {
	Op         Op
	Kind       Kind
	Repository string
	// Tag is set for tags.
	Tag string
	// Digest is the tag's manifest, or the manifest.
	Digest string
	// Unlocked says the item was locked and was unlocked to be deleted
	// (IncludeLocked).
	Unlocked bool
	// DryRun says nothing was changed.
	DryRun bool
	// Reason explains a skip ("locked").
	Reason string
	// Err is why an OpFail failed.
	Err error
}

// Summary counts what a run did.
type Summary struct {
	DryRun bool
	// Repositories is the number of repositories purged (once per rule).
	Repositories        int
	DeletedTags         int
	DeletedManifests    int
	SkippedTags         int
	SkippedManifests    int
	SkippedRepositories int
	// Failed counts the OpFail actions.
	Failed int
}

// Run purges the registry as opts say. Failures to delete single items (or to
// decide about them) are reported as OpFail actions and counted in the Summary,
// and the run goes on. Run stops with an error when it cannot go on: a listing
// fails, the registry refuses the credentials (401 or 403), or ctx ends. The
// Summary counts what was done either way.
func Run(ctx context.Context, reg Registry, opts Options) (Summary, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Concurrency < 1 || opts.Concurrency > MaxConcurrency {
		return Summary{}, fmt.Errorf("concurrency %d: want 1 to %d", opts.Concurrency, MaxConcurrency)
	}
	for i := range opts.Rules {
		if err := opts.Rules[i].Validate(); err != nil {
			return Summary{}, fmt.Errorf("rule %d: %w", i+1, err)
		}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.RepositoryPageSize <= 0 {
		opts.RepositoryPageSize = DefaultPageSize
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e := &engine{
		reg: reg, opts: opts, cancel: cancel,
		sem: make(chan struct{}, opts.Concurrency),
		sum: Summary{DryRun: opts.DryRun},
		dry: map[string]*dryRepo{},
	}
	var err error
	for i := range opts.Rules {
		err = e.runRule(ctx, &opts.Rules[i])
		e.all.Wait() // the next rule sees what this one deleted
		if err != nil {
			break
		}
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		err = cause // a fatal error from a worker, or the caller's cancellation
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sum, err
}

// engine is one run.
type engine struct {
	reg    Registry
	opts   Options
	cancel context.CancelCauseFunc

	sem chan struct{}  // bounds the registry calls in flight
	all sync.WaitGroup // every task

	mu  sync.Mutex // guards sum, dry and Report calls
	sum Summary
	dry map[string]*dryRepo
}

// dryRepo is what a dry run pretends to have deleted in one repository, so that
// later steps (the untagged manifests, later rules) see the state a real run would
// leave. Only dry runs grow it: by one entry per deletion they report.
type dryRepo struct {
	tags      map[string]struct{}
	manifests *digestSet
}

// goTask runs f in the pool, counted in group (and in e.all). It returns false
// without running f when ctx has ended.
func (e *engine) goTask(ctx context.Context, group *sync.WaitGroup, f func()) bool {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	group.Add(1)
	e.all.Add(1)
	go func() {
		defer func() {
			<-e.sem
			group.Done()
			e.all.Done()
		}()
		f()
	}()
	return true
}

func (e *engine) report(a Action) {
	a.DryRun = e.opts.DryRun
	e.mu.Lock()
	defer e.mu.Unlock()
	switch a.Op {
	case OpDelete:
		switch a.Kind {
		case KindTag:
			e.sum.DeletedTags++
		case KindManifest:
			e.sum.DeletedManifests++
		}
	case OpSkip:
		switch a.Kind {
		case KindTag:
			e.sum.SkippedTags++
		case KindManifest:
			e.sum.SkippedManifests++
		case KindRepository:
			e.sum.SkippedRepositories++
		}
	case OpFail:
		e.sum.Failed++
	}
	if e.opts.Report != nil {
		e.opts.Report(a)
	}
}

// fail reports a failed action; an error that will fail every other request as
// well (the credentials are refused) stops the run.
func (e *engine) fail(a Action, err error) {
	if isFatal(err) {
		e.cancel(err)
	}
	a.Op, a.Err = OpFail, err
	e.report(a)
}

// isFatal reports whether err means that going on is pointless: the registry
// refuses the credentials or the permission.
func isFatal(err error) bool {
	s := status(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func notFound(err error) bool { return status(err) == http.StatusNotFound }

// cutoff is the time before which an item must have been updated to be deleted.
func (e *engine) cutoff(ago time.Duration) time.Time { return e.opts.Now.Add(-ago) }

func older(t *time.Time, cutoff time.Time) bool { return t != nil && t.Before(cutoff) }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func isFalse(b *bool) bool { return b != nil && !*b }

func tagLocked(a *acr.TagWriteableProperties) bool {
	return a != nil && (isFalse(a.CanWrite) || isFalse(a.CanDelete))
}

func manifestLocked(a *acr.ManifestWriteableProperties) bool {
	return a != nil && (isFalse(a.CanWrite) || isFalse(a.CanDelete))
}

func repositoryLocked(a *acr.RepositoryWriteableProperties) bool {
	return a != nil && (isFalse(a.CanWrite) || isFalse(a.CanDelete))
}

// --- dry-run state ---

func (e *engine) dryRepo(repo string) *dryRepo {
	d := e.dry[repo]
	if d == nil {
		d = &dryRepo{tags: map[string]struct{}{}, manifests: newDigestSet()}
		e.dry[repo] = d
	}
	return d
}

func (e *engine) dryDeleteTag(repo, tag string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dryRepo(repo).tags[tag] = struct{}{}
}

func (e *engine) dryDeleteManifest(repo, digest string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dryRepo(repo).manifests.add(digest)
}

func (e *engine) dryDeletedTag(repo, tag string) bool {
	if !e.opts.DryRun {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.dry[repo]
	if d == nil {
		return false
	}
	_, ok := d.tags[tag]
	return ok
}

func (e *engine) dryDeletedManifest(repo, digest string) bool {
	if !e.opts.DryRun {
		return false
	}
	e.mu.Lock()
	d := e.dry[repo]
	e.mu.Unlock()
	return d != nil && d.manifests.has(digest)
}

// tagged reports whether a manifest has a tag (that a dry run has not deleted).
func (e *engine) tagged(repo string, m *acr.ManifestAttributes) bool {
	for _, t := range m.Tags {
		if t != nil && !e.dryDeletedTag(repo, *t) {
			return true
		}
	}
	return false
}

// --- repositories ---

// runRule purges every repository the rule selects, streaming the catalog unless
// every filter names a repository literally.
func (e *engine) runRule(ctx context.Context, r *Rule) error {
	if names, ok := literalRepositories(r); ok {
		for _, name := range names {
			if err := e.purgeRepository(ctx, r, name); err != nil {
				return err
			}
		}
		return nil
	}
	pager := e.reg.NewListRepositoriesPager(&acr.ClientListRepositoriesOptions{MaxNum: &e.opts.RepositoryPageSize})
	var current []string
	first := true
	for first || current != nil {
		// Fetch the next page before purging this one, so its cursor (this page's
		// last name) is used before that repository can disappear.
		var next []string
		if pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list repositories: %w", err)
			}
			next = make([]string, 0, len(page.Names))
			for _, n := range page.Names {
				if n != nil {
					next = append(next, *n)
				}
			}
		}
		for _, name := range current {
			if r.selects(name) {
				if err := e.purgeRepository(ctx, r, name); err != nil {
					return err
				}
			}
		}
		current, first = next, false
	}
	return nil
}

// literalRepositories returns the repositories a rule names, sorted and without
// repetition, when every filter names one literally.
func literalRepositories(r *Rule) ([]string, bool) {
	if len(r.Filters) == 0 {
		return nil, false
	}
	var names []string
	for _, f := range r.Filters {
		name, ok := f.literalRepository()
		if !ok {
			return nil, false
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), true
}

// purgeRepository applies a rule to one repository. Errors that concern only this
// repository are reported and the run goes on; the error returned stops the run.
func (e *engine) purgeRepository(ctx context.Context, r *Rule, repo string) error {
	if !r.selects(repo) {
		return nil
	}
	props, err := e.reg.GetRepositoryProperties(ctx, repo, nil)
	switch {
	case notFound(err):
		return nil // gone since it was listed, or named by a filter but absent
	case err != nil:
		return e.repositoryError(ctx, repo, fmt.Errorf("read repository properties: %w", err))
	}
	e.mu.Lock()
	e.sum.Repositories++
	e.mu.Unlock()
	if repositoryLocked(props.ChangeableAttributes) {
		// A locked repository is skipped even with IncludeLocked: unlocking the
		// repository would unlock everything in it, beyond what purge deletes.
		e.report(Action{Op: OpSkip, Kind: KindRepository, Repository: repo, Reason: "locked"})
		return nil
	}
	if !r.UntaggedOnly {
		if err := e.purgeTags(ctx, r, repo); err != nil {
			return e.repositoryError(ctx, repo, err)
		}
	}
	if r.Untagged || r.UntaggedOnly {
		if err := e.purgeManifests(ctx, r, repo); err != nil {
			return e.repositoryError(ctx, repo, err)
		}
	}
	return nil
}

// repositoryError reports an error about one repository and decides whether the
// run can go on: not when the credentials are refused or the run was stopped.
func (e *engine) repositoryError(ctx context.Context, repo string, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if isFatal(err) {
		return fmt.Errorf("%s: %w", repo, err)
	}
	e.fail(Action{Kind: KindRepository, Repository: repo}, err)
	return nil
}

// --- tags ---

type pendingTag struct {
	name, digest string
	locked       bool
}

// purgeTags deletes the tags the rule selects, newest first, keeping the newest
// r.Keep of those that would be deleted.
func (e *engine) purgeTags(ctx context.Context, r *Rule, repo string) error {
	var group sync.WaitGroup
	defer group.Wait()
	m := r.matcher(repo)
	cutoff := e.cutoff(r.Ago)
	order := acr.ArtifactTagOrderByLastUpdatedOnDescending
	pager := e.reg.NewListTagsPager(repo, &acr.ClientListTagsOptions{OrderBy: &order, MaxNum: &e.opts.PageSize})
	kept := 0
	var pending []pendingTag
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if notFound(err) {
			break // the repository is gone
		}
		if err != nil {
			return fmt.Errorf("list tags: %w", err)
		}
		// The previous page's deletions start now that its last tag, this page's
		// cursor, has been used.
		e.deleteTags(ctx, &group, repo, pending)
		pending = nil
		for _, t := range page.Tags {
			if t == nil || t.Name == nil {
				continue
			}
			name, digest := *t.Name, str(t.Digest)
			if e.dryDeletedTag(repo, name) || (digest != "" && e.dryDeletedManifest(repo, digest)) {
				continue
			}
			if !m.selectsTag(name) || !older(t.LastUpdatedOn, cutoff) {
				continue
			}
			locked := tagLocked(t.ChangeableAttributes)
			if locked && !e.opts.IncludeLocked {
				// As in acr purge, a locked tag is not a candidate, so it does not
				// use up one of the tags Keep keeps.
				e.report(Action{Op: OpSkip, Kind: KindTag, Repository: repo, Tag: name, Digest: digest, Reason: "locked"})
				continue
			}
			if kept < r.Keep {
				kept++
				continue
			}
			pending = append(pending, pendingTag{name: name, digest: digest, locked: locked})
		}
	}
	e.deleteTags(ctx, &group, repo, pending)
	group.Wait()
	return context.Cause(ctx)
}

func (e *engine) deleteTags(ctx context.Context, group *sync.WaitGroup, repo string, tags []pendingTag) {
	for _, t := range tags {
		a := Action{Op: OpDelete, Kind: KindTag, Repository: repo, Tag: t.name, Digest: t.digest, Unlocked: t.locked}
		if e.opts.DryRun {
			e.dryDeleteTag(repo, t.name)
			e.report(a)
			continue
		}
		if !e.goTask(ctx, group, func() { e.deleteTag(ctx, a) }) {
			return
		}
	}
}

func (e *engine) deleteTag(ctx context.Context, a Action) {
	if a.Unlocked {
		on := true
		if _, err := e.reg.UpdateTagProperties(ctx, a.Repository, a.Tag, &acr.ClientUpdateTagPropertiesOptions{
			Value: &acr.TagWriteableProperties{CanWrite: &on, CanDelete: &on}}); err != nil {
			e.fail(a, fmt.Errorf("unlock: %w", err))
			return
		}
	}
	if _, err := e.reg.DeleteTag(ctx, a.Repository, a.Tag, nil); err != nil {
		e.fail(a, err)
		return
	}
	e.report(a)
}

// --- untagged manifests ---

// manifestKind sorts manifests by what purge must learn about them.
type manifestKind int

const (
	// kindPlain manifests can have neither children nor a subject (Docker images).
	kindPlain manifestKind = iota
	// kindDockerList manifests have children and no subject.
	kindDockerList
	// kindOCI manifests may have a subject; kindOCIIndex also has children.
	kindOCI
	kindOCIIndex
	// kindUnknown manifests (no or an unknown media type) are read to find out.
	kindUnknown
)

const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestV1   = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerManifestV1S  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

func classify(mediaType string) manifestKind {
	switch mediaType {
	case mediaTypeDockerManifest, mediaTypeDockerManifestV1, mediaTypeDockerManifestV1S:
		return kindPlain
	case mediaTypeDockerManifestList:
		return kindDockerList
	case ocispec.MediaTypeImageManifest, mediaTypeArtifactManifest:
		return kindOCI
	case ocispec.MediaTypeImageIndex:
		return kindOCIIndex
	}
	return kindUnknown
}

// mayHaveChildren reports whether a descriptor's media type may be an index.
func mayHaveChildren(mediaType string) bool {
	switch classify(mediaType) {
	case kindDockerList, kindOCIIndex, kindUnknown:
		return true
	}
	return false
}

// manifestDoc is the part of a manifest purge reads.
type manifestDoc struct {
	Manifests []ocispec.Descriptor `json:"manifests"`
	Subject   *ocispec.Descriptor  `json:"subject"`
}

// protection is what keeps untagged manifests of one repository: the children of
// kept indexes (protected) and the indexes whose children are known (expanded).
type protection struct {
	protected *digestSet
	expanded  *digestSet

	mu  sync.Mutex
	err error // the first failure to learn an index's children
}

func (p *protection) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *protection) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// purgeManifests deletes the untagged manifests nothing keeps. The first pass over
// the listing learns what kept indexes protect; the second deletes.
func (e *engine) purgeManifests(ctx context.Context, r *Rule, repo string) error {
	p := &protection{protected: newDigestSet(), expanded: newDigestSet()}
	cutoff := e.cutoff(r.Ago)
	if err := e.protect(ctx, repo, p, cutoff); err != nil {
		// Without knowing every kept index's children, no untagged manifest can be
		// deleted safely.
		return fmt.Errorf("untagged manifests not purged: %w", err)
	}
	return e.deleteUntagged(ctx, r, repo, p, cutoff)
}

// candidate reports whether an untagged manifest is old enough and deletable
// (locks aside with IncludeLocked).
func (e *engine) candidate(repo string, m *acr.ManifestAttributes, cutoff time.Time) bool {
	return !e.tagged(repo, m) && older(m.LastUpdatedOn, cutoff) &&
		(e.opts.IncludeLocked || !manifestLocked(m.ChangeableAttributes))
}

func (e *engine) manifestOrder() *acr.ClientListManifestsOptions {
	order := acr.ArtifactManifestOrderByLastUpdatedOnDescending
	return &acr.ClientListManifestsOptions{OrderBy: &order, MaxNum: &e.opts.PageSize}
}

// protect is the first pass: it expands every index that stays (tagged, too
// young, locked, or a referrer of an existing subject) into the set of manifests it
// protects.
func (e *engine) protect(ctx context.Context, repo string, p *protection, cutoff time.Time) error {
	var group sync.WaitGroup
	defer group.Wait()
	pager := e.reg.NewListManifestsPager(repo, e.manifestOrder())
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if notFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("list manifests: %w", err)
		}
		for _, m := range page.Attributes {
			if m == nil || m.Digest == nil {
				continue
			}
			d, kind := *m.Digest, classify(str(m.MediaType))
			if kind == kindPlain || kind == kindOCI || e.dryDeletedManifest(repo, d) {
				continue // no children to protect
			}
			keep := !e.candidate(repo, m, cutoff)
			if !keep && kind == kindDockerList {
				continue // deletable, and it cannot be a referrer
			}
			e.goTask(ctx, &group, func() {
				if err := e.protectIndex(ctx, repo, p, d, keep); err != nil {
					p.setErr(err)
				}
			})
		}
		if err := p.firstErr(); err != nil {
			return err
		}
	}
	group.Wait()
	if err := p.firstErr(); err != nil {
		return err
	}
	return context.Cause(ctx)
}

// protectIndex expands an index (or a manifest of unknown type) that stays, or, for
// a candidate (keep false), one that turns out to be a referrer of an existing
// subject.
func (e *engine) protectIndex(ctx context.Context, repo string, p *protection, d string, keep bool) error {
	if p.expanded.has(d) {
		return nil
	}
	content, err := e.readManifest(ctx, repo, d)
	if notFound(err) {
		return nil // deleted meanwhile: it protects nothing
	}
	if err != nil {
		return fmt.Errorf("read index %s: %w", d, err)
	}
	if !keep {
		var doc manifestDoc
		if json.Unmarshal(content, &doc) != nil || doc.Subject == nil || len(doc.Manifests) == 0 {
			return nil // not a referrer index: deleted in the second pass unless protected
		}
		exists, err := e.manifestExists(ctx, repo, string(doc.Subject.Digest))
		if err != nil {
			return fmt.Errorf("check the subject of index %s: %w", d, err)
		}
		if !exists {
			return nil
		}
	}
	return e.expand(ctx, repo, p, d, content)
}

// expand adds the children of index d (content, if already read) to the protected
// set, and recursively those of its child indexes.
func (e *engine) expand(ctx context.Context, repo string, p *protection, d string, content []byte) error {
	type item struct {
		digest  string
		content []byte
	}
	queue := []item{{d, content}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if !p.expanded.add(it.digest) {
			continue
		}
		if it.content == nil {
			c, err := e.readManifest(ctx, repo, it.digest)
			if notFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read index %s: %w", it.digest, err)
			}
			it.content = c
		}
		var doc manifestDoc
		if err := json.Unmarshal(it.content, &doc); err != nil {
			continue // not JSON: a manifest of some other kind, without children
		}
		for _, c := range doc.Manifests {
			child := string(c.Digest)
			if child == "" {
				continue
			}
			p.protected.add(child)
			if mayHaveChildren(c.MediaType) && !p.expanded.has(child) {
				queue = append(queue, item{digest: child})
			}
		}
	}
	return nil
}

// readManifest reads a manifest's content, verified against its digest.
func (e *engine) readManifest(ctx context.Context, repo, d string) ([]byte, error) {
	resp, err := e.reg.GetManifest(ctx, repo, d, nil)
	if err != nil {
		return nil, err
	}
	defer resp.ManifestData.Close()
	b, err := io.ReadAll(io.LimitReader(resp.ManifestData, maxManifestRead+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestRead {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", d, maxManifestRead)
	}
	return b, nil
}

// manifestExists reports whether a manifest is in the repository (and, in a dry
// run, not deleted by it).
func (e *engine) manifestExists(ctx context.Context, repo, d string) (bool, error) {
	if d == "" || e.dryDeletedManifest(repo, d) {
		return false, nil
	}
	_, err := e.reg.GetManifestProperties(ctx, repo, d, nil)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, err
}

// untaggedCandidate is an untagged manifest the second pass considers.
type untaggedCandidate struct {
	digest   string
	kind     manifestKind
	locked   bool
	content  []byte // an index's content, read to check its subject
	isIndex  bool
	gone     bool  // deleted meanwhile
	referrer bool  // its subject exists
	stays    bool  // kept by Keep, or locked
	err      error // reading it or its subject failed
}

// deleteUntagged is the second pass: it deletes the untagged candidates that
// nothing protects, newest first.
func (e *engine) deleteUntagged(ctx context.Context, r *Rule, repo string, p *protection, cutoff time.Time) error {
	var group sync.WaitGroup
	defer group.Wait()
	pager := e.reg.NewListManifestsPager(repo, e.manifestOrder())
	kept := 0
	var pending []*untaggedCandidate
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if notFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("list manifests: %w", err)
		}
		e.deleteManifests(ctx, &group, repo, pending)
		pending = nil

		var cands []*untaggedCandidate
		for _, m := range page.Attributes {
			if m == nil || m.Digest == nil {
				continue
			}
			d := *m.Digest
			if e.dryDeletedManifest(repo, d) || e.tagged(repo, m) || p.protected.has(d) || !older(m.LastUpdatedOn, cutoff) {
				continue
			}
			// Locked candidates are read too: only one that would otherwise be
			// deleted (not a referrer of an existing subject) is reported as skipped.
			kind := classify(str(m.MediaType))
			cands = append(cands, &untaggedCandidate{digest: d, kind: kind, locked: manifestLocked(m.ChangeableAttributes),
				isIndex: kind == kindDockerList || kind == kindOCIIndex})
		}

		// Read, in parallel, the manifests that may be referrers.
		var reads sync.WaitGroup
		for _, c := range cands {
			if c.kind == kindOCI || c.kind == kindOCIIndex || c.kind == kindUnknown {
				e.goTask(ctx, &reads, func() { e.inspect(ctx, repo, c) })
			}
		}
		reads.Wait()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}

		// Decide in order (newest first); what stays protects its children before
		// anything is deleted. (The first pass protected them already, except when
		// Keep keeps an index or the manifest appeared since.)
		for _, c := range cands {
			switch {
			case c.gone:
				continue
			case c.err != nil:
				e.fail(Action{Kind: KindManifest, Repository: repo, Digest: c.digest}, c.err)
				continue
			case c.referrer:
			case c.locked && !e.opts.IncludeLocked:
				// As for tags, a locked manifest does not use up one Keep keeps.
				c.stays = true
				e.report(Action{Op: OpSkip, Kind: KindManifest, Repository: repo, Digest: c.digest, Reason: "locked"})
			case r.UntaggedOnly && kept < r.Keep && !p.protected.has(c.digest):
				kept++
				c.stays = true
			default:
				continue
			}
			if c.isIndex {
				if err := e.expand(ctx, repo, p, c.digest, c.content); err != nil {
					return err
				}
			}
		}
		for _, c := range cands {
			if !c.gone && c.err == nil && !c.referrer && !c.stays && !p.protected.has(c.digest) {
				c.content = nil
				pending = append(pending, c)
			}
		}
	}
	e.deleteManifests(ctx, &group, repo, pending)
	group.Wait()
	return context.Cause(ctx)
}

// inspect reads a candidate to learn whether it is a referrer whose subject
// exists, and whether it is an index.
func (e *engine) inspect(ctx context.Context, repo string, c *untaggedCandidate) {
	content, err := e.readManifest(ctx, repo, c.digest)
	if notFound(err) {
		c.gone = true
		return
	}
	if err != nil {
		if isFatal(err) {
			e.cancel(err)
		}
		c.err = fmt.Errorf("read manifest to check for a subject: %w", err)
		return
	}
	var doc manifestDoc
	if err := json.Unmarshal(content, &doc); err != nil {
		c.err = fmt.Errorf("parse manifest to check for a subject: %w", err)
		return
	}
	if len(doc.Manifests) > 0 {
		c.isIndex = true
		c.content = content
	}
	if doc.Subject != nil {
		exists, err := e.manifestExists(ctx, repo, string(doc.Subject.Digest))
		if err != nil {
			if isFatal(err) {
				e.cancel(err)
			}
			c.err = fmt.Errorf("check subject %s: %w", doc.Subject.Digest, err)
			return
		}
		c.referrer = exists
	}
}

func (e *engine) deleteManifests(ctx context.Context, group *sync.WaitGroup, repo string, cands []*untaggedCandidate) {
	for _, c := range cands {
		a := Action{Op: OpDelete, Kind: KindManifest, Repository: repo, Digest: c.digest, Unlocked: c.locked}
		if e.opts.DryRun {
			e.dryDeleteManifest(repo, c.digest)
			e.report(a)
			continue
		}
		if !e.goTask(ctx, group, func() { e.deleteManifest(ctx, a) }) {
			return
		}
	}
}

func (e *engine) deleteManifest(ctx context.Context, a Action) {
	if a.Unlocked {
		on := true
		if _, err := e.reg.UpdateManifestProperties(ctx, a.Repository, a.Digest, &acr.ClientUpdateManifestPropertiesOptions{
			Value: &acr.ManifestWriteableProperties{CanWrite: &on, CanDelete: &on}}); err != nil {
			e.fail(a, fmt.Errorf("unlock: %w", err))
			return
		}
	}
	if _, err := e.reg.DeleteManifest(ctx, a.Repository, a.Digest, nil); err != nil {
		e.fail(a, err)
		return
	}
	e.report(a)
}
