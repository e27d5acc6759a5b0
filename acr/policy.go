package acr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"golang.org/x/sync/singleflight"
)

// operationScopes carries the token scopes an operation needs from the client method
// to the authentication policy, so a cached token can go with the first attempt.
type operationScopes []string

// withScopes marks a request with the scopes its operation needs.
func withScopes(req *policy.Request, scopes ...string) {
	req.SetOperationValue(operationScopes(scopes))
}

func repoScope(name string, actions string) string {
	return "repository:" + name + ":" + actions
}

// authKind is how a registry wants to be authenticated, learned from its challenge.
type authKind int

const (
	authUnknown authKind = iota
	authNone             // the registry answered without asking for credentials
	authBearer           // token service: realm, service, scope
	authBasic            // Basic credentials on every request
)

type hostAuth struct {
	kind    authKind
	realm   string
	service string
}

type cachedToken struct {
	token   string
	expires time.Time
}

// tokenRenewal is how long before expiry a cached access token is renewed;
// refreshRenewal the same for ACR refresh tokens (as the official SDK does).
const (
	tokenRenewal    = 30 * time.Second
	refreshRenewal  = 5 * time.Minute
	defaultTokenTTL = 60 * time.Second // the docker token specification's default
)

// authPolicy authenticates requests the way registries ask: it learns each host's
// challenge once, gets tokens for the scopes an operation needs (from an Entra
// credential through ACR's exchange, from a registry credential, or anonymously),
// caches them per scope until shortly before they expire, and answers a 401
// challenge by getting the token it names and sending the request again.
type authPolicy struct {
	cred        azcore.TokenCredential // nil means anonymous
	entraScopes []string
	tokenPl     runtime.Pipeline // without this policy: for probes and token requests
	allowHTTP   bool
	now         func() time.Time

	mu       sync.Mutex
	hosts    map[string]hostAuth
	tokens   map[string]cachedToken
	refresh  map[string]cachedToken
	inflight singleflight.Group
}

func newAuthPolicy(cred azcore.TokenCredential, audience string, tokenPl runtime.Pipeline, allowHTTP bool) *authPolicy {
	return &authPolicy{
		cred:        cred,
		entraScopes: []string{strings.TrimSuffix(audience, "/") + "/.default"},
		tokenPl:     tokenPl,
		allowHTTP:   allowHTTP,
		now:         time.Now,
		hosts:       map[string]hostAuth{},
		tokens:      map[string]cachedToken{},
		refresh:     map[string]cachedToken{},
	}
}

// nonRetriable marks errors the azcore retry policy must not retry.
type nonRetriable struct{ error }

func (nonRetriable) NonRetriable()   {}
func (e nonRetriable) Unwrap() error { return e.error }

