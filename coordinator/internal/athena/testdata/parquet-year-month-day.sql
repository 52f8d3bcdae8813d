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
PARTITIONED BY (year string, month string, day string)
STORED AS PARQUET
LOCATION 's3://lake-bucket/lake/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='lake/year={yyyy}/month={mm}/day={dd}', 'ddbfleet.outputFormat'='PARQUET');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (year='2026', month='12', day='01') LOCATION 's3://lake-bucket/lake/year=2026/month=12/day=01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
