package datafile_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

func TestEveryCompressionRoundTripsAndIsNamedBySuffix(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "a"},
		"n":  &types.AttributeValueMemberN{Value: "1.50"},
	}
	for _, c := range []struct {
		comp   datafile.Compression
		format datafile.Format
		suffix string
		line   string
	}{
		{"", "", ".json.gz", `{"Item":{"n":{"N":"1.50"},"pk":{"S":"a"}}}`},
		{datafile.Gzip, datafile.JSON, ".json.gz", `{"n":1.5,"pk":"a"}`},
		{datafile.Zstd, datafile.JSON, ".json.zst", `{"n":1.5,"pk":"a"}`},
		{datafile.None, datafile.DynamoDBJSON, ".json", `{"Item":{"n":{"N":"1.50"},"pk":{"S":"a"}}}`},
	} {
		suffix := datafile.Suffix(c.format, c.comp)
		require.Equal(t, c.suffix, suffix)
		require.Equal(t, c.comp.OrDefault(), datafile.CompressionOf("data/s000000-000000-a1"+suffix))

		var buf bytes.Buffer
		w, err := datafile.NewWriter(&buf, c.comp, 5)
		require.NoError(t, err)
		var line []byte
		for range 3 {
			line, err = datafile.AppendLine(c.format, line[:0], item)
			require.NoError(t, err)
			_, err = w.Write(line)
			require.NoError(t, err)
		}
		require.NoError(t, w.Close())

		r, err := datafile.NewReader("x"+suffix, bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		sc := datafile.NewLineScanner(r)
		n := 0
		for sc.Scan() {
			require.Equal(t, c.line, sc.Text())
			require.NoError(t, datafile.CheckLine(c.format, sc.Bytes()))
			n++
		}
		require.NoError(t, sc.Err())
		require.NoError(t, r.Close())
		require.Equal(t, 3, n)
	}
}

func TestDefaultsAreTheNativeExportsGzipDynamoDBJSON(t *testing.T) {
	f, err := datafile.ParseFormat("")
	require.NoError(t, err)
	require.Equal(t, datafile.DynamoDBJSON, f)
	require.Equal(t, "DYNAMODB_JSON", datafile.Format("").OutputFormat())
	require.Equal(t, "JSON", datafile.JSON.OutputFormat())
	c, err := datafile.ParseCompression("")
	require.NoError(t, err)
	require.Equal(t, datafile.Gzip, c)
}

func TestParquetFormatAndItsCompressions(t *testing.T) {
	f, err := datafile.ParseFormat("parquet")
	require.NoError(t, err)
	require.Equal(t, "PARQUET", f.OutputFormat())
	require.Equal(t, ".parquet", datafile.Suffix(f, datafile.Snappy))
	c, err := datafile.ParseCompressionFor(f, "")
	require.NoError(t, err)
	require.Equal(t, datafile.Snappy, c, "Parquet's default is snappy")
	for _, ok := range []string{"snappy", "zstd", "none"} {
		_, err := datafile.ParseCompressionFor(f, ok)
		require.NoError(t, err, ok)
	}
	_, err = datafile.ParseCompressionFor(f, "gzip")
	require.ErrorContains(t, err, "--compression")
	_, err = datafile.ParseCompressionFor(datafile.JSON, "snappy")
	require.ErrorContains(t, err, "--compression", "snappy is for Parquet only")
}

func TestBadFormatsAndCompressionsNameTheFlag(t *testing.T) {
	_, err := datafile.ParseFormat("csv")
	require.ErrorContains(t, err, "--format")
	_, err = datafile.ParseCompression("bzip2")
	require.ErrorContains(t, err, "--compression")
}

func TestCheckLineTellsFormatsApart(t *testing.T) {
	require.NoError(t, datafile.CheckLine(datafile.DynamoDBJSON, []byte(`{"Item":{"a":{"S":"x"}}}`)))
	require.Error(t, datafile.CheckLine(datafile.DynamoDBJSON, []byte(`{"a":"x"}`)))
	require.NoError(t, datafile.CheckLine(datafile.JSON, []byte(`{"a":"x"}`)))
	require.Error(t, datafile.CheckLine(datafile.JSON, []byte(`["a"]`)))
	require.Error(t, datafile.CheckLine(datafile.JSON, []byte(`{"a":`)))
}

func TestNotCompressedAsNamedIsAnError(t *testing.T) {
	_, err := datafile.NewReader("x.json.gz", bytes.NewReader([]byte("plain")))
	require.ErrorContains(t, err, "not gzip")
	r, err := datafile.NewReader("x.json.zst", bytes.NewReader([]byte("plain text, not zstd")))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	require.Error(t, err)
}
