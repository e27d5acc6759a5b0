package s3

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ParseURL reads a storage URL of the form
//
//	s3://BUCKET[/PREFIX][?endpoint=URL][&region=REGION][&path_style=true]
//
// into Options without credentials, which the caller adds (StaticCredentials, or a
// provider from the AWS SDK's config package). Without endpoint the store talks to
// AWS; with one (MinIO: endpoint=http://127.0.0.1:9000) path-style addressing is the
// default, as S3-compatible services expect. A prefix gets a trailing "/", so that it
// names a folder.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("s3 URL: %w", err)
	}
	if u.Scheme != "s3" {
		return Options{}, fmt.Errorf("s3 URL %q: scheme must be s3", raw)
	}
	if u.User != nil {
		// Keys in URLs end up in logs and process listings.
		return Options{}, fmt.Errorf("s3 URL %q: credentials do not belong in the URL", raw)
	}
	opts := Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if opts.Prefix != "" {
		opts.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style":
		default:
			return Options{}, fmt.Errorf("s3 URL %q: unknown parameter %q", raw, k)
		}
	}
	opts.Endpoint = q.Get("endpoint")
	opts.Region = q.Get("region")
	opts.PathStyle = opts.Endpoint != ""
	if v := q.Get("path_style"); v != "" {
		if opts.PathStyle, err = strconv.ParseBool(v); err != nil {
			return Options{}, fmt.Errorf("s3 URL %q: path_style: %w", raw, err)
		}
	}
	if err := validateBucket(opts.Bucket); err != nil {
		return Options{}, fmt.Errorf("s3 URL %q: %w", raw, err)
	}
	return opts, nil
}
