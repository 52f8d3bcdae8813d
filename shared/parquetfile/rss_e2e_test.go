//go:build e2e

package parquetfile

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/klauspost/compress/gzip"
)

// TestFourSegmentsStayUnder256MiB checks DefaultRowGroupBytes against the
// worker's memory target, 256 MiB with 4 segments at once. It runs the
// same harness twice, each in a child process so ru_maxrss is that
// workload's alone: 4 goroutines writing 250k ~1 KB items each, into an
// uploader holding (2+1) parts of 8 MiB as feature/s3/manager does at the
// worker's defaults, once as gzip'd DynamoDB JSON (what the worker writes
// today, measured at 169 MiB for the real worker in docs/performance.md),
// once as Parquet with part files cut at 128 MiB. The harness is not the
// worker (it reads no Scan pages, it makes its items), so what is checked
// is the difference: Parquet may cost at most what the JSON path leaves
// free under 256 MiB.
func TestFourSegmentsStayUnder256MiB(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	if format := os.Getenv("DDBFLEET_PARQUET_RSS_CHILD"); format != "" {
		fourSegments(t, format)
		return
	}
	rss := func(format string) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFourSegmentsStayUnder256MiB$")
		cmd.Env = append(os.Environ(), "DDBFLEET_PARQUET_RSS_CHILD="+format)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	}
	const workerJSON, target = 169 << 20, 256 << 20
	jsonRSS, parquetRSS := rss("json"), rss("parquet")
	t.Logf("4 segments: peak RSS %d MiB as DynamoDB JSON, %d MiB as Parquet (RowGroupBytes %d MiB): Parquet costs %d MiB more, %d MiB allowed",
		jsonRSS>>20, parquetRSS>>20, DefaultRowGroupBytes>>20, (parquetRSS-jsonRSS)>>20, (target-workerJSON)>>20)
	require.Less(t, parquetRSS-jsonRSS, int64(target-workerJSON))
}

func fourSegments(t *testing.T, format string) {
	schema, err := InferSchema(pkSK, benchSample(), InferOptions{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for seg := range 4 {
		wg.Go(func() {
			up := newPartUploader()
			if format == "json" {
				zw, err := gzip.NewWriterLevel(up, 5) // the worker's codec and default level (datafile imports this package)
				require.NoError(t, err)
				var line []byte
				for i := range 250_000 {
					line, err = ddbjson.AppendItemLine(line[:0], sampledata.BenchItem(seg*1_000_000+i))
					require.NoError(t, err)
					_, err = zw.Write(line)
					require.NoError(t, err)
				}
				require.NoError(t, zw.Close())
				return
			}
			w, err := NewWriter(up, schema, Options{})
			require.NoError(t, err)
			for i := range 250_000 {
				require.NoError(t, w.Write(sampledata.BenchItem(seg*1_000_000+i)))
				if w.Written()+w.Buffered() >= 128<<20 {
					require.NoError(t, w.Close())
					w, err = NewWriter(up, schema, Options{})
					require.NoError(t, err)
				}
			}
			require.NoError(t, w.Close())
		})
	}
	wg.Wait()
}

// partUploader stands in for a multipart upload: it owns three 8 MiB part
// buffers and cycles through them.
type partUploader struct {
	parts [3][]byte
	cur   int
}

func newPartUploader() *partUploader {
	u := &partUploader{}
	for i := range u.parts {
		u.parts[i] = make([]byte, 0, 8<<20)
	}
	return u
}

func (u *partUploader) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		part := u.parts[u.cur]
		k := min(len(p), cap(part)-len(part))
		part = append(part, p[:k]...)
		p = p[k:]
		if len(part) == cap(part) {
			clear(part) // touch every page, as a real part buffer is
			part = part[:0]
			u.parts[u.cur] = part
			u.cur = (u.cur + 1) % len(u.parts)
			continue
		}
		u.parts[u.cur] = part
	}
	return n, nil
}
