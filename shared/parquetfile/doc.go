// Package parquetfile owns ddbfleet's Parquet data files: how DynamoDB
// items map to Parquet columns (a Schema inferred from a sample of the
// table, stored as JSON with the export and in every file's footer), the
// streaming Writer that turns items into row groups with bounded memory,
// and the reader that restores the exact items for verify and tests.
//
// Nothing is lost in the mapping: an attribute without a column, or whose
// value does not fit its column's type, is kept as DynamoDB JSON in the
// ExtraColumn of its row. docs/parquet.md has the type mapping, how to
// query each type in Athena, and the memory formula.
//
// Built on github.com/parquet-go/parquet-go (pure Go); docs/parquet.md
// says why that library and not arrow-go.
package parquetfile
