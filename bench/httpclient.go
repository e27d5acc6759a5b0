package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// regClient is the HTTP client of the server-side workloads, the same code for
// every server. It keeps connections alive and reuses them (enough idle
// connections per host for the most concurrent workload, so that none is
// re-dialled), never asks for compression, and moves bodies in large buffers.
//
// It answers Bearer challenges as docker and the OCI tools do: a 401 makes it get
// a token for the challenged scope from the realm, merged with the actions it
// already holds for that repository, and send the request again. Tokens are kept
// per repository and reused until a 401 says otherwise, so against acre each
// repository costs one challenge round trip per client; against a registry
// without auth (distribution here) no request is ever challenged.
type regClient struct {
	base string // http://host:port
	hc   *http.Client

	mu     sync.Mutex
	tokens map[string]*repoToken // by scope key (repository name, or "" for others)
}

type repoToken struct {
	actions []string // sorted
	scopes  []string // every scope the token was asked for
	token   string
}

// newRegClient returns a client of the registry at base.
func newRegClient(base string) *regClient {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &regClient{
		base:   strings.TrimRight(base, "/"),
		hc:     &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }},
		tokens: map[string]*repoToken{},
	}
}

// close drops the idle connections.
func (c *regClient) close() { c.hc.CloseIdleConnections() }

// statusError is an unexpected answer.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// repoOf returns the repository a /v2 or /acr/v1 path is about ("" if none), the
// key tokens are kept under.
func repoOf(path string) string {
	p, _, _ := strings.Cut(path, "?")
	for _, pre := range []string{"/v2/", "/acr/v1/"} {
		rest, ok := strings.CutPrefix(p, pre)
		if !ok {
			continue
		}
		for _, sep := range []string{"/blobs/", "/manifests/", "/tags/", "/_manifests", "/_tags", "/referrers/"} {
			if i := strings.Index(rest, sep); i > 0 {
				name, err := url.PathUnescape(rest[:i])
				if err != nil {
					return rest[:i]
				}
				return name
			}
		}
	}
	return ""
}

func (c *regClient) token(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tokens[key]; t != nil {
		return t.token
	}
	return ""
}

// do sends a request. body, if not nil, is called for each attempt (the first
// attempt may be challenged); a body that cannot be produced twice should be sent
// only once a token is held (see warm). It returns the response with its body
// open; the caller closes it.
func (c *regClient) do(ctx context.Context, method, path string, hdr http.Header, size int64, body func() io.Reader) (*http.Response, error) {
	key := repoOf(path)
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.base + path
	}
	for attempt := 0; ; attempt++ {
		var r io.Reader
		if body != nil {
			r = body()
		}
		req, err := http.NewRequestWithContext(ctx, method, u, r)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if body != nil {
			req.ContentLength = size
			if size == 0 {
				req.Body = http.NoBody
			}
		}
		if tok := c.token(key); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return res, nil
		}
		challenge := res.Header.Get("WWW-Authenticate")
		drain(res)
		if !strings.HasPrefix(challenge, "Bearer ") {
			return nil, &statusError{method, path, http.StatusUnauthorized, "no Bearer challenge"}
		}
		if err := c.fetchToken(ctx, key, challenge); err != nil {
			return nil, err
		}
	}
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// fetchToken gets a token for the challenge's scopes merged with every scope held
// for key.
func (c *regClient) fetchToken(ctx context.Context, key, challenge string) error {
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(challenge, -1) {
		params[m[1]] = m[2]
	}
	if params["realm"] == "" {
		return fmt.Errorf("challenge without realm: %q", challenge)
	}
	c.mu.Lock()
	var scopes []string
	if t := c.tokens[key]; t != nil {
		scopes = slices.Clone(t.scopes)
	}
	c.mu.Unlock()
	for _, s := range strings.Fields(params["scope"]) {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	q := url.Values{"service": {params["service"]}, "scope": scopes}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer drain(res)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("token endpoint: %s", res.Status)
	}
	var b struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
		return fmt.Errorf("token endpoint: %w", err)
	}
	tok := b.Token
	if tok == "" {
		tok = b.AccessToken
	}
	c.mu.Lock()
	c.tokens[key] = &repoToken{scopes: scopes, token: tok}
	c.mu.Unlock()
	return nil
}

// drain reads what is left of a response body (so that the connection is reused)
// and closes it.
func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
}

// expect sends a request without a body and checks the status; the body is read
// and returned (up to max bytes, the rest discarded).
func (c *regClient) expect(ctx context.Context, method, path string, hdr http.Header, want int) (*http.Response, []byte, error) {
	res, err := c.do(ctx, method, path, hdr, 0, nil)
	if err != nil {
		return nil, nil, err
	}
	defer drain(res)
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != want {
		return nil, nil, &statusError{method, path, res.StatusCode, string(b)}
	}
	return res, b, nil
}

// readBufs are the 1 MiB buffers blob pulls read into.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// pushBlob uploads a generated blob as docker does: POST to open a session, one
// streamed PATCH with the whole content, PUT with the digest to commit.
func (c *regClient) pushBlob(ctx context.Context, repo string, b blobSpec) error {
	res, _, err := c.expect(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := c.location(res)
	if err != nil {
		return err
	}
	// The POST was challenged if it needed to be, so the token already covers push:
	// the stream is sent once.
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	res, err = c.do(ctx, http.MethodPatch, loc, hdr, b.size, func() io.Reader { return b.reader() })
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		drain(res)
		return &statusError{"PATCH", loc, res.StatusCode, string(body)}
	}
	drain(res)
	if loc, err = c.location(res); err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	_, _, err = c.expect(ctx, http.MethodPut, loc+sep+"digest="+url.QueryEscape(b.digest), nil, http.StatusCreated)
	return err
}

// location resolves a response's Location header against the registry.
func (c *regClient) location(res *http.Response) (string, error) {
	loc := res.Header.Get("Location")
	if loc == "" {
		return "", errors.New("no Location header")
	}
	u, err := res.Request.URL.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// pullBlob downloads a blob and discards it, checking only its length (the
// warm-ups check content). It returns the number of bytes read.
func (c *regClient) pullBlob(ctx context.Context, repo string, b blobSpec) (int64, error) {
	res, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+b.digest, nil, 0, nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return 0, &statusError{"GET", "/v2/" + repo + "/blobs/" + b.digest, res.StatusCode, string(body)}
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, err := res.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if n != b.size {
		return n, fmt.Errorf("pull %s: got %d bytes, want %d", b.digest, n, b.size)
	}
	return n, nil
}

// putManifest uploads a manifest under reference (a tag or its digest).
func (c *regClient) putManifest(ctx context.Context, repo, reference, mediaType string, content []byte) error {
	hdr := http.Header{"Content-Type": {mediaType}}
	res, err := c.do(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+reference, hdr, int64(len(content)), func() io.Reader { return bytes.NewReader(content) })
	if err != nil {
		return err
	}
	defer drain(res)
	if res.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return &statusError{"PUT", "/v2/" + repo + "/manifests/" + reference, res.StatusCode, string(body)}
	}
	return nil
}
