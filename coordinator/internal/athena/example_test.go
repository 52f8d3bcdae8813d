package athena_test

import (
	"fmt"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

// Two daily exports made with --prefix exports/{table}/dt={yyyy}-{mm}-{dd}
// become one table with a partition each. The prefixes are what the
// export rows record; the template is what the operator typed.
func ExampleRender() {
	d, err := athena.Render(athena.Spec{
		SourceTable:    "orders",
		Format:         datafile.JSON,
		PrefixTemplate: "exports/{table}/dt={yyyy}-{mm}-{dd}",
		Exports: []athena.Location{
			{Bucket: "lake", Prefix: "exports/orders/dt=2026-12-01", ExportID: "e1"},
			{Bucket: "lake", Prefix: "exports/orders/dt=2026-12-02", ExportID: "e2"},
		},
	}, []athena.Column{{Name: "pk", Type: "string"}, {Name: "total", Type: "double"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(d)
	// Output:
	// CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (
	//   `pk` string,
	//   `total` double
	// )
	// PARTITIONED BY (dt string)
	// ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
	// LOCATION 's3://lake/exports/orders/'
	// TBLPROPERTIES ('ddbfleet.prefixTemplate'='exports/{table}/dt={yyyy}-{mm}-{dd}', 'ddbfleet.outputFormat'='JSON');
	// ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-01') LOCATION 's3://lake/exports/orders/dt=2026-12-01/AWSDynamoDB/e1/data/';
	// ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-02') LOCATION 's3://lake/exports/orders/dt=2026-12-02/AWSDynamoDB/e2/data/';
}
