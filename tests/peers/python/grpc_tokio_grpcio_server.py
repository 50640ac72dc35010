"""grpcio as the server for grpc-sansio-tokio's channel: test.Test with
raw-bytes methods (no generated code), behaving like the Rust test
service in tests/tests/tokio_support/mod.rs.

Usage: grpc_tokio_grpcio_server.py [--tls CERT_PEM_FILE KEY_PEM_FILE]

With --tls it serves TLS with that certificate and key.

Prints `PORT n` once listening on 127.0.0.1, then one `EVENT ...` line
per thing the tests check from the server side (the deadline a call
arrived with, a cancelled call; each names the call by its request,
the milliseconds to sleep). Exits after 60 s; the test kills it sooner.
"""

import sys
import time
from concurrent import futures

import grpc

LIFETIME = 60.0


def event(text):
    print(f"EVENT {text}", flush=True)


def echo(request, context):
    if dict(context.invocation_metadata()).get("x-gzip-response") == "yes":
        context.set_compression(grpc.Compression.Gzip)
    headers = []
    trailers = [("x-trailer", "done")]
    for k, v in context.invocation_metadata():
        if k.startswith("x-"):
            if k.endswith("-bin"):
                trailers.append((k, v))
            else:
                headers.append((k, v))
    context.send_initial_metadata(headers)
    context.set_trailing_metadata(trailers)
    return request


def fail(request, context):
    context.set_trailing_metadata(
        (
            ("x-why", "because"),
            ("x-raw-bin", b"\x00\x01\x02\xff"),
            ("grpc-status-details-bin", b"\x08\x03\x12\x07details"),
        )
    )
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'bad "request": ü%')


def sleep(request, context):
    ms = int(request.decode() or "0")
    remaining = context.time_remaining()
    event(f"deadline {ms} " + ("none" if remaining is None or remaining > 1e6 else str(int(remaining * 1000))))
    end = time.monotonic() + ms / 1000.0
    while time.monotonic() < end:
        if not context.is_active():
            event(f"cancelled {ms}")
            return b""
        time.sleep(0.01)
    event(f"slept {ms}")
    return b"slept"


def count(request, context):
    n = int(request.decode() or "0")
    context.send_initial_metadata((("x-count", str(n)),))
    for i in range(n):
        yield str(i).encode()
    context.set_trailing_metadata((("x-sent", str(n)),))


def join(request_iterator, context):
    return b",".join(request_iterator)


def shout(request_iterator, context):
    for m in request_iterator:
        if m == b"fail":
            context.abort(grpc.StatusCode.ABORTED, "asked to fail")
        yield m.upper()


def main():
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Join": grpc.stream_unary_rpc_method_handler(join),
        "Shout": grpc.stream_stream_rpc_method_handler(shout),
    }
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        compression=None,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Test", handlers),))
    if "--tls" in sys.argv:
        i = sys.argv.index("--tls")
        with open(sys.argv[i + 1], "rb") as f:
            cert = f.read()
        with open(sys.argv[i + 2], "rb") as f:
            key = f.read()
        creds = grpc.ssl_server_credentials([(key, cert)])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    server.wait_for_termination(timeout=LIFETIME)


if __name__ == "__main__":
    main()
