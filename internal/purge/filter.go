package purge

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Filter selects tags: a repository regular expression and a tag regular
// expression, written "repository-regex:tag-regex" as in acr purge. Both are
// anchored: they must match the whole name, so "app" selects the repository app
// and not app/cache, and "v1" the tag v1 and not v10.
//
// A filter may lack the tag part ("repository-regex"); it then selects whole
// repositories: the form --untagged-only takes, and the form of an exclusion that
// protects entire repositories.
type Filter struct {
	// Repository is the repository expression as written.
	Repository string
	// Tag is the tag expression as written, "" when the filter has no tag part.
	Tag string

	repo *regexp.Regexp
	tag  *regexp.Regexp // nil without a tag part
}

// ParseFilter parses "repository-regex:tag-regex" or, with repoOnly allowed,
// "repository-regex". The separator is the first colon outside a character class,
// an escape, or the flags of a group like (?:...) or (?i:...), so repository
// expressions may use non-capturing groups.
func ParseFilter(s string, repoOnlyAllowed bool) (Filter, error) {
	repo, tag, hasTag := splitFilter(s)
	f := Filter{Repository: repo, Tag: tag}
	if repo == "" {
		return f, fmt.Errorf("filter %q: missing repository expression", s)
	}
	if !hasTag && !repoOnlyAllowed {
		return f, fmt.Errorf("filter %q: want repository-regex:tag-regex", s)
	}
	if hasTag && tag == "" {
		return f, fmt.Errorf("filter %q: missing tag expression after the colon", s)
	}
	var err error
	if f.repo, err = anchored(repo); err != nil {
		return f, fmt.Errorf("filter %q: repository expression: %w", s, err)
	}
	if hasTag {
		if f.tag, err = anchored(tag); err != nil {
			return f, fmt.Errorf("filter %q: tag expression: %w", s, err)
		}
	}
	return f, nil
}

// String returns the filter as written.
func (f Filter) String() string {
	if f.tag == nil {
		return f.Repository
	}
	return f.Repository + ":" + f.Tag
}

// HasTag reports whether the filter has a tag part.
func (f Filter) HasTag() bool { return f.tag != nil }

// MatchRepository reports whether the repository expression matches name whole.
func (f Filter) MatchRepository(name string) bool { return f.repo != nil && f.repo.MatchString(name) }

// MatchTag reports whether the filter selects tag in repository repo. A filter
// without a tag part selects every tag of the repositories it matches.
func (f Filter) MatchTag(repo, tag string) bool {
	return f.MatchRepository(repo) && (f.tag == nil || f.tag.MatchString(tag))
}

// literalRepository returns the repository name when the expression has no
// metacharacters, so that the registry's catalog need not be listed (which also
// lets tokens scoped to single repositories purge them).
func (f Filter) literalRepository() (string, bool) {
	if f.Repository != regexp.QuoteMeta(f.Repository) {
		return "", false
	}
	return f.Repository, true
}

