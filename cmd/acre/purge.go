package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/acre-dev/acre/internal/purge"
	"github.com/spf13/cobra"
)

// purgeRetry is the retry policy of purge's clients: a purge of a large registry
// runs long enough to meet throttling (429) and passing server errors, and
// stopping halfway is worse than waiting. azcore honours Retry-After.
var purgeRetry = policy.RetryOptions{MaxRetries: 6, RetryDelay: time.Second, MaxRetryDelay: 60 * time.Second}

// purgeOptions are the flags of acre purge.
type purgeOptions struct {
	registry      string
	filters       []string
	excludes      []string
	ago           string
	keep          int
	untagged      bool
	untaggedOnly  bool
	dryRun        bool
	includeLocked bool
	concurrency   int
	policy        string
	repoPageSize  int32
	filterTimeout int64
	now           string
}

// ruleFlags are the flags that define a rule, which --policy replaces.
var ruleFlags = []string{"filter", "exclude", "ago", "keep", "untagged", "untagged-only"}

const purgeLong = `Delete old tags and, optionally, the manifests left without tags, as Azure's
acr purge does, with its flags.

Tags are selected by --filter 'repository-regex:tag-regex' (repeatable: a tag is
selected when any filter matches). Expressions are Go (RE2) regular expressions
that must match whole names: 'app:v1' selects the tag v1 of the repository app,
not v10, nor anything in app/cache. A selected tag is deleted when it was last
updated more than --ago before now (30d, 2h, 1d12h; default 0: any age; at most
150 years) and is not one of the --keep newest tags that would otherwise be
deleted in its repository (as in acr purge: with --ago 30d --keep 5, every tag of
the last 30 days stays, and so do the 5 newest older ones). --exclude
'repository-regex:tag-regex' (repeatable) spares the tags it matches; an exclusion
without ':tag-regex' spares whole repositories.

--untagged then deletes the manifests left without tags in the same repositories.
--untagged-only deletes only those and no tag: its filter names repositories only
('repository-regex' or 'repository-regex:.*'), without --filter every repository
is purged, and --keep keeps the newest untagged manifests that would otherwise be
deleted. An untagged manifest stays when an index that stays lists it (directly or
through nested indexes), when it is a referrer (has a subject) whose subject
exists, or when it was updated less than --ago ago.

Locked tags and manifests (writeEnabled or deleteEnabled false) are never deleted
and are reported as skipped, unless --include-locked, which unlocks and deletes
them. Locked repositories are always skipped. --dry-run changes nothing and prints
what would be done.

--policy FILE applies the rules of a JSON file in order, each seeing what the
ones before deleted. It replaces --filter, --exclude, --ago, --keep, --untagged
and --untagged-only, which cannot be given with it:

  {"rules": [
    {"filter": ["app/.*:.*"], "exclude": "app/.*:latest|stable",
     "ago": "30d", "keep": 5, "untagged": true},
    {"filter": "cache/.*", "untaggedOnly": true, "ago": "7d"}
  ]}

Listings are streamed page by page, so repositories of any size are purged in
bounded memory; --concurrency registry calls (1 to 32) run in parallel.
Throttling (429) and server errors are retried with backoff, honouring
Retry-After, and access tokens are renewed as they expire during long runs. (An
ACR refresh token stored by acre login lasts 3 hours and cannot be renewed: for
longer runs pass -u/-p, or log out so that the Microsoft Entra identity is used.)

Output: a line for each tag or manifest deleted, skipped or failed, then a
summary line; with --output json, one JSON document with "actions" and
"summary". If any deletion fails the others go on, the summary is printed and
the exit code is 1.

Differences from acr purge:
  - the tag expression is anchored like the repository expression (acr purge
    searches for it anywhere in the tag: write '.*test.*' for that);
  - expressions are RE2: no look-around or back-references, but linear-time
    matching, so --filter-timeout-seconds is accepted and ignored; use
    --exclude where acr purge needs a negative look-ahead;
  - --ago is optional (acr purge requires it, except with --untagged-only), and
    --concurrency defaults to 5 (acr purge: the number of CPUs);
  - with --untagged-only, a filter's tag part must be absent or '.*' (acr purge
    ignores it);
  - untagged referrers whose subject is gone are deleted (acr purge keeps every
    referrer, counting on ACR to delete referrers with their subject), and the
    children of every index that stays are protected, not only of tagged ones;
  - credentials come from acre login (the docker config; see DOCKER_CONFIG),
    -u/-p or $ACRE_PASSWORD: there is no --config.

Tags and manifests with listEnabled=false are invisible to listings and so never
purged; but a manifest whose only tags are unlisted looks untagged: lock it.`

