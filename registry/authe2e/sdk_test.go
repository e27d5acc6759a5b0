package authe2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests drive the token service with the official Azure SDK for Go
// (azcontainerregistry), whose authentication policy does challenge → exchange →
// token on its own: the server has to speak ACR's dialect exactly for them to pass.

// entraCredential is an azcore.TokenCredential handing out one Entra access token.
type entraCredential struct {
	token string

	mu     sync.Mutex
	calls  int
	scopes [][]string
}

func (c *entraCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.scopes = append(c.scopes, opts.Scopes)
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type sdkClients struct {
	client *azcontainerregistry.Client
	blobs  *azcontainerregistry.BlobClient
}

// newSDK builds SDK clients for the test server (plain http works with this SDK)
// that send through rec. Retries are off: a refusal must show at once.
func newSDK(t *testing.T, srv *registrytest.Server, cred azcore.TokenCredential, rec *recorder) sdkClients {
	t.Helper()
	opts := azcore.ClientOptions{Transport: rec, Retry: policy.RetryOptions{MaxRetries: -1}}
	c, err := azcontainerregistry.NewClient(srv.URL, cred, &azcontainerregistry.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	b, err := azcontainerregistry.NewBlobClient(srv.URL, cred, &azcontainerregistry.BlobClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	return sdkClients{client: c, blobs: b}
}

// responseError returns the SDK's HTTP error, failing the test for anything else.
func responseError(t *testing.T, what string, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T), want an *azcore.ResponseError", what, err, err)
	}
	return re
}

func expectStatus(t *testing.T, what string, err error, status int) *azcore.ResponseError {
	t.Helper()
	re := responseError(t, what, err)
	if re.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (%v)", what, re.StatusCode, status, err)
	}
	return re
}

// expectSDKInsufficient checks that an SDK call was refused with 401 and
// error="insufficient_scope" (after the SDK fetched a token and tried again).
func expectSDKInsufficient(t *testing.T, what string, err error) {
	t.Helper()
	re := expectStatus(t, what, err, http.StatusUnauthorized)
	if ch := re.RawResponse.Header.Get("WWW-Authenticate"); !strings.HasSuffix(ch, `,error="insufficient_scope"`) {
		t.Fatalf("%s: challenge %q, want error=\"insufficient_scope\"", what, ch)
	}
}

// sdkScenario is what a user of the SDK does with an image, step by step; each
// step relies on the ones before it.
type sdkScenario struct {
	sdkClients
	repo string
	img  image
}

type sdkStep struct {
	name string
	run  func(s *sdkScenario, t *testing.T)
	// pending, when set, skips the step and says why.
	pending string
}

const metadataPending = "the /acr/v1 metadata API is not served yet"

var sdkSteps = []sdkStep{
	{name: "StartUpload+UploadChunk+CompleteUpload", run: (*sdkScenario).uploadBlobs},
	{name: "UploadManifest", run: (*sdkScenario).uploadManifest},
	{name: "GetManifest", run: (*sdkScenario).getManifest},
	{name: "GetBlob", run: (*sdkScenario).getBlob},
	// Listing goes through /acr/v1 (metadata_read and registry:catalog:* scopes).
	// Once that API is served, enabling each of these is deleting its pending field.
	{name: "NewListRepositoriesPager", run: (*sdkScenario).listRepositories, pending: metadataPending},
	{name: "NewListTagsPager", run: (*sdkScenario).listTags, pending: metadataPending},
	{name: "DeleteManifest", run: (*sdkScenario).deleteManifest},
	{name: "DeleteBlob", run: (*sdkScenario).deleteBlob},
}

func runSDKScenario(t *testing.T, s *sdkScenario) {
	t.Helper()
	for _, st := range sdkSteps {
		ok := t.Run(st.name, func(t *testing.T) {
			if st.pending != "" {
				t.Skip(st.pending)
			}
			st.run(s, t)
		})
		if !ok {
			t.FailNow()
		}
	}
}

func (s *sdkScenario) uploadBlobs(t *testing.T) {
	ctx := context.Background()
	s.upload(t, s.img.config, 1, nil)
	// The layer goes in three chunks. Before the second, the client's one cached
	// token is made stale (it now covers another repository), so the SDK sends the
	// chunk with it, gets 401 insufficient_scope and sends the chunk again with a
	// new token. Its digest calculator only comes out right if the server read the
	// refused copy whole.
	s.upload(t, s.img.layer, 3, func(i int) {
		if i == 1 {
			_, err := s.blobs.CheckBlobExists(ctx, s.repo+"-elsewhere", s.img.layerD.String(), nil)
			expectStatus(t, "CheckBlobExists elsewhere", err, http.StatusNotFound)
		}
	})
}

