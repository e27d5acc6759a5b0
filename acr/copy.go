package acr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Repository is a repository on a registry, as the source or the destination of
// Copy: the client that reaches the registry and the repository's name.
//
// It is a plain struct rather than a handle with a constructor because it only
// pairs values the caller already has; the zero value of Blobs is useful.
type Repository struct {
	// Client reaches the registry.
	Client *Client

	// Blobs transfers the repository's blobs. Nil means a blob client on Client's
	// pipeline (same endpoint, credential and options), which is what most callers
	// want; set it to transfer blobs with other options, such as longer timeouts.
	Blobs *BlobClient

	// Name is the repository's name, such as "library/hello-world".
	Name string
}

func (r Repository) blobClient() *BlobClient {
	if r.Blobs != nil {
		return r.Blobs
	}
	base, _ := url.Parse(r.Client.endpoint)
	return &BlobClient{endpoint: r.Client.endpoint, base: base, pl: r.Client.pl}
}

// CopyOptions holds the optional parameters of Copy.
type CopyOptions struct {
	// Tags are more tags to set on the copy at the destination, besides
	// dstReference.
	Tags []string

	// Platforms, when the source is an index (or a Docker manifest list), copies
	// only the manifests for these platforms, chosen as FetchManifest chooses one,
	// and buildx attestation manifests that describe them. The destination then
	// gets a new index that lists only those (unless they are all there are), with
	// its own digest, which CopyResponse reports; the referrers of the source
	// index do not apply to it and are not copied. To copy a single platform's image
	// rather than an index, resolve it with FetchManifest first and copy its digest.
	Platforms []ocispec.Platform

	// Referrers copies the referrers (signatures, SBOMs, attestations) of every
	// manifest copied, and their referrers in turn.
	Referrers bool

	// Concurrency is how many blobs are transferred at once; default 4.
	Concurrency int

	// Progress, if set, reports the blob bytes done so far over all blobs, and their
	// total. Blobs already at the destination or mounted count as done at once.
	// Manifests are not counted: they are small.
	Progress Progress

	// BlobProgress, if set, reports the bytes done so far of one blob.
	//
	// Progress and BlobProgress are never called concurrently, so they need no
	// locking, but they should return quickly: transfers wait for them.
	BlobProgress func(blob ocispec.Descriptor, transferred, total int64)
}

// CopyResponse is the result of Copy.
type CopyResponse struct {
	// Digest is the digest of the copy at the destination: the source's, or the
	// filtered index's with CopyOptions.Platforms.
	Digest string

	// MediaType is the copied manifest's media type.
	MediaType string

	// Size is the copied manifest's size in bytes.
	Size int64

	// Manifests is how many manifests were uploaded; manifests already at the
	// destination are not uploaded again (only tagged, for the root).
	Manifests int

	// BlobsCopied, BlobsMounted and BlobsSkipped count the blobs streamed from the
	// source, mounted from the source repository (same registry) and found at the
	// destination already.
	BlobsCopied, BlobsMounted, BlobsSkipped int

	// BytesCopied is the size of the blobs streamed.
	BytesCopied int64
}

// defaultCopyConcurrency is Copy's default number of blobs in flight: enough to
// hide per-request latency, few enough not to trip registries' rate limits.
const defaultCopyConcurrency = 4

// maxCopyDepth and maxCopyManifests bound how deep indexes nest and how many
// manifests (referrers included) one copy handles, so that a malicious source
// cannot keep a copy busy forever.
const (
	maxCopyDepth     = 16
	maxCopyManifests = 10000
)

