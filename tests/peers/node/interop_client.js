// @grpc/grpc-js running the credential-free interop cases against a server
// under test.
//
// Usage: node interop_client.js --server_host=127.0.0.1 --server_port=N
//        [--test_case=all|a,b] [--server_host_override=H] [--use_tls=false]
//        [--soak_iterations=10] [--skip=a,b]
//
// One line per case, exit status 0 only if all passed. grpc-js compresses
// per channel, not per call, so the compressed calls go over a second
// channel whose default algorithm is gzip; it does not expose the
// compressed flag of received messages (server_compressed_* check sizes
// and contents only), and there is no caching proxy on loopback.
'use strict';

const {
  grpc, loadTesting, C, ALL_CASES, parseFlags, truthy, CaseFailed, check, checkEq, zeros,
  runCases,
} = require('./common.js');

const testing = loadTesting();
const CALL_TIMEOUT_MS = 20000;

const deadline = (ms = CALL_TIMEOUT_MS) => ({ deadline: Date.now() + ms });

function checkPayload(p, size, what) {
  check(p && p.body, `${what}: no payload`);
  checkEq(p.body.length, size, `${what} payload size`);
  check(p.body.equals(Buffer.alloc(size)), `${what} payload is not all zeros`);
}

// A unary call as a promise of { resp, initial, trailing } or a rejection
// with the grpc-js error (code, details, metadata).
function unary(client, method, req, md = new grpc.Metadata(), opts = deadline()) {
  return new Promise((resolve, reject) => {
    let initial = null;
    let resp = null;
    let err = null;
    const call = client[method](req, md, opts, (e, r) => { err = e; resp = r; });
    call.on('metadata', (m) => { initial = m; });
    call.on('status', (s) => {
      // 'status' comes after the callback for both outcomes.
      setImmediate(() => (err ? reject(err) : resolve({ resp, initial, trailing: s.metadata })));
    });
  });
}

async function expectError(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    checkEq(e.code, code, `${what} status code`);
    return e;
  }
  throw new CaseFailed(`${what} succeeded, want status ${code}`);
}

// Collect a response stream: { msgs, initial, status }; an error status
// rejects with the error.
function drain(call) {
  return new Promise((resolve, reject) => {
    const msgs = [];
    let initial = null;
    let error = null;
    call.on('metadata', (m) => { initial = m; });
    call.on('data', (m) => msgs.push(m));
    call.on('error', (e) => { error = e; });
    call.on('status', (s) => setImmediate(() => (error ? reject(error)
      : resolve({ msgs, initial, status: s }))));
  });
}

