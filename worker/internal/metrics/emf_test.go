package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// validUnits are the units CloudWatch accepts (MetricDatum); EMF says a
// Unit SHOULD be one of them, and CloudWatch rejects a line that is not.
var validUnits = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// validateEMF checks one printed line against the EMF specification
// (CloudWatch_Embedded_Metric_Format_Specification) and CloudWatch's own
// limits on names and dimension values. It returns every rule broken, so a
// change to the encoder that breaks the spec fails loudly and says why.
func validateEMF(line []byte) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if len(line) > 256*1024 {
		bad("line is %d bytes; a log event holds at most 256 KiB", len(line))
	}
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		bad("not exactly one newline-terminated line")
	}
	// The log event MUST be a JSON object with nothing before or after it.
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimSuffix(line, []byte("\n"))))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return append(p, "not a JSON object: "+err.Error())
	}
	if dec.More() {
		bad("data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return append(p, `no "_aws" object on the root node`)
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			bad("_aws has member %q the specification does not define", k)
		}
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		bad("_aws.Timestamp is not a number")
	} else if n, err := ts.Int64(); err != nil {
		bad("_aws.Timestamp %s is not an integer", ts)
	} else if n < 1e12 || n > 1e13 {
		// Milliseconds since the epoch fall in this range from 2001 to 2286;
		// seconds or microseconds do not.
		bad("_aws.Timestamp %d is not epoch milliseconds", n)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		return append(p, "_aws.CloudWatchMetrics is not a non-empty array")
	}
	dimNames := map[string]bool{}
	for i, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			bad("directive %d is not an object", i)
			continue
		}
		for k := range dir {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				bad("directive %d has member %q the specification does not define", i, k)
			}
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 255 || strings.HasPrefix(ns, "AWS/") || strings.HasPrefix(ns, ":") {
			bad("directive %d: Namespace %v is not a 1-255 character custom namespace", i, dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			bad("directive %d: Dimensions is not a non-empty array of dimension sets", i)
		}
		for j, s := range sets {
			set, ok := s.([]any)
			if !ok {
				bad("directive %d: dimension set %d is not an array", i, j)
				continue
			}
			if len(set) > 30 {
				bad("directive %d: dimension set %d has %d dimensions; at most 30", i, j, len(set))
			}
			for _, k := range set {
				name, ok := k.(string)
				if !ok || name == "" || len(name) > 255 || strings.HasPrefix(name, ":") || !printableASCII(name) {
					bad("directive %d: dimension name %v is not 1-255 printable ASCII characters", i, k)
					continue
				}
				dimNames[name] = true
				v, ok := root[name].(string)
				if !ok {
					bad("dimension %q has no string target member on the root node", name)
					continue
				}
				if v == "" || len(v) > 1024 || !printableASCII(v) || strings.TrimSpace(v) == "" {
					bad("dimension %q value %q is not 1-1024 printable ASCII characters", name, v)
				}
			}
		}
		defs, ok := dir["Metrics"].([]any)
		if !ok || len(defs) == 0 {
			bad("directive %d: Metrics is not a non-empty array", i)
		}
		if len(defs) > 100 {
			bad("directive %d: %d metric definitions; at most 100", i, len(defs))
		}
		seen := map[string]bool{}
		for j, m := range defs {
			def, ok := m.(map[string]any)
			if !ok {
				bad("directive %d: metric %d is not an object", i, j)
				continue
			}
			for k := range def {
				if k != "Name" && k != "Unit" && k != "StorageResolution" {
					bad("directive %d: metric %d has member %q the specification does not define", i, j, k)
				}
			}
			name, ok := def["Name"].(string)
			if !ok || name == "" || len(name) > 255 {
				bad("directive %d: metric %d Name %v is not a 1-255 character string", i, j, def["Name"])
				continue
			}
			if seen[name] {
				bad("directive %d: metric %q defined twice", i, name)
			}
			seen[name] = true
			if u, has := def["Unit"]; has {
				if s, ok := u.(string); !ok || !slices.Contains(validUnits, s) {
					bad("metric %q: Unit %v is not a CloudWatch unit", name, u)
				}
			}
			if r, has := def["StorageResolution"]; has {
				if n, ok := r.(json.Number); !ok || (n.String() != "1" && n.String() != "60") {
					bad("metric %q: StorageResolution %v is not 1 or 60", name, r)
				}
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					bad("metric %q: %d values; an array target holds 1 to 100", name, len(v))
				}
				for _, e := range v {
					if _, ok := e.(json.Number); !ok {
						bad("metric %q: value %v in its array is not a number", name, e)
					}
				}
			case nil:
				bad("metric %q has no target member on the root node", name)
			default:
				bad("metric %q: target %v is neither a number nor an array of numbers", name, v)
			}
		}
	}
	for _, d := range directives {
		dir, _ := d.(map[string]any)
		defs, _ := dir["Metrics"].([]any)
		for _, m := range defs {
			def, _ := m.(map[string]any)
			if name, _ := def["Name"].(string); dimNames[name] {
				bad("%q is both a dimension and a metric", name)
			}
		}
	}
	return p
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// TestValidatorCatchesBrokenLines guards the validator itself: each
// mutation of a good line breaks one rule, and the validator must say so.
func TestValidatorCatchesBrokenLines(t *testing.T) {
	good := `{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"ddbfleet","Dimensions":[["ExportId"],[]],"Metrics":[{"Name":"ItemsExported","Unit":"Count"},{"Name":"PartCommitLatency","Unit":"Milliseconds"}]}]},"ExportId":"e1","ItemsExported":5,"PartCommitLatency":[1.5,2]}` + "\n"
	require.Empty(t, validateEMF([]byte(good)))

	hundredOne := strings.TrimSuffix(strings.Repeat("1,", 101), ",")
	dims31 := strings.TrimSuffix(strings.Repeat(`"ExportId",`, 31), ",")
	cases := []struct{ name, from, to, want string }{
		{"no _aws", `"_aws"`, `"aws"`, `no "_aws"`},
		{"timestamp in seconds", `1767225600000`, `1767225600`, "epoch milliseconds"},
		{"timestamp as string", `1767225600000`, `"1767225600000"`, "not a number"},
		{"no namespace", `"Namespace":"ddbfleet",`, ``, "Namespace"},
		{"dimension missing on root", `"ExportId":"e1",`, ``, "no string target"},
		{"dimension not a string", `"ExportId":"e1"`, `"ExportId":7`, "no string target"},
		{"dimension non-ASCII", `"ExportId":"e1"`, `"ExportId":"é"`, "printable ASCII"},
		{"too many dimensions", `["ExportId"],[]`, `[` + dims31 + `]`, "at most 30"},
		{"metric missing on root", `,"ItemsExported":5`, ``, "no target member"},
		{"metric is a string", `"ItemsExported":5`, `"ItemsExported":"5"`, "neither a number"},
		{"bad unit", `"Unit":"Count"`, `"Unit":"Items"`, "not a CloudWatch unit"},
		{"too many values", `[1.5,2]`, `[` + hundredOne + `]`, "1 to 100"},
		{"empty values", `[1.5,2]`, `[]`, "1 to 100"},
		{"extra directive member", `"Namespace":"ddbfleet"`, `"Namespace":"ddbfleet","Region":"x"`, `member "Region"`},
		{"trailing data", "}\n", "} x\n", "after the JSON object"},
		{"two lines", "}\n", "}\n{}\n", "newline-terminated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, good, c.from, "test case does not apply to the good line")
			broken := strings.Replace(good, c.from, c.to, 1)
			p := validateEMF([]byte(broken))
			require.NotEmpty(t, p, "validator accepted %s", broken)
			require.Contains(t, strings.Join(p, "\n"), c.want)
		})
	}

	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprintf(`{"Name":"M%d"}`, i))
	}
	line := strings.Replace(good, `{"Name":"ItemsExported","Unit":"Count"}`, strings.Join(many, ","), 1)
	require.Contains(t, strings.Join(validateEMF([]byte(line)), "\n"), "at most 100")
}
