package acr

import (
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// normalizePlatform rewrites the aliases and implied defaults that images and
// users write in different ways, as container runtimes do, so that "linux/aarch64",
// "linux/arm64" and "linux/arm64/v8" are the same platform.
func normalizePlatform(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	switch p.Architecture {
	case "i386":
		p.Architecture = "386"
	case "x86_64", "x86-64", "amd64":
		p.Architecture = "amd64"
		if p.Variant == "v1" {
			p.Variant = ""
		}
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		switch p.Variant {
		case "8", "v8", "v8.0":
			p.Variant = ""
		case "9", "9.0", "v9.0":
			p.Variant = "v9"
		}
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "arm":
		switch p.Variant {
		case "", "7":
			p.Variant = "v7"
		case "5", "6", "8":
			p.Variant = "v" + p.Variant
		}
	}
	return p
}

// variantLevel is the number of a "vN" variant, with the architecture's baseline
// for none; ok is false for variants that are not ordered that way.
func variantLevel(arch, variant string) (int, bool) {
	if variant == "" {
		switch arch {
		case "amd64":
			return 1, true
		case "arm64":
			return 8, true
		}
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(variant, "v"))
	if err != nil || !strings.HasPrefix(variant, "v") {
		return 0, false
	}
	return n, true
}

// platformRank reports whether an image for have runs on want and, if so, how good
// a match it is (0 is exact; higher is an older, compatible variant).
func platformRank(want, have ocispec.Platform) (int, bool) {
	want, have = normalizePlatform(want), normalizePlatform(have)
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return 0, false
	}
	if want.OSVersion != "" && have.OSVersion != want.OSVersion && !strings.HasPrefix(have.OSVersion, want.OSVersion+".") {
		return 0, false
	}
	for _, f := range want.OSFeatures {
		found := false
		for _, g := range have.OSFeatures {
			found = found || g == f
		}
		if !found {
			return 0, false
		}
	}
	switch {
	case want.Variant == have.Variant:
		return 0, true
	case want.Variant == "":
		// No variant asked for (arm64 without one is v8, which it stands for): any
		// will do, the exact match first.
		return 1, true
	}
	// A newer CPU runs the images built for older variants of its architecture
	// (arm/v7 runs arm/v6, amd64/v3 runs amd64/v2), the closest being best.
	w, ok1 := variantLevel(want.Architecture, want.Variant)
	h, ok2 := variantLevel(have.Architecture, have.Variant)
	if ok1 && ok2 && h <= w {
		return 1 + w - h, true
	}
	return 0, false
}

// selectPlatform picks the best manifest for a platform from an index's entries:
// the closest match, and among equals the first, as runtimes do.
func selectPlatform(entries []ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, bool) {
	best, bestRank := -1, 0
	for i, d := range entries {
		if d.Platform == nil {
			continue
		}
		if r, ok := platformRank(want, *d.Platform); ok && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return ocispec.Descriptor{}, false
	}
	return entries[best], true
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