// Reads a duplex stream message by message: one 'data' listener for the
// whole call, so nothing is dropped between reads.
class Reader {
  constructor(call) {
    this.msgs = [];
    this.waiters = [];
    this.error = null;
    this.ended = false;
    call.on('data', (m) => { this.msgs.push(m); this.wake(); });
    call.on('error', (e) => { this.error = e; this.wake(); });
    call.on('end', () => { this.ended = true; this.wake(); });
    this.status = new Promise((resolve) => call.on('status', resolve));
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  async next() {
    for (;;) {
      if (this.msgs.length) return this.msgs.shift();
      if (this.error) throw this.error;
      if (this.ended) throw new CaseFailed('stream ended early');
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }
}

// The final status of a call that was (or will be) cancelled.
function statusOf(call) {
  return new Promise((resolve) => {
    call.on('error', () => {});
    call.on('status', resolve);
  });
}

function largeRequest(extra = {}) {
  return Object.assign({
    response_type: 0, response_size: C.LARGE_RESPONSE, payload: zeros(C.LARGE_REQUEST),
  }, extra);
}

class Client {
  constructor(target, options, soak) {
    this.target = target;
    this.options = options;
    this.soak = soak;
    this.plain = this.channel({});
    this.gzip = this.channel({ 'grpc.default_compression_algorithm': 2 });
  }

  channel(extra) {
    return new testing.TestService(this.target, grpc.credentials.createInsecure(),
      Object.assign({}, this.options, extra));
  }

  async largeUnaryOnce(client) {
    const { resp } = await unary(client, 'UnaryCall', largeRequest());
    checkPayload(resp.payload, C.LARGE_RESPONSE, 'response');
  }

  async empty_unary() {
    const { resp } = await unary(this.plain, 'EmptyCall', {});
    check(resp && Object.keys(resp).length === 0, `response is not empty: ${JSON.stringify(resp)}`);
  }

  async cacheable_unary() {
    const stamp = Buffer.from(String(process.hrtime.bigint()));
    const req = { response_type: 0, payload: { type: 0, body: stamp } };
    const md = new grpc.Metadata();
    md.set('x-user-ip', '1.2.3.4');
    const a = (await unary(this.plain, 'CacheableUnaryCall', req, md)).resp.payload.body;
    const b = (await unary(this.plain, 'CacheableUnaryCall', req, md)).resp.payload.body;
    for (const body of [a, b]) check(/^[0-9]+$/.test(body.toString()), `payload ${body} is not a decimal timestamp`);
    if (a.equals(b)) return 'both bodies equal (served from a cache)';
    check(BigInt(b.toString()) > BigInt(a.toString()), 'timestamps went backwards');
    return 'no caching proxy on loopback: two fresh timestamps';
  }

  async large_unary() {
    await this.largeUnaryOnce(this.plain);
  }

  async client_compressed_unary() {
    const req = (v) => largeRequest({ expect_compressed: { value: v } });
    await expectError(unary(this.plain, 'UnaryCall', req(true)),
      grpc.status.INVALID_ARGUMENT, 'uncompressed probe');
    checkPayload((await unary(this.gzip, 'UnaryCall', req(true))).resp.payload,
      C.LARGE_RESPONSE, 'compressed call');
    checkPayload((await unary(this.plain, 'UnaryCall', req(false))).resp.payload,
      C.LARGE_RESPONSE, 'uncompressed call');
  }

  async server_compressed_unary() {
    for (const v of [true, false]) {
      const { resp } = await unary(this.plain, 'UnaryCall', largeRequest({ response_compressed: { value: v } }));
      checkPayload(resp.payload, C.LARGE_RESPONSE, `response_compressed=${v}`);
    }
    return 'sizes checked; grpc-js hides the compressed flag';
  }

  inputCall(client) {
    return new Promise((resolve, reject) => {
      const call = client.StreamingInputCall(new grpc.Metadata(), deadline(),
        (e, r) => (e ? reject(e) : resolve(r)));
      this.lastCall = call;
    });
  }

  async client_streaming() {
    const p = this.inputCall(this.plain);
    for (const n of C.STREAM_REQUESTS) this.lastCall.write({ payload: zeros(n) });
    this.lastCall.end();
    checkEq((await p).aggregated_payload_size, 74922, 'aggregated_payload_size');
  }

  async client_compressed_streaming() {
    let p = this.inputCall(this.plain);
    this.lastCall.write({ payload: zeros(27182), expect_compressed: { value: true } });
    this.lastCall.end();
    await expectError(p, grpc.status.INVALID_ARGUMENT, 'uncompressed probe');
    // Both messages go out compressed (grpc-js compresses per channel),
    // which satisfies expect_compressed=false as well.
    p = this.inputCall(this.gzip);
    this.lastCall.write({ payload: zeros(27182), expect_compressed: { value: true } });
    this.lastCall.write({ payload: zeros(45904), expect_compressed: { value: false } });
    this.lastCall.end();
    checkEq((await p).aggregated_payload_size, 73086, 'aggregated_payload_size');
  }

  async server_streaming() {
    const call = this.plain.StreamingOutputCall({
      response_type: 0,
      response_parameters: C.STREAM_RESPONSES.map((size) => ({ size })),
    }, new grpc.Metadata(), deadline());
    const { msgs } = await drain(call);
    checkEq(msgs.map((m) => m.payload.body.length), C.STREAM_RESPONSES, 'response sizes');
  }

  async server_compressed_streaming() {
    const call = this.plain.StreamingOutputCall({
      response_type: 0,
      response_parameters: [
        { size: 31415, compressed: { value: true } },
        { size: 92653, compressed: { value: false } }],
    }, new grpc.Metadata(), deadline());
    const { msgs } = await drain(call);
    checkEq(msgs.map((m) => m.payload.body.length), [31415, 92653], 'response sizes');
    msgs.forEach((m) => checkPayload(m.payload, m.payload.body.length, 'response'));
    return 'sizes checked; grpc-js hides the compressed flag';
  }

  async ping_pong() {
    const call = this.plain.FullDuplexCall(new grpc.Metadata(), deadline());
    const reader = new Reader(call);
    for (let i = 0; i < 4; i++) {
      call.write({
        response_type: 0,
        response_parameters: [{ size: C.STREAM_RESPONSES[i] }],
        payload: zeros(C.STREAM_REQUESTS[i]),
      });
      checkPayload((await reader.next()).payload, C.STREAM_RESPONSES[i], `reply ${i}`);
    }
    call.end();
    const status = await reader.status;
    checkEq(reader.msgs.length, 0, 'responses after the fourth');
    checkEq(status.code, grpc.status.OK, 'status');
  }

  async empty_stream() {
    const call = this.plain.FullDuplexCall(new grpc.Metadata(), deadline());
    const p = drain(call);
    call.end();
    const { msgs, status } = await p;
    checkEq(msgs.length, 0, 'responses');
    checkEq(status.code, grpc.status.OK, 'status');
  }

  async custom_metadata() {
    const md = () => {
      const m = new grpc.Metadata();
      m.set(C.ECHO_INITIAL, C.INITIAL_VALUE);
      m.set(C.ECHO_TRAILING, C.TRAILING_VALUE);
      return m;
    };
    const checkMd = (initial, trailing, what) => {
      check(initial, `${what}: no initial metadata`);
      checkEq(initial.get(C.ECHO_INITIAL)[0], C.INITIAL_VALUE, `${what} initial metadata`);
      const t = trailing.get(C.ECHO_TRAILING)[0];
      check(Buffer.isBuffer(t), `${what}: trailing metadata missing`);
      checkEq(t, C.TRAILING_VALUE, `${what} trailing metadata`);
    };
    const u = await unary(this.plain, 'UnaryCall', largeRequest(), md());
    checkPayload(u.resp.payload, C.LARGE_RESPONSE, 'unary');
    checkMd(u.initial, u.trailing, 'unary');

    const call = this.plain.FullDuplexCall(md(), deadline());
    const p = drain(call);
    call.write({
      response_type: 0,
      response_parameters: [{ size: C.LARGE_RESPONSE }],
      payload: zeros(C.LARGE_REQUEST),
    });
    call.end();
    const { msgs, initial, status } = await p;
    checkEq(msgs.length, 1, 'full duplex responses');
    checkPayload(msgs[0].payload, C.LARGE_RESPONSE, 'full duplex');
    checkMd(initial, status.metadata, 'full duplex');
  }

  async statusEcho(message, streaming) {
    const response_status = { code: 2, message };
    const e = await expectError(unary(this.plain, 'UnaryCall', { response_status }),
      grpc.status.UNKNOWN, 'unary');
    checkEq(e.details, message, 'unary status message');
    if (streaming) {
      const call = this.plain.FullDuplexCall(new grpc.Metadata(), deadline());
      const p = drain(call);
      call.write({ response_status });
      call.end();
      const se = await expectError(p, grpc.status.UNKNOWN, 'full duplex');
      checkEq(se.details, message, 'full duplex status message');
    }
  }

  async status_code_and_message() {
    await this.statusEcho('test status message', true);
  }

  async special_status_message() {
    await this.statusEcho(C.SPECIAL_MESSAGE, false);
  }

  async unimplemented_method() {
    await expectError(unary(this.plain, 'UnimplementedCall', {}),
      grpc.status.UNIMPLEMENTED, 'UnimplementedCall');
  }

  async unimplemented_service() {
    const other = new testing.UnimplementedService(this.target,
      grpc.credentials.createInsecure(), this.options);
    try {
      await expectError(unary(other, 'UnimplementedCall', {}),
        grpc.status.UNIMPLEMENTED, 'UnimplementedService');
    } finally {
      other.close();
    }
  }

  async cancel_after_begin() {
    const call = this.plain.StreamingInputCall(new grpc.Metadata(), deadline(), () => {});
    const st = statusOf(call);
    call.cancel();
    checkEq((await st).code, grpc.status.CANCELLED, 'status');
  }

  async cancel_after_first_response() {
    const call = this.plain.FullDuplexCall(new grpc.Metadata(), deadline());
    const reader = new Reader(call);
    call.write({ response_type: 0, response_parameters: [{ size: 31415 }], payload: zeros(27182) });
    checkPayload((await reader.next()).payload, 31415, 'first response');
    call.cancel();
    checkEq((await reader.status).code, grpc.status.CANCELLED, 'status');
  }

  async timeout_on_sleeping_server() {
    const call = this.plain.FullDuplexCall(new grpc.Metadata(), deadline(1));
    const p = drain(call);
    call.write({ payload: zeros(27182) });
    await expectError(p, grpc.status.DEADLINE_EXCEEDED, 'call');
  }

  async very_large_request() {
    const { resp } = await unary(this.plain, 'UnaryCall', {
      response_type: 0, response_size: 10, payload: zeros(C.VERY_LARGE_REQUEST),
    });
    checkPayload(resp.payload, 10, 'response');
  }

  async rpc_soak() {
    for (let i = 0; i < this.soak; i++) await this.largeUnaryOnce(this.plain);
    return `${this.soak} large_unary calls on one channel`;
  }

  async channel_soak() {
    for (let i = 0; i < this.soak; i++) {
      // A distinct option makes grpc-js build a new subchannel too.
      const c = this.channel({ 'grpc-sansio.soak': i });
      try {
        await this.largeUnaryOnce(c);
      } finally {
        c.close();
      }
    }
    return `${this.soak} large_unary calls, a new channel each`;
  }

  close() {
    this.plain.close();
    this.gzip.close();
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), {
    server_host: '127.0.0.1', server_port: '', server_host_override: '', test_case: 'all',
    use_tls: 'false', use_test_ca: 'false', soak_iterations: '10', skip: '',
  });
  if (truthy(flags.use_tls)) throw new Error('--use_tls=true is not supported (loopback only)');
  if (!flags.server_port) throw new Error('--server_port is required');
  const options = {
    'grpc.max_receive_message_length': C.MAX_MESSAGE,
    'grpc.max_send_message_length': C.MAX_MESSAGE,
  };
  if (flags.server_host_override) options['grpc.default_authority'] = flags.server_host_override;
  const skip = new Set(flags.skip.split(',').filter(Boolean));
  const wanted = flags.test_case === 'all' ? ALL_CASES : flags.test_case.split(',').filter(Boolean);
  const unknown = wanted.filter((c) => !ALL_CASES.includes(c));
  if (unknown.length) throw new Error(`unknown test case(s): ${unknown.join(', ')}`);
  const client = new Client(`${flags.server_host}:${flags.server_port}`, options,
    Number(flags.soak_iterations));
  const table = {};
  for (const name of ALL_CASES) table[name] = () => client[name]();
  const rc = await runCases(wanted.filter((c) => !skip.has(c)), table);
  client.close();
  process.exit(rc);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