const purgeExample = `  # Tags of hello-world older than 7 days, keeping the newest 2 of them
  acre purge -r myregistry.azurecr.io --filter 'hello-world:.*' --ago 7d --keep 2

  # Every repository under app/, sparing latest, then the untagged manifests
  acre purge -r myregistry.azurecr.io --filter 'app/.*:.*' --exclude 'app/.*:latest' --ago 30d --untagged

  # Only untagged manifests older than a day, everywhere; show what would go
  acre purge -r localhost:5000 --untagged-only --ago 1d --dry-run

  # The rules of a policy file
  acre purge -r myregistry.azurecr.io --policy purge.json --output json`

func newPurgeCommand(g *globalOptions) *cobra.Command {
	o := &purgeOptions{}
	cmd := &cobra.Command{
		Use:     "purge [REGISTRY] --filter 'repository-regex:tag-regex' [--ago 30d] [--keep N] [--untagged]",
		Short:   "Delete old tags and untagged manifests (acr purge)",
		Long:    purgeLong,
		Example: purgeExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPurge(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.registry, "registry", "r", "", "registry host[:port]; a name without a dot means NAME.azurecr.io (or give it as the argument)")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "'repository-regex:tag-regex' selecting tags to delete (repeatable)")
	f.StringArrayVar(&o.excludes, "exclude", nil, "'repository-regex:tag-regex' of tags never to delete, or 'repository-regex' of repositories to leave alone (repeatable)")
	f.StringVar(&o.ago, "ago", "", "delete only what was last updated longer ago than this: 30d, 2h, 1d12h (default: any age)")
	f.IntVar(&o.keep, "keep", 0, "keep the newest N tags (with --untagged-only: untagged manifests) of each repository that would otherwise be deleted")
	f.BoolVar(&o.untagged, "untagged", false, "also delete the manifests left without tags")
	f.BoolVar(&o.untaggedOnly, "untagged-only", false, "delete only manifests without tags, no tag")
	f.BoolVar(&o.dryRun, "dry-run", false, "change nothing; print what would be done")
	f.BoolVar(&o.includeLocked, "include-locked", false, "unlock and delete locked tags and manifests (otherwise they are skipped)")
	f.IntVar(&o.concurrency, "concurrency", purge.DefaultConcurrency, fmt.Sprintf("registry calls in parallel (1 to %d)", purge.MaxConcurrency))
	f.StringVar(&o.policy, "policy", "", "JSON file of rules to apply in order, instead of the rule flags")
	f.Int32Var(&o.repoPageSize, "repository-page-size", purge.DefaultPageSize, "repositories per catalog page")
	f.Int64Var(&o.filterTimeout, "filter-timeout-seconds", 60, "accepted for acr purge compatibility and ignored (RE2 matching is linear-time)")
	f.StringVar(&o.now, "now", "", "the time ages are measured from, RFC 3339 (for tests; default: now)")
	_ = f.MarkHidden("filter-timeout-seconds")
	_ = f.MarkHidden("now")
	return cmd
}

// purgeRegistry resolves the registry from --registry or the argument. As in acr
// purge, a bare name (no dot, no port) is an Azure registry name.
func purgeRegistry(o *purgeOptions, args []string) (string, error) {
	name := o.registry
	if len(args) == 1 {
		if name != "" && name != args[0] {
			return "", usageError{fmt.Errorf("registry given twice: --registry %q and %q", name, args[0])}
		}
		name = args[0]
	}
	if name == "" {
		return "", usageError{errors.New("which registry? give --registry HOST or REGISTRY")}
	}
	bare := strings.TrimPrefix(strings.TrimPrefix(name, "https://"), "http://")
	if !strings.ContainsAny(bare, ".:/[") && bare != "localhost" {
		name = bare + ".azurecr.io"
	}
	return parseRegistry(name)
}

