"""A grpcio client for the blocking server's `test.Echo` service.

Usage: grpc_blocking_grpcio_client.py <port>. Checks every scenario,
prints `SUMMARY <json>` with what it saw, and exits 1 on a failed check.
"""
import json
import sys
import time

import grpc

failures = []
seen = {}


def check(name, cond, got=None):
    if not cond:
        failures.append("%s: got %r" % (name, got))


def main():
    port = int(sys.argv[1])
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(ch).result(timeout=10)

    unary = ch.unary_unary("/test.Echo/Unary")
    resp, call = unary.with_call(
        b"ping",
        metadata=[("x-echo", "hello there"), ("x-bin-bin", b"\x00\x01\x02\xfe")],
        timeout=10,
    )
    initial = dict(call.initial_metadata())
    trailing = dict(call.trailing_metadata())
    check("unary message", resp == b"ping", resp)
    check("initial ascii", initial.get("x-echo-back") == "hello there", initial)
    check("initial bin", initial.get("x-bin-back-bin") == b"\x00\x01\x02\xfe", initial)
    check("trailer ascii", trailing.get("x-trailer") == "done", trailing)
    check("trailer bin", trailing.get("x-trailer-bin") == b"\x00\xff", trailing)
    seen["unary"] = resp.decode()

    try:
        ch.unary_unary("/test.Echo/Fail")(b"x", timeout=10)
        check("fail raised", False)
    except grpc.RpcError as e:
        tm = dict(e.trailing_metadata())
        check("fail code", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code())
        check("fail message", e.details() == "bad thing: ü", e.details())
        check("fail details", tm.get("grpc-status-details-bin") == b"\x08\x03", tm)
        check("fail trailer", tm.get("x-why") == "because", tm)
        seen["fail"] = [e.code().name, e.details()]

    got = list(ch.unary_stream("/test.Echo/Count")(b"50", timeout=10))
    check("server stream", got == [str(i).encode() for i in range(50)], got)
    seen["count"] = len(got)

    resp = ch.stream_unary("/test.Echo/Concat")(iter([b"a", b"b", b"c"]), timeout=10)
    check("client stream", resp == b"a,b,c", resp)
    seen["concat"] = resp.decode()

    big = [bytes([i]) * (100 << 10) for i in range(20)]
    got = list(ch.stream_stream("/test.Echo/Echo")(iter(big), timeout=20))
    check("bidi", got == big, [len(g) for g in got])
    seen["bidi"] = len(got)

    t0 = time.monotonic()
    try:
        ch.unary_unary("/test.Echo/Sleep")(b"3000", timeout=0.2)
        check("deadline raised", False)
    except grpc.RpcError as e:
        check("deadline code", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code())
        seen["deadline"] = [e.code().name, round(time.monotonic() - t0, 2)]

    resp = ch.unary_unary("/test.Echo/Info")(
        b"z" * 10000, timeout=10, compression=grpc.Compression.Gzip
    )
    text = resp.decode()
    check("gzip request", text.startswith("encoding=gzip;"), text)
    check("deadline seen", "deadline=true" in text, text)
    seen["info"] = text
    big = b"a" * (1 << 20)
    resp = unary(big, timeout=10, compression=grpc.Compression.Gzip)
    check("gzip echo", resp == big, len(resp))

    stream = ch.unary_stream("/test.Echo/Hang")(b"", timeout=10)
    first = next(stream)
    check("hang first", first == b"first", first)
    stream.cancel()
    seen["cancelled"] = True

    try:
        ch.unary_unary("/test.Echo/Nope")(b"", timeout=10)
    except grpc.RpcError as e:
        check("unimplemented", e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code())
        seen["nope"] = e.code().name

    ch.close()
    seen["failures"] = failures
    print("SUMMARY " + json.dumps(seen), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
