// Shared pieces of the grpc-js interop drivers: loading the packages from
// target/node-peers, loading tests/proto at run time with proto-loader,
// flags, and the per-case report (the same line format as the Python
// drivers: "CASE <name> PASS|FAIL <detail>", then "SUMMARY {json}").
'use strict';

const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MODULES = process.env.GRPC_SANSIO_NODE_MODULES ||
  path.join(ROOT, 'target', 'node-peers', 'node_modules');

const grpc = require(path.join(MODULES, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(MODULES, '@grpc', 'proto-loader'));

function loadTesting() {
  const def = protoLoader.loadSync('grpc/testing/test.proto', {
    includeDirs: [path.join(ROOT, 'tests', 'proto')],
    keepCase: true,
    longs: Number,
    enums: Number,
    bytes: Buffer,
    defaults: false,
  });
  return grpc.loadPackageDefinition(def).grpc.testing;
}

const C = {
  LARGE_REQUEST: 271828,
  LARGE_RESPONSE: 314159,
  STREAM_REQUESTS: [27182, 8, 1828, 45904],
  STREAM_RESPONSES: [31415, 9, 2653, 58979],
  VERY_LARGE_REQUEST: 10 * 1024 * 1024,
  ECHO_INITIAL: 'x-grpc-test-echo-initial',
  ECHO_TRAILING: 'x-grpc-test-echo-trailing-bin',
  INITIAL_VALUE: 'test_initial_metadata_value',
  TRAILING_VALUE: Buffer.from([0xab, 0xab, 0xab]),
  SPECIAL_MESSAGE: '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n',
  MAX_MESSAGE: 32 * 1024 * 1024,
};

const ALL_CASES = [
  'empty_unary', 'cacheable_unary', 'large_unary', 'client_compressed_unary',
  'server_compressed_unary', 'client_streaming', 'client_compressed_streaming',
  'server_streaming', 'server_compressed_streaming', 'ping_pong', 'empty_stream',
  'custom_metadata', 'status_code_and_message', 'special_status_message',
  'unimplemented_method', 'unimplemented_service', 'cancel_after_begin',
  'cancel_after_first_response', 'timeout_on_sleeping_server', 'very_large_request',
  'rpc_soak', 'channel_soak',
];

// `--name=value` or `--name value`; unknown flags are an error.
function parseFlags(argv, defaults) {
  const flags = Object.assign({}, defaults);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    let [name, value] = [arg.slice(2), undefined];
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else {
      if (i + 1 >= argv.length) throw new Error(`flag --${name} needs a value`);
      value = argv[++i];
    }
    if (!(name in flags)) throw new Error(`unknown flag --${name}`);
    flags[name] = value;
  }
  return flags;
}

function truthy(v) {
  return ['1', 'true', 'yes'].includes(String(v).toLowerCase());
}

class CaseFailed extends Error {}

function check(cond, what) {
  if (!cond) throw new CaseFailed(what);
}

function short(v) {
  if ((Buffer.isBuffer(v) || typeof v === 'string') && v.length > 64) {
    return `${JSON.stringify(v.slice(0, 16).toString())}... (${v.length} long)`;
  }
  return JSON.stringify(v);
}

function checkEq(got, want, what) {
  const same = Buffer.isBuffer(got) && Buffer.isBuffer(want) ?
    got.equals(want) : JSON.stringify(got) === JSON.stringify(want);
  if (!same) throw new CaseFailed(`${what}: got ${short(got)}, want ${short(want)}`);
}

function zeros(n) {
  return { type: 0, body: Buffer.alloc(n) };
}

async function runCases(names, table) {
  let passed = 0;
  let failed = 0;
  for (const name of names) {
    const started = Date.now();
    try {
      const detail = (await table[name]()) || 'ok';
      passed++;
      console.log(`CASE ${name} PASS ${detail} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      const reason = (e && e.message) || String(e);
      console.log(`CASE ${name} FAIL ${reason.replace(/\n/g, ' | ')}`);
      if (!(e instanceof CaseFailed)) console.error(e);
    }
  }
  console.log('SUMMARY ' + JSON.stringify({ passed, failed }));
  return failed === 0 && passed === names.length ? 0 : 1;
}

module.exports = {
  grpc, loadTesting, C, ALL_CASES, parseFlags, truthy, CaseFailed, check, checkEq,
  zeros, runCases,
};
