package acr

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// AuthenticationClient talks to ACR's token endpoints directly: it exchanges a
// Microsoft Entra access token for an ACR refresh token, and a refresh token for an
// access token. Client and BlobClient do this by themselves; use this client to
// hand tokens to other tools (docker login with the refresh token, say).
type AuthenticationClient struct {
	endpoint string
	pl       runtime.Pipeline
}

// NewAuthenticationClient returns a client for the token endpoints of the registry
// at endpoint. options may be nil.
func NewAuthenticationClient(endpoint string, options *AuthenticationClientOptions) (*AuthenticationClient, error) {
	e, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var o *azcore.ClientOptions
	if options != nil {
		o = &options.ClientOptions
	}
	if o == nil {
		o = &azcore.ClientOptions{}
	}
	return &AuthenticationClient{endpoint: e, pl: runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{}, o)}, nil
}

func (c *AuthenticationClient) post(ctx context.Context, path string, form url.Values, v any) error {
	req, err := runtime.NewRequest(ctx, http.MethodPost, c.endpoint+path+"?api-version="+apiVersion)
	if err != nil {
		return err
	}
	req.Raw().Header.Set("Accept", "application/json")
	if err := req.SetBody(streaming.NopCloser(strings.NewReader(form.Encode())), "application/x-www-form-urlencoded"); err != nil {
		return err
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return newResponseError(resp)
	}
	return runtime.UnmarshalAsJSON(resp, v)
}

// ExchangeAADAccessTokenForACRRefreshToken exchanges a Microsoft Entra access token
// (options.AccessToken) for an ACR refresh token for service (the login server).
func (c *AuthenticationClient) ExchangeAADAccessTokenForACRRefreshToken(ctx context.Context, grantType PostContentSchemaGrantType, service string, options *AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions) (AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenResponse, error) {
	var out AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenResponse
	if err := required("service", service); err != nil {
		return out, err
	}
	form := url.Values{"grant_type": {string(grantType)}, "service": {service}}
	if options != nil {
		for k, v := range map[string]*string{"access_token": options.AccessToken, "refresh_token": options.RefreshToken, "tenant": options.Tenant} {
			if v != nil {
				form.Set(k, *v)
			}
		}
	}
	err := c.post(ctx, "/oauth2/exchange", form, &out.ACRRefreshToken)
	return out, err
}

// ExchangeACRRefreshTokenForACRAccessToken exchanges an ACR refresh token for an
// access token for scope ("repository:hello:pull"). An empty refreshToken with
// grant type password asks for an anonymous token.
func (c *AuthenticationClient) ExchangeACRRefreshTokenForACRAccessToken(ctx context.Context, service string, scope string, refreshToken string, options *AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenOptions) (AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenResponse, error) {
	var out AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenResponse
	if err := errors.Join(required("service", service), required("scope", scope)); err != nil {
		return out, err
	}
	form := url.Values{"service": {service}, "scope": {scope}, "refresh_token": {refreshToken}}
	if options != nil && options.GrantType != nil {
		form.Set("grant_type", string(*options.GrantType))
	}
	err := c.post(ctx, "/oauth2/token", form, &out.ACRAccessToken)
	return out, err
}
