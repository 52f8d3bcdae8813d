package verify_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/verify"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// fixture is a finished export laid out in an in-memory S3 exactly as
// lifecycle writes it, so each test can damage one thing and see verify
// name it.
type fixture struct {
	ctx   context.Context
	obj   *objstore.Store
	exp   *export.Export
	parts []export.Part
}

func gz(t *testing.T, lines ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	for _, l := range lines {
		_, err := w.Write([]byte(l + "\n"))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func item(pk string) string { return fmt.Sprintf(`{"Item":{"pk":{"S":%q}}}`, pk) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureAs(t, "", "")
}

// newFixtureAs lays out the fixture in another format and compression.
func newFixtureAs(t *testing.T, format datafile.Format, comp datafile.Compression) *fixture {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	ctx := context.Background()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("exports")})
	require.NoError(t, err)
	f := &fixture{
		ctx: ctx,
		obj: objstore.New(client, "exports", objstore.DefaultOptions),
		exp: &export.Export{
			ExportID: "01HEXPORT", Table: "orders", TableARN: "arn:aws:dynamodb:us-east-1:1:table/orders",
			Bucket: "exports", Prefix: "backups", SegmentsTotal: 2, State: export.Completed,
			StartTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			Format:    format, Compression: comp,
		},
	}
	encode := func(lines []string) []byte { return gz(t, lines...) }
	if comp.OrDefault() != datafile.Gzip {
		encode = func(lines []string) []byte {
			var buf bytes.Buffer
			w, err := datafile.NewWriter(&buf, comp, 5)
			require.NoError(t, err)
			for _, l := range lines {
				_, err := w.Write([]byte(l + "\n"))
				require.NoError(t, err)
			}
			require.NoError(t, w.Close())
			return buf.Bytes()
		}
	}
	item := item
	if format == datafile.JSON {
		item = func(pk string) string { return fmt.Sprintf(`{"pk":%q}`, pk) }
	}
	files := map[[2]int][]string{
		{0, 0}: {item("a"), item("b")},
		{0, 1}: {item("c")},
		{1, 0}: {item("d"), item("e")},
	}
	for sp, lines := range files {
		key := f.exp.PartKey(sp[0], sp[1], 1)
		info, err := f.obj.Put(ctx, key, encode(lines), "")
		require.NoError(t, err)
		f.parts = append(f.parts, export.Part{
			Segment: sp[0], Part: sp[1], Attempt: 1, Key: key, ItemCount: int64(len(lines)),
			MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes,
		})
		f.exp.ItemCount += int64(len(lines))
		f.exp.Parts++
	}
	root := f.exp.Root()
	filesJSON := manifest.BuildFiles(f.parts)
	summary, _ := manifest.BuildSummary(f.exp, f.parts, f.exp.StartTime.Add(time.Minute))
	for key, body := range map[string][]byte{
		root + manifest.StartedName:         nil,
		root + manifest.FilesName:           filesJSON,
		root + manifest.FilesChecksumName:   []byte(objstore.HexMD5(filesJSON)),
		root + manifest.SummaryName:         summary,
		root + manifest.SummaryChecksumName: []byte(objstore.HexMD5(summary)),
	} {
		_, err := f.obj.Put(ctx, key, body, "")
		require.NoError(t, err)
	}
	return f
}

func (f *fixture) run(t *testing.T) *verify.Report {
	t.Helper()
	rep, err := verify.Run(f.ctx, f.exp, f.parts, f.obj, 2)
	require.NoError(t, err)
	require.Equal(t, len(rep.Problems) == 0, rep.OK)
	return rep
}

// requireProblem fails unless exactly one problem mentions every part.
func requireProblem(t *testing.T, rep *verify.Report, parts ...string) {
	t.Helper()
	require.False(t, rep.OK)
	require.Len(t, rep.Problems, 1, "%q", rep.Problems)
	for _, p := range parts {
		require.Contains(t, rep.Problems[0], p)
	}
}

func TestIntactExportVerifies(t *testing.T) {
	f := newFixture(t)
	rep := f.run(t)
	require.True(t, rep.OK, "%q", rep.Problems)
	require.Equal(t, "01HEXPORT", rep.ExportID)
	require.Equal(t, 3, rep.Files)
	require.EqualValues(t, 5, rep.Items)
	var bytes int64
	for _, p := range f.parts {
		bytes += p.Bytes
	}
	require.Equal(t, bytes, rep.Bytes)
}

func TestCorruptedDataFileIsDetected(t *testing.T) {
	f := newFixture(t)
	// Same number of valid items, different bytes: only the MD5 can tell.
	key := f.exp.PartKey(1, 0, 1)
	_, err := f.obj.Put(f.ctx, key, gz(t, item("d"), item("X")), "")
	require.NoError(t, err)
	requireProblem(t, f.run(t), key, "MD5 of the object is")
}