// upload sends data with StartUpload, UploadChunk (in chunks) and CompleteUpload;
// before, if set, runs before each chunk.
func (s *sdkScenario) upload(t *testing.T, data []byte, chunks int, before func(i int)) {
	t.Helper()
	ctx := context.Background()
	start, err := s.blobs.StartUpload(ctx, s.repo, nil)
	if err != nil {
		t.Fatalf("StartUpload: %v", err)
	}
	loc := *start.Location
	calc := azcontainerregistry.NewBlobDigestCalculator()
	per := (len(data) + chunks - 1) / chunks
	for i, off := 0, 0; off < len(data); i, off = i+1, off+per {
		n := min(per, len(data)-off)
		if before != nil {
			before(i)
		}
		res, err := s.blobs.UploadChunk(ctx, loc, io.NewSectionReader(bytes.NewReader(data), int64(off), int64(n)), calc,
			&azcontainerregistry.BlobClientUploadChunkOptions{RangeStart: to.Ptr(int32(off)), RangeEnd: to.Ptr(int32(off + n - 1))})
		if err != nil {
			t.Fatalf("UploadChunk %d: %v", i, err)
		}
		loc = *res.Location
	}
	done, err := s.blobs.CompleteUpload(ctx, loc, calc, nil)
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if got, want := *done.DockerContentDigest, digest.FromBytes(data).String(); got != want {
		t.Fatalf("CompleteUpload digest %s, want %s", got, want)
	}
}

func (s *sdkScenario) uploadManifest(t *testing.T) {
	res, err := s.client.UploadManifest(context.Background(), s.repo, "v1",
		azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON, streaming.NopCloser(bytes.NewReader(s.img.manifest)), nil)
	if err != nil {
		t.Fatalf("UploadManifest: %v", err)
	}
	if got := *res.DockerContentDigest; got != s.img.manifD.String() {
		t.Fatalf("UploadManifest digest %s, want %s", got, s.img.manifD)
	}
}

func (s *sdkScenario) getManifest(t *testing.T) {
	for _, ref := range []string{"v1", s.img.manifD.String()} {
		res, err := s.client.GetManifest(context.Background(), s.repo, ref,
			&azcontainerregistry.ClientGetManifestOptions{Accept: to.Ptr(ocispec.MediaTypeImageManifest)})
		if err != nil {
			t.Fatalf("GetManifest %s: %v", ref, err)
		}
		got := readValidated(t, *res.DockerContentDigest, res.ManifestData)
		if !bytes.Equal(got, s.img.manifest) || *res.DockerContentDigest != s.img.manifD.String() {
			t.Fatalf("GetManifest %s: %s %q, want the uploaded manifest", ref, *res.DockerContentDigest, got)
		}
	}
}

func (s *sdkScenario) getBlob(t *testing.T) {
	res, err := s.blobs.GetBlob(context.Background(), s.repo, s.img.layerD.String(), nil)
	if err != nil {
		t.Fatalf("GetBlob: %v", err)
	}
	if got := readValidated(t, s.img.layerD.String(), res.BlobData); !bytes.Equal(got, s.img.layer) {
		t.Fatalf("GetBlob: %d bytes, not the uploaded layer", len(got))
	}
}

func readValidated(t *testing.T, d string, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	r, err := azcontainerregistry.NewDigestValidationReader(d, rc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return b
}

func (s *sdkScenario) listRepositories(t *testing.T) {
	ctx := context.Background()
	var names []string
	for p := s.client.NewListRepositoriesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NewListRepositoriesPager: %v", err)
		}
		for _, n := range page.Names {
			names = append(names, *n)
		}
	}
	if !slices.Contains(names, s.repo) {
		t.Fatalf("repositories %v lack %s", names, s.repo)
	}
}

func (s *sdkScenario) listTags(t *testing.T) {
	ctx := context.Background()
	var tags []string
	for p := s.client.NewListTagsPager(s.repo, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NewListTagsPager: %v", err)
		}
		for _, tg := range page.Tags {
			tags = append(tags, *tg.Name)
		}
	}
	if !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("tags %v, want [v1]", tags)
	}
}

func (s *sdkScenario) deleteManifest(t *testing.T) {
	ctx := context.Background()
	if _, err := s.client.DeleteManifest(ctx, s.repo, s.img.manifD.String(), nil); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	_, err := s.client.GetManifest(ctx, s.repo, s.img.manifD.String(), nil)
	expectStatus(t, "GetManifest after DeleteManifest", err, http.StatusNotFound)
}