// Copy copies the image or index srcReference (a tag or digest) of src, with
// everything it references, to dst, and tags it there.
//
// dstReference is the tag to set at the destination; "" means srcReference's tag
// (or no tag when srcReference is a digest), and a digest means no tag (it must be
// the copy's digest). options.Tags adds more tags.
//
// Blobs already at the destination are skipped. Between repositories of the same
// registry (the same endpoint) blobs are mounted, without transferring them;
// otherwise each blob is streamed from a download straight into an upload, never
// held whole in memory, with options.Concurrency blobs in flight. Manifests go
// after the blobs, each after what it references, so that the destination never
// holds a manifest whose content is missing, and the tags are set last. Manifests
// already at the destination are taken as complete: their blobs and children are
// not copied again. On error, the response counts what was done before it.
func Copy(ctx context.Context, src Repository, srcReference string, dst Repository, dstReference string, options *CopyOptions) (CopyResponse, error) {
	var o CopyOptions
	if options != nil {
		o = *options
	}
	what := src.Name + "@" + srcReference
	if !isDigestRef(srcReference) {
		what = src.Name + ":" + srcReference
	}
	if err := errors.Join(required("src.Name", src.Name), required("dst.Name", dst.Name), required("srcReference", srcReference)); err != nil {
		return CopyResponse{}, err
	}
	if src.Client == nil || dst.Client == nil {
		return CopyResponse{}, errors.New("parameters src.Client and dst.Client cannot be nil")
	}
	switch {
	case o.Concurrency < 0:
		return CopyResponse{}, errors.New("acr: Concurrency cannot be negative")
	case o.Concurrency == 0:
		o.Concurrency = defaultCopyConcurrency
	}
	cp := &copier{
		src: src, dst: dst, opts: o,
		srcBlobs: src.blobClient(), dstBlobs: dst.blobClient(),
		nodes: map[digest.Digest]*copyNode{}, done: map[digest.Digest]int64{},
	}
	res, err := cp.run(ctx, srcReference, dstReference)
	if err != nil {
		return res, fmt.Errorf("copy %s: %w", what, err)
	}
	return res, nil
}

// copyNode is one manifest of the graph being copied.
type copyNode struct {
	desc      ocispec.Descriptor
	content   []byte
	children  []*copyNode // the manifests an index lists
	blobs     []ocispec.Descriptor
	referrers []*copyNode
	atDst     bool // already at the destination
	visited   bool
}

type copier struct {
	src, dst           Repository
	srcBlobs, dstBlobs *BlobClient
	opts               CopyOptions
	nodes              map[digest.Digest]*copyNode

	mu         sync.Mutex // guards what follows, and serialises the callbacks
	done       map[digest.Digest]int64
	doneTotal  int64
	blobsTotal int64
	res        CopyResponse
}

func (cp *copier) run(ctx context.Context, srcReference, dstReference string) (CopyResponse, error) {
	// 1. Read the graph from the source.
	m, err := cp.src.Client.FetchManifest(ctx, cp.src.Name, srcReference, nil)
	if err != nil {
		return CopyResponse{}, err
	}
	filtered := false
	if m.Index != nil && len(cp.opts.Platforms) > 0 {
		if m.Content, filtered, err = filterIndex(m.Content, m.Index, cp.opts.Platforms); err != nil {
			return CopyResponse{}, err
		}
		if filtered {
			m.Digest = string(digest.FromBytes(m.Content))
		}
	}
	tags, err := destinationTags(srcReference, dstReference, digest.Digest(m.Digest), cp.opts.Tags)
	if err != nil {
		return CopyResponse{}, err
	}
	root, err := cp.addNode(ctx, m, 0)
	if err != nil {
		return CopyResponse{}, err
	}
	if cp.opts.Referrers {
		if err := cp.addReferrers(ctx, root, filtered); err != nil {
			return CopyResponse{}, err
		}
	}

	// 2. Find what the destination has already.
	if err := cp.checkDestination(ctx); err != nil {
		return CopyResponse{}, err
	}

	// 3. Order the manifests (children before their index, subjects before their
	// referrers) and gather the blobs of those the destination lacks.
	var order []*copyNode
	var blobs []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	var walk func(n *copyNode)
	walk = func(n *copyNode) {
		if n.visited {
			return
		}
		n.visited = true
		for _, c := range n.children {
			walk(c)
		}
		if !n.atDst {
			order = append(order, n)
			for _, b := range n.blobs {
				if !seen[b.Digest] {
					seen[b.Digest] = true
					blobs = append(blobs, b)
					cp.blobsTotal += b.Size
				}
			}
		}
		for _, r := range n.referrers {
			walk(r)
		}
	}
	walk(root)

	// 4. Blobs, in parallel.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cp.opts.Concurrency)
	for _, b := range blobs {
		g.Go(func() error { return cp.copyBlob(gctx, b) })
	}
	if err := g.Wait(); err != nil {
		return cp.res, err
	}

	// 5. Manifests, in order, then the tags. The root goes with its tags when
	// nothing comes after it; otherwise it goes by digest first, so that its
	// referrers find their subject, and is tagged at the end, so that a tag never
	// names an image whose referrers are still on their way.
	tagged := len(tags) == 0
	for i, n := range order {
		var so *SetManifestOptions
		if n == root && i == len(order)-1 && !tagged {
			so, tagged = &SetManifestOptions{Tags: tags}, true
		}
		if err := cp.putManifest(ctx, n, so); err != nil {
			return cp.res, err
		}
	}
	if !tagged {
		if err := cp.putManifest(ctx, root, &SetManifestOptions{Tags: tags}); err != nil {
			return cp.res, err
		}
	}
	cp.res.Digest, cp.res.MediaType, cp.res.Size = string(root.desc.Digest), root.desc.MediaType, root.desc.Size
	return cp.res, nil
}

