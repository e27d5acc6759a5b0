package acr

import "io"

// Every method returns its own response struct. Header values are pointers that
// stay nil when the registry did not send the header. Responses that carry a body
// model embed it, so its fields are promoted (resp.Tags, resp.Manifest, resp.Names).

// AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenResponse is the result
// of AuthenticationClient.ExchangeAADAccessTokenForACRRefreshToken.
type AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenResponse struct {
	// ACRRefreshToken is the decoded body.
	ACRRefreshToken
}

// AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenResponse is the result
// of AuthenticationClient.ExchangeACRRefreshTokenForACRAccessToken.
type AuthenticationClientExchangeACRRefreshTokenForACRAccessTokenResponse struct {
	// ACRAccessToken is the decoded body.
	ACRAccessToken
}

// BlobClientCancelUploadResponse is the result of BlobClient.CancelUpload. It has no
// fields yet.
type BlobClientCancelUploadResponse struct{}

// BlobClientCheckBlobExistsResponse is the result of BlobClient.CheckBlobExists.
type BlobClientCheckBlobExistsResponse struct {
	// ContentLength is the blob's size, from the Content-Length header.
	ContentLength *int64

	// DockerContentDigest is the blob's digest, from the Docker-Content-Digest header.
	DockerContentDigest *string
}

// BlobClientCheckChunkExistsResponse is the result of BlobClient.CheckChunkExists.
type BlobClientCheckChunkExistsResponse struct {
	// ContentLength is the Content-Length header.
	ContentLength *int64

	// ContentRange is the Content-Range header.
	ContentRange *string
}

// BlobClientCompleteUploadResponse is the result of BlobClient.CompleteUpload.
type BlobClientCompleteUploadResponse struct {
	// DockerContentDigest is the stored blob's digest, from the Docker-Content-Digest
	// header.
	DockerContentDigest *string

	// Location is where the stored blob can be fetched, from the Location header.
	Location *string

	// Range is the Range header.
	Range *string
}

// BlobClientDeleteBlobResponse is the result of BlobClient.DeleteBlob.
type BlobClientDeleteBlobResponse struct {
	// DockerContentDigest is the deleted blob's digest, from the Docker-Content-Digest
	// header.
	DockerContentDigest *string
}

// BlobClientGetBlobResponse is the result of BlobClient.GetBlob.
type BlobClientGetBlobResponse struct {
	// BlobData streams the blob's content. The caller must close it.
	BlobData io.ReadCloser

	// ContentLength is the blob's size, from the Content-Length header.
	ContentLength *int64

	// DockerContentDigest is the Docker-Content-Digest header. Registries that
	// redirect blob downloads to storage usually do not send it.
	DockerContentDigest *string
}

// BlobClientGetChunkResponse is the result of BlobClient.GetChunk.
type BlobClientGetChunkResponse struct {
	// ChunkData streams the requested range of the blob. The caller must close it.
	ChunkData io.ReadCloser

	// ContentLength is the chunk's size, from the Content-Length header.
	ContentLength *int64

	// ContentRange is the Content-Range header, such as "bytes 0-1023/4096".
	ContentRange *string
}

// BlobClientGetUploadStatusResponse is the result of BlobClient.GetUploadStatus.
type BlobClientGetUploadStatusResponse struct {
	// DockerUploadUUID identifies the upload session, from the Docker-Upload-UUID
	// header.
	DockerUploadUUID *string

	// Range is the range received so far, from the Range header, such as "0-1023".
	Range *string
}

// BlobClientMountBlobResponse is the result of BlobClient.MountBlob.
type BlobClientMountBlobResponse struct {
	// DockerContentDigest is the mounted blob's digest, from the Docker-Content-Digest
	// header.
	DockerContentDigest *string

	// DockerUploadUUID is the Docker-Upload-UUID header, sent when the registry
	// started an upload instead of mounting.
	DockerUploadUUID *string

	// Location is the Location header: the mounted blob, or the upload session the
	// registry started instead.
	Location *string
}

