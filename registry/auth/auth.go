// Package auth decides whether a request may perform an operation.
//
// The server calls an Authorizer before every handler with the scopes the route
// needs (see route.Route.Scopes), so handlers never see an unauthorised request.
package auth

import (
	"context"
	"net/http"

	"github.com/acre-dev/acre/registry/route"
)

// Identity is who a request acts as.
type Identity struct {
	// Subject names the principal (the admin user, a token name, an Entra object
	// id, or "anonymous").
	Subject string
	// Kind is the principal's kind: admin, token, aad, anonymous or open.
	Kind string
}

// Authorizer checks a request against the scopes its operation needs. It returns
// the identity to act as, or an error: a *Challenge asks the client to authenticate
// (401 with WWW-Authenticate); any other error is an internal failure.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, scopes []route.Scope) (Identity, error)
}

// Challenge is a refusal that the client can answer by authenticating.
type Challenge struct {
	// Header is the WWW-Authenticate value.
	Header string
	// Scopes are the accesses that were needed (for the error body's detail).
	Scopes []route.Scope
	// InsufficientScope is true when the request carried valid credentials that lack
	// a needed action.
	InsufficientScope bool
}

func (c *Challenge) Error() string { return "authentication required" }

// AllowAll grants every request. It is meant for tests and for embedding the
// registry behind another authentication layer.
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(context.Context, *http.Request, []route.Scope) (Identity, error) {
	return Identity{Subject: "anonymous", Kind: KindOpen}, nil
}