// purgeRules builds the rules from --policy or from the rule flags.
func purgeRules(cmd *cobra.Command, o *purgeOptions) ([]purge.Rule, error) {
	warn := func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "acre: warning: "+msg) }
	if o.policy != "" {
		for _, name := range ruleFlags {
			if cmd.Flags().Changed(name) {
				return nil, usageError{fmt.Errorf("--policy and --%s do not mix: the policy file holds the rules", name)}
			}
		}
		f, err := os.Open(o.policy)
		if err != nil {
			return nil, usageError{fmt.Errorf("--policy: %w", err)}
		}
		defer f.Close()
		rules, err := purge.ParsePolicy(f, warn)
		if err != nil {
			return nil, usageError{fmt.Errorf("--policy %s: %w", o.policy, err)}
		}
		return rules, nil
	}
	r := purge.Rule{Keep: o.keep, Untagged: o.untagged, UntaggedOnly: o.untaggedOnly}
	var err error
	if r.Filters, err = purge.ParseFilters(o.filters, o.untaggedOnly); err != nil {
		return nil, usageError{fmt.Errorf("--filter: %w", err)}
	}
	if r.Excludes, err = purge.ParseFilters(o.excludes, true); err != nil {
		return nil, usageError{fmt.Errorf("--exclude: %w", err)}
	}
	ago, capped, err := purge.ParseDuration(o.ago)
	if err != nil {
		return nil, usageError{fmt.Errorf("--ago: %w", err)}
	}
	if capped {
		warn(fmt.Sprintf("--ago %s is longer than 150 years: capped to 150 years", o.ago))
	}
	r.Ago = ago
	if err := r.Validate(); err != nil {
		return nil, usageError{err}
	}
	return []purge.Rule{r}, nil
}

func runPurge(cmd *cobra.Command, g *globalOptions, o *purgeOptions, args []string) error {
	host, err := purgeRegistry(o, args)
	if err != nil {
		return err
	}
	rules, err := purgeRules(cmd, o)
	if err != nil {
		return err
	}
	if o.concurrency < 1 || o.concurrency > purge.MaxConcurrency {
		return usageError{fmt.Errorf("--concurrency %d: want 1 to %d", o.concurrency, purge.MaxConcurrency)}
	}
	if o.repoPageSize < 1 {
		return usageError{fmt.Errorf("--repository-page-size %d: want at least 1", o.repoPageSize)}
	}
	var now time.Time
	if o.now != "" {
		if now, err = time.Parse(time.RFC3339Nano, o.now); err != nil {
			return usageError{fmt.Errorf("--now: %w", err)}
		}
	}
	ctx := cmd.Context()
	client, _, err := g.clientsWith(ctx, host, &azcore.ClientOptions{Retry: purgeRetry})
	if err != nil {
		return err
	}
	out := newPurgeOutput(cmd.OutOrStdout(), g.output == "json", host, o.dryRun)
	sum, err := purge.Run(ctx, client, purge.Options{
		Rules:              rules,
		DryRun:             o.dryRun,
		IncludeLocked:      o.includeLocked,
		Concurrency:        o.concurrency,
		Now:                now,
		RepositoryPageSize: o.repoPageSize,
		Report:             out.action,
	})
	if err != nil {
		err = fmt.Errorf("purge %s: %w", host, err)
	}
	out.finish(sum, err)
	if err != nil {
		return err
	}
	if sum.Repositories == 0 {
		// Most likely a typo in a filter: say so, as deleting nothing is silent.
		fmt.Fprintln(cmd.ErrOrStderr(), "acre: warning: no repository matched the filters")
	}
	if sum.Failed > 0 {
		return fmt.Errorf("purge %s: %d %s failed", host, sum.Failed, plural(sum.Failed, "operation", "operations"))
	}
	return nil
}

// purgeOutput prints actions as they happen: text lines, or a JSON document whose
// "actions" array is written element by element, so that a purge of a huge
// registry does not hold its whole report in memory.
type purgeOutput struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	n    int
}

