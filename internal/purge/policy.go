package purge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxPolicySize bounds a policy document: rules are a few lines each.
const maxPolicySize = 1 << 20

// policyRule is a rule as a policy file writes it.
type policyRule struct {
	Filter       stringList `json:"filter"`
	Exclude      stringList `json:"exclude"`
	Ago          string     `json:"ago"`
	Keep         int        `json:"keep"`
	Untagged     bool       `json:"untagged"`
	UntaggedOnly bool       `json:"untaggedOnly"`
}

// stringList accepts a JSON string or an array of strings, so that a rule with one
// filter can say "filter": "app:.*".
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*l = many
	return nil
}

// ParsePolicy reads a policy document: a JSON array of rules, or an object whose
// "rules" member is one. Each rule has the fields
//
//	filter        string or array: "repository-regex:tag-regex" (as --filter)
//	exclude       string or array: as --exclude
//	ago           string: as --ago ("30d"); absent means any age
//	keep          number: as --keep
//	untagged      boolean: as --untagged
//	untaggedOnly  boolean: as --untagged-only
//
// Unknown fields are errors, so that a misspelt "exclude" cannot silently delete
// what it was meant to spare. Rules are validated; warn receives a message for each
// age capped at MaxAge.
func ParsePolicy(r io.Reader, warn func(string)) ([]Rule, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if len(data) > maxPolicySize {
		return nil, fmt.Errorf("policy is larger than %d bytes", maxPolicySize)
	}
	data = bytes.TrimSpace(data)
	var raw []policyRule
	if len(data) > 0 && data[0] == '[' {
		err = strictUnmarshal(data, &raw)
	} else {
		var doc struct {
			Rules []policyRule `json:"rules"`
		}
		err = strictUnmarshal(data, &doc)
		raw = doc.Rules
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("policy has no rules")
	}
	rules := make([]Rule, 0, len(raw))
	for i, pr := range raw {
		r, err := pr.rule(warn)
		if err != nil {
			return nil, fmt.Errorf("policy rule %d: %w", i+1, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON document")
	}
	return nil
}

func (pr policyRule) rule(warn func(string)) (Rule, error) {
	r := Rule{Keep: pr.Keep, Untagged: pr.Untagged, UntaggedOnly: pr.UntaggedOnly}
	var err error
	if r.Filters, err = ParseFilters(pr.Filter, pr.UntaggedOnly); err != nil {
		return r, err
	}
	if r.Excludes, err = ParseFilters(pr.Exclude, true); err != nil {
		return r, err
	}
	ago, capped, err := ParseDuration(pr.Ago)
	if err != nil {
		return r, err
	}
	if capped && warn != nil {
		warn(fmt.Sprintf("ago %q is longer than 150 years: capped to 150 years", pr.Ago))
	}
	r.Ago = ago
	return r, r.Validate()
}

// ParseFilters parses each filter with ParseFilter.
func ParseFilters(specs []string, repoOnlyAllowed bool) ([]Filter, error) {
	out := make([]Filter, 0, len(specs))
	for _, s := range specs {
		f, err := ParseFilter(s, repoOnlyAllowed)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
