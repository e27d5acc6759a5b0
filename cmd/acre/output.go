package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acre-dev/acre/acr"
)

// table writes rows as aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func boolp(b *bool) bool { return b != nil && *b }

// locks renders changeable attributes compactly: "rwdl" with dashes for what is off.
func locks(delete, write, read, list *bool) string {
	flag := func(b *bool, c string) string {
		if b == nil || *b {
			return c
		}
		return "-"
	}
	return flag(read, "r") + flag(write, "w") + flag(delete, "d") + flag(list, "l")
}

func tagLocks(a *acr.TagWriteableProperties) string {
	if a == nil {
		return ""
	}
	return locks(a.CanDelete, a.CanWrite, a.CanRead, a.CanList)
}

func manifestLocks(a *acr.ManifestWriteableProperties) string {
	if a == nil {
		return ""
	}
	return locks(a.CanDelete, a.CanWrite, a.CanRead, a.CanList)
}

func repoLocks(a *acr.RepositoryWriteableProperties) string {
	if a == nil {
		return ""
	}
	return locks(a.CanDelete, a.CanWrite, a.CanRead, a.CanList)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
