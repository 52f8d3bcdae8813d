CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (
  Item struct<lines:struct<L:array<struct<M:struct<qty:struct<N:string>,sku:struct<S:string>>>>>,note:struct<`NULL`:boolean>,pk:struct<S:string>,shipTo:struct<M:struct<city:struct<S:string>>>,sk:struct<S:string>,status:struct<S:string>,tags:struct<SS:array<string>>,total:struct<N:string>>
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/exports/orders/'
TBLPROPERTIES ('ddbfleet.prefixTemplate'='exports/{table}/dt={yyyy}-{mm}-{dd}', 'ddbfleet.outputFormat'='DYNAMODB_JSON');
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-01') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-01/AWSDynamoDB/01796090400000-1a2b3c4d/data/';
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-02') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-02/AWSDynamoDB/01796176800000-1a2b3c4d/data/';
ALTER TABLE `orders` ADD IF NOT EXISTS PARTITION (dt='2026-12-03') LOCATION 's3://lake-bucket/exports/orders/dt=2026-12-03/AWSDynamoDB/01796263200000-1a2b3c4d/data/';
