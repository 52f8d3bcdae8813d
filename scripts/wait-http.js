#!/usr/bin/env node
// wait-http.js — poll a local server until it answers, for scripts/stack.sh.
//
// Written in plain node (no npm dependencies) because node is the one tool the
// stack already needs for fauxqs, so readiness checks add nothing to install.
//
// Usage:
//   node wait-http.js --url URL [--mode any|dynamodb] [--timeout SECONDS] [--pid PID]
//
//   --mode any       ready as soon as the port gives any HTTP answer (any status).
//   --mode dynamodb  ready when a signed-looking ListTables POST returns HTTP 200;
//                    DynamoDB Local accepts any credentials but rejects requests
//                    with no Authorization header, so we send a dummy SigV4 one.
//   --timeout        give up after this many seconds (default 60).
//   --pid            if this process dies while we wait, fail at once instead of
//                    waiting out the timeout (a crashed JVM should not cost 60 s).
//
// Exit codes: 0 ready, 1 timed out, 2 watched process died, 64 bad usage.
'use strict';

const http = require('http');

function parseArgs(argv) {
  const out = { mode: 'any', timeout: 60, pid: 0, url: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const val = argv[i + 1];
    if (val === undefined) usage(`missing value for ${key}`);
    switch (key) {
      case '--url': out.url = val; break;
      case '--mode': out.mode = val; break;
      case '--timeout': out.timeout = Number(val); break;
      case '--pid': out.pid = Number(val); break;
      default: usage(`unknown flag ${key}`);
    }
  }
  if (!out.url) usage('--url is required');
  if (out.mode !== 'any' && out.mode !== 'dynamodb') usage(`bad --mode ${out.mode}`);
  if (!(out.timeout > 0)) usage('--timeout must be a positive number');
  return out;
}

function usage(msg) {
  process.stderr.write(`wait-http: ${msg}\n`);
  process.exit(64);
}

function alive(pid) {
  if (!pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM means it exists but belongs to someone else: still alive.
    return e.code === 'EPERM';
  }
}

// One attempt. Resolves to {ok, detail}; never rejects.
function probe(opts) {
  return new Promise((resolve) => {
    const u = new URL(opts.url);
    const reqOpts = {
      hostname: u.hostname,
      port: u.port,
      path: u.pathname || '/',
      method: 'GET',
      timeout: 2000,
      headers: {},
    };
    let body = null;
    if (opts.mode === 'dynamodb') {
      body = '{}';
      reqOpts.method = 'POST';
      reqOpts.headers = {
        'X-Amz-Target': 'DynamoDB_20120810.ListTables',
        'Content-Type': 'application/x-amz-json-1.0',
        Authorization:
          'AWS4-HMAC-SHA256 Credential=k/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x',
        'Content-Length': Buffer.byteLength(body),
      };
    }
    const req = http.request(reqOpts, (res) => {
      res.resume(); // drain so the socket closes
      if (opts.mode === 'dynamodb') {
        resolve({ ok: res.statusCode === 200, detail: `HTTP ${res.statusCode}` });
      } else {
        resolve({ ok: true, detail: `HTTP ${res.statusCode}` });
      }
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => resolve({ ok: false, detail: e.code || e.message }));
    if (body !== null) req.write(body);
    req.end();
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + opts.timeout * 1000;
  let last = 'no attempt';
  for (;;) {
    const r = await probe(opts);
    if (r.ok) return 0;
    last = r.detail;
    if (!alive(opts.pid)) {
      process.stderr.write(`wait-http: process ${opts.pid} exited before ${opts.url} was ready (last: ${last})\n`);
      return 2;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(`wait-http: ${opts.url} not ready after ${opts.timeout}s (last: ${last})\n`);
      return 1;
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

main().then((code) => process.exit(code));
