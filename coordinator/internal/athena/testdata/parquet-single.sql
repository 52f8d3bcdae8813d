CREATE EXTERNAL TABLE `orders_01796090400000_1a2b3c4d` (
  `pk` string,
  `sk` string,
  `lines` array<struct<qty:bigint,sku:string>>,
  `shipTo` struct<city:string>,
  `status` string,
  `tags` array<string>,
  `total` decimal(38,9),
  `_extra` string
)
STORED AS PARQUET
LOCATION 's3://lake-bucket/backups/orders/AWSDynamoDB/01796090400000-1a2b3c4d/data/'
TBLPROPERTIES ('ddbfleet.exportId'='01796090400000-1a2b3c4d', 'ddbfleet.outputFormat'='PARQUET');
