package acrapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/acre-dev/acre/registry/registrytest"
	"github.com/opencontainers/go-digest"
)

// TestBlobClient exercises every BlobClient method of the official SDK.
func TestBlobClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes
	d := e.uploadBlob("blobs/src", data, 3000)

	t.Run("CheckBlobExists", func(t *testing.T) {
		res, err := e.blobs.CheckBlobExists(ctx, "blobs/src", string(d), nil)
		if err != nil || *res.ContentLength != int64(len(data)) || *res.DockerContentDigest != string(d) {
			t.Fatalf("%v %+v", err, res)
		}
		_, err = e.blobs.CheckBlobExists(ctx, "blobs/src", string(digest.FromString("nope")), nil)
		wantCode(t, err, 404, "")
	})
	t.Run("CheckChunkExists", func(t *testing.T) {
		res, err := e.blobs.CheckChunkExists(ctx, "blobs/src", string(d), "bytes=0-299", nil)
		if err != nil || *res.ContentLength != int64(len(data)) {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("GetBlob with DigestValidationReader", func(t *testing.T) {
		res, err := e.blobs.GetBlob(ctx, "blobs/src", string(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := azcontainerregistry.NewDigestValidationReader(string(d), res.BlobData)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GetBlob: %v", err)
		}
	})
	t.Run("GetChunk loop", func(t *testing.T) {
		// The seed's download loop: fetch 5000-byte chunks until the total.
		var got []byte
		for off := 0; ; {
			res, err := e.blobs.GetChunk(ctx, "blobs/src", string(d), fmt.Sprintf("bytes=%d-%d", off, off+4999), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.ChunkData)
			got = append(got, b...)
			cr := *res.ContentRange
			total, _ := strconv.Atoi(cr[strings.Index(cr, "/")+1:])
			end, _ := strconv.Atoi(cr[strings.Index(cr, "-")+1 : strings.Index(cr, "/")])
			if end+1 >= total {
				break
			}
			off = end + 1
		}
		if !bytes.Equal(got, data) {
			t.Fatal("chunks do not add up to the blob")
		}
	})
	t.Run("MountBlob", func(t *testing.T) {
		res, err := e.blobs.MountBlob(ctx, "blobs/dst", "blobs/src", string(d), nil)
		if err != nil || *res.DockerContentDigest != string(d) {
			t.Fatalf("%v %+v", err, res)
		}
		if _, err := e.blobs.CheckBlobExists(ctx, "blobs/dst", string(d), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("GetUploadStatus and CancelUpload", func(t *testing.T) {
		start, err := e.blobs.StartUpload(ctx, "blobs/src", nil)
		if err != nil {
			t.Fatal(err)
		}
		calc := azcontainerregistry.NewBlobDigestCalculator()
		up, err := e.blobs.UploadChunk(ctx, *start.Location, bytes.NewReader(data[:100]), calc, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.blobs.GetUploadStatus(ctx, *up.Location, nil)
		if err != nil || *st.Range != "0-99" || *st.DockerUploadUUID == "" {
			t.Fatalf("status %v %+v", err, st)
		}
		if _, err := e.blobs.CancelUpload(ctx, *up.Location, nil); err != nil {
			t.Fatal(err)
		}
		_, err = e.blobs.GetUploadStatus(ctx, *up.Location, nil)
		wantCode(t, err, 404, "BLOB_UPLOAD_UNKNOWN")
	})
	t.Run("CompleteUpload with a wrong digest", func(t *testing.T) {
		start, _ := e.blobs.StartUpload(ctx, "blobs/src", nil)
		calc := azcontainerregistry.NewBlobDigestCalculator()
		up, err := e.blobs.UploadChunk(ctx, *start.Location, bytes.NewReader([]byte("abc")), calc, nil)
		if err != nil {
			t.Fatal(err)
		}
		other := azcontainerregistry.NewBlobDigestCalculator()
		_, err = e.blobs.CompleteUpload(ctx, *up.Location, other, nil)
		wantCode(t, err, 400, "DIGEST_INVALID")
	})
	t.Run("DeleteBlob", func(t *testing.T) {
		res, err := e.blobs.DeleteBlob(ctx, "blobs/dst", string(d), nil)
		if err != nil || *res.DockerContentDigest != string(d) {
			t.Fatalf("%v %+v", err, res)
		}
		_, err = e.blobs.CheckBlobExists(ctx, "blobs/dst", string(d), nil)
		wantCode(t, err, 404, "")
		_, err = e.blobs.DeleteBlob(ctx, "blobs/dst", string(d), nil)
		wantCode(t, err, 404, "BLOB_UNKNOWN")
		// Still in the source repository: content is shared, links are not.
		if _, err := e.blobs.CheckBlobExists(ctx, "blobs/src", string(d), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuthenticationClient exchanges tokens with the SDK's AuthenticationClient.
func TestAuthenticationClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ac, err := azcontainerregistry.NewAuthenticationClient(e.srv.URL, &azcontainerregistry.AuthenticationClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	// An open registry accepts any Entra token: everyone has full access anyway.
	rt, err := ac.ExchangeAADAccessTokenForACRRefreshToken(ctx, azcontainerregistry.PostContentSchemaGrantTypeAccessToken, e.srv.Host,
		&azcontainerregistry.AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions{AccessToken: to.Ptr("any-aad-token")})
	if err != nil || rt.RefreshToken == nil {
		t.Fatalf("exchange: %v", err)
	}
	at, err := ac.ExchangeACRRefreshTokenForACRAccessToken(ctx, e.srv.Host, "repository:x:pull", *rt.RefreshToken, nil)
	if err != nil || at.AccessToken == nil {
		t.Fatalf("token: %v", err)
	}
	_, err = ac.ExchangeACRRefreshTokenForACRAccessToken(ctx, e.srv.Host, "repository:x:pull", "not-a-token", nil)
	wantCode(t, err, 401, "")
}

// TestListTagsAnonymously is the seed scenario "list tags with anonymous access":
// a nil credential on a registry with anonymous pull on.
func TestListTagsAnonymously(t *testing.T) {
	e := newEnv(t, registrytest.WithAdmin("admin", "secret-password"), registrytest.WithAnonymousPull())
	// Push as admin (anonymous clients may not).
	admin := &http2Client{t: t, e: e}
	admin.pushAsAdmin("library/hello-world", "latest")
	got := names(e.listTags("library/hello-world", nil))
	if len(got) != 1 || got[0] != "latest" {
		t.Fatalf("anonymous tag list %v", got)
	}
	_, err := e.client.DeleteTag(context.Background(), "library/hello-world", "latest", nil)
	wantCode(t, err, 401, "UNAUTHORIZED")
	_, err = e.client.UpdateTagProperties(context.Background(), "library/hello-world", "latest", &azcontainerregistry.ClientUpdateTagPropertiesOptions{
		Value: &azcontainerregistry.TagWriteableProperties{CanWrite: to.Ptr(false)}})
	wantCode(t, err, 401, "UNAUTHORIZED")
}
