// Package manifest parses and validates the manifest documents a registry accepts:
// OCI image manifests and indexes, Docker schema 2 manifests and manifest lists,
// and artifacts expressed as OCI manifests (any artifactType or config media type).
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/acre-dev/acre/internal/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxSize is the largest manifest accepted, as in ACR and the other Azure SDKs.
const MaxSize = 4 << 20

// Media types of the manifest documents acre understands.
const (
	MediaTypeOCIManifest        = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex           = ocispec.MediaTypeImageIndex
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid manifest")

// Manifest is the part of a manifest document the registry acts on.
type Manifest struct {
	// MediaType is the document's media type, from its mediaType field or the
	// Content-Type it was sent with.
	MediaType    string
	ArtifactType string
	// Config is set for image manifests.
	Config *ocispec.Descriptor
	// Layers of an image manifest.
	Layers []ocispec.Descriptor
	// Manifests of an index or manifest list.
	Manifests   []ocispec.Descriptor
	Subject     *ocispec.Descriptor
	Annotations map[string]string
}

// IsIndex reports whether the manifest lists other manifests.
func (m *Manifest) IsIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerManifestList
}

// IsKnownMediaType reports whether mt is a manifest media type acre accepts.
func IsKnownMediaType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// document is the union of the fields of every supported shape.
type document struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse validates body as a manifest sent with the given Content-Type (which may be
// empty) and returns what it references.
func Parse(contentType string, body []byte) (*Manifest, error) {
	if len(body) > MaxSize {
		return nil, invalid("manifest is %d bytes, more than the %d allowed", len(body), MaxSize)
	}
	ct := ""
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil {
			ct = mt
		} else {
			ct = strings.TrimSpace(contentType)
		}
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the JSON document")
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	mt := doc.MediaType
	switch {
	case mt == "" && IsKnownMediaType(ct):
		mt = ct
	case mt == "":
		// OCI documents may omit mediaType; infer the shape from the fields.
		if doc.Manifests != nil && doc.Config == nil {
			mt = MediaTypeOCIIndex
		} else {
			mt = MediaTypeOCIManifest
		}
	case ct != "" && ct != "application/json" && ct != mt:
		return nil, invalid("mediaType %q does not match Content-Type %q", mt, ct)
	}
	if !IsKnownMediaType(mt) {
		return nil, invalid("unsupported manifest media type %q", mt)
	}
	m := &Manifest{MediaType: mt, ArtifactType: doc.ArtifactType, Subject: doc.Subject, Annotations: doc.Annotations}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if doc.Config == nil {
			return nil, invalid("image manifest has no config")
		}
		if doc.Manifests != nil {
			return nil, invalid("image manifest must not have manifests")
		}
		if err := checkDescriptor("config", *doc.Config); err != nil {
			return nil, err
		}
		for i, l := range doc.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return nil, err
			}
		}
		m.Config, m.Layers = doc.Config, doc.Layers
	default:
		if doc.Config != nil || doc.Layers != nil {
			return nil, invalid("index must not have config or layers")
		}
		for i, c := range doc.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), c); err != nil {
				return nil, err
			}
		}
		m.Manifests = doc.Manifests
	}
	if doc.Subject != nil {
		if err := checkDescriptor("subject", *doc.Subject); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func checkDescriptor(where string, d ocispec.Descriptor) error {
	if d.MediaType == "" {
		return invalid("%s: missing mediaType", where)
	}
	if _, err := reference.ParseDigest(string(d.Digest)); err != nil {
		return invalid("%s: %v", where, err)
	}
	if d.Size < 0 {
		return invalid("%s: negative size", where)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return invalid("%s: data is %d bytes, size says %d", where, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return invalid("%s: data does not match digest", where)
		}
	}
	return nil
}

// IsForeign reports whether a layer is non-distributable content that lives
// elsewhere (it carries URLs), so a registry does not hold it.
func IsForeign(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0
}

// Blobs returns the blobs an image manifest references (config first), omitting
// foreign layers.
func (m *Manifest) Blobs() []ocispec.Descriptor {
	if m.Config == nil {
		return nil
	}
	out := make([]ocispec.Descriptor, 0, 1+len(m.Layers))
	out = append(out, *m.Config)
	for _, l := range m.Layers {
		if !IsForeign(l) {
			out = append(out, l)
		}
	}
	return out
}

// ReferencedSize is the sum of the sizes of everything the manifest references.
func (m *Manifest) ReferencedSize() int64 {
	var n int64
	if m.Config != nil {
		n += m.Config.Size
	}
	for _, l := range m.Layers {
		n += l.Size
	}
	for _, c := range m.Manifests {
		n += c.Size
	}
	return n
}

// EffectiveArtifactType is the artifact type reported for a referrer: the manifest's
// artifactType, or else its config media type (OCI distribution-spec 1.1).
func (m *Manifest) EffectiveArtifactType() string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil {
		return m.Config.MediaType
	}
	return ""
}

// Digest computes the digest of body with the given algorithm (sha256 if empty).
func Digest(alg digest.Algorithm, body []byte) digest.Digest {
	if alg == "" {
		alg = digest.Canonical
	}
	return alg.FromBytes(body)
}

// ImageConfig is the part of an image config blob that describes its platform.
type ImageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
}

// IsImageConfig reports whether a config media type is a container image config
// (whose platform fields are worth reading).
func IsImageConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == MediaTypeDockerConfig
}
