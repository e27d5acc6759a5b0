package acr

import "github.com/Azure/azure-sdk-for-go/sdk/azcore"

// Every method takes a pointer to its own options struct, and nil always means "all
// defaults". The structs without fields exist so that options can be added later
// without changing any signature.

// ClientOptions configures NewClient. The embedded azcore.ClientOptions set the
// transport, retries, logging, telemetry and cloud; the Cloud's ServiceName entry,
// if any, sets the Microsoft Entra audience.
type ClientOptions struct {
	azcore.ClientOptions
}

// BlobClientOptions configures NewBlobClient, in the same way as ClientOptions.
type BlobClientOptions struct {
	azcore.ClientOptions
}

// AuthenticationClientOptions configures NewAuthenticationClient.
type AuthenticationClientOptions struct {
	azcore.ClientOptions
}

// AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions holds the
// optional form fields of AuthenticationClient.ExchangeAADAccessTokenForACRRefreshToken.
type AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions struct {
	// AccessToken is the Microsoft Entra access token; needed with the access_token
	// and access_token_refresh_token grant types.
	AccessToken *string

	// RefreshToken is the Microsoft Entra refresh token; needed with the refresh_token
	// and access_token_refresh_token grant types.
	RefreshToken *string

	// Tenant is the Microsoft Entra tenant the tokens belong to.
	Tenant *string
}

// AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenOptions holds the
// optional form fields of AuthenticationClient.ExchangeACRRefreshTokenForACRAccessToken.
type AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenOptions struct {
	// GrantType is sent as grant_type; the registry expects refresh_token.
	GrantType *TokenGrantType
}

// BlobClientCancelUploadOptions holds the optional parameters of
// BlobClient.CancelUpload. It has none yet.
type BlobClientCancelUploadOptions struct{}

// BlobClientCheckBlobExistsOptions holds the optional parameters of
// BlobClient.CheckBlobExists. It has none yet.
type BlobClientCheckBlobExistsOptions struct{}

// BlobClientCheckChunkExistsOptions holds the optional parameters of
// BlobClient.CheckChunkExists. It has none yet.
type BlobClientCheckChunkExistsOptions struct{}

// BlobClientCompleteUploadOptions holds the optional parameters of
// BlobClient.CompleteUpload. It has none yet.
type BlobClientCompleteUploadOptions struct{}

// BlobClientDeleteBlobOptions holds the optional parameters of BlobClient.DeleteBlob.
// It has none yet.
type BlobClientDeleteBlobOptions struct{}

// BlobClientGetBlobOptions holds the optional parameters of BlobClient.GetBlob. It
// has none yet.
type BlobClientGetBlobOptions struct{}

// BlobClientGetChunkOptions holds the optional parameters of BlobClient.GetChunk. It
// has none yet.
type BlobClientGetChunkOptions struct{}

// BlobClientGetUploadStatusOptions holds the optional parameters of
// BlobClient.GetUploadStatus. It has none yet.
type BlobClientGetUploadStatusOptions struct{}

// BlobClientMountBlobOptions holds the optional parameters of BlobClient.MountBlob.
// It has none yet.
type BlobClientMountBlobOptions struct{}

// BlobClientStartUploadOptions holds the optional parameters of
// BlobClient.StartUpload. It has none yet.
type BlobClientStartUploadOptions struct{}

// BlobClientUploadChunkOptions holds the optional parameters of
// BlobClient.UploadChunk.
//
// The offsets are int32 only for source compatibility with the official module.
// When both are nil the client computes the chunk's range itself from the
// BlobDigestCalculator, which counts the bytes already uploaded, and sends a 64-bit
// Content-Range, so blobs of any size can be uploaded in chunks. Set both only to
// send an explicit range below 2 GiB.
type BlobClientUploadChunkOptions struct {
	// RangeStart is the offset of the chunk's first byte in the blob.
	RangeStart *int32

	// RangeEnd is the offset of the chunk's last byte in the blob (inclusive).
	RangeEnd *int32
}

// ClientDeleteManifestOptions holds the optional parameters of
// Client.DeleteManifest. It has none yet.
type ClientDeleteManifestOptions struct{}

// ClientDeleteRepositoryOptions holds the optional parameters of
// Client.DeleteRepository. It has none yet.
type ClientDeleteRepositoryOptions struct{}

// ClientDeleteTagOptions holds the optional parameters of Client.DeleteTag. It has
// none yet.
type ClientDeleteTagOptions struct{}

// ClientGetManifestOptions holds the optional parameters of Client.GetManifest.
type ClientGetManifestOptions struct {
	// Accept lists the manifest media types the caller understands, separated by
	// commas, for example "application/vnd.oci.image.manifest.v1+json".
	Accept *string
}

// ClientGetManifestPropertiesOptions holds the optional parameters of
// Client.GetManifestProperties. It has none yet.
type ClientGetManifestPropertiesOptions struct{}

// ClientGetRepositoryPropertiesOptions holds the optional parameters of
// Client.GetRepositoryProperties. It has none yet.
type ClientGetRepositoryPropertiesOptions struct{}

// ClientGetTagPropertiesOptions holds the optional parameters of
// Client.GetTagProperties. It has none yet.
type ClientGetTagPropertiesOptions struct{}

// ClientListManifestsOptions holds the optional parameters of
// Client.NewListManifestsPager.
type ClientListManifestsOptions struct {
	// Last starts the listing after this manifest digest.
	Last *string

	// MaxNum is the largest number of manifests per page.
	MaxNum *int32

	// OrderBy is the listing's order.
	OrderBy *ArtifactManifestOrderBy
}

// ClientListRepositoriesOptions holds the optional parameters of
// Client.NewListRepositoriesPager.
type ClientListRepositoriesOptions struct {
	// Last starts the listing after this repository name, in lexical order.
	Last *string

	// MaxNum is the largest number of repositories per page.
	MaxNum *int32
}

// ClientListTagsOptions holds the optional parameters of Client.NewListTagsPager.
type ClientListTagsOptions struct {
	// Digest lists only the tags that point at this manifest digest.
	Digest *string

	// Last starts the listing after this tag.
	Last *string

	// MaxNum is the largest number of tags per page.
	MaxNum *int32

	// OrderBy is the listing's order.
	OrderBy *ArtifactTagOrderBy
}

// ClientUpdateManifestPropertiesOptions holds the optional parameters of
// Client.UpdateManifestProperties.
type ClientUpdateManifestPropertiesOptions struct {
	// Value holds the switches to change; nil fields keep their values. With a nil
	// Value no body is sent.
	Value *ManifestWriteableProperties
}

// ClientUpdateRepositoryPropertiesOptions holds the optional parameters of
// Client.UpdateRepositoryProperties.
type ClientUpdateRepositoryPropertiesOptions struct {
	// Value holds the switches to change; nil fields keep their values. With a nil
	// Value no body is sent.
	Value *RepositoryWriteableProperties
}

// ClientUpdateTagPropertiesOptions holds the optional parameters of
// Client.UpdateTagProperties.
type ClientUpdateTagPropertiesOptions struct {
	// Value holds the switches to change; nil fields keep their values. With a nil
	// Value no body is sent.
	Value *TagWriteableProperties
}

// ClientUploadManifestOptions holds the optional parameters of
// Client.UploadManifest. It has none yet.
type ClientUploadManifestOptions struct{}
