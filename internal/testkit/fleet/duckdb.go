package fleet

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// DuckDB runs SQL through scripts/duckdb/query.mjs. Without DuckDB the
// test skips, unless DDBFLEET_REQUIRE_DUCKDB=1 says a real engine is
// part of this run: then it fails.
func DuckDB(t *testing.T) func(sql string) []map[string]any {
	t.Helper()
	scripts, err := filepath.Abs(filepath.Join(repoRoot(t), "scripts", "duckdb"))
	require.NoError(t, err)
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("DDBFLEET_REQUIRE_DUCKDB") == "1" {
			t.Fatalf("DuckDB required (DDBFLEET_REQUIRE_DUCKDB=1) but unavailable: "+format, args...)
		}
		t.Skipf("DuckDB unavailable (set DDBFLEET_REQUIRE_DUCKDB=1 to fail instead): "+format, args...)
	}
	if _, err := exec.LookPath("node"); err != nil {
		unavailable("no node on PATH")
	}
	var stderr bytes.Buffer
	install := exec.Command("bash", filepath.Join(scripts, "install.sh"))
	install.Stderr = &stderr
	prefix, err := install.Output()
	if err != nil {
		unavailable("install.sh: %v: %s", err, stderr.String())
	}
	nodePath := filepath.Join(strings.TrimSpace(string(prefix)), "node_modules")
	return func(sql string) []map[string]any {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.Command("node", filepath.Join(scripts, "query.mjs"), sql)
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "query %s: %s", sql, stderr.String())
		var rows []map[string]any
		require.NoError(t, json.Unmarshal(out, &rows), "query output %s", out)
		return rows
	}
}

// repoRoot is the module root, found from the working directory (a
// test's is its package folder).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "no go.mod above the test's folder")
		dir = parent
	}
}
