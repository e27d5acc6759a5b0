package purge

import (
	"encoding/hex"
	"strings"
	"sync"
)

// digestSet is a set of manifest digests, safe for concurrent use. sha256 digests,
// nearly all of them, are kept as 32 bytes rather than a 71-byte string, because
// the sets that protect index children may grow with the repository.
type digestSet struct {
	mu     sync.Mutex
	sha256 map[[32]byte]struct{}
	other  map[string]struct{}
}

func newDigestSet() *digestSet {
	return &digestSet{sha256: map[[32]byte]struct{}{}, other: map[string]struct{}{}}
}

func sha256Key(d string) ([32]byte, bool) {
	var k [32]byte
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(hexPart)); err != nil || hex.EncodeToString(k[:]) != hexPart {
		// Upper-case or malformed hex: keep the exact string so that lookups
		// compare like with like.
		return k, false
	}
	return k, true
}

// add inserts d and reports whether it was new.
func (s *digestSet) add(d string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := sha256Key(d); ok {
		if _, seen := s.sha256[k]; seen {
			return false
		}
		s.sha256[k] = struct{}{}
		return true
	}
	if _, seen := s.other[d]; seen {
		return false
	}
	s.other[d] = struct{}{}
	return true
}

// has reports whether d is in the set.
func (s *digestSet) has(d string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := sha256Key(d); ok {
		_, seen := s.sha256[k]
		return seen
	}
	_, seen := s.other[d]
	return seen
}

// len returns the number of digests in the set.
func (s *digestSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sha256) + len(s.other)
}
