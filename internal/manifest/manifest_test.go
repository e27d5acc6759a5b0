package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	d1 = digest.FromString("one")
	d2 = digest.FromString("two")
)

func desc(mt string, d digest.Digest, size int) string {
	return `{"mediaType":"` + mt + `","digest":"` + string(d) + `","size":` + itoa(size) + `}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestParse(t *testing.T) {
	image := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + desc(ocispec.MediaTypeImageConfig, d1, 10) + `,"layers":[` + desc(ocispec.MediaTypeImageLayerGzip, d2, 20) + `]}`
	index := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[` + desc(MediaTypeOCIManifest, d1, 30) + `]}`
	tests := []struct {
		name, ct, body string
		wantType       string
		wantErr        bool
	}{
		{"oci image", MediaTypeOCIManifest, image, MediaTypeOCIManifest, false},
		{"oci image, no content type", "", image, MediaTypeOCIManifest, false},
		{"oci image, charset", MediaTypeOCIManifest + "; charset=utf-8", image, MediaTypeOCIManifest, false},
		{"oci index", MediaTypeOCIIndex, index, MediaTypeOCIIndex, false},
		{"index without mediaType", MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[]}`, MediaTypeOCIIndex, false},
		{"inferred index", "", `{"schemaVersion":2,"manifests":[]}`, MediaTypeOCIIndex, false},
		{"docker v2", MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + desc(MediaTypeDockerConfig, d1, 1) + `,"layers":[]}`, MediaTypeDockerManifest, false},
		{"docker list", MediaTypeDockerManifestList, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifestList + `","manifests":[` + desc(MediaTypeDockerManifest, d1, 1) + `]}`, MediaTypeDockerManifestList, false},
		{"artifact", MediaTypeOCIManifest, `{"schemaVersion":2,"artifactType":"application/x.sbom","config":` + desc("application/vnd.oci.empty.v1+json", d1, 2) + `,"layers":[],"subject":` + desc(MediaTypeOCIManifest, d2, 3) + `}`, MediaTypeOCIManifest, false},
		{"type mismatch", MediaTypeOCIIndex, image, "", true},
		{"schema 1", "application/vnd.docker.distribution.manifest.v1+json", `{"schemaVersion":1}`, "", true},
		{"unknown type", "", `{"schemaVersion":2,"mediaType":"text/plain"}`, "", true},
		{"not json", MediaTypeOCIManifest, `{`, "", true},
		{"trailing data", MediaTypeOCIManifest, image + `{}`, "", true},
		{"no config", MediaTypeOCIManifest, `{"schemaVersion":2,"layers":[]}`, "", true},
		{"bad digest", MediaTypeOCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:x","size":1}}`, "", true},
		{"negative size", MediaTypeOCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + string(d1) + `","size":-1}}`, "", true},
		{"no media type", MediaTypeOCIManifest, `{"schemaVersion":2,"config":{"digest":"` + string(d1) + `","size":1}}`, "", true},
		{"index with layers", MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[],"layers":[]}`, "", true},
		{"bad data field", MediaTypeOCIManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + string(d1) + `","size":3,"data":"YWJj"}}`, "", true},
		{"too large", MediaTypeOCIManifest, `{"schemaVersion":2,"x":"` + strings.Repeat("a", MaxSize) + `"}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.ct, []byte(tc.body))
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse = %+v, %v; want ErrInvalid", m, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.wantType {
				t.Fatalf("MediaType = %q, want %q", m.MediaType, tc.wantType)
			}
		})
	}
}

func TestDerived(t *testing.T) {
	body := `{"schemaVersion":2,"config":` + desc("application/x.cfg", d1, 10) + `,"layers":[` + desc(ocispec.MediaTypeImageLayer, d2, 20) +
		`,{"mediaType":"` + ocispec.MediaTypeImageLayerNonDistributable + `","digest":"` + string(digest.FromString("f")) + `","size":5,"urls":["https://example.com/f"]}]}` //nolint:staticcheck // testing the deprecated type on purpose
	m, err := Parse("", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.Blobs()); got != 2 {
		t.Errorf("Blobs() = %d, want config and one layer (foreign layer skipped)", got)
	}
	if m.ReferencedSize() != 35 {
		t.Errorf("ReferencedSize = %d, want 35", m.ReferencedSize())
	}
	if m.EffectiveArtifactType() != "application/x.cfg" {
		t.Errorf("EffectiveArtifactType = %q", m.EffectiveArtifactType())
	}
}

// FuzzParse checks that no document panics the parser and that accepted documents
// are coherent: a known media type and valid descriptors of the right kind.
func FuzzParse(f *testing.F) {
	f.Add(MediaTypeOCIManifest, `{"schemaVersion":2,"config":`+desc("a/b", d1, 1)+`,"layers":[`+desc("a/c", d2, 2)+`]}`)
	f.Add(MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[`+desc(MediaTypeOCIManifest, d1, 1)+`],"subject":`+desc(MediaTypeOCIManifest, d2, 1)+`}`)
	f.Add("", `{"schemaVersion":2,"mediaType":"`+MediaTypeDockerManifestList+`","manifests":[]}`)
	f.Add("application/json", `{"schemaVersion":2,"config":{"mediaType":"x/y","digest":"sha512:`+strings.Repeat("a", 128)+`","size":0,"data":""}}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		m, err := Parse(ct, []byte(body))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !IsKnownMediaType(m.MediaType) {
			t.Fatalf("accepted unknown media type %q", m.MediaType)
		}
		if m.IsIndex() != (m.Config == nil) {
			t.Fatalf("index=%v but config=%v", m.IsIndex(), m.Config)
		}
		for _, d := range append(m.Blobs(), m.Manifests...) {
			if d.Digest.Validate() != nil || d.Size < 0 {
				t.Fatalf("accepted bad descriptor %+v", d)
			}
		}
	})
}
