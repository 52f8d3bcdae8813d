CREATE EXTERNAL TABLE `orders_01796090400000_1a2b3c4d` (
  Item struct<lines:struct<L:array<struct<M:struct<qty:struct<N:string>,sku:struct<S:string>>>>>,note:struct<`NULL`:boolean>,pk:struct<S:string>,shipTo:struct<M:struct<city:struct<S:string>>>,sk:struct<S:string>,status:struct<S:string>,tags:struct<SS:array<string>>,total:struct<N:string>>
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/backups/orders/AWSDynamoDB/01796090400000-1a2b3c4d/data/'
TBLPROPERTIES ('ddbfleet.exportId'='01796090400000-1a2b3c4d', 'ddbfleet.outputFormat'='DYNAMODB_JSON');
