package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acre-dev/acre/registry/route"
	"github.com/acre-dev/acre/store"
)

// AnonymousUser is the user name docker and the Azure CLI send with an ACR refresh
// token as the password.
const AnonymousUser = "00000000-0000-0000-0000-000000000000"

// Admin is the registry's admin user. PasswordHash comes from HashChosenPassword.
type Admin struct {
	Name         string
	PasswordHash string
}

// Config configures the token service.
type Config struct {
	// Signer signs and verifies acre's tokens. Required.
	Signer *Signer
	// Metadata holds repository-scoped tokens. Required.
	Metadata store.MetadataStore
	// Admin, if set, may do anything with Basic credentials or tokens.
	Admin *Admin
	// Entra, if set, accepts Microsoft Entra access tokens at /oauth2/exchange.
	Entra *EntraConfig
	// AnonymousPull lets clients without credentials pull and read every repository.
	AnonymousPull bool
	// AllowOpen lets every client do anything while no identity is configured (no
	// admin, no Entra, no repository-scoped token). Meant for a registry on a
	// loopback address; the caller decides when it is safe.
	AllowOpen bool
	// LoginServer, if set, is the service name in challenges and token audiences;
	// otherwise the Host each request was sent to.
	LoginServer string
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger receives authentication failures (never secrets); nil means slog.Default().
	Logger *slog.Logger
}

// Service is acre's token service: it authenticates clients, issues ACR-style
// refresh and access tokens, and authorises requests against them. It implements
// Authorizer.
type Service struct {
	cfg   Config
	entra *entraVerifier
	seen  *verifiedCache
	log   *slog.Logger

	openMu     sync.Mutex
	openUntil  time.Time
	openCached bool
}

// NewService builds the token service.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Signer == nil || cfg.Metadata == nil {
		return nil, errors.New("auth: a signer and a metadata store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, seen: newVerifiedCache(), log: cfg.Logger}
	if cfg.Entra != nil {
		v, err := newEntraVerifier(ctx, *cfg.Entra, cfg.Now)
		if err != nil {
			return nil, err
		}
		s.entra = v
	}
	return s, nil
}

// principal is an authenticated client and what it may do.
type principal struct {
	Subject string
	Kind    string
	Tenant  string
	Perms   Permissions
	// Generation tells apart tokens that reuse a deleted token's name: it is the
	// repository-scoped token's creation time, carried in the tokens issued to it.
	Generation int64
}

// openCacheTTL bounds how long the open/closed decision is cached: creating the
// first repository-scoped token closes an open registry within this time.
const openCacheTTL = 2 * time.Second

// IsOpen reports whether every client currently has full access: open mode is
// allowed and no identity is configured.
func (s *Service) IsOpen(ctx context.Context) bool {
	if !s.cfg.AllowOpen || s.cfg.Admin != nil || s.entra != nil {
		return false
	}
	now := s.cfg.Now()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if now.Before(s.openUntil) {
		return s.openCached
	}
	var n int
	err := s.cfg.Metadata.View(ctx, func(tx store.MetadataTx) error {
		tokens, err := tx.ListTokens(ctx)
		n = len(tokens)
		return err
	})
	// On a store error, fail closed.
	s.openCached = err == nil && n == 0
	s.openUntil = now.Add(openCacheTTL)
	return s.openCached
}

// anonymous returns the principal of a client without credentials.
func (s *Service) anonymous(ctx context.Context) principal {
	switch {
	case s.IsOpen(ctx):
		return principal{Subject: "anonymous", Kind: KindOpen, Perms: FullAccess}
	case s.cfg.AnonymousPull:
		return principal{Subject: "anonymous", Kind: KindAnonymous, Perms: PullAccess}
	}
	return principal{Subject: "anonymous", Kind: KindAnonymous}
}

// errBadCredentials is returned for any authentication failure; the details go to
// the log, not to the client.
var errBadCredentials = errors.New("invalid credentials")

// errUnknownUser is an authentication failure for a user name that names no
// principal. Such a name is not logged: it is often a password typed in the wrong
// field, or a token.
var errUnknownUser = fmt.Errorf("%w: unknown user", errBadCredentials)

