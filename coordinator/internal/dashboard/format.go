package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// These formatters have twins in static/dashboard.js (the page re-renders
// itself from the JSON); keep the two in step.
var funcs = template.FuncMap{
	"count":    formatCount,
	"bytes":    formatBytes,
	"duration": formatDuration,
	"eta":      formatETA,
	"rcu":      formatRCU,
	"time":     formatTime,
	"lower":    strings.ToLower,
	"terminal": Terminal,
	"percent":  percent,
	"fields":   summaryFields,
	"cellTitle": func(s Segment) string {
		t := fmt.Sprintf("segment %d · %s · %s items · %d attempt%s", s.Segment, s.State, formatCount(s.Items), s.Attempts, plural(s.Attempts))
		if s.State == SegmentRunning && !s.LeaseLive {
			t += " · lease expired"
		}
		if s.LastError != "" {
			t += " · last error: " + s.LastError
		}
		return t
	},
	"leaseAttr": func(s Segment) string {
		if s.State != SegmentRunning {
			return ""
		}
		if s.LeaseLive {
			return "live"
		}
		return "expired"
	},
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
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

// formatBytes uses decimal units, like `status` (MB = 10^6 bytes).
func formatBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for math.Abs(f) >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// formatDuration is compact and stable in width: 45s, 3m 05s, 2h 07m, 3d 04h.
func formatDuration(seconds float64) string {
	s := int64(math.Round(max(0, seconds)))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %02dh", s/86400, s%86400/3600)
}

func formatETA(v JobView) string {
	switch {
	case v.Terminal:
		return "—"
	case v.ETASeconds == nil:
		return "unknown yet"
	}
	return formatDuration(*v.ETASeconds)
}

func formatRCU(cap float64) string {
	if cap <= 0 {
		return "uncapped"
	}
	return strconv.FormatFloat(cap, 'f', -1, 64) + " RCU/s"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func percent(done, total int) int {
	if total <= 0 {
		return 0
	}
	return int(math.Floor(float64(done) * 100 / float64(total)))
}

// summaryField is one top-level member of the manifest summary.
type summaryField struct{ Key, Value string }

// summaryFields lists the summary's top-level members in file order
// (a Go map would sort them), strings as they are and anything else as
// compact JSON.
func summaryFields(raw json.RawMessage) []summaryField {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []summaryField
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			var c bytes.Buffer
			if json.Compact(&c, v) == nil {
				s = c.String()
			} else {
				s = string(v)
			}
		}
		out = append(out, summaryField{key, s})
	}
	return out
}
