#!/usr/bin/env node
// query.mjs — run one SQL statement in an in-memory DuckDB and print the
// result rows as a JSON array of objects on stdout.
//
// The Parquet e2e test uses it to read ddbfleet's files with a real engine.
// Values come out as DuckDB's JSON conversion gives them: DECIMAL and
// BIGINT as strings (exact, unlike a JS number), BLOB as escaped text, lists
// and structs as arrays and objects.
//
// Usage: NODE_PATH=$(bash install.sh)/node_modules node query.mjs 'SELECT 42 AS x'
// Exit codes: 0 ok, 1 query failed, 64 bad usage.
import { createRequire } from 'node:module';

// ESM ignores NODE_PATH; createRequire honours it, so the package can live
// in the ddbfleet cache rather than next to this script.
const require = createRequire(import.meta.url);
const { DuckDBInstance } = require('@duckdb/node-api');

const sql = process.argv[2];
if (!sql || process.argv.length > 3) {
  console.error('usage: node query.mjs SQL');
  process.exit(64);
}

try {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const reader = await conn.runAndReadAll(sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + '\n');
  conn.closeSync();
  instance.closeSync();
} catch (err) {
  console.error(`query failed: ${err && err.message ? err.message : err}`);
  process.exit(1);
}
