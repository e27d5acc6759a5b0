package acr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// ErrMismatchedHash is returned when content does not match its expected digest.
var ErrMismatchedHash = errors.New("mismatched hash")

// ErrDigestAlgNotSupported is returned for a digest whose algorithm is not sha256.
var ErrDigestAlgNotSupported = errors.New("digest algorithm not supported")

// maxErrorBody bounds how much of an error response is read to find its code.
const maxErrorBody = 64 << 10

// newResponseError returns an *azcore.ResponseError for a failed response, with
// ErrorCode taken from the x-ms-error-code header, the OCI/ACR error body
// ({"errors":[{"code":...}]}) or azcore's usual places, in that order. The body
// stays readable through RawResponse.
func newResponseError(resp *http.Response) error {
	code := resp.Header.Get("x-ms-error-code")
	if code == "" && resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var oci struct {
			Errors []struct {
				Code string `json:"code"`
			} `json:"errors"`
			Code  string `json:"code"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &oci) == nil {
			switch {
			case len(oci.Errors) > 0:
				code = oci.Errors[0].Code
			case oci.Code != "":
				code = oci.Code
			default:
				code = oci.Error.Code
			}
		}
	}
	return runtime.NewResponseErrorWithErrorCode(resp, code)
}
