package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/acre-dev/acre/internal/errcode"
	"github.com/acre-dev/acre/internal/reference"
	"github.com/acre-dev/acre/registry/core"
	"github.com/acre-dev/acre/registry/route"
)

func (h *Handler) blob(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.getBlob(w, r, rt)
	case http.MethodDelete:
		if err := h.Registry.DeleteBlob(r.Context(), rt.Name, rt.Digest); err != nil {
			return err
		}
		w.Header().Set("Docker-Content-Digest", string(rt.Digest))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed("GET", "HEAD", "DELETE")
}

// byteRange is an inclusive range of a blob.
type byteRange struct{ start, end int64 }

var errRangeUnsatisfiable = errors.New("range not satisfiable")

// parseRange parses a single-range Range header ("bytes=a-b", "bytes=a-",
// "bytes=-n") against a blob of the given size. ok is false when there is no
// usable Range header, in which case the whole blob is served.
func parseRange(header string, size int64) (br byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return br, false, nil // absent, another unit, or several ranges: serve it all
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return br, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "":
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return br, false, nil
		}
		if n == 0 || size == 0 {
			return br, true, errRangeUnsatisfiable
		}
		br = byteRange{start: max(size-n, 0), end: size - 1}
	default:
		s, perr := strconv.ParseInt(first, 10, 64)
		if perr != nil || s < 0 {
			return br, false, nil
		}
		e := size - 1
		if last != "" {
			if e, perr = strconv.ParseInt(last, 10, 64); perr != nil || e < s {
				return br, false, nil
			}
		}
		if s >= size {
			return br, true, errRangeUnsatisfiable
		}
		br = byteRange{start: s, end: min(e, size-1)}
	}
	return br, true, nil
}

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	hd := w.Header()
	if r.Method == http.MethodHead {
		// HEAD answers 200 with the whole size even when a Range is asked for: the
		// official Azure SDK's CheckChunkExists accepts only 200, as ACR sends.
		info, err := h.Registry.StatBlob(r.Context(), rt.Name, rt.Digest)
		if err != nil {
			return err
		}
		setBlobHeaders(hd, info)
		hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if u, err := h.Registry.BlobURL(r.Context(), rt.Name, rt.Digest); err != nil {
		return err
	} else if u != "" {
		// As ACR: send the client to storage, which honours Range itself.
		hd.Set("Location", u)
		hd.Set("Docker-Content-Digest", string(rt.Digest))
		w.WriteHeader(http.StatusTemporaryRedirect)
		return nil
	}
	// OpenBlob looks the blob up once for both its size and its content (a separate
	// StatBlob cost a second metadata transaction per GET); a range is then reached by
	// seeking, or by opening again if the store's reader cannot seek.
	rc, info, err := h.Registry.OpenBlob(r.Context(), rt.Name, rt.Digest, 0)
	if err != nil {
		return err
	}
	defer func() { rc.Close() }()
	br, ranged, err := parseRange(r.Header.Get("Range"), info.Size)
	if err != nil {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
		return errcode.New(errcode.BlobUploadRangeInvalid, "requested range not satisfiable").WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	length, status := info.Size, http.StatusOK
	if ranged {
		length, status = br.end-br.start+1, http.StatusPartialContent
		if br.start > 0 {
			if rc, err = seekBlob(r, h.Registry, rt, rc, br.start); err != nil {
				return err
			}
		}
	}
	setBlobHeaders(hd, info)
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	if ranged {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.start, br.end, info.Size))
	}
	w.WriteHeader(status)
	if _, err := io.CopyN(w, rc, length); err != nil && h.Logger != nil {
		// Headers are gone; the client sees a short body and will retry.
		h.Logger.WarnContext(r.Context(), "blob transfer interrupted", "digest", rt.Digest, "error", err)
	}
	return nil
}

// seekBlob moves rc, a blob opened at its start, to offset. When rc cannot seek it
// is closed and the blob opened again at offset; on error the returned reader is
// still safe to close.
func seekBlob(r *http.Request, reg *core.Registry, rt route.Route, rc io.ReadCloser, offset int64) (io.ReadCloser, error) {
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(offset, io.SeekStart); err != nil {
			return rc, fmt.Errorf("seek blob %s: %w", rt.Digest, err)
		}
		return rc, nil
	}
	rc.Close()
	next, _, err := reg.OpenBlob(r.Context(), rt.Name, rt.Digest, offset)
	if err != nil {
		return io.NopCloser(nil), err
	}
	return next, nil
}

func setBlobHeaders(hd http.Header, info core.BlobInfo) {
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", string(info.Digest))
	hd.Set("ETag", `"`+string(info.Digest)+`"`)
	hd.Set("Accept-Ranges", "bytes")
	// Content-addressed: a digest's bytes never change.
	hd.Set("Cache-Control", "max-age=31536000")
}

func uploadLocation(name, id string) string {
	return "/v2/" + name + "/blobs/uploads/" + id
}