// Do implements policy.Policy.
func (p *authPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	if raw.Header.Get("Authorization") != "" {
		return req.Next()
	}
	var scopes operationScopes
	req.OperationValue(&scopes)
	ctx := raw.Context()
	host := raw.URL.Host

	ha, err := p.hostAuth(ctx, raw.URL)
	if err != nil {
		return nil, err
	}
	if err := p.authorize(ctx, raw, ha, scopes); err != nil {
		return nil, err
	}
	resp, err := req.Next()
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	ch, ok := parseChallenges(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	ha = ch.hostAuth()
	p.mu.Lock()
	p.hosts[host] = ha
	p.mu.Unlock()
	need := scopes
	if s := ch.params["scope"]; s != "" {
		need = strings.Fields(s)
	}
	if ha.kind == authBearer && len(scopes) > 0 && slices.Equal(need, []string(scopes)) && raw.Header.Get("Authorization") != "" {
		// We sent a token for exactly these scopes and it was refused: asking again
		// gets the same token from the cache, so drop it and get a fresh one.
		p.forget(host, need)
	}
	if req.RewindBody() != nil {
		return resp, nil
	}
	if err := p.authorize(ctx, raw, ha, need); err != nil {
		return nil, err
	}
	drainAndClose(resp)
	return req.Next()
}

// hostAuth returns how a host authenticates, probing GET /v2/ on first contact so
// that no request body is ever sent just to learn it.
func (p *authPolicy) hostAuth(ctx context.Context, u *url.URL) (hostAuth, error) {
	p.mu.Lock()
	ha, ok := p.hosts[u.Host]
	p.mu.Unlock()
	if ok {
		return ha, nil
	}
	v, err, _ := p.inflight.Do("probe "+u.Host, func() (any, error) {
		probe, err := runtime.NewRequest(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/v2/")
		if err != nil {
			return hostAuth{}, err
		}
		resp, err := p.tokenPl.Do(probe)
		if err != nil {
			return hostAuth{}, err
		}
		defer drainAndClose(resp)
		ha := hostAuth{kind: authNone}
		if resp.StatusCode == http.StatusUnauthorized {
			if ch, ok := parseChallenges(resp.Header.Values("WWW-Authenticate")); ok {
				ha = ch.hostAuth()
			}
		}
		p.mu.Lock()
		p.hosts[u.Host] = ha
		p.mu.Unlock()
		return ha, nil
	})
	if err != nil {
		return hostAuth{}, fmt.Errorf("contact registry %s: %w", u.Host, err)
	}
	return v.(hostAuth), nil
}

// authorize sets the Authorization header the host wants.
func (p *authPolicy) authorize(ctx context.Context, raw *http.Request, ha hostAuth, scopes []string) error {
	switch ha.kind {
	case authBasic:
		b, ok := p.cred.(*BasicCredential)
		if !ok {
			return nil // nothing to send: the registry will refuse, and the caller sees why
		}
		if err := p.checkTransport(raw.URL); err != nil {
			return err
		}
		raw.SetBasicAuth(b.username, b.password)
	case authBearer:
		tok, err := p.token(ctx, raw.URL, ha, scopes)
		if err != nil {
			return nonRetriable{err}
		}
		if tok != "" {
			raw.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return nil
}

// checkTransport refuses to send credentials in clear text except to loopback hosts.
func (p *authPolicy) checkTransport(u *url.URL) error {
	if u.Scheme == "https" || p.allowHTTP || isLoopback(u.Hostname()) {
		return nil
	}
	return nonRetriable{fmt.Errorf("acr: refusing to send credentials to %s over plain HTTP (only loopback hosts may use http)", u.Host)}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tokenKey(host string, scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return host + " " + strings.Join(s, " ")
}

func (p *authPolicy) forget(host string, scopes []string) {
	p.mu.Lock()
	delete(p.tokens, tokenKey(host, scopes))
	p.mu.Unlock()
}

// token returns an access token for the scopes, from the cache or the token service.
func (p *authPolicy) token(ctx context.Context, u *url.URL, ha hostAuth, scopes []string) (string, error) {
	key := tokenKey(u.Host, scopes)
	p.mu.Lock()
	c, ok := p.tokens[key]
	p.mu.Unlock()
	if ok && p.now().Before(c.expires.Add(-tokenRenewal)) {
		return c.token, nil
	}
	v, err, _ := p.inflight.Do("token "+key, func() (any, error) {
		c, err := p.fetchToken(ctx, ha, scopes)
		if err != nil {
			return "", err
		}
		p.mu.Lock()
		p.tokens[key] = c
		p.mu.Unlock()
		return c.token, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (p *authPolicy) fetchToken(ctx context.Context, ha hostAuth, scopes []string) (cachedToken, error) {
	realm, err := url.Parse(ha.realm)
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return cachedToken{}, fmt.Errorf("acr: bad token realm %q", ha.realm)
	}
	switch cred := p.cred.(type) {
	case nil:
		return p.getToken(ctx, realm, ha.service, scopes, nil)
	case *BasicCredential:
		if err := p.checkTransport(realm); err != nil {
			return cachedToken{}, err
		}
		return p.getToken(ctx, realm, ha.service, scopes, cred)
	case *RefreshTokenCredential:
		if err := p.checkTransport(realm); err != nil {
			return cachedToken{}, err
		}
		return p.postToken(ctx, realm, ha.service, scopes, cred.token)
	default:
		if err := p.checkTransport(realm); err != nil {
			return cachedToken{}, err
		}
		rt, err := p.acrRefreshToken(ctx, realm, ha.service)
		if err != nil {
			return cachedToken{}, err
		}
		return p.postToken(ctx, realm, ha.service, scopes, rt)
	}
}

// tokenBody is what token services answer: docker's "token", OAuth2's and ACR's
// "access_token", and optionally the lifetime.
type tokenBody struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func (p *authPolicy) expiry(b tokenBody, tok string) time.Time {
	if b.ExpiresIn > 0 {
		return p.now().Add(time.Duration(b.ExpiresIn) * time.Second)
	}
	if exp, ok := jwtExpiry(tok); ok {
		return exp
	}
	return p.now().Add(defaultTokenTTL)
}

func (p *authPolicy) readToken(resp *http.Response, what string) (cachedToken, error) {
	defer drainAndClose(resp)
	if resp.StatusCode != http.StatusOK {
		return cachedToken{}, fmt.Errorf("%s: %w", what, newResponseError(resp))
	}
	var b tokenBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&b); err != nil {
		return cachedToken{}, fmt.Errorf("%s: decode: %w", what, err)
	}
	tok := b.AccessToken
	if tok == "" {
		tok = b.Token
	}
	if tok == "" {
		return cachedToken{}, fmt.Errorf("%s: no token in the answer", what)
	}
	return cachedToken{token: tok, expires: p.expiry(b, tok)}, nil
}

// getToken is the docker token flow: GET realm?service=&scope= with optional Basic
// credentials.
func (p *authPolicy) getToken(ctx context.Context, realm *url.URL, service string, scopes []string, basic *BasicCredential) (cachedToken, error) {
	u := *realm
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := runtime.NewRequest(ctx, http.MethodGet, u.String())
	if err != nil {
		return cachedToken{}, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	if basic != nil {
		req.Raw().SetBasicAuth(basic.username, basic.password)
	}
	resp, err := p.tokenPl.Do(req)
	if err != nil {
		return cachedToken{}, fmt.Errorf("get token from %s: %w", realm.Host, err)
	}
	return p.readToken(resp, "get token from "+realm.Host)
}

// postToken trades a refresh token for an access token (OAuth2, as ACR and docker do).
func (p *authPolicy) postToken(ctx context.Context, realm *url.URL, service string, scopes []string, refreshToken string) (cachedToken, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "service": {service}, "refresh_token": {refreshToken}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	resp, err := p.postForm(ctx, realm.String(), form)
	if err != nil {
		return cachedToken{}, fmt.Errorf("get token from %s: %w", realm.Host, err)
	}
	return p.readToken(resp, "get token from "+realm.Host)
}

func (p *authPolicy) postForm(ctx context.Context, target string, form url.Values) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, http.MethodPost, target)
	if err != nil {
		return nil, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	body := form.Encode()
	if err := req.SetBody(streaming.NopCloser(strings.NewReader(body)), "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	return p.tokenPl.Do(req)
}

// acrRefreshToken exchanges a Microsoft Entra access token for an ACR refresh token
// at the registry's /oauth2/exchange, caching it until shortly before it expires.
func (p *authPolicy) acrRefreshToken(ctx context.Context, realm *url.URL, service string) (string, error) {
	base := realm.Scheme + "://" + realm.Host
	key := base + " " + service
	p.mu.Lock()
	c, ok := p.refresh[key]
	p.mu.Unlock()
	if ok && p.now().Before(c.expires.Add(-refreshRenewal)) {
		return c.token, nil
	}
	v, err, _ := p.inflight.Do("refresh "+key, func() (any, error) {
		at, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: p.entraScopes})
		if err != nil {
			return "", fmt.Errorf("get Microsoft Entra token: %w", err)
		}
		form := url.Values{"grant_type": {"access_token"}, "service": {service}, "access_token": {at.Token}}
		resp, err := p.postForm(ctx, base+"/oauth2/exchange", form)
		if err != nil {
			return "", fmt.Errorf("exchange Entra token at %s: %w", realm.Host, err)
		}
		defer drainAndClose(resp)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("exchange Entra token at %s: %w", realm.Host, newResponseError(resp))
		}
		var b tokenBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&b); err != nil || b.RefreshToken == "" {
			return "", fmt.Errorf("exchange Entra token at %s: no refresh token in the answer", realm.Host)
		}
		exp, ok := jwtExpiry(b.RefreshToken)
		if !ok {
			exp = p.now().Add(refreshRenewal + time.Minute)
		}
		p.mu.Lock()
		p.refresh[key] = cachedToken{token: b.RefreshToken, expires: exp}
		p.mu.Unlock()
		return b.RefreshToken, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it, accepting both the
// URL-safe and the standard base64 alphabet, padded or not.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) < 3 {
		return time.Time{}, false
	}
	seg := strings.TrimRight(parts[1], "=")
	seg = strings.NewReplacer("+", "-", "/", "_").Replace(seg)
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Int64()
	if err != nil || exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}

func drainAndClose(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
}

// challenge is a parsed WWW-Authenticate challenge.
type challenge struct {
	scheme string // lower case
	params map[string]string
}

func (c challenge) hostAuth() hostAuth {
	switch c.scheme {
	case "bearer":
		return hostAuth{kind: authBearer, realm: c.params["realm"], service: c.params["service"]}
	case "basic":
		return hostAuth{kind: authBasic}
	}
	return hostAuth{kind: authNone}
}

// parseChallenges parses WWW-Authenticate header values per RFC 7235 (any order of
// parameters, optional spaces, quoted or token values, several challenges per
// header) and returns the Bearer challenge if there is one, else a Basic one.
func parseChallenges(values []string) (challenge, bool) {
	var basic *challenge
	for _, v := range values {
		for _, c := range splitChallenges(v) {
			switch c.scheme {
			case "bearer":
				if c.params["realm"] != "" {
					return c, true
				}
			case "basic":
				cc := c
				basic = &cc
			}
		}
	}
	if basic != nil {
		return *basic, true
	}
	return challenge{}, false
}

// splitChallenges tokenises one header value into challenges.
func splitChallenges(s string) []challenge {
	var out []challenge
	var cur *challenge
	i := 0
	for i < len(s) {
		// Skip separators.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == start {
			i++ // not a token: skip the odd character
			continue
		}
		name := s[start:i]
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && s[j] == '=' && cur != nil {
			// A parameter: name=value.
			j++
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			var val string
			if j < len(s) && s[j] == '"' {
				var b strings.Builder
				j++
				for j < len(s) && s[j] != '"' {
					if s[j] == '\\' && j+1 < len(s) {
						j++
					}
					b.WriteByte(s[j])
					j++
				}
				j++ // closing quote
				val = b.String()
			} else {
				vs := j
				for j < len(s) && s[j] != ',' && s[j] != ' ' && s[j] != '\t' {
					j++
				}
				val = s[vs:j]
			}
			cur.params[strings.ToLower(name)] = val
			i = j
			continue
		}
		// A new challenge: its scheme.
		out = append(out, challenge{scheme: strings.ToLower(name), params: map[string]string{}})
		cur = &out[len(out)-1]
	}
	return out
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

var errNoLocation = errors.New("acr: response has no Location header")
