package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/acre-dev/acre/internal/reference"
	"github.com/acre-dev/acre/registry/route"
	"github.com/acre-dev/acre/store"
)

// Scope-map actions, as ACR names them for repository-scoped tokens.
const (
	ContentRead   = "content/read"
	ContentWrite  = "content/write"
	ContentDelete = "content/delete"
	MetadataRead  = "metadata/read"
	MetadataWrite = "metadata/write"
)

// scopeMapActions maps scope-map actions to the token actions they allow.
var scopeMapActions = map[string]route.Action{
	ContentRead:   route.ActionPull,
	ContentWrite:  route.ActionPush,
	ContentDelete: route.ActionDelete,
	MetadataRead:  route.ActionMetadataRead,
	MetadataWrite: route.ActionMetadataWrite,
}

// AllScopeMapActions lists every scope-map action.
var AllScopeMapActions = []string{ContentRead, ContentWrite, ContentDelete, MetadataRead, MetadataWrite}

// allRepositoryActions is every action a repository scope can carry.
var allRepositoryActions = []route.Action{route.ActionPull, route.ActionPush, route.ActionDelete, route.ActionMetadataRead, route.ActionMetadataWrite}

// Grant allows actions on the repositories a pattern matches.
type Grant struct {
	// Pattern is "name", "prefix/*" or "*".
	Pattern string
	Actions []route.Action
}

// Permissions is what a principal may do.
type Permissions struct {
	Grants []Grant
	// Catalog allows listing every repository (registry:catalog:*).
	Catalog bool
}

// FullAccess may do anything.
var FullAccess = Permissions{Grants: []Grant{{Pattern: "*", Actions: allRepositoryActions}}, Catalog: true}

// PullAccess may pull and read metadata of every repository, and list them: what
// ACR's anonymous pull opens.
var PullAccess = Permissions{Grants: []Grant{{Pattern: "*", Actions: []route.Action{route.ActionPull, route.ActionMetadataRead}}}, Catalog: true}

// ValidatePattern checks a scope-map repository pattern: a repository name, a name
// followed by "/*", or "*" alone.
func ValidatePattern(p string) error {
	if p == "*" {
		return nil
	}
	name := strings.TrimSuffix(p, "/*")
	if strings.Contains(name, "*") || reference.ValidateName(name) != nil {
		return fmt.Errorf("repository pattern %q: want a repository name, name/* or *", p)
	}
	return nil
}

// matches reports whether a pattern covers a repository name.
func matches(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(name, prefix+"/")
	}
	return pattern == name
}

// PermissionsFromScopes converts a token's scope map into permissions. Tokens never
// list the catalog, as in ACR.
func PermissionsFromScopes(scopes []store.TokenScope) (Permissions, error) {
	var p Permissions
	for _, s := range scopes {
		if err := ValidatePattern(s.Repository); err != nil {
			return p, err
		}
		g := Grant{Pattern: s.Repository}
		for _, a := range s.Actions {
			ta, ok := scopeMapActions[a]
			if !ok {
				return p, fmt.Errorf("scope-map action %q: want one of %s", a, strings.Join(AllScopeMapActions, ", "))
			}
			if !slices.Contains(g.Actions, ta) {
				g.Actions = append(g.Actions, ta)
			}
		}
		p.Grants = append(p.Grants, g)
	}
	return p, nil
}

// actionsOn returns the actions the permissions allow on a repository.
func (p Permissions) actionsOn(name string) []route.Action {
	var out []route.Action
	for _, g := range p.Grants {
		if !matches(g.Pattern, name) {
			continue
		}
		for _, a := range g.Actions {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Access is one entry of an access token's "access" claim, as in the Docker token
// specification: the actions granted on one resource.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ParseScopes parses scope parameters ("repository:name:pull,push", several per
// value separated by spaces, as clients send them). Malformed entries and unknown
// types are skipped: asking for something odd yields nothing, not an error.
func ParseScopes(values []string) []route.Scope {
	var out []route.Scope
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			typ, rest, ok := strings.Cut(s, ":")
			if !ok {
				continue
			}
			i := strings.LastIndexByte(rest, ':')
			if i < 0 {
				continue
			}
			name, acts := rest[:i], rest[i+1:]
			switch typ {
			case "repository":
				if reference.ValidateName(name) != nil {
					continue
				}
			case "registry":
				if name != "catalog" {
					continue
				}
			default:
				continue
			}
			sc := route.Scope{Type: typ, Name: name}
			for _, a := range strings.Split(acts, ",") {
				if a != "" && !slices.Contains(sc.Actions, route.Action(a)) {
					sc.Actions = append(sc.Actions, route.Action(a))
				}
			}
			out = append(out, sc)
		}
	}
	return out
}

// Grant intersects requested scopes with the permissions: the access a token for
// this principal may carry. Nothing outside the permissions can be obtained by
// asking; an unsatisfiable request yields an empty list, not an error (as ACR
// issues tokens even for scopes it will not honour).
func (p Permissions) Grant(requested []route.Scope) []Access {
	var out []Access
	for _, sc := range requested {
		var allowed []route.Action
		switch sc.Type {
		case "registry":
			if p.Catalog {
				allowed = []route.Action{route.ActionAll}
			}
		case "repository":
			allowed = p.actionsOn(sc.Name)
		}
		a := Access{Type: sc.Type, Name: sc.Name}
		for _, want := range sc.Actions {
			if want == route.ActionAll && sc.Type == "repository" {
				// "*" asks for everything the principal may do.
				for _, al := range allowed {
					a.Actions = appendUnique(a.Actions, string(al))
				}
				continue
			}
			if slices.Contains(allowed, want) {
				a.Actions = appendUnique(a.Actions, string(want))
			}
		}
		if len(a.Actions) > 0 {
			out = mergeAccess(out, a)
		}
	}
	return out
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func mergeAccess(list []Access, a Access) []Access {
	for i := range list {
		if list[i].Type == a.Type && list[i].Name == a.Name {
			for _, act := range a.Actions {
				list[i].Actions = appendUnique(list[i].Actions, act)
			}
			return list
		}
	}
	return append(list, a)
}

// allows reports whether an access list covers every needed scope.
func allows(access []Access, needed []route.Scope) bool {
	for _, sc := range needed {
		ok := false
		for _, a := range access {
			if a.Type != sc.Type || a.Name != sc.Name {
				continue
			}
			ok = true
			for _, want := range sc.Actions {
				if !slices.Contains(a.Actions, string(want)) {
					ok = false
					break
				}
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