// anchored compiles expr to match whole names. Go's RE2 syntax runs in linear time,
// so no match timeout is needed (acr purge's --filter-timeout-seconds).
func anchored(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// splitFilter splits s at its separating colon; hasTag is false without one.
func splitFilter(s string) (repo, tag string, hasTag bool) {
	inClass := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++ // the escaped character is literal
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			// A ']' right after '[' or '[^' is a literal member, not the end.
			if i+1 < len(s) && s[i+1] == '^' {
				i++
			}
			if i+1 < len(s) && s[i+1] == ']' {
				i++
			}
			// [:alpha:] classes inside brackets are covered: we are in a class.
		case c == '(' && i+1 < len(s) && s[i+1] == '?':
			// Skip the group's flags and the colon that ends them: (?:, (?i:, (?-s:.
			j := i + 2
			for j < len(s) && strings.IndexByte("imsU-", s[j]) >= 0 {
				j++
			}
			if j < len(s) && s[j] == ':' {
				i = j
			}
		case c == ':':
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Rule is one purge rule: which tags to delete, which to spare, and whether to
// clean up untagged manifests. The flags of `acre purge` make one rule; a policy
// file may hold several, applied in order.
type Rule struct {
	// Filters select the repositories and tags to purge; a tag is selected when any
	// filter matches it. With UntaggedOnly the tag parts are unused (and must be
	// absent or ".*"). With UntaggedOnly and no filters, every repository is purged.
	Filters []Filter
	// Excludes spare what they match: a tag matched by any exclusion is never
	// deleted, and an exclusion without a tag part spares whole repositories.
	Excludes []Filter
	// Ago is the minimum age: only tags (and untagged manifests) last updated more
	// than Ago before the run started are deleted. 0 means any age.
	Ago time.Duration
	// Keep is how many of the newest tags that would otherwise be deleted are kept
	// in each repository (acr purge's --keep); with UntaggedOnly, how many of the
	// newest untagged manifests that would otherwise be deleted are kept.
	Keep int
	// Untagged also deletes the manifests left without tags, after the tags.
	Untagged bool
	// UntaggedOnly deletes only manifests without tags; no tag is deleted.
	UntaggedOnly bool
}

// Validate checks a rule's consistency.
func (r *Rule) Validate() error {
	if r.Untagged && r.UntaggedOnly {
		return errors.New("untagged and untagged-only do not go together: untagged-only already deletes untagged manifests")
	}
	if r.Keep < 0 {
		return fmt.Errorf("keep %d: must not be negative", r.Keep)
	}
	if r.Ago < 0 {
		return fmt.Errorf("ago %s: must not be negative", r.Ago)
	}
	if len(r.Filters) == 0 && !r.UntaggedOnly {
		return errors.New("a filter is required (repository-regex:tag-regex); only untagged-only may go without one")
	}
	for _, f := range r.Filters {
		switch {
		case f.repo == nil:
			return fmt.Errorf("filter %q was not parsed with ParseFilter", f.Repository)
		case !r.UntaggedOnly && !f.HasTag():
			return fmt.Errorf("filter %q: want repository-regex:tag-regex", f)
		case r.UntaggedOnly && f.HasTag() && f.Tag != ".*":
			return fmt.Errorf("filter %q: untagged-only deletes no tags, so the filter names repositories only: give %q or %q",
				f, f.Repository, f.Repository+":.*")
		}
	}
	for _, f := range r.Excludes {
		if f.repo == nil {
			return fmt.Errorf("exclude %q was not parsed with ParseFilter", f.Repository)
		}
	}
	return nil
}

// selects reports whether the rule purges repository repo at all.
func (r *Rule) selects(repo string) bool {
	for _, x := range r.Excludes {
		if !x.HasTag() && x.MatchRepository(repo) {
			return false
		}
	}
	if len(r.Filters) == 0 {
		return r.UntaggedOnly
	}
	for _, f := range r.Filters {
		if f.MatchRepository(repo) {
			return true
		}
	}
	return false
}

// matcher is a rule narrowed to one repository: the filters and exclusions that
// apply to it, so that each tag is tested only against those.
type matcher struct {
	filters, excludes []Filter
}

func (r *Rule) matcher(repo string) matcher {
	var m matcher
	for _, f := range r.Filters {
		if f.MatchRepository(repo) {
			m.filters = append(m.filters, f)
		}
	}
	for _, x := range r.Excludes {
		if x.MatchRepository(repo) {
			m.excludes = append(m.excludes, x)
		}
	}
	return m
}

// selectsTag reports whether a tag is selected and not excluded.
func (m matcher) selectsTag(tag string) bool {
	for _, x := range m.excludes {
		if x.tag == nil || x.tag.MatchString(tag) {
			return false
		}
	}
	for _, f := range m.filters {
		if f.tag == nil || f.tag.MatchString(tag) {
			return true
		}
	}
	return false
}

// MatchTag reports whether the rule would delete tag of repository repo by name
// alone (age, --keep and locks aside).
func (r *Rule) MatchTag(repo, tag string) bool {
	return !r.UntaggedOnly && r.selects(repo) && r.matcher(repo).selectsTag(tag)
}
