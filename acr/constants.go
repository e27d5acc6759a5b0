package acr

import "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

// ServiceName identifies Azure Container Registry in a cloud.Configuration. Its
// Services entry carries the Microsoft Entra audience the clients request tokens for.
const ServiceName cloud.ServiceName = "azcontainerregistry"

// ArtifactArchitecture is the CPU architecture of an image, in Go's GOARCH spelling.
type ArtifactArchitecture string

// The architectures the ACR API names.
const (
	// ArtifactArchitectureAmd64 is x86-64.
	ArtifactArchitectureAmd64 ArtifactArchitecture = "amd64"
	// ArtifactArchitectureArm is 32-bit ARM.
	ArtifactArchitectureArm ArtifactArchitecture = "arm"
	// ArtifactArchitectureArm64 is 64-bit ARM.
	ArtifactArchitectureArm64 ArtifactArchitecture = "arm64"
	// ArtifactArchitectureI386 is 32-bit x86.
	ArtifactArchitectureI386 ArtifactArchitecture = "386"
	// ArtifactArchitectureMips is 32-bit big-endian MIPS.
	ArtifactArchitectureMips ArtifactArchitecture = "mips"
	// ArtifactArchitectureMips64 is 64-bit big-endian MIPS.
	ArtifactArchitectureMips64 ArtifactArchitecture = "mips64"
	// ArtifactArchitectureMips64Le is 64-bit little-endian MIPS.
	ArtifactArchitectureMips64Le ArtifactArchitecture = "mips64le"
	// ArtifactArchitectureMipsLe is 32-bit little-endian MIPS.
	ArtifactArchitectureMipsLe ArtifactArchitecture = "mipsle"
	// ArtifactArchitecturePpc64 is 64-bit big-endian PowerPC.
	ArtifactArchitecturePpc64 ArtifactArchitecture = "ppc64"
	// ArtifactArchitecturePpc64Le is 64-bit little-endian PowerPC.
	ArtifactArchitecturePpc64Le ArtifactArchitecture = "ppc64le"
	// ArtifactArchitectureRiscV64 is 64-bit RISC-V.
	ArtifactArchitectureRiscV64 ArtifactArchitecture = "riscv64"
	// ArtifactArchitectureS390X is IBM z/Architecture.
	ArtifactArchitectureS390X ArtifactArchitecture = "s390x"
	// ArtifactArchitectureWasm is WebAssembly.
	ArtifactArchitectureWasm ArtifactArchitecture = "wasm"
)

// PossibleArtifactArchitectureValues returns a new slice with every
// ArtifactArchitecture constant.
func PossibleArtifactArchitectureValues() []ArtifactArchitecture {
	return []ArtifactArchitecture{
		ArtifactArchitectureAmd64,
		ArtifactArchitectureArm,
		ArtifactArchitectureArm64,
		ArtifactArchitectureI386,
		ArtifactArchitectureMips,
		ArtifactArchitectureMips64,
		ArtifactArchitectureMips64Le,
		ArtifactArchitectureMipsLe,
		ArtifactArchitecturePpc64,
		ArtifactArchitecturePpc64Le,
		ArtifactArchitectureRiscV64,
		ArtifactArchitectureS390X,
		ArtifactArchitectureWasm,
	}
}

// ArtifactManifestOrderBy is the order of a manifest listing.
type ArtifactManifestOrderBy string

// The orders a manifest listing can be asked for.
const (
	// ArtifactManifestOrderByLastUpdatedOnAscending lists the least recently updated
	// manifests first.
	ArtifactManifestOrderByLastUpdatedOnAscending ArtifactManifestOrderBy = "timeasc"
	// ArtifactManifestOrderByLastUpdatedOnDescending lists the most recently updated
	// manifests first.
	ArtifactManifestOrderByLastUpdatedOnDescending ArtifactManifestOrderBy = "timedesc"
	// ArtifactManifestOrderByNone asks for no particular order.
	ArtifactManifestOrderByNone ArtifactManifestOrderBy = "none"
)

