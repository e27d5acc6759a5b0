package acr

import "time"

// The model types below mirror the bodies of the ACR data-plane API (REST API version
// 2021-07-01). Their field names, field order and field types match the official
// azcontainerregistry module, so composite literals written for it compile here too.
// Every field is a pointer (or a slice), and nil means "absent". The json tags name
// the wire members; decoding goes through the UnmarshalJSON methods in
// models_serde.go, which ignore members they do not know and leave a field nil when
// the body has null for it.

// ACRAccessToken is the body of a successful /oauth2/token call: a registry access
// token scoped to the requested repositories and actions.
type ACRAccessToken struct {
	// AccessToken is the bearer token to send with registry requests.
	AccessToken *string `json:"access_token,omitempty"`
}

// ACRRefreshToken is the body of a successful /oauth2/exchange call: a registry
// refresh token that can be traded for access tokens.
type ACRRefreshToken struct {
	// RefreshToken is the token to present to /oauth2/token.
	RefreshToken *string `json:"refresh_token,omitempty"`
}

// ArtifactManifestPlatform is one entry of a manifest list or image index: a child
// manifest and the platform it is built for.
type ArtifactManifestPlatform struct {
	// Digest is the child manifest's digest. Read-only.
	Digest *string `json:"digest,omitempty"`

	// Architecture is the CPU architecture of the child manifest. Read-only.
	Architecture *ArtifactArchitecture `json:"architecture,omitempty"`

	// OperatingSystem is the operating system of the child manifest. Read-only.
	OperatingSystem *ArtifactOperatingSystem `json:"os,omitempty"`
}

// ArtifactManifestProperties describes one manifest of a repository, as returned by
// GetManifestProperties and UpdateManifestProperties.
type ArtifactManifestProperties struct {
	// Manifest holds the manifest's attributes. Read-only.
	Manifest *ManifestAttributes `json:"manifest,omitempty"`

	// RegistryLoginServer is the registry's host name, such as myregistry.azurecr.io.
	// Read-only.
	RegistryLoginServer *string `json:"registry,omitempty"`

	// RepositoryName is the name of the repository holding the manifest. Read-only.
	RepositoryName *string `json:"imageName,omitempty"`
}

// ArtifactTagProperties describes one tag of a repository, as returned by
// GetTagProperties and UpdateTagProperties.
type ArtifactTagProperties struct {
	// RegistryLoginServer is the registry's host name, such as myregistry.azurecr.io.
	// Read-only.
	RegistryLoginServer *string `json:"registry,omitempty"`

	// RepositoryName is the name of the repository holding the tag. Read-only.
	RepositoryName *string `json:"imageName,omitempty"`

	// Tag holds the tag's attributes. Read-only.
	Tag *TagAttributes `json:"tag,omitempty"`
}

// ContainerRepositoryProperties describes a repository, as returned by
// GetRepositoryProperties and UpdateRepositoryProperties.
type ContainerRepositoryProperties struct {
	// ChangeableAttributes are the repository's delete, list, read and write switches.
	ChangeableAttributes *RepositoryWriteableProperties `json:"changeableAttributes,omitempty"`

	// CreatedOn is when the repository was created. Read-only.
	CreatedOn *time.Time `json:"createdTime,omitempty"`

	// LastUpdatedOn is when the repository last changed. Read-only.
	LastUpdatedOn *time.Time `json:"lastUpdateTime,omitempty"`

	// ManifestCount is the number of manifests in the repository. Read-only.
	ManifestCount *int32 `json:"manifestCount,omitempty"`

	// Name is the repository's name. Read-only.
	Name *string `json:"imageName,omitempty"`

	// RegistryLoginServer is the registry's host name, such as myregistry.azurecr.io.
	// Read-only.
	RegistryLoginServer *string `json:"registry,omitempty"`

	// TagCount is the number of tags in the repository. Read-only.
	TagCount *int32 `json:"tagCount,omitempty"`
}

// ManifestAttributes are the details the registry keeps about one manifest.
type ManifestAttributes struct {
	// CreatedOn is when the manifest was pushed. Read-only.
	CreatedOn *time.Time `json:"createdTime,omitempty"`

	// Digest is the manifest's digest. Read-only.
	Digest *string `json:"digest,omitempty"`

	// LastUpdatedOn is when the manifest or its attributes last changed. Read-only.
	LastUpdatedOn *time.Time `json:"lastUpdateTime,omitempty"`

	// ChangeableAttributes are the manifest's delete, list, read and write switches.
	ChangeableAttributes *ManifestWriteableProperties `json:"changeableAttributes,omitempty"`

	// ConfigMediaType is the media type of the manifest's config blob, if it has one.
	ConfigMediaType *string `json:"configMediaType,omitempty"`

	// MediaType is the manifest's own media type.
	MediaType *string `json:"mediaType,omitempty"`

	// Architecture is the CPU architecture of an image manifest. Read-only.
	Architecture *ArtifactArchitecture `json:"architecture,omitempty"`

	// OperatingSystem is the operating system of an image manifest. Read-only.
	OperatingSystem *ArtifactOperatingSystem `json:"os,omitempty"`

	// RelatedArtifacts lists the child manifests of a manifest list or image index,
	// with their platforms. It is empty for a single-platform manifest. Read-only.
	RelatedArtifacts []*ArtifactManifestPlatform `json:"references,omitempty"`

	// Size is the manifest's size in bytes as the registry reports it. Read-only.
	Size *int64 `json:"imageSize,omitempty"`

	// Tags are the tags that point at the manifest. Read-only.
	Tags []*string `json:"tags,omitempty"`
}

