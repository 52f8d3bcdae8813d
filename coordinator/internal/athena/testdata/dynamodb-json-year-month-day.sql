CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (
  Item struct<lines:struct<L:array<struct<M:struct<qty:struct<N:string>,sku:struct<S:string>>>>>,note:struct<`NULL`:boolean>,pk:struct<S:string>,shipTo:struct<M:struct<city:struct<S:string>>>,sk:struct<S:string>,status:struct<S:string>,tags:struct<SS:array<string>>,total:struct<N:string>>
)
PARTITIONED BY (year string, month string, day string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/lake/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='lake/year={yyyy}/month={mm}/day={dd}', 'ddbfleet.outputFormat'='DYNAMODB_JSON');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (year='2026', month='12', day='01') LOCATION 's3://lake-bucket/lake/year=2026/month=12/day=01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
