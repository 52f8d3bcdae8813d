package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/ddbfleet/ddbfleet/deployments/internal/clibuild"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImageFromRealBinaries is what `make image` ships: the real binaries,
// packed, read back, and run from inside the image's filesystem.
func TestImageFromRealBinaries(t *testing.T) {
	bins := clibuild.Build(t, t.TempDir())
	img := buildAndOpen(t, bins.Coordinator, bins.Worker)
	files := assertImageShape(t, img)

	dir := t.TempDir()
	for path, want := range map[string]*regexp.Regexp{
		WorkerPath:      regexp.MustCompile(`\brun\b`),
		CoordinatorPath: regexp.MustCompile(`\bexport\b`),
	} {
		exe := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(exe, files[path].data, 0o755); err != nil {
			t.Fatal(err)
		}
		out := clibuild.Help(t, exe, "--help")
		if !want.MatchString(out) {
			t.Errorf("%s --help does not mention %s:\n%s", path, want, out)
		}
	}
}

// TestImageShape checks the assembly itself with stand-in static binaries,
// so a broken image builder shows up even while the CLI does not compile.
func TestImageShape(t *testing.T) {
	stub := buildStub(t)
	img := buildAndOpen(t, stub, stub)
	files := assertImageShape(t, img)
	out, err := exec.Command(writeExe(t, files[WorkerPath].data), "--help").CombinedOutput()
	if err != nil || string(out) != "stub --help\n" {
		t.Fatalf("extracted worker does not run: %v %q", err, out)
	}
}

func TestBuildRefusesDynamicBinary(t *testing.T) {
	// /bin/sh is dynamically linked on every Debian-like build machine;
	// if not, there is nothing to refuse here.
	if _, err := staticArch("/bin/sh"); err == nil {
		t.Skip("/bin/sh is static on this machine")
	}
	err := Build(Options{Coordinator: "/bin/sh", Worker: "/bin/sh", CACerts: "/etc/ssl/certs/ca-certificates.crt", Out: filepath.Join(t.TempDir(), "x.tar")})
	if err == nil {
		t.Fatal("Build accepted a dynamically linked binary; it would not start in the image")
	}
}

func TestBuildIsReproducible(t *testing.T) {
	stub := buildStub(t)
	digest := func() v1.Hash {
		h, err := buildAndOpen(t, stub, stub).Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if a, b := digest(), digest(); a != b {
		t.Fatalf("two builds of the same inputs differ: %s vs %s", a, b)
	}
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

func buildAndOpen(t *testing.T, coordinator, worker string) v1.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	err := Build(Options{
		Coordinator: coordinator, Worker: worker,
		CACerts: "/etc/ssl/certs/ca-certificates.crt",
		Out:     out, Name: "ddbfleet:test", Version: "test",
		Created: time.Unix(0, 0).UTC(),
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	dir := t.TempDir()
	untar(t, out, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("archive is not an OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("want one image in the archive, got %d", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", d.MediaType)
	}
	if d.Annotations["org.opencontainers.image.ref.name"] != "test" {
		t.Errorf("ref.name annotation = %q", d.Annotations["org.opencontainers.image.ref.name"])
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertImageShape checks config and filesystem and returns the files.
func assertImageShape(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{WorkerPath}) {
		t.Errorf("entrypoint %q, want [%s]", c.Entrypoint, WorkerPath)
	}
	if !slices.Equal(c.Cmd, []string{"run"}) {
		t.Errorf("cmd %q, want [run]", c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if c.Labels["org.opencontainers.image.title"] != "ddbfleet" {
		t.Errorf("labels %v", c.Labels)
	}

	files := map[string]entry{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+filepath.Clean(h.Name)] = entry{hdr: h, data: b}
	}
	for _, p := range []string{CoordinatorPath, WorkerPath} {
		e, ok := files[p]
		if !ok {
			t.Fatalf("%s missing from image", p)
		}
		if e.hdr.Mode&0o111 == 0 {
			t.Errorf("%s is not executable (mode %o)", p, e.hdr.Mode)
		}
	}
	if ca, ok := files[CACertPath]; !ok || len(ca.data) == 0 {
		t.Errorf("%s missing or empty", CACertPath)
	}
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).Match(files["/etc/passwd"].data) {
		t.Errorf("/etc/passwd lacks the nonroot user:\n%s", files["/etc/passwd"].data)
	}
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:`).Match(files["/etc/group"].data) {
		t.Errorf("/etc/group lacks the nonroot group:\n%s", files["/etc/group"].data)
	}
	if h := files["/home/nonroot"].hdr; h == nil || h.Uid != 65532 {
		t.Errorf("/home/nonroot not owned by nonroot")
	}
	return files
}

// buildStub compiles a tiny static program standing in for both binaries.
func buildStub(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() { fmt.Println(\"stub\", os.Args[1]) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module stub\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", "stub", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stub: %v\n%s", err, out)
	}
	return filepath.Join(dir, "stub")
}

func writeExe(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exe")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func untar(t *testing.T, archive, dst string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s in archive", h.Name)
		}
	}
}
