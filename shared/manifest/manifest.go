// Package manifest owns the files that make an export readable by
// DynamoDB ImportTable, Athena and Glue: manifest-files.json (one line per
// data file), manifest-summary.json and their .checksum files, in the
// layout of DynamoDB's native Export to S3.
//
// Building them is pure; lifecycle writes them.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Version is the native export manifest version.
const Version = "2020-06-30"

// File is one line of manifest-files.json.
type File struct {
	ItemCount     int64  `json:"itemCount"`
	MD5Checksum   string `json:"md5Checksum"`
	ETag          string `json:"etag"`
	DataFileS3Key string `json:"dataFileS3Key"`
}

// Summary is manifest-summary.json.
type Summary struct {
	Version            string  `json:"version"`
	ExportARN          string  `json:"exportArn"`
	StartTime          string  `json:"startTime"`
	EndTime            string  `json:"endTime"`
	TableARN           string  `json:"tableArn"`
	TableID            string  `json:"tableId"`
	ExportTime         string  `json:"exportTime"`
	S3Bucket           string  `json:"s3Bucket"`
	S3Prefix           string  `json:"s3Prefix"`
	S3SSEAlgorithm     string  `json:"s3SseAlgorithm"`
	S3SSEKMSKeyID      *string `json:"s3SseKmsKeyId"`
	ManifestFilesS3Key string  `json:"manifestFilesS3Key"`
	BilledSizeBytes    int64   `json:"billedSizeBytes"`
	ItemCount          int64   `json:"itemCount"`
	OutputFormat       string  `json:"outputFormat"`
}

// Keys of an export's top-level objects.
const (
	StartedName         = "_started"
	CancelledName       = "_cancelled"
	FilesName           = "manifest-files.json"
	FilesChecksumName   = "manifest-files.checksum"
	SummaryName         = "manifest-summary.json"
	SummaryChecksumName = "manifest-summary.checksum"
)

// timeFormat matches the native export's timestamps.
const timeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders t as the native export does.
func FormatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// SortParts orders parts by segment, then part number: the manifest order.
func SortParts(parts []export.Part) {
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Segment != parts[j].Segment {
			return parts[i].Segment < parts[j].Segment
		}
		return parts[i].Part < parts[j].Part
	})
}

// BuildFiles renders manifest-files.json: JSON lines, one per part.
func BuildFiles(parts []export.Part) []byte {
	SortParts(parts)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, p := range parts {
		_ = enc.Encode(File{ItemCount: p.ItemCount, MD5Checksum: p.MD5, ETag: p.ETag, DataFileS3Key: p.Key})
	}
	return buf.Bytes()
}

// ParseFiles reads manifest-files.json back.
func ParseFiles(b []byte) ([]File, error) {
	var files []File
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var f File
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("manifest-files.json line %d: %w", len(files)+1, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// BuildSummary renders manifest-summary.json for a finished export.
// s3SseAlgorithm is "KMS" for --sse aws:kms and "AES256" otherwise (an
// export that chose no --sse gets the bucket's default encryption, which
// S3 applies as SSE-S3 unless the bucket says KMS); s3SseKmsKeyId is the
// chosen key or null.
func BuildSummary(e *export.Export, parts []export.Part, end time.Time) ([]byte, Summary) {
	var items int64
	for _, p := range parts {
		items += p.ItemCount
	}
	sseAlgorithm := "AES256"
	var kmsKey *string
	if e.Objects.SSE == "aws:kms" {
		sseAlgorithm = "KMS"
		if e.Objects.SSEKMSKeyID != "" {
			kmsKey = &e.Objects.SSEKMSKeyID
		}
	}
	s := Summary{
		Version:            Version,
		ExportARN:          e.TableARN + "/export/" + e.ExportID,
		StartTime:          FormatTime(e.StartTime),
		EndTime:            FormatTime(end),
		TableARN:           e.TableARN,
		TableID:            e.TableID,
		ExportTime:         FormatTime(e.StartTime),
		S3Bucket:           e.Bucket,
		S3Prefix:           e.Prefix,
		S3SSEAlgorithm:     sseAlgorithm,
		S3SSEKMSKeyID:      kmsKey,
		ManifestFilesS3Key: e.Root() + FilesName,
		BilledSizeBytes:    e.BilledSizeBytes,
		ItemCount:          items,
		OutputFormat:       e.Format.OutputFormat(),
	}
	b, _ := json.Marshal(s)
	return b, s
}
