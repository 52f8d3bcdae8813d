// Package clibuild builds the real coordinator and worker binaries for the
// deployment tests, so that the image test and the CloudFormation tests
// check what ships rather than a copy of the CLI contract.
package clibuild

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Packages are the import paths of the two binaries, keyed by binary name.
var Packages = map[string]string{
	"coordinator": "github.com/ddbfleet/ddbfleet/coordinator",
	"worker":      "github.com/ddbfleet/ddbfleet/worker",
}

// Binaries are the paths of freshly built binaries.
type Binaries struct {
	Coordinator string
	Worker      string
}

// Build compiles both binaries into dir exactly as `make build` does
// (static, CGO_ENABLED=0). A build failure fails the test: a deployment
// test that skipped because the product does not compile would hide the
// one failure that matters.
func Build(t testing.TB, dir string) Binaries {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not on PATH: %v", err)
	}
	out := map[string]string{}
	for name, pkg := range Packages {
		dst := filepath.Join(dir, name)
		cmd := exec.Command(goBin, "build", "-trimpath", "-o", dst, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, stderr.String())
		}
		out[name] = dst
	}
	return Binaries{Coordinator: out["coordinator"], Worker: out["worker"]}
}

// Help runs bin with args (ending in --help) and returns everything it
// printed. Help must exit 0: operators and ECS both rely on it.
func Help(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// A clean environment keeps the help text free of values picked up
	// from the developer's shell (urfave/cli prints env-derived defaults).
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}
