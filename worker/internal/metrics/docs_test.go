package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocsListEveryMetric keeps docs/metrics.md, which the CloudFormation
// tests also read to check the dashboard, in step with what is emitted:
// every metric with its unit and dimensions, and nothing else.
func TestDocsListEveryMetric(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "metrics.md"))
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `(\\w+)` \\| ([A-Za-z/]+) \\| ([^|]+) \\|")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(md), -1) {
		documented[m[1]] = [2]string{m[2], m[3]}
	}

	both := "`ExportId`; none"
	want := map[string][2]string{
		PartCommitLatency: {"Milliseconds", both},
		ReadCapacityCap:   {"Count/Second", "`ExportId`"},
	}
	for _, d := range counterMetrics {
		want[d.name] = [2]string{d.unit, both}
	}
	require.Equal(t, want, documented, "docs/metrics.md's table and the emitter disagree")
}