// destinationTags works out the tags to set from the references and options.
func destinationTags(srcReference, dstReference string, d digest.Digest, more []string) ([]string, error) {
	var tags []string
	switch {
	case dstReference == "" && !isDigestRef(srcReference):
		tags = append(tags, srcReference)
	case isDigestRef(dstReference):
		if dstReference != string(d) {
			return nil, fmt.Errorf("destination reference %s is not the copy's digest %s", dstReference, d)
		}
	case dstReference != "":
		tags = append(tags, dstReference)
	}
	return append(tags, more...), nil
}

func (cp *copier) putManifest(ctx context.Context, n *copyNode, so *SetManifestOptions) error {
	if so == nil {
		so = &SetManifestOptions{}
	}
	so.MediaType = n.desc.MediaType
	res, err := cp.dst.Client.SetManifest(ctx, cp.dst.Name, n.content, so)
	if err != nil {
		return err
	}
	if res.Digest != string(n.desc.Digest) {
		return fmt.Errorf("manifest %s was stored as %s: %w", n.desc.Digest, res.Digest, ErrMismatchedHash)
	}
	cp.mu.Lock()
	if !n.atDst {
		n.atDst = true
		cp.res.Manifests++
	}
	cp.mu.Unlock()
	return nil
}

// addNode adds a fetched manifest to the graph and fetches the manifests it lists.
func (cp *copier) addNode(ctx context.Context, m FetchManifestResponse, depth int) (*copyNode, error) {
	d := digest.Digest(m.Digest)
	if n, ok := cp.nodes[d]; ok {
		return n, nil
	}
	if depth > maxCopyDepth {
		return nil, fmt.Errorf("indexes nested deeper than %d", maxCopyDepth)
	}
	if len(cp.nodes) >= maxCopyManifests {
		return nil, fmt.Errorf("more than %d manifests to copy", maxCopyManifests)
	}
	var doc struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Blobs     []ocispec.Descriptor `json:"blobs"` // OCI artifact manifests (1.1 release candidates)
		Manifests []ocispec.Descriptor `json:"manifests"`
		FSLayers  json.RawMessage      `json:"fsLayers"`
	}
	if err := json.Unmarshal(m.Content, &doc); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	if doc.FSLayers != nil {
		return nil, fmt.Errorf("manifest %s is a Docker schema 1 manifest, which cannot be copied", d)
	}
	n := &copyNode{desc: ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(m.Content))}, content: m.Content}
	cp.nodes[d] = n
	if doc.Config != nil {
		n.blobs = append(n.blobs, *doc.Config)
	}
	for _, b := range append(doc.Layers, doc.Blobs...) {
		if len(b.URLs) == 0 { // foreign layers live elsewhere, not in registries
			n.blobs = append(n.blobs, b)
		}
	}
	for _, b := range n.blobs {
		if err := b.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("manifest %s: blob %q: %w", d, b.Digest, err)
		}
	}
	for _, c := range doc.Manifests {
		child, err := cp.fetchNode(ctx, c, depth+1)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, child)
	}
	return n, nil
}