// BlobClientStartUploadResponse is the result of BlobClient.StartUpload.
type BlobClientStartUploadResponse struct {
	// DockerUploadUUID identifies the new upload session, from the Docker-Upload-UUID
	// header.
	DockerUploadUUID *string

	// Location is where to send the first chunk, from the Location header.
	Location *string

	// Range is the Range header.
	Range *string
}

// BlobClientUploadChunkResponse is the result of BlobClient.UploadChunk.
type BlobClientUploadChunkResponse struct {
	// DockerUploadUUID identifies the upload session, from the Docker-Upload-UUID
	// header.
	DockerUploadUUID *string

	// Location is where to send the next chunk or complete the upload, from the
	// Location header. It changes with every chunk.
	Location *string

	// Range is the range received so far, from the Range header, such as "0-1023".
	Range *string
}

// ClientDeleteManifestResponse is the result of Client.DeleteManifest. It has no
// fields yet.
type ClientDeleteManifestResponse struct{}

// ClientDeleteRepositoryResponse is the result of Client.DeleteRepository. It has no
// fields yet.
type ClientDeleteRepositoryResponse struct{}

// ClientDeleteTagResponse is the result of Client.DeleteTag. It has no fields yet.
type ClientDeleteTagResponse struct{}

// ClientGetManifestPropertiesResponse is the result of Client.GetManifestProperties.
type ClientGetManifestPropertiesResponse struct {
	// ArtifactManifestProperties is the decoded body.
	ArtifactManifestProperties
}

// ClientGetManifestResponse is the result of Client.GetManifest.
type ClientGetManifestResponse struct {
	// ManifestData streams the manifest exactly as stored. The caller must close it.
	ManifestData io.ReadCloser

	// DockerContentDigest is the manifest's digest, from the Docker-Content-Digest
	// header.
	DockerContentDigest *string
}

// ClientGetRepositoryPropertiesResponse is the result of
// Client.GetRepositoryProperties.
type ClientGetRepositoryPropertiesResponse struct {
	// ContainerRepositoryProperties is the decoded body.
	ContainerRepositoryProperties
}

// ClientGetTagPropertiesResponse is the result of Client.GetTagProperties.
type ClientGetTagPropertiesResponse struct {
	// ArtifactTagProperties is the decoded body.
	ArtifactTagProperties
}

// ClientListManifestsResponse is one page from Client.NewListManifestsPager.
type ClientListManifestsResponse struct {
	// Manifests is the decoded body.
	Manifests

	// Link is the Link header, which points at the next page. It hides the body's
	// Manifests.Link.
	Link *string
}

// ClientListRepositoriesResponse is one page from Client.NewListRepositoriesPager.
type ClientListRepositoriesResponse struct {
	// Repositories is the decoded body.
	Repositories

	// Link is the Link header, which points at the next page. It hides the body's
	// Repositories.Link.
	Link *string
}

// ClientListTagsResponse is one page from Client.NewListTagsPager.
type ClientListTagsResponse struct {
	// TagList is the decoded body.
	TagList

	// Link is the Link header, which points at the next page. It hides the body's
	// TagList.Link.
	Link *string
}

// ClientUpdateManifestPropertiesResponse is the result of
// Client.UpdateManifestProperties.
type ClientUpdateManifestPropertiesResponse struct {
	// ArtifactManifestProperties is the decoded body.
	ArtifactManifestProperties
}

// ClientUpdateRepositoryPropertiesResponse is the result of
// Client.UpdateRepositoryProperties.
type ClientUpdateRepositoryPropertiesResponse struct {
	// ContainerRepositoryProperties is the decoded body.
	ContainerRepositoryProperties
}

// ClientUpdateTagPropertiesResponse is the result of Client.UpdateTagProperties.
type ClientUpdateTagPropertiesResponse struct {
	// ArtifactTagProperties is the decoded body.
	ArtifactTagProperties
}

// ClientUploadManifestResponse is the result of Client.UploadManifest.
type ClientUploadManifestResponse struct {
	// ContentLength is the Content-Length header.
	ContentLength *int64

	// DockerContentDigest is the stored manifest's digest, from the
	// Docker-Content-Digest header.
	DockerContentDigest *string

	// Location is where the stored manifest can be fetched, from the Location header.
	Location *string
}
