"""A grpcio server with the blocking tests' `test.Echo` service, raw bytes.

Prints `PORT <n>` once serving on 127.0.0.1, then serves until killed.
Methods mirror tests/tests/blocking_support.rs.
"""
import sys
import time
from concurrent import futures

import grpc


def md_dict(ctx):
    return {k: v for k, v in ctx.invocation_metadata()}


def unary(req, ctx):
    md = md_dict(ctx)
    initial = []
    if "x-echo" in md:
        initial.append(("x-echo-back", md["x-echo"]))
    if "x-bin-bin" in md:
        initial.append(("x-bin-back-bin", md["x-bin-bin"]))
    ctx.send_initial_metadata(initial)
    ctx.set_trailing_metadata([("x-trailer", "done"), ("x-trailer-bin", b"\x00\xff")])
    return req


def fail(req, ctx):
    ctx.set_trailing_metadata(
        [("x-why", "because"), ("grpc-status-details-bin", b"\x08\x03")]
    )
    ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad thing: ü")


def sleep(req, ctx):
    end = time.monotonic() + int(req.decode() or "0") / 1000.0
    while time.monotonic() < end and ctx.is_active():
        time.sleep(0.01)
    return b"slept"


def info(req, ctx):
    ctx.set_compression(grpc.Compression.Gzip)
    md = md_dict(ctx)
    return (
        "deadline=%s;ua=%s;len=%d"
        % (ctx.time_remaining() is not None, md.get("user-agent", ""), len(req))
    ).encode()


def count(req, ctx):
    try:
        n = int(req.decode())
    except ValueError:
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "n")
    for i in range(n):
        yield str(i).encode()


def hang(req, ctx):
    yield b"first"
    end = time.monotonic() + 5
    while time.monotonic() < end and ctx.is_active():
        time.sleep(0.01)


def concat(reqs, ctx):
    return b",".join(reqs)


def echo(reqs, ctx):
    for r in reqs:
        yield r


def main():
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
            "Info": grpc.unary_unary_rpc_method_handler(info),
            "Count": grpc.unary_stream_rpc_method_handler(count),
            "Hang": grpc.unary_stream_rpc_method_handler(hang),
            "Concat": grpc.stream_unary_rpc_method_handler(concat),
            "Echo": grpc.stream_stream_rpc_method_handler(echo),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
