package purge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/acre-dev/acre/acr"
	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
)

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestRunKeepAndAge(t *testing.T) {
	e := newEnv(t)
	ages := map[string]time.Duration{"v1": -60 * day, "v2": -50 * day, "v3": -40 * day, "v4": -20 * day, "v5": -10 * day, "v6": -time.Hour}
	for _, tag := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		e.at(ages[tag]).image("hello", tag, tag)
	}
	e.at(-90*day).image("hello", "latest", "latest")
	e.at(-90*day).image("other", "v1", "other")

	r := rule(t, "hello:v.*")
	r.Ago, r.Keep = 30*day, 1
	sum, actions, err := e.run(Options{Rules: []Rule{r}})
	if err != nil {
		t.Fatal(err)
	}
	// Older than 30 days: v1, v2, v3; the newest of them, v3, is kept.
	wantStrings(t, "actions", actions, []string{"delete tag hello:v1", "delete tag hello:v2"})
	wantStrings(t, "tags", e.tags("hello"), []string{"latest", "v3", "v4", "v5", "v6"})
	wantStrings(t, "other", e.tags("other"), []string{"v1"})
	if sum.DeletedTags != 2 || sum.Repositories != 1 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
}

// TestRunCursorsExistWhenUsed purges a repository across many small pages, with
// ties in lastUpdateTime, and checks that every page request's cursor names an
// item that still exists: deletions of a page start only after the next page has
// been fetched.
func TestRunCursorsExistWhenUsed(t *testing.T) {
	e := newEnv(t)
	const n = 120
	for i := range n {
		// Groups of four share a timestamp, to exercise the tie-break.
		e.at(-100*day+time.Duration(i/4)*time.Minute).image("big", fmt.Sprintf("t%03d", i), fmt.Sprint(i))
	}
	reg := e.srv.Registry.Registry()
	var checked, missing atomic.Int64
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if last := r.URL.Query().Get("last"); last != "" && r.Method == http.MethodGet {
				var err error
				switch {
				case strings.HasSuffix(r.URL.Path, "/_tags"):
					_, err = reg.Tag(r.Context(), "big", last)
				case strings.HasSuffix(r.URL.Path, "/_manifests"):
					_, err = reg.Manifest(r.Context(), "big", digest.Digest(last))
				}
				checked.Add(1)
				if err != nil {
					missing.Add(1)
					t.Errorf("page request %s: cursor %q no longer exists: %v", r.URL, last, err)
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil, policy.RetryOptions{MaxRetries: -1})

	r := rule(t, "big:.*")
	r.Keep, r.Untagged = 5, true
	sum, _, err := e.run(Options{Rules: []Rule{r}, PageSize: 7, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeletedTags != n-5 || sum.DeletedManifests != n-5 || sum.Failed != 0 {
		t.Errorf("summary %+v, want %d tags and manifests deleted", sum, n-5)
	}
	wantStrings(t, "tags", e.tags("big"), []string{"t115", "t116", "t117", "t118", "t119"})
	if got := len(e.manifests("big")); got != 5 {
		t.Errorf("%d manifests left, want 5", got)
	}
	if checked.Load() < 3*n/7 {
		t.Errorf("only %d paged requests checked", checked.Load())
	}
}

// protectionScene pushes a repository where every reason to keep an untagged
// manifest occurs, and returns the digests by name.
func protectionScene(e *env, repo string) map[string]string {
	d := map[string]string{}
	old := -30 * day
	e.at(old)
	// A tagged index keeps its children.
	d["c1"] = e.image(repo, "", "c1")
	d["c2"] = e.image(repo, "", "c2")
	d["idx"] = e.index(repo, "v1", "idx", d["c1"], d["c2"])
	// Nested: a tagged index keeps an untagged index, which keeps its child.
	d["leaf1"] = e.image(repo, "", "leaf1")
	d["leaf2"] = e.image(repo, "", "leaf2")
	d["inner"] = e.index(repo, "", "inner", d["leaf1"])
	d["outer"] = e.index(repo, "v2", "outer", d["inner"], d["leaf2"])
	// Untagged and unprotected: deleted, the index with its children.
	d["orphan"] = e.image(repo, "", "orphan")
	d["docker-orphan"] = e.dockerImage(repo, "", "docker-orphan")
	d["dead1"] = e.image(repo, "", "dead1")
	d["dead2"] = e.image(repo, "", "dead2")
	d["dead"] = e.index(repo, "", "dead", d["dead1"], d["dead2"])
	// A locked untagged index stays, and so do its children.
	d["l1"] = e.image(repo, "", "l1")
	d["locked"] = e.index(repo, "", "locked", d["l1"])
	e.lockManifest(repo, d["locked"])
	// Referrers: of a tagged image (kept, an index keeping its child), and of
	// nothing (deleted).
	d["app"] = e.image(repo, "app", "app")
	d["sig"] = e.referrer(repo, d["app"], "sig")
	d["sbom-part"] = e.image(repo, "", "sbom-part")
	d["sbom"] = e.referrer(repo, d["app"], "sbom", d["sbom-part"])
	d["dangling"] = e.referrer(repo, digest.FromString("gone").String(), "dangling")
	// A locked referrer would stay anyway: it is not reported as skipped.
	d["sig-locked"] = e.referrer(repo, d["app"], "sig-locked")
	e.lockManifest(repo, d["sig-locked"])
	// A young untagged index stays and keeps its old child.
	d["y1"] = e.image(repo, "", "y1")
	e.at(-time.Hour)
	d["young"] = e.index(repo, "", "young", d["y1"])
	d["young-orphan"] = e.image(repo, "", "young-orphan")
	return d
}

func TestRunUntaggedProtection(t *testing.T) {
	e := newEnv(t)
	d := protectionScene(e, "multi")
	untagged := Rule{UntaggedOnly: true, Ago: day}
	untagged.Filters, _ = ParseFilters([]string{"multi"}, true)

	sum, actions, err := e.run(Options{Rules: []Rule{untagged}})
	if err != nil {
		t.Fatal(err)
	}
	deleted := []string{"orphan", "docker-orphan", "dead", "dead1", "dead2", "dangling"}
	var want []string
	for _, name := range deleted {
		want = append(want, "delete manifest multi@"+d[name])
	}
	want = append(want, "skip manifest multi@"+d["locked"])
	wantStrings(t, "actions", actions, want)
	if sum.DeletedManifests != len(deleted) || sum.SkippedManifests != 1 || sum.DeletedTags != 0 {
		t.Errorf("summary %+v", sum)
	}
	var left []string
	for name, dg := range d {
		if !slices.Contains(deleted, name) {
			left = append(left, dg)
		}
	}
	wantStrings(t, "manifests left", e.manifests("multi"), left)

	// With IncludeLocked the locked index goes, and with it its child, which
	// nothing keeps any more.
	_, actions, err = e.run(Options{Rules: []Rule{untagged}, IncludeLocked: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "actions with IncludeLocked", actions, []string{
		"delete manifest multi@" + d["locked"] + " unlocked", "delete manifest multi@" + d["l1"]})
}

func TestRunKeepUntaggedOnly(t *testing.T) {
	e := newEnv(t)
	var ds []string
	for i := range 5 {
		ds = append(ds, e.at(time.Duration(-10+i)*day).image("u", "", fmt.Sprint(i)))
	}
	e.at(-20*day).image("u", "tagged", "tagged")
	r := Rule{UntaggedOnly: true, Keep: 2}
	sum, actions, err := e.run(Options{Rules: []Rule{r}})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "actions", actions, []string{"delete manifest u@" + ds[0], "delete manifest u@" + ds[1], "delete manifest u@" + ds[2]})
	if sum.DeletedManifests != 3 {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunLocked(t *testing.T) {
	e := newEnv(t)
	e.at(-10*day).image("l", "a", "a")
	e.at(-10*day).image("l", "b", "b")
	e.lockTag("l", "a")
	e.at(-10*day).image("locked-repo", "x", "x")
	if _, err := e.client.UpdateRepositoryProperties(context.Background(), "locked-repo", &acr.ClientUpdateRepositoryPropertiesOptions{
		Value: &acr.RepositoryWriteableProperties{CanWrite: new(bool)}}); err != nil {
		t.Fatal(err)
	}
	r := rule(t, "l:.*", "locked-repo:.*")
	r.Keep = 0
	sum, actions, err := e.run(Options{Rules: []Rule{r}})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "actions", actions, []string{"delete tag l:b", "skip tag l:a", "skip repository locked-repo"})
	if sum.SkippedTags != 1 || sum.SkippedRepositories != 1 || sum.DeletedTags != 1 {
		t.Errorf("summary %+v", sum)
	}
	_, actions, err = e.run(Options{Rules: []Rule{r}, IncludeLocked: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "actions with IncludeLocked", actions, []string{"delete tag l:a unlocked", "skip repository locked-repo"})
	wantStrings(t, "tags", e.tags("l"), nil)
}

// TestRunDryRunAgreesWithRun checks that a dry run reports exactly what the real
// run then does, across rules that depend on each other, and changes nothing.
func TestRunDryRunAgreesWithRun(t *testing.T) {
	e := newEnv(t)
	protectionScene(e, "multi")
	for i := range 6 {
		d := e.at(time.Duration(-40+i)*day).image("app/a", fmt.Sprintf("v%d", i), fmt.Sprint("a", i))
		e.tag("app/a", fmt.Sprintf("alias%d", i), d)
	}
	e.at(-40*day).image("app/b", "latest", "b-latest")
	e.at(-39*day).image("app/b", "v1", "b1")
	r1 := rule(t, "app/.*:v.*", "multi:v1")
	r1.Keep, r1.Untagged = 2, true
	r1.Excludes, _ = ParseFilters([]string{"app/b:latest"}, true)
	r2 := rule(t, "app/a:alias.*")
	r2.Untagged, r2.Ago = true, 35*day
	r3 := Rule{UntaggedOnly: true, Ago: day}
	rules := []Rule{r1, r2, r3}

	before := map[string][2][]string{}
	for _, repo := range []string{"multi", "app/a", "app/b"} {
		before[repo] = [2][]string{e.tags(repo), e.manifests(repo)}
	}
	drySum, dry, err := e.run(Options{Rules: rules, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for repo, b := range before {
		wantStrings(t, repo+" tags after the dry run", e.tags(repo), b[0])
		wantStrings(t, repo+" manifests after the dry run", e.manifests(repo), b[1])
	}
	sum, real, err := e.run(Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "dry-run actions vs the run's", dry, real)
	drySum.DryRun = false
	if drySum != sum {
		t.Errorf("dry-run summary %+v, run's %+v", drySum, sum)
	}
	if sum.DeletedTags == 0 || sum.DeletedManifests == 0 {
		t.Errorf("the scene deleted too little: %+v", sum)
	}
}

// TestRunRetriesThrottling answers 429 (with Retry-After) and 503 once each and
// checks that the run completes.
func TestRunRetriesThrottling(t *testing.T) {
	e := newEnv(t)
	e.at(-10*day).image("r", "a", "a")
	e.at(-10*day).image("r", "b", "b")
	var throttled, unavailable atomic.Bool
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && throttled.CompareAndSwap(false, true) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
				return
			}
			if strings.HasSuffix(r.URL.Path, "/_tags") && unavailable.CompareAndSwap(false, true) {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil, policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second})
	start := time.Now()
	sum, _, err := e.run(Options{Rules: []Rule{rule(t, "r:.*")}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeletedTags != 2 || sum.Failed != 0 || !throttled.Load() || !unavailable.Load() {
		t.Errorf("summary %+v, throttled %v, unavailable %v", sum, throttled.Load(), unavailable.Load())
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("run took %v: Retry-After: 1 was not honoured", time.Since(start))
	}
}

// shiftClock is the real time plus an offset that tests move.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// TestRunRenewsExpiredTokens makes the registry's clock jump two hours (beyond
// the access tokens' 75 minutes) halfway through a run: the client must notice
// the refused tokens, get new ones with its credentials and finish.
func TestRunRenewsExpiredTokens(t *testing.T) {
	clk := &shiftClock{}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(key, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, registrytest.WithAdmin("admin", "admin-password"), registrytest.With(func(s *registrytest.Settings) {
		s.Auth.Signer, s.Auth.Now = signer, clk.Now
	}))
	cred := acr.NewBasicCredential("admin", "admin-password")
	e.connect(e.srv.URL, cred, policy.RetryOptions{MaxRetries: -1})
	for i := range 40 {
		e.at(-10*day).image("tok", fmt.Sprintf("t%02d", i), fmt.Sprint(i))
	}
	var deletes, tokens atomic.Int64
	var mu sync.Mutex
	refused := 0
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth2/token" {
				tokens.Add(1)
			}
			if r.Method == http.MethodDelete && deletes.Add(1) == 10 {
				clk.offset.Store(int64(2 * time.Hour))
			}
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.status == http.StatusUnauthorized && r.Header.Get("Authorization") != "" {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}, cred, policy.RetryOptions{MaxRetries: -1})
	r := rule(t, "tok:.*")
	r.Untagged = true
	sum, _, err := e.run(Options{Rules: []Rule{r}, Concurrency: 4, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeletedTags != 40 || sum.DeletedManifests != 40 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused == 0 {
		t.Error("no expired token was refused: the clock jump did not happen")
	}
	t.Logf("%d token requests, %d requests refused for expired tokens", tokens.Load(), refused)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// TestRunStopsOnRefusedCredentials checks that a 401 that re-authentication does
// not cure stops the run with that error instead of failing item after item.
func TestRunStopsOnRefusedCredentials(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.at(-10*day).image("s", fmt.Sprintf("t%02d", i), fmt.Sprint(i))
	}
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil, policy.RetryOptions{MaxRetries: -1})
	sum, _, err := e.run(Options{Rules: []Rule{rule(t, "s:.*")}, Concurrency: 2})
	if status(err) != http.StatusForbidden {
		t.Fatalf("Run error %v, want the 403", err)
	}
	if sum.Failed == 0 || sum.Failed > 4 {
		t.Errorf("summary %+v: want a few failures before stopping", sum)
	}
}

// TestRunLiteralRepositoriesSkipCatalog checks that filters naming repositories
// literally work without the catalog (a token scoped to one repository).
func TestRunLiteralRepositoriesSkipCatalog(t *testing.T) {
	e := newEnv(t)
	e.at(-10*day).image("one", "a", "a")
	var catalog atomic.Bool
	e.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "_catalog") {
				catalog.Store(true)
			}
			next.ServeHTTP(w, r)
		})
	}, nil, policy.RetryOptions{MaxRetries: -1})
	sum, _, err := e.run(Options{Rules: []Rule{rule(t, "one:.*", "missing:.*")}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeletedTags != 1 || sum.Repositories != 1 || catalog.Load() {
		t.Errorf("summary %+v, catalog listed %v", sum, catalog.Load())
	}
}
