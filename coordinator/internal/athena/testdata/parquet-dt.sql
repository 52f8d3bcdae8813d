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
LOCATION 's3://lake-bucket/exports/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='exports/dt={yyyy}-{mm}-{dd}', 'ddbfleet.outputFormat'='PARQUET');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-01') LOCATION 's3://lake-bucket/exports/dt=2026-12-01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