// ManifestWriteableProperties are the switches that can be changed on a manifest.
// Leave a field nil to keep its current value; set it to azcore.NullValue[*bool]() to
// send an explicit JSON null.
type ManifestWriteableProperties struct {
	// CanDelete tells whether the manifest may be deleted.
	CanDelete *bool `json:"deleteEnabled,omitempty"`

	// CanList tells whether the manifest shows up in listings.
	CanList *bool `json:"listEnabled,omitempty"`

	// CanRead tells whether the manifest may be pulled.
	CanRead *bool `json:"readEnabled,omitempty"`

	// CanWrite tells whether the manifest may be overwritten or retagged.
	CanWrite *bool `json:"writeEnabled,omitempty"`
}

// Manifests is one page of a repository's manifest listing.
type Manifests struct {
	// Attributes are the manifests on this page.
	Attributes []*ManifestAttributes `json:"manifests,omitempty"`

	// Link is the next page's link when the registry puts it in the body. The pager
	// takes it from the Link header instead.
	Link *string `json:"link,omitempty"`

	// RegistryLoginServer is the registry's host name, such as myregistry.azurecr.io.
	RegistryLoginServer *string `json:"registry,omitempty"`

	// Repository is the name of the listed repository.
	Repository *string `json:"imageName,omitempty"`
}

// Repositories is one page of the registry's repository listing.
type Repositories struct {
	// Link is the next page's link when the registry puts it in the body. The pager
	// takes it from the Link header instead.
	Link *string `json:"link,omitempty"`

	// Names are the repository names on this page.
	Names []*string `json:"repositories,omitempty"`
}

// RepositoryWriteableProperties are the switches that can be changed on a
// repository. Leave a field nil to keep its current value; set it to
// azcore.NullValue[*bool]() to send an explicit JSON null.
type RepositoryWriteableProperties struct {
	// CanDelete tells whether the repository may be deleted.
	CanDelete *bool `json:"deleteEnabled,omitempty"`

	// CanList tells whether the repository shows up in listings.
	CanList *bool `json:"listEnabled,omitempty"`

	// CanRead tells whether the repository's content may be pulled.
	CanRead *bool `json:"readEnabled,omitempty"`

	// CanWrite tells whether content may be pushed to the repository.
	CanWrite *bool `json:"writeEnabled,omitempty"`
}

// TagAttributes are the details the registry keeps about one tag.
type TagAttributes struct {
	// ChangeableAttributes are the tag's delete, list, read and write switches.
	ChangeableAttributes *TagWriteableProperties `json:"changeableAttributes,omitempty"`

	// CreatedOn is when the tag was created. Read-only.
	CreatedOn *time.Time `json:"createdTime,omitempty"`

	// Digest is the digest of the manifest the tag points at. Read-only.
	Digest *string `json:"digest,omitempty"`

	// LastUpdatedOn is when the tag or its attributes last changed. Read-only.
	LastUpdatedOn *time.Time `json:"lastUpdateTime,omitempty"`

	// Name is the tag. Read-only.
	Name *string `json:"name,omitempty"`
}

// TagList is one page of a repository's tag listing.
type TagList struct {
	// RegistryLoginServer is the registry's host name, such as myregistry.azurecr.io.
	RegistryLoginServer *string `json:"registry,omitempty"`

	// Repository is the name of the listed repository.
	Repository *string `json:"imageName,omitempty"`

	// Tags are the tags on this page.
	Tags []*TagAttributes `json:"tags,omitempty"`

	// Link is the next page's link when the registry puts it in the body. The pager
	// takes it from the Link header instead.
	Link *string `json:"link,omitempty"`
}

// TagWriteableProperties are the switches that can be changed on a tag. Leave a
// field nil to keep its current value; set it to azcore.NullValue[*bool]() to send an
// explicit JSON null.
type TagWriteableProperties struct {
	// CanDelete tells whether the tag may be deleted.
	CanDelete *bool `json:"deleteEnabled,omitempty"`

	// CanList tells whether the tag shows up in listings.
	CanList *bool `json:"listEnabled,omitempty"`

	// CanRead tells whether the tag may be pulled.
	CanRead *bool `json:"readEnabled,omitempty"`

	// CanWrite tells whether the tag may be moved to another manifest.
	CanWrite *bool `json:"writeEnabled,omitempty"`
}
