"""grpclib as the server for grpc-sansio-tokio's channel: test.Test with a
raw-bytes codec, behaving like the Rust test service in
tests/tests/tokio_support/mod.rs (grpclib has no message compression and
no status details without protobuf, so neither is offered).

Usage: grpc_tokio_grpclib_server.py

Prints `PORT n` once listening on 127.0.0.1, then `EVENT ...` lines
(the deadline a call arrived with, a cancelled call; each names the call
by its request, the milliseconds to sleep). Exits after 60 s;
the test kills it sooner, when it is done.
"""

import asyncio

from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.base import CodecBase
from grpclib.server import Server

LIFETIME = 60.0


class RawCodec(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message, message_type):
        return message

    def decode(self, data, message_type):
        return data


def event(text):
    print(f"EVENT {text}", flush=True)


class Test:
    async def echo(self, stream):
        request = await stream.recv_message()
        headers = {}
        trailers = {"x-trailer": "done"}
        for k, v in stream.metadata.items():
            if k.startswith("x-"):
                if k.endswith("-bin"):
                    trailers[k] = v
                else:
                    headers[k] = v
        await stream.send_initial_metadata(metadata=headers)
        await stream.send_message(request)
        await stream.send_trailing_metadata(metadata=trailers)

    async def fail(self, stream):
        await stream.recv_message()
        await stream.send_trailing_metadata(
            status=Status.INVALID_ARGUMENT,
            status_message='bad "request": ü%',
            metadata={"x-why": "because", "x-raw-bin": b"\x00\x01\x02\xff"},
        )

    async def sleep(self, stream):
        request = await stream.recv_message()
        ms = int(request.decode() or "0")
        d = stream.deadline
        event(f"deadline {ms} " + ("none" if d is None else str(int(d.time_remaining() * 1000))))
        try:
            await asyncio.sleep(ms / 1000.0)
        except asyncio.CancelledError:
            event(f"cancelled {ms}")
            raise
        event(f"slept {ms}")
        await stream.send_message(b"slept")

    async def count(self, stream):
        n = int((await stream.recv_message()).decode() or "0")
        await stream.send_initial_metadata(metadata={"x-count": str(n)})
        for i in range(n):
            await stream.send_message(str(i).encode())
        await stream.send_trailing_metadata(metadata={"x-sent": str(n)})

    async def join(self, stream):
        parts = [m async for m in stream]
        await stream.send_message(b",".join(parts))

    async def shout(self, stream):
        async for m in stream:
            if m == b"fail":
                await stream.send_trailing_metadata(status=Status.ABORTED, status_message="asked to fail")
                return
            await stream.send_message(m.upper())

    def __mapping__(self):
        def h(f, c):
            return Handler(f, c, bytes, bytes)

        return {
            "/test.Test/Echo": h(self.echo, Cardinality.UNARY_UNARY),
            "/test.Test/Fail": h(self.fail, Cardinality.UNARY_UNARY),
            "/test.Test/Sleep": h(self.sleep, Cardinality.UNARY_UNARY),
            "/test.Test/Count": h(self.count, Cardinality.UNARY_STREAM),
            "/test.Test/Join": h(self.join, Cardinality.STREAM_UNARY),
            "/test.Test/Shout": h(self.shout, Cardinality.STREAM_STREAM),
        }


async def main():
    server = Server([Test()], codec=RawCodec())
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.wait_for(server.wait_closed(), LIFETIME)
    except asyncio.TimeoutError:
        pass
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
