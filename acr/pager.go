package acr

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// nextLink returns the rel="next" target of RFC 5988 Link header values, resolved
// against the request URL (registries send relative links; some send absolute
// ones). It returns "" when there is no next page, and an error for a malformed
// header rather than guessing.
func nextLink(req *url.URL, values []string) (string, error) {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			link = strings.TrimSpace(link)
			if link == "" {
				continue
			}
			if link[0] != '<' {
				return "", fmt.Errorf("acr: malformed Link header %q", v)
			}
			end := strings.IndexByte(link, '>')
			if end < 0 {
				return "", fmt.Errorf("acr: malformed Link header %q", v)
			}
			target, params := link[1:end], link[end+1:]
			if !isNextRel(params) {
				continue
			}
			u, err := url.Parse(target)
			if err != nil {
				return "", fmt.Errorf("acr: malformed Link target %q: %w", target, err)
			}
			return req.ResolveReference(u).String(), nil
		}
	}
	return "", nil
}

// splitLinks splits a Link header value on the commas between links (commas inside
// <...> or quotes belong to the link).
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func isNextRel(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
			if strings.EqualFold(r, "next") {
				return true
			}
		}
	}
	return false
}

// pageFetcher requests one page: first the initial URL, then each next link.
type pageFetcher[T any] struct {
	pl      runtime.Pipeline
	first   string
	scopes  []string
	decode  func(resp *http.Response) (T, error)
	getLink func(T) *string
}

func (f pageFetcher[T]) pager() *runtime.Pager[T] {
	return runtime.NewPager(runtime.PagingHandler[T]{
		More: func(page T) bool {
			l := f.getLink(page)
			return l != nil && *l != ""
		},
		Fetcher: func(ctx context.Context, page *T) (T, error) {
			target := f.first
			if page != nil {
				target = *f.getLink(*page)
			}
			var zero T
			req, err := runtime.NewRequest(ctx, http.MethodGet, target)
			if err != nil {
				return zero, err
			}
			withScopes(req, f.scopes...)
			req.Raw().Header.Set("Accept", "application/json")
			resp, err := f.pl.Do(req)
			if err != nil {
				return zero, err
			}
			if !runtime.HasStatusCode(resp, http.StatusOK) {
				return zero, newResponseError(resp)
			}
			return f.decode(resp)
		},
	})
}

// linkOf returns the next-page URL of a response, or nil at the end.
func linkOf(resp *http.Response) (*string, error) {
	next, err := nextLink(resp.Request.URL, resp.Header.Values("Link"))
	if err != nil || next == "" {
		return nil, err
	}
	return &next, nil
}
