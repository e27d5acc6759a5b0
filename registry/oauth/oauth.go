// Package oauth serves ACR's token endpoints:
//
//	POST /oauth2/exchange   Entra access token (or ACR refresh token) → ACR refresh token
//	POST /oauth2/token      ACR refresh token, or anonymous → ACR access token
//	GET  /oauth2/token      Basic credentials (docker, OCI tools) → access token
//
// As ACR does, every failure is a 401 with an empty body.
package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/acre-dev/acre/registry/auth"
)

// maxFormSize bounds a token request body.
const maxFormSize = 64 << 10

// Handler serves /oauth2/*.
type Handler struct {
	Service *auth.Service
	Logger  *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case r.URL.Path == "/oauth2/exchange" && r.Method == http.MethodPost:
		h.exchange(w, r)
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodPost:
		h.token(w, r)
	case r.URL.Path == "/oauth2/token" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.tokenBasic(w, r)
	case r.URL.Path == "/oauth2/exchange" || r.URL.Path == "/oauth2/token":
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		return false
	}
	return true
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, auth.ErrUnauthorized) && h.Logger != nil {
		h.Logger.ErrorContext(r.Context(), "token endpoint failed", "path", r.URL.Path, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	unauthorized(w)
}

func (h *Handler) exchange(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		unauthorized(w)
		return
	}
	res, err := h.Service.Exchange(r.Context(), r.PostForm, h.Service.Service(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, map[string]string{"refresh_token": res.RefreshToken})
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		unauthorized(w)
		return
	}
	res, err := h.Service.Token(r.Context(), r.PostForm, h.Service.Service(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, tokenBody(res))
}

func (h *Handler) tokenBasic(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, password, hasBasic := r.BasicAuth()
	offline, _ := strconv.ParseBool(q.Get("offline_token"))
	res, err := h.Service.TokenBasic(r.Context(), q, h.Service.Service(r), user, password, hasBasic, offline)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := tokenBody(res)
	// Docker's token clients read "token"; OCI tools read either.
	body["token"] = res.AccessToken
	writeJSON(w, body)
}

func tokenBody(res auth.TokenResponse) map[string]any {
	body := map[string]any{
		"access_token": res.AccessToken,
		"expires_in":   res.ExpiresIn,
		"issued_at":    res.IssuedAt.Format(time.RFC3339),
	}
	if res.RefreshToken != "" {
		body["refresh_token"] = res.RefreshToken
	}
	return body
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
