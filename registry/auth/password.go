package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Password hashes come in two kinds:
//
//   - "pbkdf2-sha256$<iterations>$<salt>$<hash>" for passwords people choose (the
//     admin password): slow on purpose, so a stolen hash resists guessing;
//   - "sha256$<hash>" for the passwords acre generates (32 random bytes): with 256
//     bits of entropy nothing can be guessed, so a fast hash is as safe and keeps
//     Basic-authenticated requests cheap.

// pbkdf2Iterations follows OWASP's 2023 advice for PBKDF2-HMAC-SHA256.
const pbkdf2Iterations = 600_000

// HashChosenPassword hashes a password a person chose.
func HashChosenPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pbkdf2Iterations,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// GeneratePassword returns a new random password and its hash.
func GeneratePassword() (password string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	password = base64.RawURLEncoding.EncodeToString(b)
	return password, []byte(hashGenerated(password)), nil
}

func hashGenerated(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "sha256$" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// CheckPassword reports whether password matches hash, in constant time for a
// given hash.
func CheckPassword(hash, password string) bool {
	switch {
	case strings.HasPrefix(hash, "sha256$"):
		return subtle.ConstantTimeCompare([]byte(hash), []byte(hashGenerated(password))) == 1
	case strings.HasPrefix(hash, "pbkdf2-sha256$"):
		parts := strings.Split(hash, "$")
		if len(parts) != 4 {
			return false
		}
		iter, err := strconv.Atoi(parts[1])
		if err != nil || iter < 1 || iter > 10_000_000 {
			return false
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
		want, err2 := base64.RawStdEncoding.DecodeString(parts[3])
		if err1 != nil || err2 != nil {
			return false
		}
		got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
		return err == nil && subtle.ConstantTimeCompare(got, want) == 1
	}
	return false
}

// verifiedCache remembers recently verified chosen passwords, so that clients that
// send Basic credentials with every request do not pay for PBKDF2 each time. It
// keys on an HMAC of the password under a per-process secret, never the password.
type verifiedCache struct {
	mu     sync.Mutex
	secret [32]byte
	until  map[[32]byte]time.Time
}

const verifiedTTL = 5 * time.Minute

func newVerifiedCache() *verifiedCache {
	c := &verifiedCache{until: make(map[[32]byte]time.Time)}
	_, _ = rand.Read(c.secret[:])
	return c
}

func (c *verifiedCache) key(user, password string) [32]byte {
	m := hmac.New(sha256.New, c.secret[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (c *verifiedCache) ok(user, password string, now time.Time) bool {
	k := c.key(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.until[k])
}

func (c *verifiedCache) remember(user, password string, now time.Time) {
	k := c.key(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.until) > 1024 { // bounded: drop everything rather than grow
		clear(c.until)
	}
	c.until[k] = now.Add(verifiedTTL)
}
