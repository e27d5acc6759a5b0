package purge

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		capped  bool
		wantErr string
	}{
		{in: "", want: 0},
		{in: "0", want: 0},
		{in: "30d", want: 30 * day},
		{in: "2h", want: 2 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "12h1d", want: 36 * time.Hour},
		{in: "2d3h6m", want: 2*day + 3*time.Hour + 6*time.Minute},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "0.5d", want: 12 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "10s", want: 10 * time.Second},
		{in: "0d", want: 0},
		{in: " 7d ", want: 7 * day},
		{in: "+1d", want: day},
		{in: "150y", wantErr: "unknown unit"},
		{in: "-1d", wantErr: "negative"},
		{in: "-2h", wantErr: "negative"},
		{in: "d", wantErr: "numbers with units"},
		{in: "30", wantErr: "numbers with units"},
		{in: "1d2", wantErr: "numbers with units"},
		{in: "1.2.3h", wantErr: "bad number"},
		{in: "1..d", wantErr: "bad number"},
		{in: "abc", wantErr: "numbers with units"},
		// At and beyond the cap: capped, never overflowing.
		{in: "54750d", want: MaxAge},
		{in: "54751d", want: MaxAge, capped: true},
		{in: "99999999999999999999d", want: MaxAge, capped: true},
		{in: "9999999999999999999999h", want: MaxAge, capped: true},
		{in: "2562047h", want: MaxAge, capped: true}, // just under int64 nanoseconds
		{in: "2562048h", want: MaxAge, capped: true}, // time.ParseDuration overflows
		{in: "54750d1ns", want: MaxAge, capped: true},
		{in: "30000d30000d", want: MaxAge, capped: true},
		{in: "1e400d", wantErr: "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, capped, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || capped != tt.capped {
				t.Fatalf("ParseDuration(%q) = %v, capped %v, %v; want %v, capped %v", tt.in, got, capped, err, tt.want, tt.capped)
			}
		})
	}
}

func TestSplitFilter(t *testing.T) {
	tests := []struct {
		in, repo, tag string
		hasTag        bool
	}{
		{"hello:.*", "hello", ".*", true},
		{"hello", "hello", "", false},
		{"hello:", "hello", "", true},
		{"a/b:v1", "a/b", "v1", true},
		{"(?:a|b):v1", "(?:a|b)", "v1", true},
		{"(?i:App):x", "(?i:App)", "x", true},
		{"(?-s:a.b):x", "(?-s:a.b)", "x", true},
		{"[:a]:x", "[:a]", "x", true},
		{"[]:]:x", "[]:]", "x", true},
		{"[^]:]:x", "[^]:]", "x", true},
		{"[[:alpha:]]+:x", "[[:alpha:]]+", "x", true},
		{`a\:b:x`, `a\:b`, "x", true},
		{"a:b:c", "a", "b:c", true},
		{"a:(?:v1|v2)", "a", "(?:v1|v2)", true},
		{"(a):b", "(a)", "b", true},
	}
	for _, tt := range tests {
		repo, tag, hasTag := splitFilter(tt.in)
		if repo != tt.repo || tag != tt.tag || hasTag != tt.hasTag {
			t.Errorf("splitFilter(%q) = %q, %q, %v; want %q, %q, %v", tt.in, repo, tag, hasTag, tt.repo, tt.tag, tt.hasTag)
		}
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in       string
		repoOnly bool
		wantErr  string
		match    map[string]bool // "repo:tag" → selected
	}{
		{in: "hello:.*", match: map[string]bool{"hello:v1": true, "hello:": true, "hello2:v1": false, "a/hello:v1": false}},
		{in: "hello:v1", match: map[string]bool{"hello:v1": true, "hello:v10": false, "hello:xv1": false}},
		{in: "hello:^v1.*", match: map[string]bool{"hello:v1": true, "hello:v10": true, "hello:xv1": false}},
		{in: "app/.*:v[0-9]+", match: map[string]bool{"app/a:v1": true, "app/a/b:v22": true, "app:v1": false, "app/a:v1-rc": false}},
		{in: "(?:a|b):latest", match: map[string]bool{"a:latest": true, "b:latest": true, "ab:latest": false}},
		{in: "a|b:x", match: map[string]bool{"a:x": true, "b:x": true, "ab:x": false}}, // the alternation stays inside the anchors
		{in: `hello-world:\w*test\w*`, match: map[string]bool{"hello-world:mytest1": true, "hello-world:te-st": false}},
		{in: "hello", repoOnly: true, match: map[string]bool{"hello:v1": true, "hello2:v1": false}},
		{in: "hello", wantErr: "want repository-regex:tag-regex"},
		{in: ":v1", wantErr: "missing repository"},
		{in: "", repoOnly: true, wantErr: "missing repository"},
		{in: "hello:", wantErr: "missing tag"},
		{in: "hel(lo:v1", wantErr: "repository expression"},
		{in: "hello:v(1", wantErr: "tag expression"},
		{in: "hello:v1)|(x", wantErr: "tag expression"}, // cannot escape the anchors
		{in: "hello:(?!latest).*", wantErr: "tag expression"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := ParseFilter(tt.in, tt.repoOnly)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFilter(%q) error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			if f.String() != tt.in {
				t.Errorf("String() = %q, want %q", f.String(), tt.in)
			}
			for ref, want := range tt.match {
				repo, tag, _ := strings.Cut(ref, ":")
				if got := f.MatchTag(repo, tag); got != want {
					t.Errorf("%q matches %q: %v, want %v", tt.in, ref, got, want)
				}
			}
		})
	}
}

