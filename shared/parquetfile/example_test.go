package parquetfile_test

import (
	"bytes"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
)

// Infer a schema from a sample, write items with it, read them back.
func Example() {
	keys := []parquetfile.Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}
	item := func(pk, total string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk":    &types.AttributeValueMemberS{Value: pk},
			"total": &types.AttributeValueMemberN{Value: total},
		}
	}
	sample := []map[string]types.AttributeValue{item("a", "1.25"), item("b", "7")}
	schema, err := parquetfile.InferSchema(keys, sample, parquetfile.InferOptions{})
	if err != nil {
		panic(err)
	}
	for _, c := range schema.Columns() {
		fmt.Printf("column %s %s\n", c.Name, c.AthenaType)
	}

	var file bytes.Buffer
	w, err := parquetfile.NewWriter(&file, schema, parquetfile.Options{})
	if err != nil {
		panic(err)
	}
	late := item("c", "0.001") // three decimals: does not fit DECIMAL(38,2)
	late["note"] = &types.AttributeValueMemberS{Value: "not in the sample"}
	for _, it := range append(sample, late) {
		if err := w.Write(it); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	r := bytes.NewReader(file.Bytes())
	rows, err := parquetfile.NumRows(r, r.Size())
	if err != nil {
		panic(err)
	}
	fmt.Println("rows", rows, "with _extra", w.Stats().ItemsWithExtra)
	err = parquetfile.ReadItems(r, r.Size(), func(it map[string]types.AttributeValue) error {
		fmt.Println(it["pk"].(*types.AttributeValueMemberS).Value, it["total"].(*types.AttributeValueMemberN).Value, len(it))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// column pk string
	// column total decimal(38,2)
	// column _extra string
	// rows 3 with _extra 1
	// a 1.25 2
	// b 7 2
	// c 0.001 3
}