// PossibleArtifactManifestOrderByValues returns a new slice with every
// ArtifactManifestOrderBy constant.
func PossibleArtifactManifestOrderByValues() []ArtifactManifestOrderBy {
	return []ArtifactManifestOrderBy{
		ArtifactManifestOrderByLastUpdatedOnAscending,
		ArtifactManifestOrderByLastUpdatedOnDescending,
		ArtifactManifestOrderByNone,
	}
}

// ArtifactOperatingSystem is the operating system of an image, in Go's GOOS
// spelling.
type ArtifactOperatingSystem string

// The operating systems the ACR API names.
const (
	// ArtifactOperatingSystemAix is IBM AIX.
	ArtifactOperatingSystemAix ArtifactOperatingSystem = "aix"
	// ArtifactOperatingSystemAndroid is Android.
	ArtifactOperatingSystemAndroid ArtifactOperatingSystem = "android"
	// ArtifactOperatingSystemDarwin is macOS.
	ArtifactOperatingSystemDarwin ArtifactOperatingSystem = "darwin"
	// ArtifactOperatingSystemDragonfly is DragonFly BSD.
	ArtifactOperatingSystemDragonfly ArtifactOperatingSystem = "dragonfly"
	// ArtifactOperatingSystemFreeBsd is FreeBSD.
	ArtifactOperatingSystemFreeBsd ArtifactOperatingSystem = "freebsd"
	// ArtifactOperatingSystemIOS is iOS.
	ArtifactOperatingSystemIOS ArtifactOperatingSystem = "ios"
	// ArtifactOperatingSystemIllumos is illumos.
	ArtifactOperatingSystemIllumos ArtifactOperatingSystem = "illumos"
	// ArtifactOperatingSystemJS is JavaScript hosts (browsers, Node.js).
	ArtifactOperatingSystemJS ArtifactOperatingSystem = "js"
	// ArtifactOperatingSystemLinux is Linux.
	ArtifactOperatingSystemLinux ArtifactOperatingSystem = "linux"
	// ArtifactOperatingSystemNetBsd is NetBSD.
	ArtifactOperatingSystemNetBsd ArtifactOperatingSystem = "netbsd"
	// ArtifactOperatingSystemOpenBsd is OpenBSD.
	ArtifactOperatingSystemOpenBsd ArtifactOperatingSystem = "openbsd"
	// ArtifactOperatingSystemPlan9 is Plan 9.
	ArtifactOperatingSystemPlan9 ArtifactOperatingSystem = "plan9"
	// ArtifactOperatingSystemSolaris is Solaris.
	ArtifactOperatingSystemSolaris ArtifactOperatingSystem = "solaris"
	// ArtifactOperatingSystemWindows is Windows.
	ArtifactOperatingSystemWindows ArtifactOperatingSystem = "windows"
)

// PossibleArtifactOperatingSystemValues returns a new slice with every
// ArtifactOperatingSystem constant.
func PossibleArtifactOperatingSystemValues() []ArtifactOperatingSystem {
	return []ArtifactOperatingSystem{
		ArtifactOperatingSystemAix,
		ArtifactOperatingSystemAndroid,
		ArtifactOperatingSystemDarwin,
		ArtifactOperatingSystemDragonfly,
		ArtifactOperatingSystemFreeBsd,
		ArtifactOperatingSystemIOS,
		ArtifactOperatingSystemIllumos,
		ArtifactOperatingSystemJS,
		ArtifactOperatingSystemLinux,
		ArtifactOperatingSystemNetBsd,
		ArtifactOperatingSystemOpenBsd,
		ArtifactOperatingSystemPlan9,
		ArtifactOperatingSystemSolaris,
		ArtifactOperatingSystemWindows,
	}
}

// ArtifactTagOrderBy is the order of a tag listing.
type ArtifactTagOrderBy string