// writeUploadState answers with the session's location and progress.
func writeUploadState(w http.ResponseWriter, name string, u core.UploadInfo, status int) {
	hd := w.Header()
	hd.Set("Location", uploadLocation(name, u.ID))
	hd.Set("Docker-Upload-UUID", u.ID)
	// "0-0" for an empty session, as ACR and the CNCF registry answer.
	hd.Set("Range", fmt.Sprintf("0-%d", max(u.Size-1, 0)))
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func writeBlobCreated(w http.ResponseWriter, name string, info core.BlobInfo) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/blobs/"+string(info.Digest))
	hd.Set("Docker-Content-Digest", string(info.Digest))
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// chunkFrom reads the declared extent of a request body: Content-Range (either
// "start-end" as the Docker and Azure clients send it, or "bytes start-end[/total]")
// and Content-Length.
func chunkFrom(r *http.Request) (core.Chunk, error) {
	c := core.Chunk{Start: -1, Length: r.ContentLength, Body: r.Body}
	if cr := strings.TrimSpace(r.Header.Get("Content-Range")); cr != "" {
		spec := strings.TrimPrefix(strings.TrimPrefix(cr, "bytes"), "=")
		spec = strings.TrimSpace(spec)
		if i := strings.IndexByte(spec, '/'); i >= 0 {
			spec = spec[:i]
		}
		first, last, ok := strings.Cut(spec, "-")
		s, err1 := strconv.ParseInt(first, 10, 64)
		e, err2 := strconv.ParseInt(last, 10, 64)
		if !ok || err1 != nil || err2 != nil || s < 0 || e < s {
			return c, errcode.New(errcode.BlobUploadRangeInvalid, "invalid Content-Range %q", cr)
		}
		n := e - s + 1
		if c.Length >= 0 && c.Length != n {
			return c, errcode.New(errcode.BlobUploadRangeInvalid, "Content-Range %q does not match Content-Length %d", cr, c.Length)
		}
		c.Start, c.Length = s, n
	}
	return c, nil
}

func (h *Handler) uploadStart(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed("POST")
	}
	q := r.URL.Query()
	ctx := r.Context()
	if m := q.Get("mount"); m != "" {
		d, err := route.ParseDigest(m)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" && reference.ValidateName(from) != nil {
			return errcode.New(errcode.NameInvalid, "invalid repository name").WithDetail(map[string]string{"name": from})
		}
		mounted, err := h.Registry.MountBlob(ctx, rt.Name, from, d)
		if err != nil {
			return err
		}
		if mounted {
			info, err := h.Registry.StatBlob(ctx, rt.Name, d)
			if err != nil {
				return err
			}
			writeBlobCreated(w, rt.Name, info)
			return nil
		}
		// Not mountable: fall back to a regular upload session (202).
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := route.ParseDigest(ds)
		if err != nil {
			return err
		}
		c, err := chunkFrom(r)
		if err != nil {
			return err
		}
		info, err := h.Registry.PutBlob(ctx, rt.Name, d, c)
		if err != nil {
			return err
		}
		writeBlobCreated(w, rt.Name, info)
		return nil
	}
	u, err := h.Registry.StartUpload(ctx, rt.Name)
	if err != nil {
		return err
	}
	writeUploadState(w, rt.Name, u, http.StatusAccepted)
	return nil
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		u, err := h.Registry.UploadStatus(ctx, rt.Name, rt.UploadID)
		if err != nil {
			return err
		}
		writeUploadState(w, rt.Name, u, http.StatusNoContent)
		return nil
	case http.MethodPatch:
		c, err := chunkFrom(r)
		if err != nil {
			return err
		}
		u, err := h.Registry.AppendUpload(ctx, rt.Name, rt.UploadID, c)
		if err != nil {
			if e, ok := errcode.As(err); ok && e.Code == errcode.BlobUploadRangeInvalid {
				// Tell the client where the session stands so it can resume.
				w.Header().Set("Location", uploadLocation(rt.Name, rt.UploadID))
				w.Header().Set("Range", fmt.Sprintf("0-%d", max(u.Size-1, 0)))
				w.Header().Set("Docker-Upload-UUID", rt.UploadID)
			}
			return err
		}
		writeUploadState(w, rt.Name, u, http.StatusAccepted)
		return nil
	case http.MethodPut:
		ds := r.URL.Query().Get("digest")
		if ds == "" {
			return errcode.New(errcode.DigestInvalid, "digest parameter missing")
		}
		d, err := route.ParseDigest(ds)
		if err != nil {
			return err
		}
		c, err := chunkFrom(r)
		if err != nil {
			return err
		}
		if c.Length == 0 {
			c.Body = nil
		}
		info, err := h.Registry.CompleteUpload(ctx, rt.Name, rt.UploadID, d, c)
		if err != nil {
			return err
		}
		writeBlobCreated(w, rt.Name, info)
		return nil
	case http.MethodDelete:
		if err := h.Registry.CancelUpload(ctx, rt.Name, rt.UploadID); err != nil {
			return err
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed("GET", "PATCH", "PUT", "DELETE")
}
