// Package verify owns the independent check of a finished export: it
// re-reads every data file the manifest lists, recomputes its MD5 and line
// count, and compares them with the manifest, the checksum files and the
// control table, and it flags anything under data/ that no manifest line
// names. It trusts nothing it did not re-read.
package verify

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
)

// Report is what verify found. OK is true only when Problems is empty.
type Report struct {
	ExportID string   `json:"exportId"`
	OK       bool     `json:"ok"`
	Files    int      `json:"files"`
	Items    int64    `json:"items"`
	Bytes    int64    `json:"bytes"`
	Problems []string `json:"problems"`
}

// Run verifies a COMPLETED export.
func Run(ctx context.Context, e *export.Export, parts []export.Part, obj *objstore.Store, concurrency int) (*Report, error) {
	rep := &Report{ExportID: e.ExportID, Problems: []string{}}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	root := e.Root()
	filesJSON := readChecked(ctx, obj, root+manifest.FilesName, root+manifest.FilesChecksumName, problem)
	summaryJSON := readChecked(ctx, obj, root+manifest.SummaryName, root+manifest.SummaryChecksumName, problem)
	if ok, err := obj.Exists(ctx, root+manifest.StartedName); err != nil {
		return nil, err
	} else if !ok {
		problem("%s is missing", manifest.StartedName)
	}
	if filesJSON == nil || summaryJSON == nil {
		return finish(rep), nil
	}
	files, err := manifest.ParseFiles(filesJSON)
	if err != nil {
		problem("%v", err)
		return finish(rep), nil
	}
	var summary manifest.Summary
	if err := json.Unmarshal(summaryJSON, &summary); err != nil {
		problem("manifest-summary.json: %v", err)
		return finish(rep), nil
	}

	// Manifest against the control table: same files, same sums.
	byKey := map[string]export.Part{}
	for _, p := range parts {
		byKey[p.Key] = p
	}
	var manifestItems int64
	listed := map[string]bool{}
	for _, f := range files {
		manifestItems += f.ItemCount
		if listed[f.DataFileS3Key] {
			problem("%s is listed twice in manifest-files.json", f.DataFileS3Key)
		}
		listed[f.DataFileS3Key] = true
		p, ok := byKey[f.DataFileS3Key]
		switch {
		case !ok:
			problem("%s is in the manifest but not recorded in the control table", f.DataFileS3Key)
		case p.MD5 != f.MD5Checksum || p.ItemCount != f.ItemCount:
			problem("%s: manifest says md5 %s and %d items, control table says %s and %d", f.DataFileS3Key, f.MD5Checksum, f.ItemCount, p.MD5, p.ItemCount)
		}
	}
	for k := range byKey {
		if !listed[k] {
			problem("%s is recorded in the control table but missing from the manifest", k)
		}
	}
	if summary.ItemCount != manifestItems {
		problem("manifest-summary.json itemCount %d, manifest files add up to %d", summary.ItemCount, manifestItems)
	}
	if e.ItemCount != manifestItems {
		problem("control table counted %d items, manifest files add up to %d", e.ItemCount, manifestItems)
	}
	if summary.ManifestFilesS3Key != root+manifest.FilesName || summary.S3Bucket != e.Bucket || summary.OutputFormat == "" {
		problem("manifest-summary.json does not describe this export (manifestFilesS3Key %q, s3Bucket %q)", summary.ManifestFilesS3Key, summary.S3Bucket)
	}
	if want := e.Format.OutputFormat(); summary.OutputFormat != want {
		problem("manifest-summary.json outputFormat is %q, the export was recorded as %s", summary.OutputFormat, want)
	}

	// Nothing extra under data/.
	objs, err := obj.List(ctx, e.DataPrefix())
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if !listed[o.Key] {
			problem("stray object %s is under data/ but not in the manifest", o.Key)
		}
	}

	// Every file re-read: MD5 of the bytes, and one valid item per line.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, f := range files {
		g.Go(func() error {
			sum, size, lines, err := readDataFile(gctx, obj, f.DataFileS3Key, e.Format)
			if err != nil {
				problem("%s: %v", f.DataFileS3Key, err)
				return nil
			}
			if got := base64.StdEncoding.EncodeToString(sum); got != f.MD5Checksum {
				problem("%s: MD5 of the object is %s, manifest says %s", f.DataFileS3Key, got, f.MD5Checksum)
			}
			if lines != f.ItemCount {
				problem("%s: holds %d items, manifest says %d", f.DataFileS3Key, lines, f.ItemCount)
			}
			mu.Lock()
			rep.Files++
			rep.Items += lines
			rep.Bytes += size
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return finish(rep), nil
}

func finish(r *Report) *Report {
	r.OK = len(r.Problems) == 0
	return r
}

// readChecked reads key and compares its MD5 with the hex in checksumKey.
func readChecked(ctx context.Context, obj *objstore.Store, key, checksumKey string, problem func(string, ...any)) []byte {
	body, err := readAll(ctx, obj, key)
	if err != nil {
		problem("%s: %v", key, err)
		return nil
	}
	sum, err := readAll(ctx, obj, checksumKey)
	if err != nil {
		problem("%s: %v", checksumKey, err)
		return body
	}
	if got := objstore.HexMD5(body); got != strings.TrimSpace(string(sum)) {
		problem("%s: MD5 is %s, %s says %s", key, got, checksumKey, strings.TrimSpace(string(sum)))
	}
	return body
}

func readAll(ctx context.Context, obj *objstore.Store, key string) ([]byte, error) {
	r, err := obj.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// readDataFile streams one object once: MD5 over the raw bytes and,
// decompressed as its name says (.gz, .zst, or none), a count of lines that
// each hold one item in the export's format.
func readDataFile(ctx context.Context, obj *objstore.Store, key string, format datafile.Format) (sum []byte, size, lines int64, err error) {
	if format == datafile.Parquet {
		return readParquetFile(ctx, obj, key)
	}
	r, err := obj.Get(ctx, key)
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.Close()
	h := md5.New()
	counted := &countingReader{r: io.TeeReader(r, h)}
	zr, err := datafile.NewReader(key, counted)
	if err != nil {
		return nil, 0, 0, err
	}
	defer zr.Close()
	sc := datafile.NewLineScanner(zr)
	for sc.Scan() {
		if err := datafile.CheckLine(format, sc.Bytes()); err != nil {
			return nil, 0, 0, fmt.Errorf("line %d is %w", lines+1, err)
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("read line %d: %w", lines+1, err)
	}
	// Drain what gzip did not need so the MD5 covers every byte.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return nil, 0, 0, err
	}
	return h.Sum(nil), counted.n, lines, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readParquetFile copies one Parquet object to a temporary file (its
// footer is at the end, so it cannot be read as a stream), hashing it on
// the way, and reads every row back, so a file that only looks right
// (a valid footer over damaged pages) does not verify.
func readParquetFile(ctx context.Context, obj *objstore.Store, key string) (sum []byte, size, rows int64, err error) {
	r, err := obj.Get(ctx, key)
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.Close()
	f, err := os.CreateTemp("", "ddbfleet-verify-*.parquet")
	if err != nil {
		return nil, 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := md5.New()
	if size, err = io.Copy(io.MultiWriter(f, h), r); err != nil {
		return nil, 0, 0, err
	}
	err = parquetfile.ReadItems(f, size, func(map[string]types.AttributeValue) error {
		rows++
		return nil
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read Parquet rows: %w", err)
	}
	return h.Sum(nil), size, rows, nil
}