func mustFilters(t *testing.T, repoOnly bool, specs ...string) []Filter {
	t.Helper()
	fs, err := ParseFilters(specs, repoOnly)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestRuleMatching(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		match map[string]bool // "repo:tag" → deleted by name
		repos map[string]bool // repository → purged at all
	}{
		{
			name: "filters are or-ed",
			rule: Rule{Filters: mustFilters(t, false, "a:v1", "a:v2", "b:.*")},
			match: map[string]bool{
				"a:v1": true, "a:v2": true, "a:v3": false, "b:anything": true, "c:v1": false,
			},
			repos: map[string]bool{"a": true, "b": true, "c": false},
		},
		{
			name: "exclusions win",
			rule: Rule{
				Filters:  mustFilters(t, false, "app/.*:.*"),
				Excludes: mustFilters(t, true, "app/.*:latest|stable", "app/keep:v1"),
			},
			match: map[string]bool{
				"app/a:v1": true, "app/a:latest": false, "app/b:stable": false, "app/keep:v1": false, "app/keep:v2": true,
				"app/a:latest2": true,
			},
			repos: map[string]bool{"app/a": true, "app/keep": true, "app": false},
		},
		{
			name: "repository exclusions spare whole repositories",
			rule: Rule{
				Filters:  mustFilters(t, false, ".*:.*"),
				Excludes: mustFilters(t, true, "prod/.*"),
			},
			match: map[string]bool{"dev/a:v1": true, "prod/a:v1": false, "prod:v1": true},
			repos: map[string]bool{"dev/a": true, "prod/a": false, "prod": true},
		},
		{
			name:  "untagged-only without filters: every repository, no tag",
			rule:  Rule{UntaggedOnly: true, Excludes: mustFilters(t, true, "keep")},
			match: map[string]bool{"a:v1": false, "keep:v1": false},
			repos: map[string]bool{"a": true, "b/c": true, "keep": false},
		},
		{
			name:  "untagged-only with repository filters",
			rule:  Rule{UntaggedOnly: true, Filters: mustFilters(t, true, "a", "b:.*")},
			repos: map[string]bool{"a": true, "b": true, "c": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.rule.Validate(); err != nil {
				t.Fatal(err)
			}
			for ref, want := range tt.match {
				repo, tag, _ := strings.Cut(ref, ":")
				if got := tt.rule.MatchTag(repo, tag); got != want {
					t.Errorf("MatchTag(%q) = %v, want %v", ref, got, want)
				}
			}
			for repo, want := range tt.repos {
				if got := tt.rule.selects(repo); got != want {
					t.Errorf("selects(%q) = %v, want %v", repo, got, want)
				}
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		name    string
		rule    Rule
		wantErr string
	}{
		{"no filter", Rule{}, "a filter is required"},
		{"both untagged flags", Rule{Filters: mustFilters(t, false, "a:.*"), Untagged: true, UntaggedOnly: true}, "do not go together"},
		{"negative keep", Rule{Filters: mustFilters(t, false, "a:.*"), Keep: -1}, "negative"},
		{"negative ago", Rule{Filters: mustFilters(t, false, "a:.*"), Ago: -time.Hour}, "negative"},
		{"repository-only filter with tags", Rule{Filters: mustFilters(t, true, "a")}, "want repository-regex:tag-regex"},
		{"untagged-only with a tag expression", Rule{UntaggedOnly: true, Filters: mustFilters(t, false, "a:v1")}, "names repositories only"},
		{"unparsed filter", Rule{Filters: []Filter{{Repository: "a", Tag: ".*"}}}, "not parsed"},
		{"ok", Rule{Filters: mustFilters(t, false, "a:.*"), Untagged: true, Keep: 3, Ago: time.Hour}, ""},
		{"ok untagged-only", Rule{UntaggedOnly: true, Filters: mustFilters(t, false, "a:.*")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
		check   func(t *testing.T, rules []Rule)
	}{
		{
			name: "object with rules",
			doc: `{"rules": [
				{"filter": ["app/.*:.*"], "exclude": "app/.*:latest", "ago": "30d", "keep": 5, "untagged": true},
				{"filter": "cache", "untaggedOnly": true, "ago": "1d12h"}
			]}`,
			check: func(t *testing.T, rules []Rule) {
				if len(rules) != 2 {
					t.Fatalf("%d rules, want 2", len(rules))
				}
				r := rules[0]
				if r.Ago != 30*24*time.Hour || r.Keep != 5 || !r.Untagged || r.UntaggedOnly {
					t.Errorf("rule 1 = %+v", r)
				}
				if !r.MatchTag("app/x", "v1") || r.MatchTag("app/x", "latest") {
					t.Errorf("rule 1 matches wrongly")
				}
				if r := rules[1]; r.Ago != 36*time.Hour || !r.UntaggedOnly || !r.selects("cache") || r.selects("other") {
					t.Errorf("rule 2 = %+v", r)
				}
			},
		},
		{
			name:  "bare array",
			doc:   `[{"filter": "a:.*"}]`,
			check: func(t *testing.T, rules []Rule) { _ = rules[0] },
		},
		{name: "unknown field", doc: `{"rules": [{"filter": "a:.*", "exlude": "a:latest"}]}`, wantErr: "unknown field"},
		{name: "no rules", doc: `{"rules": []}`, wantErr: "no rules"},
		{name: "empty", doc: ``, wantErr: "policy"},
		{name: "bad filter", doc: `[{"filter": "a"}]`, wantErr: "rule 1"},
		{name: "bad ago", doc: `[{"filter": "a:.*", "ago": "soon"}]`, wantErr: "rule 1"},
		{name: "both untagged", doc: `[{"filter": "a:.*"}, {"filter": "a:.*", "untagged": true, "untaggedOnly": true}]`, wantErr: "rule 2"},
		{name: "filter of the wrong type", doc: `[{"filter": 3}]`, wantErr: "string"},
		{name: "trailing data", doc: `[{"filter": "a:.*"}] []`, wantErr: "after the JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := ParsePolicy(strings.NewReader(tt.doc), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rules)
		})
	}
}

func TestPolicyCapWarning(t *testing.T) {
	var warned []string
	rules, err := ParsePolicy(strings.NewReader(`[{"filter": "a:.*", "ago": "100000d"}]`), func(s string) { warned = append(warned, s) })
	if err != nil {
		t.Fatal(err)
	}
	if rules[0].Ago != MaxAge || len(warned) != 1 {
		t.Fatalf("ago %v, warnings %q; want %v and one warning", rules[0].Ago, warned, MaxAge)
	}
}

func TestDigestSet(t *testing.T) {
	s := newDigestSet()
	a := "sha256:" + strings.Repeat("ab", 32)
	upper := "sha256:" + strings.Repeat("AB", 32)
	other := "sha512:" + strings.Repeat("cd", 64)
	for _, d := range []string{a, upper, other, "weird"} {
		if !s.add(d) {
			t.Errorf("add(%q) = false the first time", d)
		}
		if s.add(d) {
			t.Errorf("add(%q) = true the second time", d)
		}
		if !s.has(d) {
			t.Errorf("has(%q) = false", d)
		}
	}
	if s.has("sha256:" + strings.Repeat("00", 32)) {
		t.Error("has a digest never added")
	}
	if s.len() != 4 {
		t.Errorf("len = %d, want 4", s.len())
	}
}
