package athena

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
)

// datePlaceholders are the placeholders that differ between the exports of
// a series, with what each resolves to (plan.Prefix writes them zero-padded
// in UTC).
var datePlaceholders = map[string]string{
	"{yyyy}": `(\d{4})`, "{mm}": `(\d{2})`, "{dd}": `(\d{2})`, "{hh}": `(\d{2})`,
}

var (
	placeholderPattern = regexp.MustCompile(`\{[^{}]*\}`)
	keyPattern         = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// Layout is what a --prefix template says about the exports made with it.
// A template with date placeholders inside key= folders
// ("exports/{table}/dt={yyyy}-{mm}-{dd}") lays a series of exports out as
// Hive partitions: each key= folder holding a placeholder is a partition
// column, and everything above the first such folder is the same for every
// export of the table. A template without date placeholders makes each
// export its own table.
type Layout struct {
	template string
	folders  []folder
	first    int // index of the first partition folder, -1 without
	dated    bool
}

type folder struct {
	text string // as in the template
	key  string // partition column, lower case; "" if not a partition folder
}

// ParseLayout reads a prefix template and refuses the ones whose exports
// cannot be told apart by partition values: a date placeholder outside a
// key= folder would put two days' exports in one partition, and a
// placeholder other than {table} above the first partition folder would
// give each export a different table location.
func ParseLayout(template string) (Layout, error) {
	l := Layout{template: template, first: -1}
	t := strings.TrimSuffix(template, "/")
	if t == "" {
		return l, nil
	}
	var stray []string // date placeholders outside partition folders
	for i, text := range strings.Split(t, "/") {
		f := folder{text: text}
		for _, p := range placeholderPattern.FindAllString(text, -1) {
			switch _, date := datePlaceholders[p]; {
			case date:
				l.dated = true
			case p != "{table}" && p != "{exportId}":
				return l, fmt.Errorf("prefix template %q: unknown placeholder %s", template, p)
			}
		}
		if key, value, ok := strings.Cut(text, "="); ok && placeholderPattern.MatchString(value) {
			if !keyPattern.MatchString(key) {
				return l, fmt.Errorf("prefix template %q: folder %q: the key before '=' names a partition column, so it must be 1 to 128 letters, digits or '_', not starting with a digit", template, text)
			}
			f.key = strings.ToLower(key) // Athena lower-cases column names
			if l.first < 0 {
				l.first = i
			}
		} else if ps := datesIn(text); len(ps) > 0 {
			stray = append(stray, fmt.Sprintf("%s in %q", strings.Join(ps, ""), text))
		}
		l.folders = append(l.folders, f)
	}
	if !l.dated || l.first < 0 {
		return l, nil // not a series: one table per export
	}
	if len(stray) > 0 {
		return l, fmt.Errorf("prefix template %q: %s outside a key= folder: exports of different dates would share a partition; put every date placeholder in a key=value folder (dt={yyyy}-{mm}-{dd})", template, strings.Join(stray, ", "))
	}
	seen := map[string]bool{}
	for i, f := range l.folders {
		if i < l.first {
			if ps := placeholderPattern.FindAllString(f.text, -1); len(ps) > 0 && strings.Join(ps, "") != strings.Repeat("{table}", len(ps)) {
				return l, fmt.Errorf("prefix template %q: placeholder in %q above the first partition folder: the table's location must be the same for every export", template, f.text)
			}
		}
		if f.key == "" {
			continue
		}
		if seen[f.key] {
			return l, fmt.Errorf("prefix template %q: partition key %q appears twice (Athena ignores case)", template, f.key)
		}
		seen[f.key] = true
	}
	return l, nil
}

func datesIn(text string) []string {
	var out []string
	for _, p := range placeholderPattern.FindAllString(text, -1) {
		if _, ok := datePlaceholders[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Template is the prefix template as given.
func (l Layout) Template() string { return l.template }

// Partitioned reports whether exports with this template form one table
// partitioned by date: the template has date placeholders, and key= folders
// to hold them.
func (l Layout) Partitioned() bool { return l.dated && l.first >= 0 }

// Dated reports whether the template has date placeholders at all. A dated
// template without key= folders ("exports/{yyyy}/{mm}/{dd}") still makes one
// table per export: nothing in it names a partition column.
func (l Layout) Dated() bool { return l.dated }

// Keys are the partition columns in path order, lower case.
func (l Layout) Keys() []string {
	var keys []string
	for _, f := range l.folders {
		if f.key != "" {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// Root is the part of the prefix above the first partition folder, with
// {table} filled in and a trailing '/' ("exports/orders/"), or "" when the
// first folder is already a partition. Only for a partitioned layout.
func (l Layout) Root(sourceTable string) string {
	var b strings.Builder
	for _, f := range l.folders[:max(l.first, 0)] {
		b.WriteString(strings.ReplaceAll(f.text, "{table}", sourceTable))
		b.WriteByte('/')
	}
	return b.String()
}

// Values finds the partition values of one export by matching its resolved
// prefix against the template, then checks the match by resolving the
// template again with the date found: the values are right only if that
// gives back the same prefix. Values are in Keys order.
func (l Layout) Values(sourceTable string, loc Location) ([]string, error) {
	mismatch := func(why string, args ...any) error {
		return fmt.Errorf("export %s: prefix %q does not match the template %q: %s", loc.ExportID, loc.Prefix, l.template, fmt.Sprintf(why, args...))
	}
	got := strings.Split(strings.TrimSuffix(loc.Prefix, "/"), "/")
	if len(got) != len(l.folders) {
		return nil, mismatch("%d folders, the template has %d", len(got), len(l.folders))
	}
	date := map[string]string{}
	var values []string
	for i, f := range l.folders {
		groups, err := matchFolder(f.text, got[i], sourceTable, loc.ExportID)
		if err != nil {
			return nil, mismatch("%v", err)
		}
		for p, v := range groups {
			if prev, ok := date[p]; ok && prev != v {
				return nil, mismatch("%s is %s in one folder and %s in another", p, prev, v)
			}
			date[p] = v
		}
		if f.key != "" {
			_, v, _ := strings.Cut(got[i], "=")
			values = append(values, v)
		}
	}
	at, err := dateOf(date)
	if err != nil {
		return nil, mismatch("%v", err)
	}
	again, err := plan.Prefix(l.template, sourceTable, loc.ExportID, at)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", loc.ExportID, err)
	}
	if again != strings.TrimSuffix(loc.Prefix, "/") {
		return nil, mismatch("resolving it for %s gives %q", at.Format(time.RFC3339), again)
	}
	return values, nil
}

// matchFolder matches one resolved folder against its template, returning
// what each date placeholder matched. {table} and {exportId} are known, so
// they match literally.
func matchFolder(tmpl, got, table, exportID string) (map[string]string, error) {
	var re strings.Builder
	var names []string
	re.WriteByte('^')
	rest := tmpl
	for {
		loc := placeholderPattern.FindStringIndex(rest)
		if loc == nil {
			re.WriteString(regexp.QuoteMeta(rest))
			break
		}
		re.WriteString(regexp.QuoteMeta(rest[:loc[0]]))
		switch p := rest[loc[0]:loc[1]]; p {
		case "{table}":
			re.WriteString(regexp.QuoteMeta(table))
		case "{exportId}":
			re.WriteString(regexp.QuoteMeta(exportID))
		default:
			re.WriteString(datePlaceholders[p])
			names = append(names, p)
		}
		rest = rest[loc[1]:]
	}
	re.WriteByte('$')
	m := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if m == nil {
		return nil, fmt.Errorf("folder %q is not %q", got, tmpl)
	}
	out := map[string]string{}
	for i, p := range names {
		if prev, ok := out[p]; ok && prev != m[i+1] {
			return nil, fmt.Errorf("folder %q: %s is both %s and %s", got, p, prev, m[i+1])
		}
		out[p] = m[i+1]
	}
	return out, nil
}

// dateOf builds the UTC time the date placeholders describe; those the
// template does not use take their smallest value.
func dateOf(parts map[string]string) (time.Time, error) {
	num := func(p string, def int) int {
		if s, ok := parts[p]; ok {
			n, _ := strconv.Atoi(s) // the pattern matched digits only
			return n
		}
		return def
	}
	y, m, d, h := num("{yyyy}", 2000), num("{mm}", 1), num("{dd}", 1), num("{hh}", 0)
	at := time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC)
	if at.Year() != y || int(at.Month()) != m || at.Day() != d || at.Hour() != h {
		return time.Time{}, fmt.Errorf("%04d-%02d-%02d hour %02d is not a date", y, m, d, h)
	}
	return at, nil
}
