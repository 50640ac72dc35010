"""A grpclib client for the blocking server's `test.Echo` service.

Usage: grpc_blocking_grpclib_client.py <port>. Prints `SUMMARY <json>` and
exits 1 on a failed check.
"""
import asyncio
import json
import sys
import time

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

from grpc_blocking_grpclib_common import RawCodec

failures = []
seen = {}


def check(name, cond, got=None):
    if not cond:
        failures.append("%s: got %r" % (name, got))


async def main():
    port = int(sys.argv[1])
    ch = Channel("127.0.0.1", port, codec=RawCodec())

    async with ch.request(
        "/test.Echo/Unary", Cardinality.UNARY_UNARY, bytes, bytes, timeout=10,
        metadata={"x-echo": "hello there", "x-bin-bin": b"\x00\x01\x02\xfe"},
    ) as s:
        await s.send_message(b"ping", end=True)
        resp = await s.recv_message()
        await s.recv_trailing_metadata()
        check("unary", resp == b"ping", resp)
        check("initial ascii", s.initial_metadata.get("x-echo-back") == "hello there",
              s.initial_metadata)
        check("initial bin", s.initial_metadata.get("x-bin-back-bin") == b"\x00\x01\x02\xfe",
              s.initial_metadata)
        check("trailer", s.trailing_metadata.get("x-trailer") == "done", s.trailing_metadata)
        check("trailer bin", s.trailing_metadata.get("x-trailer-bin") == b"\x00\xff",
              s.trailing_metadata)
        seen["unary"] = resp.decode()

    try:
        async with ch.request("/test.Echo/Fail", Cardinality.UNARY_UNARY, bytes, bytes,
                              timeout=10) as s:
            await s.send_message(b"x", end=True)
            await s.recv_message()
        check("fail raised", False)
    except GRPCError as e:
        check("fail code", e.status == Status.INVALID_ARGUMENT, e.status)
        check("fail message", e.message == "bad thing: ü", e.message)
        seen["fail"] = [e.status.name, e.message]

    async with ch.request("/test.Echo/Count", Cardinality.UNARY_STREAM, bytes, bytes,
                          timeout=10) as s:
        await s.send_message(b"50", end=True)
        got = [m async for m in s]
        check("server stream", got == [str(i).encode() for i in range(50)], got)
        seen["count"] = len(got)

    async with ch.request("/test.Echo/Concat", Cardinality.STREAM_UNARY, bytes, bytes,
                          timeout=10) as s:
        for p in (b"a", b"b", b"c"):
            await s.send_message(p)
        await s.end()
        resp = await s.recv_message()
        check("client stream", resp == b"a,b,c", resp)
        seen["concat"] = resp.decode()

    big = [bytes([i]) * (100 << 10) for i in range(20)]
    async with ch.request("/test.Echo/Echo", Cardinality.STREAM_STREAM, bytes, bytes,
                          timeout=20) as s:
        got = []
        for m in big:
            await s.send_message(m)
            got.append(await s.recv_message())
        await s.end()
        check("bidi", got == big, [len(g) for g in got])
        seen["bidi"] = len(got)

    t0 = time.monotonic()
    try:
        async with ch.request("/test.Echo/Sleep", Cardinality.UNARY_UNARY, bytes, bytes,
                              timeout=0.2) as s:
            await s.send_message(b"3000", end=True)
            await s.recv_message()
        check("deadline raised", False)
    except (GRPCError, asyncio.TimeoutError) as e:
        status = getattr(e, "status", None)
        check("deadline", status in (None, Status.DEADLINE_EXCEEDED), status)
        seen["deadline"] = [status.name if status else "timeout",
                            round(time.monotonic() - t0, 2)]

    async with ch.request("/test.Echo/Info", Cardinality.UNARY_UNARY, bytes, bytes,
                          timeout=10) as s:
        await s.send_message(b"", end=True)
        text = (await s.recv_message()).decode()
        check("deadline seen", "deadline=true" in text, text)
        seen["info"] = text

    async with ch.request("/test.Echo/Hang", Cardinality.UNARY_STREAM, bytes, bytes,
                          timeout=10) as s:
        await s.send_message(b"", end=True)
        first = await s.recv_message()
        check("hang first", first == b"first", first)
        await s.cancel()
        seen["cancelled"] = True

    ch.close()
    seen["failures"] = failures
    print("SUMMARY " + json.dumps(seen), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
