// Command imagebuild assembles the ddbfleet container image without a
// container engine: one layer holding both static binaries, CA
// certificates and a non-root user, written as an OCI image layout packed
// into a tar file (what `skopeo copy oci-archive:…` and `crane push` read).
//
// It exists because the build machines have no Docker daemon and cannot
// pull a base image; the result matches deployments/Dockerfile (distroless
// static, nonroot) closely enough that either can be pushed to ECR.
//
//	go run ./deployments/imagebuild -coordinator bin/coordinator \
//	    -worker bin/worker -out bin/ddbfleet-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image; the CloudFormation task definitions
// and the README refer to these.
const (
	CoordinatorPath = "/usr/local/bin/coordinator"
	WorkerPath      = "/usr/local/bin/worker"
	CACertPath      = "/etc/ssl/certs/ca-certificates.crt"
	// NonrootUID matches distroless's nonroot user so the Dockerfile image
	// and this one run as the same uid.
	NonrootUID = 65532
)

// Options say what goes into the image.
type Options struct {
	Coordinator string // path of the coordinator binary on this machine
	Worker      string // path of the worker binary on this machine
	CACerts     string // PEM bundle copied to CACertPath
	Out         string // tar file to write
	Name        string // image reference recorded in the layout, e.g. ddbfleet:latest
	Version     string // org.opencontainers.image.version label
	Revision    string // org.opencontainers.image.revision label
	Created     time.Time
}

func main() {
	var o Options
	flag.StringVar(&o.Coordinator, "coordinator", "bin/coordinator", "coordinator binary")
	flag.StringVar(&o.Worker, "worker", "bin/worker", "worker binary")
	flag.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle to include")
	flag.StringVar(&o.Out, "out", "bin/ddbfleet-image.tar", "OCI archive to write")
	flag.StringVar(&o.Name, "name", "ddbfleet:latest", "image name:tag recorded in the archive")
	flag.StringVar(&o.Version, "version", "dev", "version label")
	flag.StringVar(&o.Revision, "revision", "", "source revision label")
	flag.Parse()
	o.Created = sourceDateEpoch()
	if err := Build(o); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	fmt.Println(o.Out)
}

// sourceDateEpoch honours SOURCE_DATE_EPOCH so that two builds of the same
// binaries give the same image digest; without it the epoch is used.
func sourceDateEpoch() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

// Build writes the image archive described by o.
func Build(o Options) error {
	arch, err := staticArch(o.Coordinator)
	if err != nil {
		return err
	}
	warch, err := staticArch(o.Worker)
	if err != nil {
		return err
	}
	if arch != warch {
		return fmt.Errorf("coordinator is %s but worker is %s: build both for one architecture", arch, warch)
	}
	layerTar, err := rootfs(o)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("make layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "ddbfleet imagebuild", Comment: "coordinator, worker, CA certificates, nonroot user"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", NonrootUID, NonrootUID),
		Entrypoint: []string{WorkerPath},
		Cmd:        []string{"run"},
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"SSL_CERT_FILE=" + CACertPath,
		},
		// The worker drains on SIGTERM; say so for engines that honour it.
		StopSignal: "SIGTERM",
		Labels:     labels(o),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	return writeArchive(img, o)
}

func labels(o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "ddbfleet",
		"org.opencontainers.image.description": "Parallel DynamoDB export fleet: coordinator and worker (entrypoint worker run)",
		"org.opencontainers.image.source":      "https://github.com/ddbfleet/ddbfleet",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// staticArch returns the GOARCH of a Linux ELF binary and refuses one that
// needs a dynamic loader: there is none in the image, and the failure would
// otherwise only show as "no such file or directory" on ECS.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s is not a Linux binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked; build with CGO_ENABLED=0", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	default:
		return "", fmt.Errorf("%s: unsupported machine %s", path, f.Machine)
	}
}

// rootfs builds the single layer's uncompressed tar.
func rootfs(o Options) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := o.Created
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mt, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mt, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return b, nil
	}
	coord, err := read(o.Coordinator)
	if err != nil {
		return nil, err
	}
	work, err := read(o.Worker)
	if err != nil {
		return nil, err
	}
	ca, err := read(o.CACerts)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		return nil, fmt.Errorf("%s holds no PEM certificates", o.CACerts)
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
				fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonrootUID, NonrootUID)))
		},
		func() error {
			return file("etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonrootUID)))
		},
		// Go's resolver reads this to prefer /etc/hosts before DNS.
		func() error { return file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(CACertPath, "/"), 0o644, ca) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, NonrootUID) },
		// os.TempDir must be writable for anything that spills to disk.
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(CoordinatorPath, "/"), 0o755, coord) },
		func() error { return file(strings.TrimPrefix(WorkerPath, "/"), 0o755, work) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeArchive writes img as an OCI image layout and packs that directory
// into o.Out. The layout is staged in a temporary directory because
// go-containerregistry writes layouts to a filesystem path.
func writeArchive(img v1.Image, o Options) error {
	stage, err := os.MkdirTemp("", "ddbfleet-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	p, err := layout.Write(stage, empty.Index)
	if err != nil {
		return fmt.Errorf("create OCI layout: %w", err)
	}
	tag := o.Name
	if i := strings.LastIndex(tag, ":"); i >= 0 && !strings.Contains(tag[i:], "/") {
		tag = tag[i+1:]
	}
	// ref.name is the OCI way to name the image (skopeo, crane); the
	// containerd key lets `docker load` of an OCI archive tag it too.
	if err := p.AppendImage(img,
		layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag,
			"io.containerd.image.name":          o.Name,
		}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: mustArch(img)}),
	); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	tmp := o.Out + ".tmp"
	if err := tarDir(stage, tmp, o.Created); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, o.Out)
}

func mustArch(img v1.Image) string {
	cf, err := img.ConfigFile()
	if err != nil {
		return ""
	}
	return cf.Architecture
}

// tarDir packs root into the tar file out, in lexical order with fixed
// times so equal inputs give equal archives.
func tarDir(root, out string, mt time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mt, Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
			return tw.WriteHeader(hdr)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("unexpected non-regular file %s in OCI layout", rel)
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	return errors.Join(walkErr, tw.Close(), f.Close())
}