// fetchNode fetches the manifest a descriptor names and adds it to the graph.
func (cp *copier) fetchNode(ctx context.Context, desc ocispec.Descriptor, depth int) (*copyNode, error) {
	if n, ok := cp.nodes[desc.Digest]; ok {
		return n, nil
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", desc.Digest, err)
	}
	m, err := cp.src.Client.FetchManifest(ctx, cp.src.Name, string(desc.Digest), nil)
	if err != nil {
		return nil, err
	}
	if int64(len(m.Content)) != desc.Size {
		return nil, fmt.Errorf("manifest %s is %d bytes, its descriptor says %d", desc.Digest, len(m.Content), desc.Size)
	}
	return cp.addNode(ctx, m, depth)
}

// addReferrers finds the referrers of every manifest in the graph, and theirs.
// The root's are skipped when it is a filtered index the source does not have.
func (cp *copier) addReferrers(ctx context.Context, root *copyNode, skipRoot bool) error {
	done := map[digest.Digest]bool{}
	for {
		var next *copyNode
		for d, n := range cp.nodes {
			if !done[d] {
				next = n
				break
			}
		}
		if next == nil {
			return nil
		}
		done[next.desc.Digest] = true
		if next == root && skipRoot {
			continue
		}
		refs, err := cp.src.Client.ListReferrers(ctx, cp.src.Name, string(next.desc.Digest), nil)
		if err != nil {
			return err
		}
		for _, r := range refs {
			rn, err := cp.fetchNode(ctx, r, 0)
			if err != nil {
				return fmt.Errorf("referrer %s of %s: %w", r.Digest, next.desc.Digest, err)
			}
			next.referrers = append(next.referrers, rn)
		}
	}
}

