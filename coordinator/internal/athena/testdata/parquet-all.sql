CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (
  `pk` string,
  `sk` string,
  `lines` array<struct<qty:bigint,sku:string>>,
  `shipTo` struct<city:string>,
  `status` string,
  `tags` array<string>,
  `total` decimal(38,9),
  `_extra` string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://lake-bucket/exports/orders/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='exports/{table}/dt={yyyy}-{mm}-{dd}', 'ddbfleet.outputFormat'='PARQUET');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-01') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-02') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-02/AWSDynamoDB/01796176800000-1a2b3c4d/data/';
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-03') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-03/AWSDynamoDB/01796263200000-1a2b3c4d/data/';
