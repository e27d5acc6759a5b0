package acr

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// The JSON methods here are the same set the official module has: Marshal and
// Unmarshal for the token bodies and the writeable properties (the only models a
// client sends), Unmarshal alone for the rest. Decoding is lenient in the ways real
// registries need: members it does not know ("signed", "quarantineState",
// "quarantineDetails", ...) are skipped, null leaves a field nil, and timestamps go
// through parseTime. Encoding leaves nil fields out and writes null for a field set
// to azcore.NullValue.

// decodeMembers decodes data as a JSON object and calls member for each of its
// members, in name order. A JSON null object is a no-op. Errors name the model
// type and the member.
func decodeMembers(data []byte, model any, member func(name string, raw json.RawMessage) error) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return fmt.Errorf("acr: decoding %T: %w", model, err)
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if err := member(name, members[name]); err != nil {
			return fmt.Errorf("acr: decoding %T member %q: %w", model, name, err)
		}
	}
	return nil
}

// decodeValue decodes one member into *dst; null sets a pointer or slice to nil.
func decodeValue[T any](raw json.RawMessage, dst *T) error {
	return json.Unmarshal(raw, dst)
}

// putMember adds v to members under name unless v is nil; azcore.NullValue becomes
// JSON null.
func putMember[T any](members map[string]any, name string, v *T) {
	switch {
	case v == nil:
	case azcore.IsNullValue(v):
		members[name] = nil
	default:
		members[name] = v
	}
}

// encodeWriteable encodes the four switches shared by the writeable-properties types.
func encodeWriteable(canDelete, canList, canRead, canWrite *bool) ([]byte, error) {
	members := make(map[string]any, 4)
	putMember(members, "deleteEnabled", canDelete)
	putMember(members, "listEnabled", canList)
	putMember(members, "readEnabled", canRead)
	putMember(members, "writeEnabled", canWrite)
	return json.Marshal(members)
}

// decodeWriteable decodes the four switches shared by the writeable-properties types.
func decodeWriteable(data []byte, model any, canDelete, canList, canRead, canWrite **bool) error {
	return decodeMembers(data, model, func(name string, raw json.RawMessage) error {
		switch name {
		case "deleteEnabled":
			return decodeValue(raw, canDelete)
		case "listEnabled":
			return decodeValue(raw, canList)
		case "readEnabled":
			return decodeValue(raw, canRead)
		case "writeEnabled":
			return decodeValue(raw, canWrite)
		}
		return nil
	})
}

// MarshalJSON implements json.Marshaler for ACRAccessToken.
func (a ACRAccessToken) MarshalJSON() ([]byte, error) {
	members := make(map[string]any, 1)
	putMember(members, "access_token", a.AccessToken)
	return json.Marshal(members)
}

// UnmarshalJSON implements json.Unmarshaler for ACRAccessToken.
func (a *ACRAccessToken) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, a, func(name string, raw json.RawMessage) error {
		if name == "access_token" {
			return decodeValue(raw, &a.AccessToken)
		}
		return nil
	})
}

// MarshalJSON implements json.Marshaler for ACRRefreshToken.
func (a ACRRefreshToken) MarshalJSON() ([]byte, error) {
	members := make(map[string]any, 1)
	putMember(members, "refresh_token", a.RefreshToken)
	return json.Marshal(members)
}

