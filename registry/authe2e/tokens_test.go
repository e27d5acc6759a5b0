package authe2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/acre-dev/acre/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// ---- oras-go ----

func orasClient(srv *registrytest.Server, rt http.RoundTripper, cred *orasauth.Credential, forceOAuth2 bool) *orasauth.Client {
	if rt == nil {
		rt = srv.Client().Transport
	}
	c := &orasauth.Client{Client: &http.Client{Transport: rt}, Cache: orasauth.NewCache(), ForceAttemptOAuth2: forceOAuth2}
	if cred != nil {
		c.Credential = orasauth.StaticCredential(srv.Host, *cred)
	}
	return c
}

func orasRepo(t *testing.T, srv *registrytest.Server, name string, c *orasauth.Client) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(srv.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = c
	return repo
}

func descOf(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digestOf(b), Size: int64(len(b))}
}

// orasPush pushes an image's blobs and manifest (tagged) with oras-go.
func orasPush(repo *remote.Repository, im image, tag string) error {
	ctx := context.Background()
	for _, b := range [][]byte{im.config, im.layer} {
		if err := repo.Push(ctx, descOf("application/octet-stream", b), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return repo.PushReference(ctx, descOf(ocispec.MediaTypeImageManifest, im.manifest), bytes.NewReader(im.manifest), tag)
}

func orasPull(repo *remote.Repository, ref string) ([]byte, error) {
	_, rc, err := repo.FetchReference(context.Background(), ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// expectOrasStatus checks that oras-go failed with an HTTP error of this status.
func expectOrasStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) {
		t.Fatalf("%s: error %v (%T), want an HTTP %d", what, err, err, status)
	}
	if er.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (%v)", what, er.StatusCode, status, err)
	}
}

// bearerClient sends every request with one fixed access token.
func bearerClient(srv *registrytest.Server, tok string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return srv.Client().Transport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ---- repository-scoped tokens ----

func TestRepositoryScopedToken(t *testing.T) {
	var meta store.MetadataStore
	srv := registrytest.New(t, withAdmin(adminUser), withMetadata(&meta))
	admin := adminClient(srv, adminUser)
	imA, imB := newImage(t, 2048), newImage(t, 2048)
	rawPush(t, admin, srv.URL, "repo-a", "v1", imA)
	rawPush(t, admin, srv.URL, "repo-b", "v1", imB)
	pw := createToken(t, meta, "tok-a", scope("repo-a", auth.ContentRead, auth.ContentWrite, auth.ContentDelete, auth.MetadataRead))
	cred := &orasauth.Credential{Username: "tok-a", Password: pw}

	t.Run("oras on its repository", func(t *testing.T) {
		a := orasRepo(t, srv, "repo-a", orasClient(srv, nil, cred, false))
		if got, err := orasPull(a, "v1"); err != nil || !bytes.Equal(got, imA.manifest) {
			t.Fatalf("pull repo-a:v1: %v", err)
		}
		im := newImage(t, 1024)
		if err := orasPush(a, im, "v2"); err != nil {
			t.Fatalf("push repo-a:v2: %v", err)
		}
		var tags []string
		if err := a.Tags(context.Background(), "", func(p []string) error { tags = append(tags, p...); return nil }); err != nil {
			t.Fatalf("tags of repo-a: %v", err)
		}
		if !slices.Equal(tags, []string{"v1", "v2"}) {
			t.Fatalf("tags of repo-a: %v", tags)
		}
		if err := a.Delete(context.Background(), descOf(ocispec.MediaTypeImageManifest, im.manifest)); err != nil {
			t.Fatalf("delete repo-a@%s: %v", im.manifD, err)
		}
	})

	t.Run("oras on another repository", func(t *testing.T) {
		c := orasClient(srv, nil, cred, false)
		b := orasRepo(t, srv, "repo-b", c)
		ctx := context.Background()
		other := newImage(t, 512)
		ops := []struct {
			name string
			run  func() error
		}{
			{"pull manifest", func() error { _, err := orasPull(b, "v1"); return err }},
			{"resolve", func() error { _, err := b.Resolve(ctx, "v1"); return err }},
			{"fetch blob", func() error {
				rc, err := b.Blobs().Fetch(ctx, descOf(ocispec.MediaTypeImageLayer, imB.layer))
				if err == nil {
					rc.Close()
				}
				return err
			}},
			{"push", func() error { return orasPush(b, other, "v2") }},
			{"push manifest", func() error {
				return b.PushReference(ctx, descOf(ocispec.MediaTypeImageManifest, imB.manifest), bytes.NewReader(imB.manifest), "v3")
			}},
			{"delete manifest", func() error { return b.Delete(ctx, descOf(ocispec.MediaTypeImageManifest, imB.manifest)) }},
			{"delete blob", func() error { return b.Blobs().Delete(ctx, descOf(ocispec.MediaTypeImageLayer, imB.layer)) }},
			{"list tags", func() error { return b.Tags(ctx, "", func([]string) error { return nil }) }},
			{"list catalog", func() error {
				reg, err := remote.NewRegistry(srv.Host)
				if err != nil {
					return err
				}
				reg.PlainHTTP, reg.Client = true, c
				return reg.Repositories(ctx, "", func([]string) error { return nil })
			}},
		}
		for _, op := range ops {
			expectOrasStatus(t, op.name, op.run(), http.StatusUnauthorized)
		}
	})

	t.Run("raw Basic", func(t *testing.T) {
		fromB := url.Values{"from": {"repo-b"}, "mount": {imB.layerD.String()}}.Encode()
		cases := []struct {
			req   request
			scope string
		}{
			{get("/v2/repo-b/manifests/v1"), "repository:repo-b:pull"},
			{request{method: http.MethodHead, path: "/v2/repo-b/manifests/v1"}, "repository:repo-b:pull"},
			{get("/v2/repo-b/blobs/" + imB.layerD.String()), "repository:repo-b:pull"},
			{request{method: http.MethodPut, path: "/v2/repo-b/manifests/v9", body: imB.manifest,
				header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}}, "repository:repo-b:pull,push"},
			{request{method: http.MethodPost, path: "/v2/repo-b/blobs/uploads/"}, "repository:repo-b:pull,push"},
			{request{method: http.MethodDelete, path: "/v2/repo-b/manifests/" + imB.manifD.String()}, "repository:repo-b:delete"},
			{request{method: http.MethodDelete, path: "/v2/repo-b/blobs/" + imB.layerD.String()}, "repository:repo-b:delete"},
			{get("/v2/repo-b/tags/list"), "repository:repo-b:pull"},
			{get("/v2/_catalog"), "registry:catalog:*"},
			// Mounting from repo-b into repo-a needs pull on repo-b too.
			{request{method: http.MethodPost, path: "/v2/repo-a/blobs/uploads/?" + fromB}, "repository:repo-a:pull,push repository:repo-b:pull"},
		}
		for _, tc := range cases {
			r := do(t, srv.Client(), srv.URL, tc.req.withBasic("tok-a", pw))
			what := tc.req.method + " " + tc.req.path
			expectInsufficient(t, what, r)
			want := `Bearer realm="` + srv.URL + `/oauth2/token",service="` + srv.Host + `",scope="` + tc.scope + `",error="insufficient_scope"`
			if r.challenge() != want {
				t.Errorf("%s: challenge\n got %s\nwant %s", what, r.challenge(), want)
			}
		}
		for _, q := range []request{get("/v2/repo-a/manifests/v1"), get("/v2/repo-a/tags/list")} {
			if r := do(t, srv.Client(), srv.URL, q.withBasic("tok-a", pw)); r.status != http.StatusOK {
				t.Errorf("%s %s on its own repository: %d", q.method, q.path, r.status)
			}
		}
	})

	t.Run("scope cannot be widened by asking", func(t *testing.T) {
		want := map[string][]string{"repository:repo-a": {"delete", "metadata_read", "pull", "push"}}
		asked := []string{
			"repository:repo-b:pull,push",
			"repository:repo-a:delete,push",
			"repository:repo-a:pull,metadata_read,metadata_write",
			"registry:catalog:*",
			"repository:repo-a-suffix:pull",
			"repository:repo-a/sub:pull",
		}
		viaGet := basicToken(t, srv, "tok-a", pw, true, asked...)
		viaPassword := decodeTokenBody(t, do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/token", url.Values{
			"grant_type": {"password"}, "username": {"tok-a"}, "password": {pw}, "service": {srv.Host}, "scope": asked})))
		viaRefresh := decodeTokenBody(t, do(t, srv.Client(), srv.URL, form(http.MethodPost, "/oauth2/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {viaGet.RefreshToken}, "service": {srv.Host}, "scope": {strings.Join(asked, " ")}})))
		viaStar := basicToken(t, srv, "tok-a", pw, false, "repository:repo-a:*", "repository:repo-b:*")
		for name, tok := range map[string]string{"GET": viaGet.AccessToken, "password grant": viaPassword.AccessToken,
			"refresh grant": viaRefresh.AccessToken, "*": viaStar.AccessToken} {
			if got := accessOf(t, tok); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s: access %v, want %v", name, got, want)
			}
			expectInsufficient(t, name+" token on repo-b", do(t, srv.Client(), srv.URL, get("/v2/repo-b/manifests/v1").withBearer(tok)))
			expectInsufficient(t, name+" token on the catalog", do(t, srv.Client(), srv.URL, get("/v2/_catalog").withBearer(tok)))
		}
		if c := claimsOf(t, viaGet.RefreshToken); c.Kind != auth.KindToken || c.Subject != "tok-a" || len(c.Access) != 0 {
			t.Errorf("refresh token claims %+v", c)
		}
	})

	t.Run("other repository untouched", func(t *testing.T) {
		if r := do(t, admin, srv.URL, get("/v2/repo-b/manifests/v1")); r.status != http.StatusOK || !bytes.Equal(r.body, imB.manifest) {
			t.Fatalf("repo-b:v1: %d", r.status)
		}
		for _, tag := range []string{"v2", "v3", "v9"} {
			if r := do(t, admin, srv.URL, get("/v2/repo-b/manifests/"+tag)); r.status != http.StatusNotFound {
				t.Errorf("repo-b:%s: %d, want 404", tag, r.status)
			}
		}
	})
}

