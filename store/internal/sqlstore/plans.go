package sqlstore

import (
	"fmt"
	"time"

	"github.com/acre-dev/acre/store"
)

// PlanCase is one statement the store runs for a listing or a lookup, with the index
// that must answer it. The engines' tests EXPLAIN every case (PlanCases) to check
// that each listing is a keyset range scan of an index in the listing's order: a page
// must cost O(page), so a plan may neither sort nor scan a whole table or index. The
// cases are defined here, next to the queries, so that a new listing or filter cannot
// escape the check on any engine.
type PlanCase struct {
	// Name identifies the case in test output.
	Name string
	// SQL and Args are the statement exactly as the store runs it.
	SQL  string
	Args []any
	// Table is the table the statement reads.
	Table string
	// Index is the schema's name of the index the plan must walk, or "" for the
	// table's primary key (for repositories, the unique index on name).
	Index string
	// Bound lists the columns the plan must bound as an index range rather than filter
	// row by row: one key column, or the row (updated_at, key) of a time cursor. Nil
	// when the leading equalities alone bound the range.
	Bound []string
	// Cmp is Bound's comparison: ">" or "<", or ">=" or "<=" when a time-ordered
	// page starts at (and includes) the row its cursor fell back to.
	Cmp string
	// Descending is set when the plan must walk the index backward.
	Descending bool
}

// PlanCases returns the statements of every listing of repository repoID, in every
// order, with and without filters and cursors, and the lookups that must be index
// probes.
func PlanCases(repoID int64) []PlanCase {
	var cases []PlanCase
	for _, listable := range []bool{false, true} {
		for _, after := range []string{"", "x"} {
			q := repositoriesQuery(store.ListOptions{After: after, Limit: 3, ListableOnly: listable})
			cases = append(cases, PlanCase{Name: fmt.Sprintf("repositories/listable=%v/after=%q", listable, after),
				SQL: q.sb.String(), Args: q.args, Table: "repositories", Bound: []string{"name"}, Cmp: ">"})
		}
	}
	for _, l := range []listing{tagListing(), manifestListing()} {
		byTime := l.table + "_updated"
		for _, listable := range []bool{false, true} {
			for _, order := range []store.Order{store.OrderNone, store.OrderTimeAsc, store.OrderTimeDesc} {
				name := fmt.Sprintf("%s/order=%d/listable=%v", l.table, order, listable)
				index := byTime
				if order == store.OrderNone {
					index = "" // the primary key, (repository_id, key)
				}
				cmp, _ := direction(order)
				desc := order == store.OrderTimeDesc
				add := func(suffix string, q *query, index string, bound []string, cmp string) {
					cases = append(cases, PlanCase{Name: name + "/" + suffix, SQL: q.sb.String(), Args: q.args,
						Table: l.table, Index: index, Bound: bound, Cmp: cmp, Descending: desc})
				}

				opts := store.ListOptions{Order: order, Limit: 3, ListableOnly: listable}
				add("first", l.pageQuery(repoID, opts, cursor{}), index, nil, "")

				opts.After = "x"
				if order == store.OrderNone {
					add("after", l.pageQuery(repoID, opts, cursor{}), index, []string{l.key}, ">")
					continue
				}
				row := []string{"updated_at", l.key}
				add("after", l.pageQuery(repoID, opts, cursor{updated: 1, key: "x"}), index, row, cmp)
				add("after-inclusive", l.pageQuery(repoID, opts, cursor{updated: 1, key: "x", inclusive: true}),
					index, row, cmp+"=")
				// The cursor fallback walks the key index in the tie-break's direction.
				add("fallback", l.fallbackQuery(repoID, opts), "", []string{l.key}, cmp)
			}
		}
	}

	// The digest filter of tags, lexical order.
	q := tagListing().pageQuery(repoID, store.ListOptions{Digest: "sha256:x", After: "t", Limit: 3}, cursor{})
	cases = append(cases, PlanCase{Name: "tags/digest", SQL: q.sb.String(), Args: q.args, Table: "tags",
		Index: "tags_digest", Bound: []string{"name"}, Cmp: ">"})

	// Referrers, upload expiry and blob lookups.
	q = uploadsQuery(time.Unix(5, 0), 10)
	cases = append(cases,
		PlanCase{Name: "referrers", SQL: referrersQuery, Args: []any{repoID, "s"}, Table: "manifests",
			Index: "manifests_subject"},
		PlanCase{Name: "uploads", SQL: q.sb.String(), Args: q.args, Table: "uploads",
			Index: "uploads_updated", Bound: []string{"updated_at"}, Cmp: "<"},
		PlanCase{Name: "find blob", SQL: findBlobQuery, Args: []any{"d"}, Table: "blob_links",
			Index: "blob_links_digest"},
	)
	return cases
}