// authenticateBasic resolves user name and password: the admin user, a
// repository-scoped token, or (user 00000000-…) an ACR refresh token issued for
// service.
func (s *Service) authenticateBasic(ctx context.Context, user, password, service string) (principal, error) {
	now := s.cfg.Now()
	if user == AnonymousUser {
		c, err := s.cfg.Signer.verify(password, typRefresh)
		if err == nil && c.Audience != service {
			err = fmt.Errorf("%w: audience %q", ErrInvalidToken, c.Audience)
		}
		if err != nil {
			return principal{}, err
		}
		return s.principalFromClaims(ctx, c)
	}
	if a := s.cfg.Admin; a != nil && user == a.Name {
		if s.seen.ok(user, password, now) || CheckPassword(a.PasswordHash, password) {
			s.seen.remember(user, password, now)
			return principal{Subject: a.Name, Kind: KindAdmin, Perms: FullAccess}, nil
		}
		return principal{}, errBadCredentials
	}
	var tk store.Token
	err := s.cfg.Metadata.View(ctx, func(tx store.MetadataTx) error {
		var err error
		tk, err = tx.Token(ctx, user)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return principal{}, errUnknownUser
		}
		return principal{}, err
	}
	ok := false
	for _, h := range tk.PasswordHashes {
		if CheckPassword(string(h), password) {
			ok = true
		}
	}
	if !ok {
		return principal{}, errBadCredentials
	}
	return tokenPrincipal(tk, now)
}

func tokenPrincipal(tk store.Token, now time.Time) (principal, error) {
	if !tk.Enabled {
		return principal{}, fmt.Errorf("token %s is disabled", tk.Name)
	}
	if !tk.ExpiresAt.IsZero() && !now.Before(tk.ExpiresAt) {
		return principal{}, fmt.Errorf("token %s has expired", tk.Name)
	}
	perms, err := PermissionsFromScopes(tk.Scopes)
	if err != nil {
		return principal{}, fmt.Errorf("token %s: %w", tk.Name, err)
	}
	return principal{Subject: tk.Name, Kind: KindToken, Perms: perms, Generation: tk.CreatedAt.UnixNano()}, nil
}

// principalFromClaims re-derives a principal from a token's claims, so that a
// deleted token, a removed admin or a closed registry stops working at once.
func (s *Service) principalFromClaims(ctx context.Context, c Claims) (principal, error) {
	switch c.Kind {
	case KindAdmin:
		if s.cfg.Admin != nil && c.Subject == s.cfg.Admin.Name {
			return principal{Subject: c.Subject, Kind: KindAdmin, Perms: FullAccess}, nil
		}
	case KindToken:
		var tk store.Token
		err := s.cfg.Metadata.View(ctx, func(tx store.MetadataTx) error {
			var err error
			tk, err = tx.Token(ctx, c.Subject)
			return err
		})
		if err != nil {
			return principal{}, fmt.Errorf("token %s: %w", c.Subject, err)
		}
		if c.Generation != 0 && c.Generation != tk.CreatedAt.UnixNano() {
			// Issued to an earlier token of the same name, since deleted.
			return principal{}, fmt.Errorf("token %s was re-created since this token was issued", c.Subject)
		}
		return tokenPrincipal(tk, s.cfg.Now())
	case KindEntra:
		if s.entra != nil {
			perms := FullAccess
			if s.entra.cfg.Permissions != nil {
				perms = *s.entra.cfg.Permissions
			}
			return principal{Subject: c.Subject, Kind: KindEntra, Tenant: c.Tenant, Perms: perms}, nil
		}
	case KindOpen:
		if s.IsOpen(ctx) {
			return principal{Subject: c.Subject, Kind: KindOpen, Perms: FullAccess}, nil
		}
	case KindAnonymous:
		return s.anonymous(ctx), nil
	}
	return principal{}, fmt.Errorf("%s principal %q is no longer accepted", c.Kind, c.Subject)
}

// Service returns the service name for a request: the configured login server, or
// the host the client addressed.
func (s *Service) Service(r *http.Request) string {
	if s.cfg.LoginServer != "" {
		return s.cfg.LoginServer
	}
	return r.Host
}

// challenge builds the 401 answer for a request that needs scopes.
func (s *Service) challenge(r *http.Request, scopes []route.Scope, insufficient bool) *Challenge {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// No spaces after commas and every value quoted: the official Azure SDK splits
	// the header on `",` and would misread anything else.
	var b strings.Builder
	fmt.Fprintf(&b, `Bearer realm="%s://%s/oauth2/token",service="%s"`, scheme, r.Host, s.Service(r))
	if len(scopes) > 0 {
		parts := make([]string, len(scopes))
		for i, sc := range scopes {
			parts[i] = sc.String()
		}
		fmt.Fprintf(&b, `,scope="%s"`, strings.Join(parts, " "))
	}
	if insufficient {
		b.WriteString(`,error="insufficient_scope"`)
	}
	return &Challenge{Header: b.String(), Scopes: scopes, InsufficientScope: insufficient}
}