func TestTokenPrefixPattern(t *testing.T) {
	var meta store.MetadataStore
	srv := registrytest.New(t, withAdmin(adminUser), withMetadata(&meta))
	pw := createToken(t, meta, "team-ci", scope("team/*", auth.ContentRead, auth.ContentWrite))
	c := orasClient(srv, nil, &orasauth.Credential{Username: "team-ci", Password: pw}, false)
	for _, name := range []string{"team/x", "team/y/z"} {
		im := newImage(t, 256)
		repo := orasRepo(t, srv, name, c)
		if err := orasPush(repo, im, "v1"); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
		if got, err := orasPull(repo, "v1"); err != nil || !bytes.Equal(got, im.manifest) {
			t.Fatalf("pull %s: %v", name, err)
		}
		// No content/delete.
		expectOrasStatus(t, "delete in "+name, repo.Delete(context.Background(), descOf(ocispec.MediaTypeImageManifest, im.manifest)), http.StatusUnauthorized)
	}
	for _, name := range []string{"teamx", "team", "other/team/x"} {
		expectOrasStatus(t, "push to "+name, orasPush(orasRepo(t, srv, name, c), newImage(t, 256), "v1"), http.StatusUnauthorized)
	}
}

func TestDeletedTokenStopsAtOnce(t *testing.T) {
	var meta store.MetadataStore
	srv := registrytest.New(t, withAdmin(adminUser), withMetadata(&meta))
	im := newImage(t, 256)
	rawPush(t, adminClient(srv, adminUser), srv.URL, "del/app", "v1", im)
	pw := createToken(t, meta, "tok-del", scope("del/*", auth.ContentRead))
	tb := basicToken(t, srv, "tok-del", pw, true, "repository:del/app:pull")
	ctx := context.Background()

	pull := get("/v2/del/app/manifests/v1").withBearer(tb.AccessToken)
	refresh := form(http.MethodPost, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tb.RefreshToken}, "service": {srv.Host}, "scope": {"repository:del/app:pull"}})
	works := func(t *testing.T) {
		t.Helper()
		if r := do(t, srv.Client(), srv.URL, pull); r.status != http.StatusOK {
			t.Fatalf("pull with the access token: %d", r.status)
		}
		decodeTokenBody(t, do(t, srv.Client(), srv.URL, refresh))
		if r := do(t, srv.Client(), srv.URL, get("/v2/del/app/manifests/v1").withBasic("tok-del", pw)); r.status != http.StatusOK {
			t.Fatalf("pull with Basic: %d", r.status)
		}
	}
	stopped := func(t *testing.T) {
		t.Helper()
		expectInvalidToken(t, "access token", do(t, srv.Client(), srv.URL, pull))
		expectEmpty401(t, "refresh token", do(t, srv.Client(), srv.URL, refresh))
		expectInvalidToken(t, "Basic", do(t, srv.Client(), srv.URL, get("/v2/del/app/manifests/v1").withBasic("tok-del", pw)))
		expectEmpty401(t, "Basic at the token endpoint", do(t, srv.Client(), srv.URL,
			get("/oauth2/token?service="+srv.Host).withBasic("tok-del", pw)))
	}
	update := func(f func(tx store.MetadataTx) error) {
		t.Helper()
		if err := meta.Update(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled := func(on bool) func(tx store.MetadataTx) error {
		return func(tx store.MetadataTx) error {
			tk, err := tx.Token(ctx, "tok-del")
			if err != nil {
				return err
			}
			tk.Enabled = on
			return tx.PutToken(ctx, tk)
		}
	}

	works(t)
	update(setEnabled(false))
	t.Run("disabled", stopped)
	update(setEnabled(true))
	t.Run("enabled again", works)
	update(func(tx store.MetadataTx) error { return tx.DeleteToken(ctx, "tok-del") })
	t.Run("deleted", stopped)
	// A new token of the same name revives neither the old password nor the
	// tokens issued to the deleted one.
	createToken(t, meta, "tok-del", scope("del/*", auth.ContentRead))
	expectInvalidToken(t, "old password on a new token", do(t, srv.Client(), srv.URL,
		get("/v2/del/app/manifests/v1").withBasic("tok-del", pw)))
	expectInvalidToken(t, "old access token after re-creation", do(t, srv.Client(), srv.URL, pull))
	expectEmpty401(t, "old refresh token after re-creation", do(t, srv.Client(), srv.URL, refresh))

	t.Run("narrowed", func(t *testing.T) {
		// Narrowing a token's scope map takes the removed actions from the access
		// tokens it already has, too.
		pw := createToken(t, meta, "tok-narrow", scope("del/*", auth.ContentRead, auth.ContentWrite))
		tok := basicToken(t, srv, "tok-narrow", pw, false, "repository:del/app:pull,push").AccessToken
		start := request{method: http.MethodPost, path: "/v2/del/app/blobs/uploads/"}.withBearer(tok)
		if r := do(t, srv.Client(), srv.URL, start); r.status != http.StatusAccepted {
			t.Fatalf("start upload before narrowing: %d", r.status)
		}
		update(func(tx store.MetadataTx) error {
			tk, err := tx.Token(ctx, "tok-narrow")
			if err != nil {
				return err
			}
			tk.Scopes = []store.TokenScope{scope("del/*", auth.ContentRead)}
			return tx.PutToken(ctx, tk)
		})
		expectInsufficient(t, "start upload after narrowing", do(t, srv.Client(), srv.URL, start))
		if r := do(t, srv.Client(), srv.URL, pull.withBearer(tok)); r.status != http.StatusOK {
			t.Fatalf("pull after narrowing: %d", r.status)
		}
	})
}

// ---- admin credentials and the docker flow ----

func TestAdminCredentials(t *testing.T) {
	srv := registrytest.New(t, withAdmin(adminUser), registrytest.Closed())
	cases := []struct {
		name     string
		repo     string
		password string
		force    bool
		ok       bool
		// the token request oras must have made
		method, grant string
	}{
		{"Basic at GET /oauth2/token", "admin/get", adminPassword, false, true, http.MethodGet, ""},
		{"OAuth2 password grant", "admin/post", adminPassword, true, true, http.MethodPost, "password"},
		{"wrong password, GET", "admin/wrong-get", "not-" + adminPassword, false, false, http.MethodGet, ""},
		{"wrong password, password grant", "admin/wrong-post", "not-" + adminPassword, true, false, http.MethodPost, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(srv)
			repo := orasRepo(t, srv, tc.repo, orasClient(srv, rec, &orasauth.Credential{Username: adminUser, Password: tc.password}, tc.force))
			im := newImage(t, 1024)
			err := orasPush(repo, im, "v1")
			if !tc.ok {
				expectOrasStatus(t, "push", err, http.StatusUnauthorized)
			} else {
				if err != nil {
					t.Fatalf("push: %v", err)
				}
				if got, err := orasPull(repo, "v1"); err != nil || !bytes.Equal(got, im.manifest) {
					t.Fatalf("pull: %v", err)
				}
			}
			var tokenCalls int
			for _, c := range rec.snapshot() {
				if c.path != "/oauth2/token" {
					continue
				}
				tokenCalls++
				if c.method != tc.method {
					t.Errorf("oras used %s /oauth2/token, want %s", c.method, tc.method)
				}
				if tc.method == http.MethodGet && c.auth != "Basic" {
					t.Errorf("GET /oauth2/token without Basic credentials")
				}
				if tc.method == http.MethodPost && (c.form.Get("grant_type") != tc.grant || c.form.Get("username") != adminUser) {
					t.Errorf("POST /oauth2/token form %v", c.form)
				}
				if want := map[bool]int{true: http.StatusOK, false: http.StatusUnauthorized}[tc.ok]; c.status != want {
					t.Errorf("/oauth2/token: %d, want %d", c.status, want)
				}
			}
			if tokenCalls == 0 {
				t.Error("oras never asked for a token")
			}
		})
	}

	t.Run("Basic on registry requests", func(t *testing.T) {
		rawPush(t, adminClient(srv, adminUser), srv.URL, "admin/basic", "v1", newImage(t, 64))
		if r := do(t, srv.Client(), srv.URL, get("/v2/admin/basic/manifests/v1").withBasic(adminUser, adminPassword)); r.status != http.StatusOK {
			t.Fatalf("GET with Basic: %d", r.status)
		}
		if r := do(t, srv.Client(), srv.URL, get("/v2/_catalog").withBasic(adminUser, adminPassword)); r.status != http.StatusOK {
			t.Fatalf("catalog with Basic: %d", r.status)
		}
		expectInvalidToken(t, "wrong password", do(t, srv.Client(), srv.URL, get("/v2/admin/basic/manifests/v1").withBasic(adminUser, "nope")))
		expectInvalidToken(t, "unknown user", do(t, srv.Client(), srv.URL, get("/v2/admin/basic/manifests/v1").withBasic("root", adminPassword)))
	})

	t.Run("docker", func(t *testing.T) {
		c, base := srv.Client(), srv.URL
		// docker login: GET /v2/, then the realm with Basic and offline_token=true.
		expectChallenge(t, "GET /v2/", do(t, c, base, get("/v2/")),
			`Bearer realm="`+base+`/oauth2/token",service="`+srv.Host+`"`)
		q := url.Values{"account": {adminUser}, "client_id": {"docker"}, "offline_token": {"true"}, "service": {srv.Host}}
		login := decodeTokenBody(t, do(t, c, base, get("/oauth2/token?"+q.Encode()).withBasic(adminUser, adminPassword)))
		if login.Token == "" || login.Token != login.AccessToken || login.RefreshToken == "" || login.ExpiresIn <= 0 {
			t.Fatalf("login answer %+v: want token = access_token, a refresh_token and expires_in", login)
		}
		if r := do(t, c, base, get("/v2/").withBearer(login.Token)); r.status != http.StatusOK {
			t.Fatalf("GET /v2/ with the login token: %d", r.status)
		}
		// docker push with the identity token: POST grant_type=refresh_token.
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}, "service": {srv.Host},
			"scope": {"repository:docker/app:pull,push"}, "client_id": {"docker"}, "access_type": {"offline"}}
		push := decodeTokenBody(t, do(t, c, base, form(http.MethodPost, "/oauth2/token", f)))
		im := newImage(t, 4096)
		rawPush(t, bearerClient(srv, push.AccessToken), base, "docker/app", "v1", im)

		// docker login -u 00000000-0000-0000-0000-000000000000 -p <ACR refresh token>
		q = url.Values{"service": {srv.Host}, "scope": {"repository:docker/app:pull"}}
		pull := decodeTokenBody(t, do(t, c, base, get("/oauth2/token?"+q.Encode()).withBasic(auth.AnonymousUser, login.RefreshToken)))
		if r := do(t, c, base, get("/v2/docker/app/manifests/v1").withBearer(pull.Token)); r.status != http.StatusOK || !bytes.Equal(r.body, im.manifest) {
			t.Fatalf("pull with a token from the refresh-token login: %d", r.status)
		}
		if r := do(t, c, base, get("/v2/docker/app/manifests/v1").withBasic(auth.AnonymousUser, login.RefreshToken)); r.status != http.StatusOK {
			t.Fatalf("pull with Basic 0000…/refresh token: %d", r.status)
		}
		// An access token is not a refresh token.
		expectEmpty401(t, "login with an access token", do(t, c, base, get("/oauth2/token?"+q.Encode()).withBasic(auth.AnonymousUser, pull.Token)))
		expectInvalidToken(t, "Basic with an access token", do(t, c, base, get("/v2/docker/app/manifests/v1").withBasic(auth.AnonymousUser, pull.Token)))

		// oras with the refresh token as identity token.
		repo := orasRepo(t, srv, "docker/app", orasClient(srv, nil, &orasauth.Credential{RefreshToken: login.RefreshToken}, false))
		if got, err := orasPull(repo, "v1"); err != nil || !bytes.Equal(got, im.manifest) {
			t.Fatalf("oras pull with the identity token: %v", err)
		}
	})
}

