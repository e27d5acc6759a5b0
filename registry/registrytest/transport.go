package registrytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Transport is an http.RoundTripper that answers the registry's Bearer challenges the
// way docker and the OCI tools do: on a 401 it gets an access token from the realm
// (GET /oauth2/token, with Basic credentials if set) and sends the request again.
// It keeps one token covering every scope seen so far, so a test pays for the
// challenge once per new scope. Requests with a body are retried only when the body
// can be replayed (http.NewRequest with a bytes or strings reader sets GetBody).
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Username and Password, if set, are sent to the token endpoint.
	Username, Password string

	mu     sync.Mutex
	scopes []string
	token  string
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	token := t.token
	t.mu.Unlock()
	first := req
	if token != "" && req.Header.Get("Authorization") == "" {
		first = req.Clone(req.Context())
		first.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := t.base().RoundTrip(first)
	if err != nil || res.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		return res, err
	}
	challenge := res.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(challenge, "Bearer ") {
		return res, nil
	}
	tok, err := t.fetch(req, challenge)
	if err != nil {
		return res, nil // let the caller see the original 401
	}
	res.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	retry.Header.Set("Authorization", "Bearer "+tok)
	return t.base().RoundTrip(retry)
}

// fetch gets a token for the challenge's scopes plus every scope seen before.
func (t *Transport) fetch(req *http.Request, challenge string) (string, error) {
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(challenge, -1) {
		params[m[1]] = m[2]
	}
	if params["realm"] == "" {
		return "", fmt.Errorf("challenge without realm: %q", challenge)
	}
	t.mu.Lock()
	for _, s := range strings.Fields(params["scope"]) {
		if !slices.Contains(t.scopes, s) {
			t.scopes = append(t.scopes, s)
		}
	}
	q := url.Values{"service": {params["service"]}, "scope": slices.Clone(t.scopes)}
	t.mu.Unlock()
	treq, err := http.NewRequestWithContext(req.Context(), http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	if t.Username != "" || t.Password != "" {
		treq.SetBasicAuth(t.Username, t.Password)
	}
	res, err := t.base().RoundTrip(treq)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint: %s", res.Status)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	t.mu.Lock()
	t.token = body.Token
	t.mu.Unlock()
	return body.Token, nil
}
