package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alpine", true},
		{"library/hello-world", true},
		{"a/b/c.d_e__f--g", true},
		{"0", true},
		{"", false},
		{"Upper", false},
		{"/leading", false},
		{"trailing/", false},
		{"a//b", false},
		{"..", false},
		{"a/../b", false},
		{"a/./b", false},
		{"-a", false},
		{"a-", false},
		{"a___b", false},
		{"a b", false},
		{"a%2Fb", false},
		{strings.Repeat("a", MaxNameLength), true},
		{strings.Repeat("a", MaxNameLength+1), false},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNameInvalid) {
			t.Errorf("ValidateName(%q) error %v does not wrap ErrNameInvalid", tc.name, err)
		}
	}
}

func TestValidateTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"latest", true},
		{"v1.2.3-rc.1_x", true},
		{"_x", true},
		{"A", true},
		{"", false},
		{"-x", false},
		{".x", false},
		{"a:b", false},
		{"a/b", false},
		{strings.Repeat("t", 128), true},
		{strings.Repeat("t", 129), false},
	}
	for _, tc := range tests {
		if err := ValidateTag(tc.tag); (err == nil) != tc.ok {
			t.Errorf("ValidateTag(%q) = %v, want ok=%v", tc.tag, err, tc.ok)
		}
	}
}

func TestParseDigest(t *testing.T) {
	sha256 := "sha256:" + strings.Repeat("a", 64)
	sha512 := "sha512:" + strings.Repeat("0", 128)
	tests := []struct {
		in      string
		wantErr error
	}{
		{sha256, nil},
		{sha512, nil},
		{"sha256:" + strings.Repeat("A", 64), ErrDigestInvalid},
		{"sha256:" + strings.Repeat("a", 63), ErrDigestInvalid},
		{"sha256:" + strings.Repeat("g", 64), ErrDigestInvalid},
		{"sha512:" + strings.Repeat("a", 64), ErrDigestInvalid},
		{"sha384:" + strings.Repeat("a", 96), ErrUnsupported},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ErrUnsupported},
		{"SHA256:" + strings.Repeat("a", 64), ErrDigestInvalid},
		{"sha256", ErrDigestInvalid},
		{"", ErrDigestInvalid},
		{":", ErrDigestInvalid},
		{"sha256:../../etc/passwd", ErrDigestInvalid},
	}
	for _, tc := range tests {
		d, err := ParseDigest(tc.in)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && string(d) != tc.in) {
			t.Errorf("ParseDigest(%q) = %q, %v; want error %v", tc.in, d, err, tc.wantErr)
		}
	}
}

func TestParse(t *testing.T) {
	dg := "sha256:" + strings.Repeat("b", 64)
	tests := []struct {
		in   string
		want Reference
		ok   bool
	}{
		{"myregistry.azurecr.io/hello-world:latest", Reference{Registry: "myregistry.azurecr.io", Repository: "hello-world", Tag: "latest"}, true},
		{"localhost:5000/library/alpine", Reference{Registry: "localhost:5000", Repository: "library/alpine"}, true},
		{"127.0.0.1:5000/a/b:v1@" + dg, Reference{Registry: "127.0.0.1:5000", Repository: "a/b", Tag: "v1", Digest: digest.Digest(dg)}, true},
		{"[::1]:5000/x@" + dg, Reference{Registry: "[::1]:5000", Repository: "x", Digest: digest.Digest(dg)}, true},
		{"alpine", Reference{}, false},
		{"host/", Reference{}, false},
		{"host/UPPER", Reference{}, false},
		{"host/a:b:c", Reference{}, false},
		{"host/a@sha256:short", Reference{}, false},
		{"ho_st/a", Reference{}, false},
		{"/a", Reference{}, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
			continue
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

// FuzzParse checks that no input panics the parser and that whatever it accepts
// is valid and formats back to a string that parses to the same reference.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"myregistry.azurecr.io/hello-world:latest",
		"localhost:5000/a/b@sha256:" + strings.Repeat("c", 64),
		"[::1]:1/x:y", "a/b:c@sha512:" + strings.Repeat("d", 128), "//", "a@b@c", "h/..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrRefInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrRefInvalid", s, err)
			}
			return
		}
		if ValidateName(ref.Repository) != nil {
			t.Fatalf("Parse(%q) accepted invalid repository %q", s, ref.Repository)
		}
		if ref.Tag != "" && ValidateTag(ref.Tag) != nil {
			t.Fatalf("Parse(%q) accepted invalid tag %q", s, ref.Tag)
		}
		if ref.Digest != "" {
			if _, err := ParseDigest(string(ref.Digest)); err != nil {
				t.Fatalf("Parse(%q) accepted invalid digest %q", s, ref.Digest)
			}
		}
		again, err := Parse(ref.String())
		if err != nil || again != ref {
			t.Fatalf("round trip of %q: %q -> %+v, %v", s, ref.String(), again, err)
		}
	})
}

// FuzzValidateName checks that accepted names can never escape a path.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "a/./b", "a//b", "a-b_c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("ValidateName accepted %q with segment %q", s, seg)
			}
		}
		if strings.ContainsAny(s, "\\%:@ \x00") {
			t.Fatalf("ValidateName accepted %q", s)
		}
	})
}
