CREATE EXTERNAL TABLE `orders_01796090400000_1a2b3c4d` (
  `lines` array<struct<qty:bigint,sku:string>>,
  `note` string,
  `pk` string,
  `shipTo` struct<city:string>,
  `sk` string,
  `status` string,
  `tags` array<string>,
  `total` double
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://lake-bucket/backups/orders/AWSDynamoDB/01796090400000-1a2b3c4d/data/'
TBLPROPERTIES ('ddbfleet.exportId'='01796090400000-1a2b3c4d', 'ddbfleet.outputFormat'='JSON');
