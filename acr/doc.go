// Package acr is a client for registries that speak the Azure Container Registry
// data-plane API, and for any OCI distribution registry.
//
// It offers the whole API of the official Azure SDK module
// github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry, with the same
// names and shapes, on the same azcore pipeline: code written for that module
// compiles against this package with only the import line changed, and any
// azidentity credential works. It differs where the official SDK has quirks:
//
//   - WWW-Authenticate challenges are parsed per RFC 7235, and access tokens are
//     cached per scope and renewed before they expire, so a change of scope does not
//     cost a failed request with its body sent twice;
//   - Location and Link headers may be absolute or relative, and a malformed one is
//     an error, never a panic;
//   - chunk ranges are 64-bit;
//   - errors are *azcore.ResponseError with ErrorCode taken from the OCI error body
//     ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", ...);
//   - a chunk's content is hashed once, independently of transport retries.
//
// Beyond that API it streams whole blobs (UploadBlob, DownloadBlob with resume),
// reads and writes typed manifests, lists referrers, copies images between
// repositories and registries, and speaks to registries other than ACR: anonymous,
// Basic credentials (NewBasicCredential) and docker-style bearer tokens.
package acr

//go:generate ./compat_gen.sh
