package acr

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// registryCredential is a credential that is not a Microsoft Entra token source:
// the client authenticates with it directly at the registry's token endpoint.
type registryCredential interface {
	azcore.TokenCredential
	registryCredential()
}

var errNotEntra = errors.New("acr: this credential authenticates at the registry, not with Microsoft Entra ID")

// BasicCredential is a user name and password: the admin user of an ACR, a
// repository-scoped token's name and password, or any registry's account. The client
// trades it for bearer tokens at the registry's token service (the docker token
// flow), or sends it as Basic authentication to registries that ask for that.
type BasicCredential struct {
	username, password string
}

// NewBasicCredential returns a credential for a user name and password.
func NewBasicCredential(username, password string) *BasicCredential {
	return &BasicCredential{username: username, password: password}
}

// GetToken implements azcore.TokenCredential; it always fails, because a Basic
// credential is not a Microsoft Entra token source.
func (*BasicCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errNotEntra
}

func (*BasicCredential) registryCredential() {}

// RefreshTokenCredential is a registry refresh token: an ACR refresh token (as
// `az acr login --expose-token` prints) or a docker identity token. The client
// trades it for access tokens at the registry's token service.
type RefreshTokenCredential struct {
	token string
}

// NewRefreshTokenCredential returns a credential for a refresh token.
func NewRefreshTokenCredential(refreshToken string) *RefreshTokenCredential {
	return &RefreshTokenCredential{token: refreshToken}
}

// GetToken implements azcore.TokenCredential; it always fails, because a refresh
// token is not a Microsoft Entra token source.
func (*RefreshTokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errNotEntra
}

func (*RefreshTokenCredential) registryCredential() {}