func (s *sdkScenario) deleteBlob(t *testing.T) {
	ctx := context.Background()
	for _, d := range []digest.Digest{s.img.layerD, s.img.configD} {
		if _, err := s.blobs.DeleteBlob(ctx, s.repo, d.String(), nil); err != nil {
			t.Fatalf("DeleteBlob %s: %v", d, err)
		}
	}
	_, err := s.blobs.GetBlob(ctx, s.repo, s.img.layerD.String(), nil)
	expectStatus(t, "GetBlob after DeleteBlob", err, http.StatusNotFound)
}

// checkChallengeFlow checks what every SDK run must show on the wire: requests sent
// without a token were challenged, and requests that succeeded carried a token.
func checkChallengeFlow(t *testing.T, rec *recorder) {
	t.Helper()
	challenged, staleBody := 0, 0
	for _, c := range rec.snapshot() {
		if !strings.HasPrefix(c.path, "/v2/") {
			continue
		}
		switch {
		case c.auth == "" && c.status != http.StatusUnauthorized:
			t.Errorf("%s %s without a token got %d, want 401", c.method, c.path, c.status)
		case c.auth == "":
			challenged++
		case c.auth != "Bearer":
			t.Errorf("%s %s sent %s credentials, want Bearer", c.method, c.path, c.auth)
		case c.status == http.StatusUnauthorized && c.method == http.MethodPatch && c.bodyLen > 0:
			staleBody++
		}
	}
	if challenged == 0 {
		t.Error("the SDK was never challenged")
	}
	if staleBody == 0 {
		t.Error("no chunk was sent with a stale token and refused (the scenario lost its point)")
	}
}

func TestSDKWithEntraCredential(t *testing.T) {
	e := newEntra(t)
	srv := registrytest.New(t, e.option())
	rec := newRecorder(srv)
	cred := &entraCredential{token: e.sign(t, e.claims("3f0c1a2e-6a0b-4e3c-9d55-0a1b2c3d4e5f"))}
	s := &sdkScenario{sdkClients: newSDK(t, srv, cred, rec), repo: "sdk/entra-app", img: newImage(t, 300<<10)}
	runSDKScenario(t, s)

	checkChallengeFlow(t, rec)
	var exchanges, tokens int
	for _, c := range rec.snapshot() {
		switch {
		case c.path == "/oauth2/exchange":
			exchanges++
			if c.status != http.StatusOK || c.form.Get("grant_type") != "access_token" ||
				c.form.Get("service") != srv.Host || c.form.Get("access_token") != cred.token {
				t.Errorf("exchange: status %d form %v", c.status, c.form)
			}
		case c.path == "/oauth2/token":
			tokens++
			if c.method != http.MethodPost || c.status != http.StatusOK || c.form.Get("grant_type") != "refresh_token" ||
				c.form.Get("refresh_token") == "" || c.form.Get("service") != srv.Host || c.form.Get("scope") == "" {
				t.Errorf("token: %s status %d form %v", c.method, c.status, c.form)
			}
		}
	}
	// Each SDK client (Client, BlobClient) exchanges once and keeps its refresh token.
	cred.mu.Lock()
	calls, scopes := cred.calls, cred.scopes
	cred.mu.Unlock()
	if exchanges == 0 || exchanges > 2 || exchanges != calls {
		t.Errorf("%d exchanges for %d credential calls, want 1 or 2 of each", exchanges, calls)
	}
	for _, sc := range scopes {
		if !slices.Equal(sc, []string{"https://containerregistry.azure.net/.default"}) {
			t.Errorf("the SDK asked Entra for scopes %v", sc)
		}
	}
	// Upload (pull,push), a stale scope elsewhere (pull), upload again, delete.
	if tokens < 4 {
		t.Errorf("%d access tokens issued, want at least 4", tokens)
	}

	t.Run("untrusted credential", func(t *testing.T) {
		// Same key id, another key: the SDK fails at the exchange and never writes.
		rec := newRecorder(srv)
		bad := &entraCredential{token: signJWT(t, "RS256", jwkOf(foreignKey(), e.kid), e.claims("intruder"))}
		c := newSDK(t, srv, bad, rec)
		_, err := c.blobs.StartUpload(context.Background(), "sdk/intruder", nil)
		expectStatus(t, "StartUpload with an untrusted credential", err, http.StatusUnauthorized)
		if n := rec.count(http.MethodPost, "/oauth2/exchange", http.StatusUnauthorized); n != 1 {
			t.Errorf("%d refused exchanges, want 1", n)
		}
		if n := rec.count(http.MethodPost, "/oauth2/token", 0); n != 0 {
			t.Errorf("%d token requests after a refused exchange", n)
		}
		if n := len(rec.snapshot()); n != 2 {
			t.Errorf("%d requests, want the challenge and the exchange: %+v", n, rec.snapshot())
		}
	})
}

