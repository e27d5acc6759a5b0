package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// series is one measured quantity: a sample per run for each system measured.
type series struct {
	group  string
	name   string
	unit   string
	higher bool // higher is better
	// samples by system name ("acre", "distribution", "crane", ...).
	samples map[string][]float64
}

// results collects every series of a run, in the order they were first added.
type results struct {
	list  []*series
	index map[string]*series
}

func newResults() *results { return &results{index: map[string]*series{}} }

// add records a sample of series group/name for system sys.
func (r *results) add(group, name, unit string, higher bool, sys string, v float64) {
	key := group + "\x00" + name
	s := r.index[key]
	if s == nil {
		s = &series{group: group, name: name, unit: unit, higher: higher, samples: map[string][]float64{}}
		r.index[key] = s
		r.list = append(r.list, s)
	}
	s.samples[sys] = append(s.samples[sys], v)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// num formats a value with about three significant digits.
func num(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// cell is "median (min–max)" of the samples, or "—" if there are none.
func cell(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	m := median(xs)
	if len(xs) == 1 {
		return num(m)
	}
	return fmt.Sprintf("%s (%s–%s)", num(m), num(slices.Min(xs)), num(slices.Max(xs)))
}

// ratio is the ratio of the medians a/b, marked when a is better.
func ratio(s *series, a, b string) string {
	x, y := s.samples[a], s.samples[b]
	if len(x) == 0 || len(y) == 0 || median(y) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", median(x)/median(y))
}

// table writes a markdown table of the series of the given groups with one column
// per system and ratios of the first system to each other.
func (r *results) table(w io.Writer, groups []string, systems []string) {
	var rows []*series
	for _, s := range r.list {
		if slices.Contains(groups, s.group) {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return
	}
	hdr := []string{"workload", "unit"}
	hdr = append(hdr, systems...)
	for _, o := range systems[1:] {
		hdr = append(hdr, systems[0]+"/"+o)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(hdr, " | "))
	align := []string{"---", "---"}
	for range len(hdr) - 2 {
		align = append(align, "---:")
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(align, "|"))
	for _, s := range rows {
		unit := s.unit
		if s.higher {
			unit += " ↑"
		} else {
			unit += " ↓"
		}
		cols := []string{s.name, unit}
		for _, sys := range systems {
			cols = append(cols, cell(s.samples[sys]))
		}
		for _, o := range systems[1:] {
			cols = append(cols, ratio(s, systems[0], o))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	}
	fmt.Fprintln(w)
}