// UnmarshalJSON implements json.Unmarshaler for ACRRefreshToken.
func (a *ACRRefreshToken) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, a, func(name string, raw json.RawMessage) error {
		if name == "refresh_token" {
			return decodeValue(raw, &a.RefreshToken)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for ArtifactManifestPlatform.
func (a *ArtifactManifestPlatform) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, a, func(name string, raw json.RawMessage) error {
		switch name {
		case "digest":
			return decodeValue(raw, &a.Digest)
		case "architecture":
			return decodeValue(raw, &a.Architecture)
		case "os":
			return decodeValue(raw, &a.OperatingSystem)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for ArtifactManifestProperties.
func (a *ArtifactManifestProperties) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, a, func(name string, raw json.RawMessage) error {
		switch name {
		case "manifest":
			return decodeValue(raw, &a.Manifest)
		case "registry":
			return decodeValue(raw, &a.RegistryLoginServer)
		case "imageName":
			return decodeValue(raw, &a.RepositoryName)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for ArtifactTagProperties.
func (a *ArtifactTagProperties) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, a, func(name string, raw json.RawMessage) error {
		switch name {
		case "registry":
			return decodeValue(raw, &a.RegistryLoginServer)
		case "imageName":
			return decodeValue(raw, &a.RepositoryName)
		case "tag":
			return decodeValue(raw, &a.Tag)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for ContainerRepositoryProperties.
func (c *ContainerRepositoryProperties) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, c, func(name string, raw json.RawMessage) error {
		switch name {
		case "changeableAttributes":
			return decodeValue(raw, &c.ChangeableAttributes)
		case "createdTime":
			return decodeTime(raw, &c.CreatedOn)
		case "lastUpdateTime":
			return decodeTime(raw, &c.LastUpdatedOn)
		case "manifestCount":
			return decodeValue(raw, &c.ManifestCount)
		case "imageName":
			return decodeValue(raw, &c.Name)
		case "registry":
			return decodeValue(raw, &c.RegistryLoginServer)
		case "tagCount":
			return decodeValue(raw, &c.TagCount)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for ManifestAttributes.
func (m *ManifestAttributes) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, m, func(name string, raw json.RawMessage) error {
		switch name {
		case "createdTime":
			return decodeTime(raw, &m.CreatedOn)
		case "digest":
			return decodeValue(raw, &m.Digest)
		case "lastUpdateTime":
			return decodeTime(raw, &m.LastUpdatedOn)
		case "changeableAttributes":
			return decodeValue(raw, &m.ChangeableAttributes)
		case "configMediaType":
			return decodeValue(raw, &m.ConfigMediaType)
		case "mediaType":
			return decodeValue(raw, &m.MediaType)
		case "architecture":
			return decodeValue(raw, &m.Architecture)
		case "os":
			return decodeValue(raw, &m.OperatingSystem)
		case "references":
			return decodeValue(raw, &m.RelatedArtifacts)
		case "imageSize":
			return decodeValue(raw, &m.Size)
		case "tags":
			return decodeValue(raw, &m.Tags)
		}
		return nil
	})
}

// MarshalJSON implements json.Marshaler for ManifestWriteableProperties.
func (m ManifestWriteableProperties) MarshalJSON() ([]byte, error) {
	return encodeWriteable(m.CanDelete, m.CanList, m.CanRead, m.CanWrite)
}

// UnmarshalJSON implements json.Unmarshaler for ManifestWriteableProperties.
func (m *ManifestWriteableProperties) UnmarshalJSON(data []byte) error {
	return decodeWriteable(data, m, &m.CanDelete, &m.CanList, &m.CanRead, &m.CanWrite)
}

// UnmarshalJSON implements json.Unmarshaler for Manifests.
func (m *Manifests) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, m, func(name string, raw json.RawMessage) error {
		switch name {
		case "manifests":
			return decodeValue(raw, &m.Attributes)
		case "link":
			return decodeValue(raw, &m.Link)
		case "registry":
			return decodeValue(raw, &m.RegistryLoginServer)
		case "imageName":
			return decodeValue(raw, &m.Repository)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for Repositories.
func (r *Repositories) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, r, func(name string, raw json.RawMessage) error {
		switch name {
		case "link":
			return decodeValue(raw, &r.Link)
		case "repositories":
			return decodeValue(raw, &r.Names)
		}
		return nil
	})
}

// MarshalJSON implements json.Marshaler for RepositoryWriteableProperties.
func (r RepositoryWriteableProperties) MarshalJSON() ([]byte, error) {
	return encodeWriteable(r.CanDelete, r.CanList, r.CanRead, r.CanWrite)
}

// UnmarshalJSON implements json.Unmarshaler for RepositoryWriteableProperties.
func (r *RepositoryWriteableProperties) UnmarshalJSON(data []byte) error {
	return decodeWriteable(data, r, &r.CanDelete, &r.CanList, &r.CanRead, &r.CanWrite)
}

// UnmarshalJSON implements json.Unmarshaler for TagAttributes.
func (t *TagAttributes) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, t, func(name string, raw json.RawMessage) error {
		switch name {
		case "changeableAttributes":
			return decodeValue(raw, &t.ChangeableAttributes)
		case "createdTime":
			return decodeTime(raw, &t.CreatedOn)
		case "digest":
			return decodeValue(raw, &t.Digest)
		case "lastUpdateTime":
			return decodeTime(raw, &t.LastUpdatedOn)
		case "name":
			return decodeValue(raw, &t.Name)
		}
		return nil
	})
}

// UnmarshalJSON implements json.Unmarshaler for TagList.
func (t *TagList) UnmarshalJSON(data []byte) error {
	return decodeMembers(data, t, func(name string, raw json.RawMessage) error {
		switch name {
		case "registry":
			return decodeValue(raw, &t.RegistryLoginServer)
		case "imageName":
			return decodeValue(raw, &t.Repository)
		case "tags":
			return decodeValue(raw, &t.Tags)
		case "link":
			return decodeValue(raw, &t.Link)
		}
		return nil
	})
}

// MarshalJSON implements json.Marshaler for TagWriteableProperties.
func (t TagWriteableProperties) MarshalJSON() ([]byte, error) {
	return encodeWriteable(t.CanDelete, t.CanList, t.CanRead, t.CanWrite)
}

// UnmarshalJSON implements json.Unmarshaler for TagWriteableProperties.
func (t *TagWriteableProperties) UnmarshalJSON(data []byte) error {
	return decodeWriteable(data, t, &t.CanDelete, &t.CanList, &t.CanRead, &t.CanWrite)
}