func TestSDKAnonymousOnOpenRegistry(t *testing.T) {
	srv := registrytest.New(t)
	rec := newRecorder(srv)
	s := &sdkScenario{sdkClients: newSDK(t, srv, nil, rec), repo: "sdk/anonymous", img: newImage(t, 64<<10)}
	runSDKScenario(t, s)

	checkChallengeFlow(t, rec)
	if n := rec.count(http.MethodPost, "/oauth2/exchange", 0); n != 0 {
		t.Errorf("%d exchanges without a credential", n)
	}
	tokens := 0
	for _, c := range rec.snapshot() {
		if c.path != "/oauth2/token" {
			continue
		}
		tokens++
		// The SDK's anonymous grant: password, with an empty refresh token.
		if c.method != http.MethodPost || c.status != http.StatusOK || c.form.Get("grant_type") != "password" ||
			!c.form.Has("refresh_token") || c.form.Get("refresh_token") != "" {
			t.Errorf("token: %s status %d form %v", c.method, c.status, c.form)
		}
	}
	if tokens == 0 {
		t.Error("no anonymous token was issued")
	}
}

func TestSDKAnonymous(t *testing.T) {
	cases := []struct {
		name     string
		opts     []registrytest.Option
		pullable bool
	}{
		{"anonymous pull", []registrytest.Option{withAdmin(adminUser), registrytest.WithAnonymousPull()}, true},
		{"anonymous pull off", []registrytest.Option{withAdmin(adminUser), registrytest.Closed()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := registrytest.New(t, tc.opts...)
			im := newImage(t, 4096)
			admin := adminClient(srv, adminUser)
			rawPush(t, admin, srv.URL, "public/app", "v1", im)
			ctx := context.Background()
			c := newSDK(t, srv, nil, newRecorder(srv))

			reads := []struct {
				name string
				run  func() (io.ReadCloser, error)
				want []byte
			}{
				{"GetManifest", func() (io.ReadCloser, error) {
					res, err := c.client.GetManifest(ctx, "public/app", "v1", nil)
					return res.ManifestData, err
				}, im.manifest},
				{"GetBlob", func() (io.ReadCloser, error) {
					res, err := c.blobs.GetBlob(ctx, "public/app", im.layerD.String(), nil)
					return res.BlobData, err
				}, im.layer},
			}
			for _, r := range reads {
				rc, err := r.run()
				if !tc.pullable {
					expectSDKInsufficient(t, r.name, err)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if !bytes.Equal(b, r.want) {
					t.Fatalf("%s: wrong content", r.name)
				}
			}

			writes := []struct {
				name string
				run  func() error
			}{
				{"UploadManifest", func() error {
					_, err := c.client.UploadManifest(ctx, "public/app", "v2", azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
						streaming.NopCloser(bytes.NewReader(im.manifest)), nil)
					return err
				}},
				{"StartUpload", func() error { _, err := c.blobs.StartUpload(ctx, "public/app", nil); return err }},
				{"StartUpload new repository", func() error { _, err := c.blobs.StartUpload(ctx, "public/new", nil); return err }},
				{"DeleteManifest", func() error {
					_, err := c.client.DeleteManifest(ctx, "public/app", im.manifD.String(), nil)
					return err
				}},
				{"DeleteBlob", func() error { _, err := c.blobs.DeleteBlob(ctx, "public/app", im.layerD.String(), nil); return err }},
			}
			for _, w := range writes {
				expectSDKInsufficient(t, w.name, w.run())
			}

			// Nothing changed.
			for _, path := range []string{"/v2/public/app/manifests/v1", "/v2/public/app/blobs/" + im.layerD.String()} {
				if r := do(t, admin, srv.URL, get(path)); r.status != http.StatusOK {
					t.Errorf("GET %s after refused writes: %d", path, r.status)
				}
			}
			for _, path := range []string{"/v2/public/app/manifests/v2", "/v2/public/new/tags/list"} {
				if r := do(t, admin, srv.URL, get(path)); r.status != http.StatusNotFound {
					t.Errorf("GET %s after refused writes: %d, want 404", path, r.status)
				}
			}
		})
	}
}