func newPurgeOutput(w io.Writer, asJSON bool, host string, dryRun bool) *purgeOutput {
	o := &purgeOutput{w: w, json: asJSON}
	if asJSON {
		reg, _ := json.Marshal(host)
		fmt.Fprintf(w, `{"registry":%s,"dryRun":%t,"actions":[`, reg, dryRun)
	}
	return o
}

// purgeAction is an action in the JSON output.
type purgeAction struct {
	Action     purge.Op   `json:"action"`
	Type       purge.Kind `json:"type"`
	Repository string     `json:"repository"`
	Tag        string     `json:"tag,omitempty"`
	Digest     string     `json:"digest,omitempty"`
	Unlocked   bool       `json:"unlocked,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// purgeSummary is the summary in the JSON output.
type purgeSummary struct {
	Repositories        int `json:"repositories"`
	DeletedTags         int `json:"deletedTags"`
	DeletedManifests    int `json:"deletedManifests"`
	SkippedTags         int `json:"skippedTags"`
	SkippedManifests    int `json:"skippedManifests"`
	SkippedRepositories int `json:"skippedRepositories"`
	Failed              int `json:"failed"`
}

func (o *purgeOutput) action(a purge.Action) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		ja := purgeAction{Action: a.Op, Type: a.Kind, Repository: a.Repository, Tag: a.Tag, Digest: a.Digest,
			Unlocked: a.Unlocked, Reason: a.Reason}
		if a.Err != nil {
			ja.Error = describe(a.Err)
		}
		b, _ := json.Marshal(ja)
		sep := ",\n  "
		if o.n == 0 {
			sep = "\n  "
		}
		o.n++
		fmt.Fprintf(o.w, "%s%s", sep, b)
		return
	}
	fmt.Fprintln(o.w, actionLine(a))
}

// actionLine renders an action: "deleted tag hello:v1 (sha256:...)".
func actionLine(a purge.Action) string {
	var what string
	switch a.Kind {
	case purge.KindTag:
		what = fmt.Sprintf("tag %s:%s", a.Repository, a.Tag)
		if a.Digest != "" {
			what += " (" + a.Digest + ")"
		}
	case purge.KindManifest:
		what = fmt.Sprintf("manifest %s@%s", a.Repository, a.Digest)
	default:
		what = "repository " + a.Repository
	}
	switch a.Op {
	case purge.OpDelete:
		verb := "deleted"
		switch {
		case a.DryRun && a.Unlocked:
			verb = "would unlock and delete"
		case a.DryRun:
			verb = "would delete"
		case a.Unlocked:
			verb = "unlocked and deleted"
		}
		return verb + " " + what
	case purge.OpSkip:
		return "skipped " + a.Reason + " " + what
	}
	if a.Kind == purge.KindRepository {
		return "failed to purge " + what + ": " + describe(a.Err)
	}
	return "failed to delete " + what + ": " + describe(a.Err)
}

func (o *purgeOutput) finish(s purge.Summary, runErr error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		b, _ := json.Marshal(purgeSummary{
			Repositories: s.Repositories, DeletedTags: s.DeletedTags, DeletedManifests: s.DeletedManifests,
			SkippedTags: s.SkippedTags, SkippedManifests: s.SkippedManifests, SkippedRepositories: s.SkippedRepositories,
			Failed: s.Failed,
		})
		fmt.Fprintf(o.w, "\n],\"summary\":%s", b)
		if runErr != nil {
			e, _ := json.Marshal(describe(runErr))
			fmt.Fprintf(o.w, ",\"error\":%s", e)
		}
		fmt.Fprintln(o.w, "}")
		return
	}
	verb, prefix := "deleted", "summary"
	if s.DryRun {
		verb, prefix = "would delete", "summary (dry run)"
	}
	skipped := s.SkippedTags + s.SkippedManifests + s.SkippedRepositories
	fmt.Fprintf(o.w, "%s: %s %d %s and %d %s in %d %s; skipped %d locked; %d failed\n", prefix, verb,
		s.DeletedTags, plural(s.DeletedTags, "tag", "tags"),
		s.DeletedManifests, plural(s.DeletedManifests, "manifest", "manifests"),
		s.Repositories, plural(s.Repositories, "repository", "repositories"),
		skipped, s.Failed)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