func TestTruncatedDataFileIsDetected(t *testing.T) {
	f := newFixture(t)
	key := f.exp.PartKey(0, 1, 1)
	good := gz(t, item("c"))
	_, err := f.obj.Put(f.ctx, key, good[:len(good)-6], "")
	require.NoError(t, err)
	rep := f.run(t)
	require.False(t, rep.OK)
	require.Contains(t, strings.Join(rep.Problems, "\n"), key)
}

func TestWrongItemCountIsDetected(t *testing.T) {
	f := newFixture(t)
	// A file whose MD5 the manifest agrees with but that holds an item
	// fewer than recorded: rewrite file, manifest and control table alike.
	key := f.exp.PartKey(0, 0, 1)
	info, err := f.obj.Put(f.ctx, key, gz(t, item("a")), "")
	require.NoError(t, err)
	for i := range f.parts {
		if f.parts[i].Key == key {
			f.parts[i].MD5 = info.MD5Base64()
		}
	}
	root := f.exp.Root()
	filesJSON := manifest.BuildFiles(f.parts)
	_, err = f.obj.Put(f.ctx, root+manifest.FilesName, filesJSON, "")
	require.NoError(t, err)
	_, err = f.obj.Put(f.ctx, root+manifest.FilesChecksumName, []byte(objstore.HexMD5(filesJSON)), "")
	require.NoError(t, err)
	requireProblem(t, f.run(t), key, "holds 1 items, manifest says 2")
}

func TestStrayObjectIsDetected(t *testing.T) {
	f := newFixture(t)
	stray := f.exp.PartKey(0, 0, 2) // a dead attempt's leftover
	_, err := f.obj.Put(f.ctx, stray, gz(t, item("a")), "")
	require.NoError(t, err)
	requireProblem(t, f.run(t), "stray object", stray)
}

func TestManifestChecksumMismatchIsDetected(t *testing.T) {
	f := newFixture(t)
	_, err := f.obj.Put(f.ctx, f.exp.Root()+manifest.SummaryChecksumName, []byte("0123456789abcdef0123456789abcdef"), "")
	require.NoError(t, err)
	requireProblem(t, f.run(t), manifest.SummaryName, manifest.SummaryChecksumName)
}

func TestControlTableDisagreementIsDetected(t *testing.T) {
	f := newFixture(t)
	f.exp.ItemCount++
	requireProblem(t, f.run(t), "control table counted 6 items, manifest files add up to 5")

	f = newFixture(t)
	f.parts = f.parts[:2]
	rep := f.run(t)
	require.False(t, rep.OK)
	require.Contains(t, strings.Join(rep.Problems, "\n"), "is in the manifest but not recorded in the control table")
}

func TestMissingStartedMarkerIsDetected(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.obj.Delete(f.ctx, f.exp.Root()+manifest.StartedName))
	requireProblem(t, f.run(t), manifest.StartedName)
}

func TestEveryFormatAndCompressionVerifies(t *testing.T) {
	for _, c := range []struct {
		format datafile.Format
		comp   datafile.Compression
	}{{datafile.JSON, datafile.Zstd}, {datafile.JSON, datafile.None}, {datafile.DynamoDBJSON, datafile.None}, {datafile.DynamoDBJSON, datafile.Zstd}} {
		f := newFixtureAs(t, c.format, c.comp)
		rep := f.run(t)
		require.True(t, rep.OK, "%s %s: %q", c.format, c.comp, rep.Problems)
		require.EqualValues(t, 5, rep.Items)
		require.True(t, strings.HasSuffix(f.parts[0].Key, datafile.Suffix(c.format, c.comp)), f.parts[0].Key)
	}
}

func TestLinesOfTheWrongFormatAreNamed(t *testing.T) {
	f := newFixtureAs(t, datafile.JSON, datafile.None)
	// The control table says JSON, but a file holds DynamoDB JSON lines:
	// still objects, so verify accepts them as JSON lines...
	rep := f.run(t)
	require.True(t, rep.OK, "%q", rep.Problems)
	// ...whereas a DynamoDB JSON export whose file holds plain objects is
	// refused line by line.
	f = newFixtureAs(t, datafile.DynamoDBJSON, datafile.None)
	key := f.exp.PartKey(0, 0, 1)
	body := []byte("{\"pk\":\"a\"}\n{\"pk\":\"b\"}\n")
	info, err := f.obj.Put(f.ctx, key, body, "")
	require.NoError(t, err)
	for i := range f.parts {
		if f.parts[i].Key == key {
			f.parts[i].MD5 = info.MD5Base64()
		}
	}
	rep = f.run(t)
	require.False(t, rep.OK)
	require.Contains(t, strings.Join(rep.Problems, "\n"), `line 1 is not a {"Item":…} JSON object`)
}

func TestSummaryOutputFormatMustMatchTheExport(t *testing.T) {
	f := newFixtureAs(t, datafile.JSON, datafile.Gzip)
	f.exp.Format = datafile.DynamoDBJSON // recorded one way, summary says another
	rep := f.run(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Problems, `manifest-summary.json outputFormat is "JSON", the export was recorded as DYNAMODB_JSON`)
}
