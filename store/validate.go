package store

import (
	// Register the hash functions behind the digest algorithms the stores accept.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// MaxUploadIDLength is the longest upload id a store accepts.
const MaxUploadIDLength = 128

// ValidateDigest accepts well-formed sha256 and sha512 digests only. Stores check
// every digest they are given, so that no input can name a path or key outside the
// store, whoever calls them.
func ValidateDigest(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %w", dgst, err)
	}
	switch dgst.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return fmt.Errorf("invalid digest %q: %w (only sha256 and sha512)", dgst, digest.ErrDigestUnsupported)
}

// ValidateUploadID accepts ids matching [a-zA-Z0-9-]{1,128}, which can name nothing
// but one entry of a store's uploads.
func ValidateUploadID(id string) error {
	if len(id) == 0 || len(id) > MaxUploadIDLength {
		return fmt.Errorf("invalid upload id %q: length must be 1 to %d", id, MaxUploadIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("invalid upload id %q: only [a-zA-Z0-9-] allowed", id)
		}
	}
	return nil
}