// checkDestination marks the manifests the destination has already.
func (cp *copier) checkDestination(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cp.opts.Concurrency)
	for _, n := range cp.nodes {
		g.Go(func() error {
			desc, err := cp.dst.Client.ResolveManifest(gctx, cp.dst.Name, string(n.desc.Digest))
			switch {
			case isNotFound(err):
				return nil
			case err != nil:
				return fmt.Errorf("check destination: %w", err)
			}
			cp.mu.Lock()
			n.atDst = desc.Digest == n.desc.Digest
			cp.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// sameRegistry reports whether blobs can be mounted from one repository into the
// other: both are on the same endpoint.
func (cp *copier) sameRegistry() bool {
	return strings.EqualFold(cp.srcBlobs.endpoint, cp.dstBlobs.endpoint) && cp.src.Name != cp.dst.Name
}

// copyBlob gets one blob to the destination: skipped, mounted or streamed.
func (cp *copier) copyBlob(ctx context.Context, b ocispec.Descriptor) error {
	if res, err := cp.dstBlobs.CheckBlobExists(ctx, cp.dst.Name, string(b.Digest), nil); err == nil &&
		(res.DockerContentDigest == nil || *res.DockerContentDigest == string(b.Digest)) {
		cp.finished(b, &cp.res.BlobsSkipped, 0)
		return nil
	} else if ctx.Err() != nil {
		return ctx.Err()
	}
	// Any other answer to the HEAD (a 404, or a registry that does not answer HEAD
	// for blobs) means the blob is sent; the transfer reports real problems.
	if cp.sameRegistry() {
		mounted, err := cp.mount(ctx, b.Digest)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if mounted {
			cp.finished(b, &cp.res.BlobsMounted, 0)
			return nil
		}
		// Not mountable (the registry refused, or the credential may not read the
		// source repository): stream it like any other.
	}
	dl, err := cp.srcBlobs.DownloadBlob(ctx, cp.src.Name, string(b.Digest), nil)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer dl.Body.Close()
	if dl.Size >= 0 && dl.Size != b.Size {
		return fmt.Errorf("blob %s is %d bytes at the source, its descriptor says %d", b.Digest, dl.Size, b.Size)
	}
	up, err := cp.dstBlobs.UploadBlob(ctx, cp.dst.Name, dl.Body, &UploadBlobOptions{
		Size: b.Size, Digest: string(b.Digest),
		Progress: func(transferred, _ int64) { cp.progress(b, transferred) },
	})
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	if up.Size != b.Size {
		return fmt.Errorf("blob %s: uploaded %d bytes, its descriptor says %d", b.Digest, up.Size, b.Size)
	}
	cp.finished(b, &cp.res.BlobsCopied, b.Size)
	return nil
}

// mount asks the registry to link a blob from the source repository into the
// destination. A registry that cannot answers with an upload session instead,
// which is cancelled.
func (cp *copier) mount(ctx context.Context, d digest.Digest) (bool, error) {
	c := cp.dstBlobs
	q := url.Values{"from": {cp.src.Name}, "mount": {string(d)}}
	resp, err := send(ctx, c.pl, http.MethodPost, c.endpoint+"/v2/"+escapeName(cp.dst.Name)+"/blobs/uploads/?"+q.Encode(),
		[]string{repoScope(cp.dst.Name, "pull,push"), repoScope(cp.src.Name, "pull")}, nil, "", false, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, err
	}
	drainAndClose(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		_, _ = c.CancelUpload(ctx, loc, nil)
	}
	return false, nil
}

// progress records that transferred bytes of blob b are done, and reports it.
func (cp *copier) progress(b ocispec.Descriptor, transferred int64) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.doneTotal += transferred - cp.done[b.Digest]
	cp.done[b.Digest] = transferred
	if cp.opts.BlobProgress != nil {
		cp.opts.BlobProgress(b, transferred, b.Size)
	}
	if cp.opts.Progress != nil {
		cp.opts.Progress(cp.doneTotal, cp.blobsTotal)
	}
}

// finished counts a blob as done.
func (cp *copier) finished(b ocispec.Descriptor, counter *int, copied int64) {
	cp.progress(b, b.Size)
	cp.mu.Lock()
	*counter++
	cp.res.BytesCopied += copied
	cp.mu.Unlock()
}

// dockerReferenceType and dockerReferenceDigest are the annotations buildx puts on
// the attestation manifests it lists in an index, naming the image they describe.
const (
	dockerReferenceType   = "vnd.docker.reference.type"
	dockerReferenceDigest = "vnd.docker.reference.digest"
)

// filterIndex keeps in an index the entries for the platforms, and the
// attestations of those. Unless that is every entry, it returns a new index that
// keeps every other field of the original as it was.
func filterIndex(content []byte, ix *ocispec.Index, platforms []ocispec.Platform) ([]byte, bool, error) {
	keep := map[digest.Digest]bool{}
	for _, p := range platforms {
		d, ok := selectPlatform(ix.Manifests, p)
		if !ok {
			return nil, false, fmt.Errorf("platform %s: %w", platformString(p), ErrNoMatchingPlatform)
		}
		keep[d.Digest] = true
	}
	var kept []int
	for i, d := range ix.Manifests {
		if keep[d.Digest] || (d.Annotations[dockerReferenceType] == "attestation-manifest" && keep[digest.Digest(d.Annotations[dockerReferenceDigest])]) {
			kept = append(kept, i)
		}
	}
	if len(kept) == len(ix.Manifests) {
		return content, false, nil
	}
	var doc map[string]json.RawMessage
	var entries []json.RawMessage
	if err := json.Unmarshal(content, &doc); err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil || len(entries) != len(ix.Manifests) {
		return nil, false, fmt.Errorf("index manifests cannot be filtered: %v", err)
	}
	out := make([]json.RawMessage, 0, len(kept))
	for _, i := range kept {
		out = append(out, entries[i])
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false, err
	}
	doc["manifests"] = b
	b, err = json.Marshal(doc)
	return b, true, err
}
