package acr_test

// The seed examples run unchanged: they call https://myregistry.azurecr.io with
// azidentity.NewDefaultAzureCredential. TestMain makes that real without touching
// their code: a test CA is trusted through SSL_CERT_FILE, HTTPS_PROXY leads
// myregistry.azurecr.io to an in-process acre (TLS) and login.microsoftonline.com to
// a small Microsoft Entra stand-in that issues RS256 tokens, and acre trusts that
// stand-in's signing key (--aad-jwks). So the examples go through the whole ACR
// flow: Entra token, /oauth2/exchange, /oauth2/token, challenge and all.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acre-dev/acre/registry/auth"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/opencontainers/go-digest"
)

const (
	exampleRegistry = "myregistry.azurecr.io"
	entraHost       = "login.microsoftonline.com"
	exampleTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

func TestMain(m *testing.M) {
	code, err := runWithExampleWorld(m)
	if err != nil {
		log.Fatalf("example set-up: %v", err)
	}
	os.Exit(code)
}

// tb is the minimal testing.TB registrytest needs outside a test.
type mainTB struct {
	testing.TB
	cleanups []func()
	dir      string
}

func (t *mainTB) Helper()                   {}
func (t *mainTB) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *mainTB) TempDir() string           { d, _ := os.MkdirTemp(t.dir, "t"); return d }
func (t *mainTB) Fatalf(f string, a ...any) { log.Fatalf(f, a...) }
func (t *mainTB) Fatal(a ...any)            { log.Fatal(a...) }
func (t *mainTB) Log(a ...any)              {}
func (t *mainTB) Logf(string, ...any)       {}

func runWithExampleWorld(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "acr-examples-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	tb := &mainTB{dir: dir}
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}()

	// A CA the test trusts, and a certificate for both hosts.
	caPEM, cert, err := testCertificate(exampleRegistry, entraHost)
	if err != nil {
		return 0, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		return 0, err
	}

	// The Entra stand-in and the key acre trusts.
	entraKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, err
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &entraKey.PublicKey, KeyID: "test-key", Algorithm: "RS256", Use: "sig"}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		return 0, err
	}
	entra := httptest.NewUnstartedServer(fakeEntra(entraKey))
	entra.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	entra.StartTLS()
	defer entra.Close()

	// acre, on TLS, with Entra and anonymous pull; strictly increasing timestamps.
	var tick atomic.Int64
	base := time.Date(2024, 1, 24, 6, 0, 0, 0, time.UTC)
	srv := registrytest.New(tb,
		registrytest.WithTLSCertificate(cert),
		registrytest.WithEntra(auth.EntraConfig{JWKS: jwksFile, Issuer: "https://" + entraHost + "/" + exampleTenant + "/v2.0"}),
		registrytest.WithAnonymousPull(),
		registrytest.WithAdmin("seeder", "seeder-password"),
		registrytest.With(func(s *registrytest.Settings) {
			s.Registry.Core.Now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }
			s.Registry.Core.LoginServer = exampleRegistry
		}))

	// The proxy that leads the two host names to the two servers.
	proxy := httptest.NewServer(connectProxy(map[string]string{
		exampleRegistry + ":443": srv.Listener.Addr().String(),
		entraHost + ":443":       entra.Listener.Addr().String(),
	}))
	defer proxy.Close()

	for k, v := range map[string]string{
		"SSL_CERT_FILE":       caFile,
		"HTTPS_PROXY":         proxy.URL,
		"NO_PROXY":            "",
		"AZURE_TENANT_ID":     exampleTenant,
		"AZURE_CLIENT_ID":     "00000000-0000-0000-0000-0000000000aa",
		"AZURE_CLIENT_SECRET": "example-secret",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AZURE_AUTHORITY_HOST", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "http_proxy", "https_proxy", "no_proxy"} {
		os.Unsetenv(k)
	}
	if err := seedExampleData(srv); err != nil {
		return 0, err
	}
	// The download example writes layer files to the working directory.
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		return 0, err
	}
	defer os.Chdir(wd)
	return m.Run(), nil
}

// testCertificate makes a CA and a server certificate for hosts signed by it.
func testCertificate(hosts ...string) (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acre test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// connectProxy is an HTTP CONNECT proxy with a fixed map of destinations.
func connectProxy(routes map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, ok := routes[r.Host]
		if r.Method != http.MethodConnect || !ok {
			http.Error(w, "no route to "+r.Host, http.StatusBadGateway)
			return
		}
		upstream, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() {
			_, _ = io.Copy(upstream, buf)
			upstream.Close()
		}()
		_, _ = io.Copy(conn, upstream)
		conn.Close()
	})
}

// fakeEntra answers what azidentity's client-secret credential asks Microsoft Entra
// ID: instance discovery, OpenID configuration, and the token endpoint.
func fakeEntra(key *rsa.PrivateKey) http.Handler {
	authority := "https://" + entraHost + "/" + exampleTenant
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test-key"))
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/discovery/instance"):
			fmt.Fprintf(w, `{"tenant_discovery_endpoint":"%s/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[{"preferred_network":"%s","preferred_cache":"%s","aliases":["%s"]}]}`,
				authority, entraHost, entraHost, entraHost)
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			fmt.Fprintf(w, `{"token_endpoint":"%s/oauth2/v2.0/token","authorization_endpoint":"%s/oauth2/v2.0/authorize","issuer":"%s/v2.0","jwks_uri":"%s/discovery/v2.0/keys","device_authorization_endpoint":"%s/oauth2/v2.0/devicecode"}`,
				authority, authority, authority, authority, authority)
		case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
			now := time.Now()
			claims := map[string]any{
				"aud": "https://containerregistry.azure.net", "iss": authority + "/v2.0",
				"oid": "11111111-2222-3333-4444-555555555555", "tid": exampleTenant, "sub": "example-app",
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			}
			tok, err := jwt.Signed(signer).Claims(claims).Serialize()
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, tok)
		default:
			http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
		}
	})
}

// seedExampleData pushes what the examples expect: library/hello-world:latest, and
// library/busybox with five images for the delete-images example.
func seedExampleData(srv *registrytest.Server) error {
	// Set-up only: talk to the server directly, trusting its test certificate.
	base := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	client := &http.Client{Transport: &registrytest.Transport{Base: base, Username: "seeder", Password: "seeder-password"}}
	push := func(repo, tag string, layer []byte) error {
		cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
		for _, b := range [][]byte{cfg, layer} {
			req, _ := http.NewRequest("POST", srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+string(digest.FromBytes(b)), bytes.NewReader(b))
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != 201 {
				return fmt.Errorf("seed blob: %s", res.Status)
			}
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
			digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
		req, _ := http.NewRequest("PUT", srv.URL+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(m))
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 201 {
			return fmt.Errorf("seed manifest: %s", res.Status)
		}
		return nil
	}
	if err := push("library/hello-world", "latest", []byte("hello world layer")); err != nil {
		return err
	}
	for i := range 5 {
		if err := push("library/busybox", fmt.Sprintf("v%d", i), []byte(fmt.Sprintf("busybox layer %d", i))); err != nil {
			return err
		}
	}
	_ = context.Background
	return nil
}
