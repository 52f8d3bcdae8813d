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
PARTITIONED BY (year string, month string, day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/lake/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='lake/year={yyyy}/month={mm}/day={dd}', 'ddbfleet.outputFormat'='JSON');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (year='2026', month='12', day='01') LOCATION 's3://lake-bucket/lake/year=2026/month=12/day=01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
