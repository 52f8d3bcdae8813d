CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (
  `lines` array<struct<qty:bigint,sku:string>>,
  `note` string,
  `pk` string,
  `shipTo` struct<city:string>,
  `sk` string,
  `status` string,
  `tags` array<string>,
  `total` double
)
PARTITIONED BY (dt string, hour string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/exports/orders/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='exports/{table}/dt={yyyy}-{mm}-{dd}/hour={hh}', 'ddbfleet.outputFormat'='JSON');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-01', hour='02') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-01/hour=02/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
