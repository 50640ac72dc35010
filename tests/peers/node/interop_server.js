// @grpc/grpc-js serving grpc.testing.TestService for the interop matrix.
//
// Usage: node interop_server.js --port=N [--use_tls=false]
//
// Port 0 picks a free port. Listens on 127.0.0.1, prints "PORT n" once it
// accepts calls, and runs until killed (or --max_seconds, a safety bound).
//
// Compression: the server asks for gzip by default and marks each message
// that must go out plain (response_compressed / compressed false or absent)
// as not compressible, but grpc-js 1.14's server has no response
// compression at all: every response goes out with its compressed flag 0,
// so the matrix leaves the server_compressed_* cases out against this
// server (our client checks the flag). Nor can grpc-js tell a handler
// whether a request arrived compressed (it strips grpc-encoding and hides
// the message flags), so expect_compressed is ignored and the matrix also
// leaves the client_compressed_* cases out.
'use strict';

const { grpc, loadTesting, C, parseFlags, truthy } = require('./common.js');

const testing = loadTesting();
// grpc-js's write flag that keeps one message uncompressed.
const NO_COMPRESS = 2;

function zeros(n) {
  if (n < 0) throw new Error('negative size');
  return { type: 0, body: Buffer.alloc(n) };
}

// Initial metadata now (if echoed), and the trailers to end the call with.
function echo(call) {
  const initial = call.metadata.get(C.ECHO_INITIAL);
  const md = new grpc.Metadata();
  if (initial.length) md.set(C.ECHO_INITIAL, initial[0]);
  call.sendMetadata(md);
  const trailers = new grpc.Metadata();
  const trailing = call.metadata.get(C.ECHO_TRAILING);
  if (trailing.length) trailers.set(C.ECHO_TRAILING, trailing[0]);
  return trailers;
}

function echoStatus(req, trailers) {
  const st = req.response_status;
  if (st && st.code) return { code: st.code, details: st.message || '', metadata: trailers };
  return null;
}

const sleep = (us) => new Promise((r) => setTimeout(r, us / 1000));

async function respond(call, params) {
  for (const p of params || []) {
    if (p.interval_us > 0) await sleep(p.interval_us);
    if (call.cancelled) return;
    const compress = p.compressed && p.compressed.value;
    await new Promise((resolve) => {
      // Flags ride in the write's encoding argument in grpc-js.
      if (call.write({ payload: zeros(p.size) }, compress ? undefined : NO_COMPRESS)) {
        resolve();
      } else {
        call.once('drain', resolve);
      }
    });
  }
}

function fail(call, status) {
  call.emit('error', status);
}

const impl = {
  EmptyCall(call, cb) {
    cb(null, {}, echo(call));
  },
  UnaryCall(call, cb) {
    const trailers = echo(call);
    const req = call.request;
    const st = echoStatus(req, trailers);
    if (st) return cb(st);
    if (req.response_type) {
      return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'unsupported response type' });
    }
    const compress = req.response_compressed && req.response_compressed.value;
    return cb(null, { payload: zeros(req.response_size || 0) }, trailers,
      compress ? undefined : NO_COMPRESS);
  },
  CacheableUnaryCall(call, cb) {
    const md = new grpc.Metadata();
    md.set('cache-control', 'max-age=60, public');
    call.sendMetadata(md);
    const stamp = process.hrtime.bigint() + BigInt(Date.now()) * 1000000n;
    cb(null, { payload: { type: 0, body: Buffer.from(stamp.toString()) } }, undefined, NO_COMPRESS);
  },
  StreamingOutputCall(call) {
    const trailers = echo(call);
    const st = echoStatus(call.request, trailers);
    if (st) return fail(call, st);
    respond(call, call.request.response_parameters).then(
      () => call.end(trailers),
      (e) => fail(call, { code: grpc.status.INTERNAL, details: String(e) }));
  },
  StreamingInputCall(call, cb) {
    const trailers = echo(call);
    let total = 0;
    call.on('data', (req) => { total += req.payload ? req.payload.body.length : 0; });
    call.on('end', () => cb(null, { aggregated_payload_size: total }, trailers, NO_COMPRESS));
    call.on('error', () => {});
  },
  FullDuplexCall(call) {
    duplex(call, false);
  },
  HalfDuplexCall(call) {
    duplex(call, true);
  },
};

// Requests are answered in order; FullDuplex answers each as it comes,
// HalfDuplex only after the client half-closed.
function duplex(call, half) {
  const trailers = echo(call);
  let chain = Promise.resolve();
  let done = false;
  const handle = (req) => {
    chain = chain.then(async () => {
      if (done) return;
      const st = echoStatus(req, trailers);
      if (st) {
        done = true;
        fail(call, st);
        return;
      }
      await respond(call, req.response_parameters);
    });
  };
  const queued = [];
  call.on('data', (req) => (half ? queued.push(req) : handle(req)));
  call.on('end', () => {
    queued.forEach(handle);
    chain.then(() => { if (!done) call.end(trailers); },
      (e) => fail(call, { code: grpc.status.INTERNAL, details: String(e) }));
  });
  call.on('error', () => { done = true; });
}

function main() {
  const flags = parseFlags(process.argv.slice(2),
    { port: '0', use_tls: 'false', max_seconds: '600' });
  if (truthy(flags.use_tls)) throw new Error('--use_tls=true is not supported (loopback only)');
  const server = new grpc.Server({
    'grpc.max_receive_message_length': C.MAX_MESSAGE,
    'grpc.max_send_message_length': C.MAX_MESSAGE,
    'grpc.default_compression_algorithm': 2,
  });
  server.addService(testing.TestService.service, impl);
  server.bindAsync(`127.0.0.1:${flags.port}`, grpc.ServerCredentials.createInsecure(),
    (err, port) => {
      if (err) throw err;
      console.log(`PORT ${port}`);
    });
  setTimeout(() => server.forceShutdown(), Number(flags.max_seconds) * 1000).unref();
  setTimeout(() => process.exit(0), Number(flags.max_seconds) * 1000);
}

main();