// Authorize implements Authorizer. Every request needs a valid bearer token or
// valid Basic credentials, even on an open registry: the official Azure SDK sends
// each operation's first request without its body and relies on the 401 to learn
// which token to get.
func (s *Service) Authorize(ctx context.Context, r *http.Request, scopes []route.Scope) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{}, s.challenge(r, scopes, false)
	}
	if tok, ok := trimBearer(h); ok {
		c, err := s.cfg.Signer.verify(tok, typAccess)
		if err == nil && c.Audience != s.Service(r) {
			err = fmt.Errorf("%w: audience %q", ErrInvalidToken, c.Audience)
		}
		var p principal
		if err == nil {
			// Re-check the principal behind the token (it may have been deleted).
			p, err = s.principalFromClaims(ctx, c)
		}
		if err != nil {
			s.log.InfoContext(ctx, "bearer token refused", "reason", err)
			return Identity{}, s.challenge(r, scopes, false)
		}
		// The token grants what it says only while the principal may still do it
		// (a narrowed scope map, or anonymous pull turned off, applies at once).
		if !allows(c.Access, scopes) || !allows(p.Perms.Grant(scopes), scopes) {
			return Identity{}, s.challenge(r, scopes, true)
		}
		return Identity{Subject: c.Subject, Kind: c.Kind}, nil
	}
	user, password, ok := r.BasicAuth()
	if !ok || (user == "" && password == "") {
		return Identity{}, s.challenge(r, scopes, false)
	}
	p, err := s.authenticateBasic(ctx, user, password, s.Service(r))
	if err != nil {
		if errors.Is(err, errUnknownUser) {
			user = "(unknown)"
		}
		s.log.InfoContext(ctx, "basic credentials refused", "user", user, "reason", err)
		return Identity{}, s.challenge(r, scopes, false)
	}
	if !allows(p.Perms.Grant(scopes), scopes) {
		return Identity{}, s.challenge(r, scopes, true)
	}
	return Identity{Subject: p.Subject, Kind: p.Kind}, nil
}

// TokenResponse is what the token endpoints return.
type TokenResponse struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
	IssuedAt     time.Time
}

// ErrUnauthorized is returned by the token endpoints for any bad input; they answer
// 401 with an empty body, as ACR does.
var ErrUnauthorized = errors.New("unauthorized")

// grantName names a grant type for the log. Client input that is no grant type
// is not echoed: it may be a secret sent in the wrong field.
func grantName(gt string) string {
	switch gt {
	case "", "access_token", "access_token_refresh_token", "refresh_token", "password":
		return strconv.Quote(gt)
	}
	return "(unsupported)"
}

func (s *Service) refuse(ctx context.Context, what string, err error) error {
	s.log.InfoContext(ctx, "token request refused", "endpoint", what, "reason", err)
	return ErrUnauthorized
}

// Exchange implements POST /oauth2/exchange: it turns a Microsoft Entra access token
// (or an ACR refresh token) into an ACR refresh token for service.
func (s *Service) Exchange(ctx context.Context, form url.Values, service string) (TokenResponse, error) {
	if form.Get("service") == "" {
		return TokenResponse{}, s.refuse(ctx, "exchange", errors.New("no service"))
	}
	if form.Get("service") != service {
		return TokenResponse{}, s.refuse(ctx, "exchange", fmt.Errorf("service %q is not this registry (%q)", form.Get("service"), service))
	}
	var p principal
	switch gt := form.Get("grant_type"); gt {
	case "access_token", "access_token_refresh_token":
		at := form.Get("access_token")
		if at == "" {
			return TokenResponse{}, s.refuse(ctx, "exchange", errors.New("no access_token"))
		}
		switch {
		case s.entra != nil:
			sub, tenant, err := s.entra.verify(ctx, at)
			if err != nil {
				return TokenResponse{}, s.refuse(ctx, "exchange", err)
			}
			if t := form.Get("tenant"); t != "" && tenant != "" && t != tenant {
				return TokenResponse{}, s.refuse(ctx, "exchange", fmt.Errorf("tenant %q does not match the token's", t))
			}
			p, _ = s.principalFromClaims(ctx, Claims{Subject: sub, Kind: KindEntra, Tenant: tenant})
		case s.IsOpen(ctx):
			// An open registry trusts everyone, so any credential will do: this lets
			// azidentity credentials work against a local registry unchanged.
			p = principal{Subject: "anonymous", Kind: KindOpen, Perms: FullAccess}
		default:
			return TokenResponse{}, s.refuse(ctx, "exchange", errors.New("Entra ID tokens are not accepted (no --aad-jwks)"))
		}
	case "refresh_token":
		c, err := s.cfg.Signer.verify(form.Get("refresh_token"), typRefresh)
		if err == nil && c.Audience != service {
			err = fmt.Errorf("%w: audience %q", ErrInvalidToken, c.Audience)
		}
		if err != nil {
			return TokenResponse{}, s.refuse(ctx, "exchange", err)
		}
		if p, err = s.principalFromClaims(ctx, c); err != nil {
			return TokenResponse{}, s.refuse(ctx, "exchange", err)
		}
	default:
		return TokenResponse{}, s.refuse(ctx, "exchange", fmt.Errorf("grant_type %s", grantName(gt)))
	}
	return s.issueRefresh(p, service)
}

