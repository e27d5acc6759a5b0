// Package reference validates and parses the names used by the OCI distribution API:
// repository names, tags, digests and full references of the form
// host[:port]/repository[:tag][@digest].
//
// The grammar follows the OCI distribution specification. Names that pass
// validation can never contain "..", "//", a leading "/" or upper-case letters,
// so they are safe to use in URL paths and storage keys.
package reference

import (
	// Register the hash functions behind the digest algorithms acre accepts.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxNameLength is the longest repository name accepted, as in the CNCF distribution registry.
const MaxNameLength = 255

var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	hexRe  = regexp.MustCompile(`^[a-f0-9]+$`)
	algRe  = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$`)
)

// Errors returned by the validators; they are wrapped with the offending value.
var (
	ErrNameInvalid   = errors.New("invalid repository name")
	ErrTagInvalid    = errors.New("invalid tag")
	ErrDigestInvalid = errors.New("invalid digest")
	ErrUnsupported   = errors.New("unsupported digest algorithm")
	ErrRefInvalid    = errors.New("invalid reference")
)

// ValidateName reports whether s is a valid repository name.
func ValidateName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLength || !nameRe.MatchString(s) {
		return fmt.Errorf("%w: %q", ErrNameInvalid, s)
	}
	return nil
}

// ValidateTag reports whether s is a valid tag.
func ValidateTag(s string) error {
	if !tagRe.MatchString(s) {
		return fmt.Errorf("%w: %q", ErrTagInvalid, s)
	}
	return nil
}

// ParseDigest parses s as a digest of one of the algorithms acre supports
// (sha256 and sha512), with lower-case hex of the right length.
func ParseDigest(s string) (digest.Digest, error) {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	var size int
	switch digest.Algorithm(alg) {
	case digest.SHA256:
		size = 64
	case digest.SHA512:
		size = 128
	default:
		if !algRe.MatchString(alg) {
			return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
		}
		return "", fmt.Errorf("%w: %q", ErrUnsupported, alg)
	}
	if len(hex) != size || !hexRe.MatchString(hex) {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	return digest.Digest(s), nil
}

// IsDigest reports whether s looks like a digest ("algorithm:encoded") rather than a tag.
// Tags cannot contain ':', so any colon means the caller meant a digest.
func IsDigest(s string) bool { return strings.Contains(s, ":") }

// Reference is a parsed image reference: host[:port]/repository[:tag][@digest].
type Reference struct {
	Registry   string        // host with optional port, e.g. "myregistry.azurecr.io" or "localhost:5000"
	Repository string        // e.g. "library/hello-world"
	Tag        string        // optional
	Digest     digest.Digest // optional
}

// String formats the reference in its canonical form.
func (r Reference) String() string {
	var b strings.Builder
	if r.Registry != "" {
		b.WriteString(r.Registry)
		b.WriteByte('/')
	}
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(string(r.Digest))
	}
	return b.String()
}

// Reference returns the tag or digest part that addresses a manifest: the digest when
// both are present (it is the stronger of the two), else the tag.
func (r Reference) Reference() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

var hostRe = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$`)

// Parse parses a full reference host[:port]/repository[:tag][@digest]. The registry
// part is required: unlike docker, acre never guesses a default registry.
func Parse(s string) (Reference, error) {
	var ref Reference
	rest := s
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		d, err := ParseDigest(rest[at+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrRefInvalid, s, err)
		}
		ref.Digest = d
		rest = rest[:at]
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" || !hostRe.MatchString(host) {
		return Reference{}, fmt.Errorf("%w %q: want host[:port]/repository[:tag|@digest]", ErrRefInvalid, s)
	}
	ref.Registry = host
	if colon := strings.LastIndexByte(path, ':'); colon >= 0 {
		ref.Tag = path[colon+1:]
		path = path[:colon]
		if err := ValidateTag(ref.Tag); err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrRefInvalid, s, err)
		}
	}
	if err := ValidateName(path); err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrRefInvalid, s, err)
	}
	ref.Repository = path
	return ref, nil
}
