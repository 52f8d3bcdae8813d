package parquetfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
)

// tailFile keeps the start and the end of what is written to it: enough
// to open a file's footer without holding the file, so the test measures
// the writer's memory, not the output's.
type tailFile struct {
	head []byte
	tail []byte
	size int64 // bytes written
	keep int
}

func (f *tailFile) Write(p []byte) (int, error) {
	if len(f.head) < 4096 {
		f.head = append(f.head, p[:min(len(p), 4096-len(f.head))]...)
	}
	f.tail = append(f.tail, p...)
	if len(f.tail) > 2*f.keep {
		// Shift within the same array: no garbage for the heap figures.
		n := copy(f.tail, f.tail[len(f.tail)-f.keep:])
		f.tail = f.tail[:n]
	}
	f.size += int64(len(p))
	return len(p), nil
}

func (f *tailFile) ReadAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end <= int64(len(f.head)) {
		return copy(p, f.head[off:end]), nil
	}
	start := f.size - int64(len(f.tail))
	if off < start || off+int64(len(p)) > f.size {
		return 0, fmt.Errorf("read of %d bytes at %d: only the first %d and the last %d bytes are kept", len(p), off, len(f.head), len(f.tail))
	}
	return copy(p, f.tail[off-start:]), nil
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// liveHeap is the heap still reachable: what the writer holds, without
// the garbage a collection would free.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func benchSample() []item {
	sample := make([]item, 1000)
	for i := range sample {
		sample[i] = sampledata.BenchItem(i)
	}
	return sample
}

// TestWriterMemoryIsBoundedByRowGroupBytes writes ~250 MB of items and
// checks that row groups are cut by bytes, that the heap stays near what
// RowGroupBytes allows instead of growing with the items written, and that
// the footer stays small.
func TestWriterMemoryIsBoundedByRowGroupBytes(t *testing.T) {
	for _, tc := range []struct {
		rowGroupBytes int64
		items         int
	}{
		{1 << 20, 300_000},
		{DefaultRowGroupBytes, 150_000},
	} {
		t.Run(fmt.Sprintf("%dMiB", tc.rowGroupBytes>>20), func(t *testing.T) {
			if testing.Short() {
				tc.items /= 10
			}
			testWriterMemory(t, tc.rowGroupBytes, tc.items)
		})
	}
}

func testWriterMemory(t *testing.T, rowGroupBytes int64, items int) {
	schema, err := InferSchema(pkSK, benchSample(), InferOptions{})
	require.NoError(t, err)

	out := &tailFile{keep: 1 << 20, tail: make([]byte, 0, 3<<20)}
	w, err := NewWriter(out, schema, Options{RowGroupBytes: rowGroupBytes})
	require.NoError(t, err)
	baseLive := liveHeap()
	base := heapInuse()
	peak, peakLive := base, baseLive
	var raw int64
	var trajectory []uint64
	for i := range items {
		it := sampledata.BenchItem(i)
		if i%1000 == 0 {
			raw += approxSize(it) * 1000
			peak = max(peak, heapInuse())
			require.LessOrEqual(t, w.Buffered(), rowGroupBytes+batchBytes, "the open row group is cut in time")
		}
		if i == items/2 {
			// Finished row groups reach w as they are cut, not at Close.
			require.Equal(t, out.size, w.Written())
			require.Greater(t, w.Written(), int64(items/4)*200, "half the items, most of their bytes already in w")
		}
		if i%(items/10) == items/20 {
			live := liveHeap()
			peakLive = max(peakLive, live)
			trajectory = append(trajectory, (live-baseLive)>>10)
		}
		require.NoError(t, w.Write(it))
	}
	require.NoError(t, w.Close())
	stats := w.Stats()

	f, err := parquet.OpenFile(out, out.size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	require.NoError(t, err)
	md := f.Metadata()
	require.Equal(t, int64(items), md.NumRows)
	require.Equal(t, stats.RowGroups, len(md.RowGroups))
	var tail [8]byte
	_, err = out.ReadAt(tail[:], out.size-8)
	require.NoError(t, err)
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))

	growth := int64(peak) - int64(base)
	liveGrowth := int64(peakLive) - int64(baseLive)
	t.Logf("%d items, ~%d MB of items, %d MB file, %d row groups, footer %d KB (%d B per row group); RowGroupBytes %d MiB: live heap growth %.1f MiB (KiB at each tenth: %v), heap in use growth %.1f MiB",
		items, raw>>20, out.size>>20, len(md.RowGroups), footer>>10, footer/int64(len(md.RowGroups)), rowGroupBytes>>20,
		float64(liveGrowth)/(1<<20), trajectory, float64(growth)/(1<<20))

	// Cut by bytes: every row group but the last is about RowGroupBytes
	// of compressed data (pages still unencoded when the group is cut
	// shrink once compressed, hence the lower bound's slack).
	for i, rg := range md.RowGroups[:len(md.RowGroups)-1] {
		require.LessOrEqual(t, rg.TotalCompressedSize, rowGroupBytes+256<<10, "row group %d", i)
		require.GreaterOrEqual(t, rg.TotalCompressedSize, rowGroupBytes/4, "row group %d", i)
	}
	require.GreaterOrEqual(t, int64(len(md.RowGroups)), out.size/(rowGroupBytes+256<<10))
	// Memory: docs/parquet.md's formula, 1.5×RowGroupBytes + 2 MiB, plus
	// the page index kept for the footer (~150 B per page). Nothing may
	// grow with the items: ~250 MB went through.
	require.Less(t, liveGrowth, rowGroupBytes*3/2+4<<20, "live heap")
	// Heap in use adds the garbage between collections (GOGC=100).
	require.Less(t, growth, 3*rowGroupBytes+24<<20, "heap in use")
	// The footer is one column chunk entry per leaf per row group.
	require.Less(t, footer/int64(len(md.RowGroups)), int64(3<<10))
}

// approxSize is an item's size as DynamoDB counts it, roughly: names plus
// values.
func approxSize(it item) int64 {
	var n int64
	for k, v := range it {
		n += int64(len(k))
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += int64(len(v.Value))
		case *types.AttributeValueMemberN:
			n += int64(len(v.Value))
		case *types.AttributeValueMemberB:
			n += int64(len(v.Value))
		default:
			n += 16
		}
	}
	return n
}

// BenchmarkWrite measures the writer on ~1 KB order-like items.
func BenchmarkWrite(b *testing.B) {
	sample := benchSample()
	schema, err := InferSchema(pkSK, sample, InferOptions{})
	require.NoError(b, err)
	for _, c := range []Compression{Snappy, Zstd} {
		b.Run(string(c), func(b *testing.B) {
			w, err := NewWriter(io.Discard, schema, Options{Compression: c})
			require.NoError(b, err)
			b.SetBytes(approxSize(sample[0]))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := w.Write(sample[i%len(sample)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			require.NoError(b, w.Close())
		})
	}
}
