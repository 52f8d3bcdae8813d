package athena

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

// GlueAPI is the part of the Glue client the catalog writer uses.
type GlueAPI interface {
	CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	BatchCreatePartition(ctx context.Context, in *glue.BatchCreatePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchCreatePartitionOutput, error)
}

var _ GlueAPI = (*glue.Client)(nil)

// gluePartitionsPerCall is BatchCreatePartition's limit.
const gluePartitionsPerCall = 100

// Storage formats as the Glue catalog names them: what Athena records for
// ROW FORMAT SERDE '<OpenX>' and for STORED AS PARQUET.
const (
	textInput     = "org.apache.hadoop.mapred.TextInputFormat"
	textOutput    = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	parquetInput  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	parquetOutput = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	parquetSerDe  = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)

// GlueResult is what Glue did, for the command to report.
type GlueResult struct {
	DDL               // the definition's report; Statements is empty
	Created      bool // false: the table existed and was updated
	Added        int  // partitions created
	AlreadyThere int  // partitions Glue already had, left as they were
}

// Glue writes the same table Render would print into the Glue Data
// Catalog: CreateTable, or UpdateTable when it exists (so, unlike CREATE
// ... IF NOT EXISTS, new columns reach an existing table), then its
// partitions in batches. A partition Glue already has is kept as it is,
// like ADD IF NOT EXISTS. Errors are returned as the SDK gives them,
// wrapped with what was being done; retrying is the caller's decorator.
func Glue(ctx context.Context, api GlueAPI, spec Spec, cols []Column) (*GlueResult, error) {
	if spec.Database == "" {
		return nil, fmt.Errorf("the Glue catalog needs a database name")
	}
	def, err := define(spec, cols)
	if err != nil {
		return nil, err
	}
	if !ValidName(def.name) || !ValidName(def.database) {
		return nil, fmt.Errorf("table %s.%s: use 1 to 255 letters, digits or '_'", def.database, def.name)
	}
	res := &GlueResult{DDL: def.report}
	table := def.tableInput()
	_, err = api.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(def.database), TableInput: table})
	var exists *types.AlreadyExistsException
	switch {
	case errors.As(err, &exists):
		if _, err := api.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(def.database), TableInput: table}); err != nil {
			return nil, fmt.Errorf("glue: update table %s.%s: %w", def.database, def.name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("glue: create table %s.%s: %w", def.database, def.name, err)
	default:
		res.Created = true
	}

	for start := 0; start < len(def.partitions); start += gluePartitionsPerCall {
		batch := def.partitions[start:min(start+gluePartitionsPerCall, len(def.partitions))]
		in := &glue.BatchCreatePartitionInput{DatabaseName: aws.String(def.database), TableName: aws.String(def.name)}
		for _, p := range batch {
			in.PartitionInputList = append(in.PartitionInputList, types.PartitionInput{
				Values: p.values, StorageDescriptor: def.storage(p.loc.DataURL()),
			})
		}
		out, err := api.BatchCreatePartition(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("glue: add partitions %d-%d of %d to %s.%s: %w", start+1, start+len(batch), len(def.partitions), def.database, def.name, err)
		}
		var failed []string
		for _, e := range out.Errors {
			code := ""
			if e.ErrorDetail != nil {
				code = aws.ToString(e.ErrorDetail.ErrorCode)
			}
			if code == "AlreadyExistsException" {
				res.AlreadyThere++
				continue
			}
			msg := ""
			if e.ErrorDetail != nil {
				msg = aws.ToString(e.ErrorDetail.ErrorMessage)
			}
			failed = append(failed, fmt.Sprintf("(%s): %s %s", strings.Join(e.PartitionValues, ", "), code, msg))
		}
		res.Added += len(batch) - len(out.Errors)
		if len(failed) > 0 {
			return nil, fmt.Errorf("glue: %d partitions of %s.%s not added: %s", len(failed), def.database, def.name, strings.Join(failed, "; "))
		}
	}
	return res, nil
}

func (d *definition) tableInput() *types.TableInput {
	params := map[string]string{"EXTERNAL": "TRUE", "classification": "json"}
	if d.format == datafile.Parquet {
		params["classification"] = "parquet"
	}
	for _, p := range d.properties {
		params[p[0]] = p[1]
	}
	t := &types.TableInput{
		Name: aws.String(d.name), TableType: aws.String("EXTERNAL_TABLE"), Parameters: params,
		StorageDescriptor: d.storage(d.location),
	}
	for _, k := range d.partitionKeys {
		t.PartitionKeys = append(t.PartitionKeys, glueColumn(k))
	}
	return t
}

func (d *definition) storage(location string) *types.StorageDescriptor {
	sd := &types.StorageDescriptor{
		Location: aws.String(location), InputFormat: aws.String(textInput), OutputFormat: aws.String(textOutput),
		SerdeInfo: &types.SerDeInfo{SerializationLibrary: aws.String(SerDe)},
	}
	if d.format == datafile.Parquet {
		sd.InputFormat, sd.OutputFormat = aws.String(parquetInput), aws.String(parquetOutput)
		sd.SerdeInfo.SerializationLibrary = aws.String(parquetSerDe)
	}
	for _, c := range d.columns {
		sd.Columns = append(sd.Columns, glueColumn(c))
	}
	return sd
}

// glueColumn lower-cases the name, as Athena's DDL would store it; the
// JSON SerDe and Parquet reader match names without regard to case.
func glueColumn(c Column) types.Column {
	return types.Column{Name: aws.String(strings.ToLower(c.Name)), Type: aws.String(c.Type)}
}
