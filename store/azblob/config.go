package azblob

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Azurite's well-known development account. It is public (documented by Microsoft)
// and only ever accepted by the emulator.
const (
	// DevAccountName is the account name of the Azure Storage emulator (Azurite).
	DevAccountName = "devstoreaccount1"
	// DevAccountKey is the account key of the Azure Storage emulator (Azurite).
	DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// ParseURL reads a storage URL of the form
//
//	azblob://CONTAINER[/PREFIX][?account=NAME | ?endpoint=SERVICE-URL]
//
// into Options without credentials, which the caller adds (an account key, a
// connection string or a token credential). account=NAME selects the public cloud
// endpoint https://NAME.blob.core.windows.net; endpoint= gives any service URL, such
// as Azurite's http://127.0.0.1:10000/devstoreaccount1. With neither, the service URL
// must come from a connection string. A prefix gets a trailing "/", so that it names
// a folder.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("azblob URL: %w", err)
	}
	if u.Scheme != "azblob" {
		return Options{}, fmt.Errorf("azblob URL %q: scheme must be azblob", raw)
	}
	if u.User != nil {
		// Keys in URLs end up in logs and process listings.
		return Options{}, fmt.Errorf("azblob URL %q: credentials do not belong in the URL", raw)
	}
	opts := Options{Container: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if opts.Prefix != "" {
		opts.Prefix += "/"
	}
	q := u.Query()
	account, endpoint := q.Get("account"), q.Get("endpoint")
	for k := range q {
		if k != "account" && k != "endpoint" {
			return Options{}, fmt.Errorf("azblob URL %q: unknown parameter %q", raw, k)
		}
	}
	switch {
	case account != "" && endpoint != "":
		return Options{}, fmt.Errorf("azblob URL %q: give account or endpoint, not both", raw)
	case account != "":
		opts.ServiceURL = "https://" + account + ".blob.core.windows.net"
		opts.AccountName = account
	case endpoint != "":
		opts.ServiceURL = endpoint
	}
	if err := validateContainer(opts.Container); err != nil {
		return Options{}, fmt.Errorf("azblob URL %q: %w", raw, err)
	}
	return opts, nil
}

// connectionString is what the store needs from an Azure Storage connection string.
type connectionString struct {
	serviceURL  string
	accountName string
	accountKey  string
}

// parseConnectionString reads a connection string with an account key:
// "DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...",
// optionally with BlobEndpoint=..., or "UseDevelopmentStorage=true" for Azurite on its
// default port. SAS-only connection strings cannot sign requests for every blob the
// store names, so they are refused.
func parseConnectionString(s string) (connectionString, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return connectionString{}, errors.New("invalid connection string: a part is not key=value")
		}
		kv[strings.ToLower(k)] = v
	}
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		return connectionString{
			serviceURL:  "http://127.0.0.1:10000/" + DevAccountName,
			accountName: DevAccountName,
			accountKey:  DevAccountKey,
		}, nil
	}
	cs := connectionString{accountName: kv["accountname"], accountKey: kv["accountkey"], serviceURL: kv["blobendpoint"]}
	if cs.accountName == "" || cs.accountKey == "" {
		return connectionString{}, errors.New("invalid connection string: AccountName and AccountKey are required")
	}
	if cs.serviceURL == "" {
		proto := kv["defaultendpointsprotocol"]
		if proto == "" {
			proto = "https"
		}
		suffix := kv["endpointsuffix"]
		if suffix == "" {
			suffix = "core.windows.net"
		}
		cs.serviceURL = proto + "://" + cs.accountName + ".blob." + suffix
	}
	return cs, nil
}
