package acrapi_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const disallowed = "REGISTRY_DISALLOWED_OPERATION"

// TestLocks checks that changeable attributes are enforced through /v2 and /acr/v1
// alike, and that PATCH is always allowed (it is how locks are lifted).
func TestLocks(t *testing.T) {
	ctx := context.Background()
	tagAttrs := func(e *env, repo, tag string, w azcontainerregistry.TagWriteableProperties) {
		t.Helper()
		if _, err := e.client.UpdateTagProperties(ctx, repo, tag, &azcontainerregistry.ClientUpdateTagPropertiesOptions{Value: &w}); err != nil {
			t.Fatal(err)
		}
	}
	manifestAttrs := func(e *env, repo, d string, w azcontainerregistry.ManifestWriteableProperties) {
		t.Helper()
		if _, err := e.client.UpdateManifestProperties(ctx, repo, d, &azcontainerregistry.ClientUpdateManifestPropertiesOptions{Value: &w}); err != nil {
			t.Fatal(err)
		}
	}
	repoAttrs := func(e *env, repo string, w azcontainerregistry.RepositoryWriteableProperties) {
		t.Helper()
		if _, err := e.client.UpdateRepositoryProperties(ctx, repo, &azcontainerregistry.ClientUpdateRepositoryPropertiesOptions{Value: &w}); err != nil {
			t.Fatal(err)
		}
	}
	upload := func(e *env, repo, ref string, m []byte) error {
		_, err := e.client.UploadManifest(ctx, repo, ref, azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
			streaming.NopCloser(bytes.NewReader(m)), nil)
		return err
	}

	t.Run("tag writeEnabled=false blocks overwrite, re-tag and delete", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "v1", "amd64", []byte("one"))
		_, m2 := e.pushImage("r", "other", "amd64", []byte("two"))
		tagAttrs(e, "r", "v1", azcontainerregistry.TagWriteableProperties{CanWrite: to.Ptr(false)})
		wantCode(t, upload(e, "r", "v1", m2), 405, disallowed)
		_, err := e.client.DeleteTag(ctx, "r", "v1", nil)
		wantCode(t, err, 405, disallowed)
		_, err = e.client.DeleteManifest(ctx, "r", string(d1), nil)
		wantCode(t, err, 405, disallowed)
		// Pushing the same content to the locked tag changes nothing and is fine.
		p, _ := e.client.GetTagProperties(ctx, "r", "v1", nil)
		if *p.Tag.Digest != string(d1) {
			t.Fatalf("locked tag moved to %s", *p.Tag.Digest)
		}
		tagAttrs(e, "r", "v1", azcontainerregistry.TagWriteableProperties{CanWrite: to.Ptr(true)})
		if err := upload(e, "r", "v1", m2); err != nil {
			t.Fatalf("after unlocking: %v", err)
		}
	})
	t.Run("deleteEnabled=false blocks delete only", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "v1", "amd64", []byte("one"))
		_, m2 := e.pushImage("r", "other", "amd64", []byte("two"))
		tagAttrs(e, "r", "v1", azcontainerregistry.TagWriteableProperties{CanDelete: to.Ptr(false)})
		_, err := e.client.DeleteTag(ctx, "r", "v1", nil)
		wantCode(t, err, 405, disallowed)
		manifestAttrs(e, "r", string(d1), azcontainerregistry.ManifestWriteableProperties{CanDelete: to.Ptr(false)})
		_, err = e.client.DeleteManifest(ctx, "r", string(d1), nil)
		wantCode(t, err, 405, disallowed)
		if err := upload(e, "r", "v1", m2); err != nil {
			t.Fatalf("re-tag of a delete-locked tag: %v", err)
		}
	})
	t.Run("manifest writeEnabled=false blocks delete", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "", "amd64", []byte("one"))
		manifestAttrs(e, "r", string(d1), azcontainerregistry.ManifestWriteableProperties{CanWrite: to.Ptr(false)})
		_, err := e.client.DeleteManifest(ctx, "r", string(d1), nil)
		wantCode(t, err, 405, disallowed)
	})
	t.Run("repository writeEnabled=false blocks every push and delete", func(t *testing.T) {
		e := newEnv(t)
		d1, m1 := e.pushImage("r", "v1", "amd64", []byte("one"))
		repoAttrs(e, "r", azcontainerregistry.RepositoryWriteableProperties{CanWrite: to.Ptr(false)})
		_, err := e.blobs.StartUpload(ctx, "r", nil)
		wantCode(t, err, 405, disallowed)
		wantCode(t, upload(e, "r", "v2", m1), 405, disallowed)
		_, err = e.client.DeleteTag(ctx, "r", "v1", nil)
		wantCode(t, err, 405, disallowed)
		_, err = e.client.DeleteManifest(ctx, "r", string(d1), nil)
		wantCode(t, err, 405, disallowed)
		_, err = e.client.DeleteRepository(ctx, "r", nil)
		wantCode(t, err, 405, disallowed)
		// Reads still work.
		if _, err := e.client.GetManifest(ctx, "r", "v1", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("repository deleteEnabled=false blocks deleting the repository only", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "v1", "amd64", []byte("one"))
		repoAttrs(e, "r", azcontainerregistry.RepositoryWriteableProperties{CanDelete: to.Ptr(false)})
		_, err := e.client.DeleteRepository(ctx, "r", nil)
		wantCode(t, err, 405, disallowed)
		if _, err := e.client.DeleteTag(ctx, "r", "v1", nil); err != nil {
			t.Fatalf("delete tag in a delete-locked repository: %v", err)
		}
		if _, err := e.client.DeleteManifest(ctx, "r", string(d1), nil); err != nil {
			t.Fatalf("delete image in a delete-locked repository: %v", err)
		}
	})
	t.Run("readEnabled=false blocks pulls", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "v1", "amd64", []byte("one"))
		e.pushImage("r", "v2", "amd64", []byte("two"))
		tagAttrs(e, "r", "v1", azcontainerregistry.TagWriteableProperties{CanRead: to.Ptr(false)})
		_, err := e.client.GetManifest(ctx, "r", "v1", nil)
		wantCode(t, err, 405, disallowed)
		if _, err := e.client.GetManifest(ctx, "r", string(d1), nil); err != nil {
			t.Fatalf("by digest, the manifest itself is not locked: %v", err)
		}
		manifestAttrs(e, "r", string(d1), azcontainerregistry.ManifestWriteableProperties{CanRead: to.Ptr(false)})
		_, err = e.client.GetManifest(ctx, "r", string(d1), nil)
		wantCode(t, err, 405, disallowed)
		repoAttrs(e, "r", azcontainerregistry.RepositoryWriteableProperties{CanRead: to.Ptr(false)})
		_, err = e.client.GetManifest(ctx, "r", "v2", nil)
		wantCode(t, err, 405, disallowed)
		// Metadata stays readable, so the lock can be seen and lifted.
		if _, err := e.client.GetTagProperties(ctx, "r", "v1", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("listEnabled=false hides from every listing", func(t *testing.T) {
		e := newEnv(t)
		d1, _ := e.pushImage("r", "v1", "amd64", []byte("one"))
		e.pushImage("r", "v2", "amd64", []byte("two"))
		e.pushImage("shown", "v1", "amd64", []byte("three"))
		tagAttrs(e, "r", "v2", azcontainerregistry.TagWriteableProperties{CanList: to.Ptr(false)})
		if got := names(e.listTags("r", nil)); !slices.Equal(got, []string{"v1"}) {
			t.Fatalf("tags %v", got)
		}
		manifestAttrs(e, "r", string(d1), azcontainerregistry.ManifestWriteableProperties{CanList: to.Ptr(false)})
		if got := e.listManifests("r", nil); len(got) != 1 || *got[0].Digest == string(d1) {
			t.Fatalf("manifests %v", got)
		}
		repoAttrs(e, "r", azcontainerregistry.RepositoryWriteableProperties{CanList: to.Ptr(false)})
		if got := e.listRepositories(10); !slices.Equal(got, []string{"shown"}) {
			t.Fatalf("repositories %v", got)
		}
		// Hidden is not gone: it can still be read by name.
		if _, err := e.client.GetTagProperties(ctx, "r", "v2", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("deleting a repository with a locked item changes nothing", func(t *testing.T) {
		e := newEnv(t)
		e.pushImage("r", "v1", "amd64", []byte("one"))
		d2, _ := e.pushImage("r", "v2", "amd64", []byte("two"))
		manifestAttrs(e, "r", string(d2), azcontainerregistry.ManifestWriteableProperties{CanDelete: to.Ptr(false)})
		_, err := e.client.DeleteRepository(ctx, "r", nil)
		wantCode(t, err, 405, disallowed)
		p, err := e.client.GetRepositoryProperties(ctx, "r", nil)
		if err != nil || *p.ManifestCount != 2 || *p.TagCount != 2 {
			t.Fatalf("after refused delete: %v %+v", err, p)
		}
		manifestAttrs(e, "r", string(d2), azcontainerregistry.ManifestWriteableProperties{CanDelete: to.Ptr(true)})
		if _, err := e.client.DeleteRepository(ctx, "r", nil); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.GetRepositoryProperties(ctx, "r", nil)
		wantCode(t, err, 404, "NAME_UNKNOWN")
		// The SDK treats deleting something missing as done.
		if _, err := e.client.DeleteRepository(ctx, "r", nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeleteRepositoryBody checks the DeletedRepository document and the index case.
func TestDeleteRepositoryBody(t *testing.T) {
	e := newEnv(t)
	d1, _ := e.pushImage("gone", "v1", "amd64", []byte("one"))
	d2, _ := e.pushImage("gone", "", "arm64", []byte("two"))
	r := do(t, e, "DELETE", "/acr/v1/gone?api-version=2021-07-01")
	if r.status != 202 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var body struct {
		ManifestsDeleted []string `json:"manifestsDeleted"`
		TagsDeleted      []string `json:"tagsDeleted"`
	}
	mustJSON(t, r.body, &body)
	slices.Sort(body.ManifestsDeleted)
	want := []string{string(d1), string(d2)}
	slices.Sort(want)
	if !slices.Equal(body.ManifestsDeleted, want) || !slices.Equal(body.TagsDeleted, []string{"v1"}) {
		t.Fatalf("deleted %+v", body)
	}
	_ = ocispec.MediaTypeImageIndex
}