// TestOpenAndClosed checks what a client without credentials gets: everything on an
// open registry (the default of registrytest and of `acre serve` on loopback),
// nothing on a closed one without any identity configured.
func TestOpenAndClosed(t *testing.T) {
	cases := []struct {
		name string
		opts []registrytest.Option
		open bool
	}{
		{"open", nil, true},
		{"closed", []registrytest.Option{registrytest.Closed()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := registrytest.New(t, tc.opts...)
			c, base := srv.Client(), srv.URL
			asked := []string{"repository:x:pull,push,delete", "registry:catalog:*"}
			viaGet := basicToken(t, srv, "", "", true, asked...)
			viaPost := decodeTokenBody(t, do(t, c, base, form(http.MethodPost, "/oauth2/token", url.Values{
				"grant_type": {"password"}, "refresh_token": {""}, "service": {srv.Host}, "scope": asked})))
			wantAccess := map[string][]string{}
			if tc.open {
				wantAccess = map[string][]string{"repository:x": {"delete", "pull", "push"}, "registry:catalog": {"*"}}
			}
			for _, tok := range []string{viaGet.AccessToken, viaPost.AccessToken} {
				if got := accessOf(t, tok); !maps.EqualFunc(got, wantAccess, slices.Equal) {
					t.Fatalf("anonymous access %v, want %v", got, wantAccess)
				}
			}
			if tc.open != (viaGet.RefreshToken != "") {
				t.Errorf("offline anonymous token: refresh token %q", viaGet.RefreshToken)
			}
			for _, q := range []request{
				{method: http.MethodPost, path: "/v2/x/blobs/uploads/"},
				get("/v2/_catalog"),
				get("/v2/x/tags/list"),
			} {
				r := do(t, c, base, q.withBearer(viaPost.AccessToken))
				if tc.open {
					if r.status == http.StatusUnauthorized {
						t.Errorf("%s %s on an open registry: 401", q.method, q.path)
					}
					continue
				}
				expectInsufficient(t, q.method+" "+q.path, r)
			}
			if !tc.open {
				// Not even a credential-looking request gets in.
				expectEmpty401(t, "exchange", exchange(t, srv, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))
				expectEmpty401(t, "Basic login", do(t, c, base, get("/oauth2/token?service="+srv.Host).withBasic("admin", "admin")))
				expectInvalidToken(t, "Basic", do(t, c, base, get("/v2/x/tags/list").withBasic("admin", "admin")))
			}
		})
	}
}
