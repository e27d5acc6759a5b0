package acr

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

const (
	moduleName    = "github.com/acre-dev/acre/acr"
	moduleVersion = "v0.1.0"
	// defaultAudience is the Microsoft Entra audience of ACR in every cloud (the
	// official SDK uses the same since v0.2.3).
	defaultAudience = "https://containerregistry.azure.net"
	apiVersion      = "2021-07-01"
)

// normalizeEndpoint accepts "https://host", "http://host" (any host; credentials
// then go only to loopback hosts) or a bare "host[:port]" (https, or http for a
// loopback host), and returns scheme://host without a trailing slash.
func normalizeEndpoint(endpoint string) (string, error) {
	e := strings.TrimRight(strings.TrimSpace(endpoint), "/")
	if e == "" {
		return "", fmt.Errorf("acr: endpoint is empty")
	}
	if !strings.Contains(e, "://") {
		u, err := url.Parse("//" + e)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("acr: invalid endpoint %q", endpoint)
		}
		if isLoopback(u.Hostname()) {
			e = "http://" + e
		} else {
			e = "https://" + e
		}
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("acr: invalid endpoint %q: want https://host", endpoint)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/"), nil
}

// audience returns the Entra audience from the cloud configuration, or ACR's default.
func audience(o *azcore.ClientOptions) string {
	if o != nil {
		if svc, ok := o.Cloud.Services[ServiceName]; ok && svc.Audience != "" {
			return svc.Audience
		}
	}
	return defaultAudience
}

// newPipelines builds the pipeline of a client (with the authentication policy)
// and the one its policy uses for probes and token requests (without it).
func newPipelines(cred azcore.TokenCredential, o *azcore.ClientOptions, allowHTTP bool) runtime.Pipeline {
	if o == nil {
		o = &azcore.ClientOptions{}
	}
	tokenPl := runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{}, o)
	auth := newAuthPolicy(cred, audience(o), tokenPl, allowHTTP)
	return runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{
		PerRetry: []policy.Policy{auth},
		// Header values worth seeing in azcore's logs; everything else is redacted.
		AllowedHeaders:         []string{"Docker-Content-Digest", "Docker-Upload-UUID", "Location", "Range", "Content-Range", "Link", "OCI-Subject", "Docker-Distribution-Api-Version"},
		AllowedQueryParameters: []string{"api-version", "n", "last", "orderby", "digest", "mount", "from", "artifactType"},
	}, o)
}
