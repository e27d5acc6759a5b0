// Package errcode defines the error codes of the OCI distribution API and of ACR,
// and the JSON body both use: {"errors":[{"code","message","detail"}]}.
//
// The registry domain returns *Error values so that a rule (a lock, a missing blob)
// maps to exactly one code and status whichever API surface (/v2 or /acr/v1) asked.
package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code as it appears on the wire.
type Code string

// Codes of the OCI distribution specification, plus the ones ACR and the CNCF
// distribution registry add.
const (
	BlobUnknown            Code = "BLOB_UNKNOWN"
	BlobUploadInvalid      Code = "BLOB_UPLOAD_INVALID"
	BlobUploadUnknown      Code = "BLOB_UPLOAD_UNKNOWN"
	BlobUploadRangeInvalid Code = "BLOB_UPLOAD_RANGE_INVALID"
	DigestInvalid          Code = "DIGEST_INVALID"
	ManifestBlobUnknown    Code = "MANIFEST_BLOB_UNKNOWN"
	ManifestInvalid        Code = "MANIFEST_INVALID"
	ManifestUnknown        Code = "MANIFEST_UNKNOWN"
	NameInvalid            Code = "NAME_INVALID"
	NameUnknown            Code = "NAME_UNKNOWN"
	SizeInvalid            Code = "SIZE_INVALID"
	TagInvalid             Code = "TAG_INVALID"
	TagUnknown             Code = "TAG_UNKNOWN"
	Unauthorized           Code = "UNAUTHORIZED"
	Denied                 Code = "DENIED"
	Unsupported            Code = "UNSUPPORTED"
	TooManyRequests        Code = "TOOMANYREQUESTS"
	PayloadTooLarge        Code = "PAYLOAD_TOO_LARGE"
	Disallowed             Code = "REGISTRY_DISALLOWED_OPERATION"
	Unavailable            Code = "UNAVAILABLE"
	Unknown                Code = "UNKNOWN"
)

var statuses = map[Code]int{
	BlobUnknown:            http.StatusNotFound,
	BlobUploadInvalid:      http.StatusBadRequest,
	BlobUploadUnknown:      http.StatusNotFound,
	BlobUploadRangeInvalid: http.StatusRequestedRangeNotSatisfiable,
	DigestInvalid:          http.StatusBadRequest,
	ManifestBlobUnknown:    http.StatusBadRequest,
	ManifestInvalid:        http.StatusBadRequest,
	ManifestUnknown:        http.StatusNotFound,
	NameInvalid:            http.StatusBadRequest,
	NameUnknown:            http.StatusNotFound,
	SizeInvalid:            http.StatusBadRequest,
	TagInvalid:             http.StatusBadRequest,
	TagUnknown:             http.StatusNotFound,
	Unauthorized:           http.StatusUnauthorized,
	Denied:                 http.StatusForbidden,
	Unsupported:            http.StatusMethodNotAllowed,
	TooManyRequests:        http.StatusTooManyRequests,
	PayloadTooLarge:        http.StatusRequestEntityTooLarge,
	Disallowed:             http.StatusMethodNotAllowed,
	Unavailable:            http.StatusServiceUnavailable,
	Unknown:                http.StatusInternalServerError,
}

// Status is the HTTP status that goes with the code.
func (c Code) Status() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// DisallowedMessage is ACR's message for an operation refused by a lock.
const DisallowedMessage = "The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation"

// Error is one entry of the error body. It implements error.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Detail is any JSON value; nil omits the field.
	Detail any `json:"detail,omitempty"`
	// HTTPStatus overrides Code.Status() when not zero.
	HTTPStatus int `json:"-"`
}

// New returns an error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of e carrying detail.
func (e *Error) WithDetail(detail any) *Error {
	c := *e
	c.Detail = detail
	return &c
}

// WithStatus returns a copy of e answered with status instead of the code's default.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.HTTPStatus = status
	return &c
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Status is the HTTP status to answer with.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	return e.Code.Status()
}

// Body is the JSON document an error response carries.
type Body struct {
	Errors []*Error `json:"errors"`
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Write answers with err as the OCI/ACR error JSON. Errors that are not *Error
// become 500 UNKNOWN with a generic message: internal details stay in the log.
func Write(w http.ResponseWriter, err error) {
	e, ok := As(err)
	if !ok {
		e = New(Unknown, "internal server error")
	}
	body, _ := json.Marshal(Body{Errors: []*Error{e}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.Status())
	_, _ = w.Write(body)
}