func (s *Service) issueRefresh(p principal, service string) (TokenResponse, error) {
	rt, err := s.cfg.Signer.sign(Claims{Subject: p.Subject, Kind: p.Kind, Tenant: p.Tenant, Generation: p.Generation, Audience: service,
		GrantType: "refresh_token", Type: typRefresh}, RefreshTokenLifetime)
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{RefreshToken: rt, ExpiresIn: int(RefreshTokenLifetime.Seconds()), IssuedAt: s.cfg.Now().UTC()}, nil
}

func (s *Service) issueAccess(p principal, service, grantType string, scopes []route.Scope) (TokenResponse, error) {
	at, err := s.cfg.Signer.sign(Claims{Subject: p.Subject, Kind: p.Kind, Tenant: p.Tenant, Generation: p.Generation, Audience: service,
		GrantType: grantType, Type: typAccess, Access: p.Perms.Grant(scopes)}, AccessTokenLifetime)
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: at, ExpiresIn: int(AccessTokenLifetime.Seconds()), IssuedAt: s.cfg.Now().UTC()}, nil
}

// Token implements POST /oauth2/token: an ACR access token for the requested scopes,
// from an ACR refresh token (grant_type refresh_token), anonymously (grant_type
// password with an empty refresh token), or from user name and password fields
// (the OAuth2 password grant docker uses).
func (s *Service) Token(ctx context.Context, form url.Values, service string) (TokenResponse, error) {
	if form.Get("service") == "" || form.Get("service") != service {
		return TokenResponse{}, s.refuse(ctx, "token", fmt.Errorf("service %q is not this registry (%q)", form.Get("service"), service))
	}
	scopes := ParseScopes(form["scope"])
	rt := form.Get("refresh_token")
	gt := form.Get("grant_type")
	var p principal
	switch {
	case rt != "" && (gt == "refresh_token" || gt == ""):
		c, err := s.cfg.Signer.verify(rt, typRefresh)
		if err == nil && c.Audience != service {
			err = fmt.Errorf("%w: audience %q", ErrInvalidToken, c.Audience)
		}
		if err != nil {
			return TokenResponse{}, s.refuse(ctx, "token", err)
		}
		if p, err = s.principalFromClaims(ctx, c); err != nil {
			return TokenResponse{}, s.refuse(ctx, "token", err)
		}
		gt = "refresh_token"
	case gt == "password" && form.Get("username") != "":
		var err error
		if p, err = s.authenticateBasic(ctx, form.Get("username"), form.Get("password"), service); err != nil {
			return TokenResponse{}, s.refuse(ctx, "token", err)
		}
	case (gt == "password" || gt == "") && rt == "":
		p = s.anonymous(ctx)
		gt = "password"
	default:
		return TokenResponse{}, s.refuse(ctx, "token", fmt.Errorf("grant_type %s", grantName(gt)))
	}
	return s.issueAccess(p, service, gt, scopes)
}

// TokenBasic implements GET /oauth2/token?service=&scope= with optional Basic
// credentials (docker, the OCI conformance suite). With offline, a refresh token is
// returned too, which docker keeps as its identity token.
func (s *Service) TokenBasic(ctx context.Context, query url.Values, service string, user, password string, hasBasic, offline bool) (TokenResponse, error) {
	if q := query.Get("service"); q != "" && q != service {
		return TokenResponse{}, s.refuse(ctx, "token", fmt.Errorf("service %q is not this registry (%q)", q, service))
	}
	p := s.anonymous(ctx)
	if hasBasic && (user != "" || password != "") {
		var err error
		if p, err = s.authenticateBasic(ctx, user, password, service); err != nil {
			return TokenResponse{}, s.refuse(ctx, "token", err)
		}
	}
	res, err := s.issueAccess(p, service, "password", ParseScopes(query["scope"]))
	if err != nil {
		return res, err
	}
	if offline && p.Kind != KindAnonymous {
		rt, err := s.issueRefresh(p, service)
		if err != nil {
			return res, err
		}
		res.RefreshToken = rt.RefreshToken
	}
	return res, nil
}