// The orders a tag listing can be asked for.
const (
	// ArtifactTagOrderByLastUpdatedOnAscending lists the least recently updated tags
	// first.
	ArtifactTagOrderByLastUpdatedOnAscending ArtifactTagOrderBy = "timeasc"
	// ArtifactTagOrderByLastUpdatedOnDescending lists the most recently updated tags
	// first.
	ArtifactTagOrderByLastUpdatedOnDescending ArtifactTagOrderBy = "timedesc"
	// ArtifactTagOrderByNone asks for no particular order.
	ArtifactTagOrderByNone ArtifactTagOrderBy = "none"
)

// PossibleArtifactTagOrderByValues returns a new slice with every
// ArtifactTagOrderBy constant.
func PossibleArtifactTagOrderByValues() []ArtifactTagOrderBy {
	return []ArtifactTagOrderBy{
		ArtifactTagOrderByLastUpdatedOnAscending,
		ArtifactTagOrderByLastUpdatedOnDescending,
		ArtifactTagOrderByNone,
	}
}

// ContentType is the media type a manifest is uploaded with. Any media type the
// registry accepts may be used, such as "application/vnd.oci.image.index.v1+json";
// the constants name the two most common ones.
type ContentType string

// Common manifest media types.
const (
	// ContentTypeApplicationVndDockerDistributionManifestV2JSON is a Docker image
	// manifest, schema 2.
	ContentTypeApplicationVndDockerDistributionManifestV2JSON ContentType = "application/vnd.docker.distribution.manifest.v2+json"
	// ContentTypeApplicationVndOciImageManifestV1JSON is an OCI image manifest.
	ContentTypeApplicationVndOciImageManifestV1JSON ContentType = "application/vnd.oci.image.manifest.v1+json"
)

// PossibleContentTypeValues returns a new slice with every ContentType constant.
func PossibleContentTypeValues() []ContentType {
	return []ContentType{
		ContentTypeApplicationVndDockerDistributionManifestV2JSON,
		ContentTypeApplicationVndOciImageManifestV1JSON,
	}
}

// PostContentSchemaGrantType says which Microsoft Entra tokens are presented to
// /oauth2/exchange.
type PostContentSchemaGrantType string

// The grant types of /oauth2/exchange.
const (
	// PostContentSchemaGrantTypeAccessToken presents an Entra access token.
	PostContentSchemaGrantTypeAccessToken PostContentSchemaGrantType = "access_token"
	// PostContentSchemaGrantTypeAccessTokenRefreshToken presents an Entra access
	// token together with an Entra refresh token.
	PostContentSchemaGrantTypeAccessTokenRefreshToken PostContentSchemaGrantType = "access_token_refresh_token"
	// PostContentSchemaGrantTypeRefreshToken presents an Entra refresh token.
	PostContentSchemaGrantTypeRefreshToken PostContentSchemaGrantType = "refresh_token"
)

// PossiblePostContentSchemaGrantTypeValues returns a new slice with every
// PostContentSchemaGrantType constant.
func PossiblePostContentSchemaGrantTypeValues() []PostContentSchemaGrantType {
	return []PostContentSchemaGrantType{
		PostContentSchemaGrantTypeAccessToken,
		PostContentSchemaGrantTypeAccessTokenRefreshToken,
		PostContentSchemaGrantTypeRefreshToken,
	}
}

// TokenGrantType says what is presented to /oauth2/token for an access token.
type TokenGrantType string

// The grant types of /oauth2/token.
const (
	// TokenGrantTypePassword presents a user name and password.
	TokenGrantTypePassword TokenGrantType = "password"
	// TokenGrantTypeRefreshToken presents an ACR refresh token.
	TokenGrantTypeRefreshToken TokenGrantType = "refresh_token"
)

// PossibleTokenGrantTypeValues returns a new slice with every TokenGrantType
// constant.
func PossibleTokenGrantTypeValues() []TokenGrantType {
	return []TokenGrantType{
		TokenGrantTypePassword,
		TokenGrantTypeRefreshToken,
	}
}
