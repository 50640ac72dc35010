"""A grpclib server with the blocking tests' `test.Echo` service, raw bytes.

Prints `PORT <n>` once serving on 127.0.0.1, then serves until killed.
grpclib has no message compression and no status details without
googleapis protos, so Fail sends no details.
"""
import asyncio
import socket
import sys
import time

from grpclib.const import Cardinality, Handler, Status
from grpclib.server import Server

from grpc_blocking_grpclib_common import RawCodec


class Echo:
    async def unary(self, stream):
        req = await stream.recv_message()
        initial = {}
        if "x-echo" in stream.metadata:
            initial["x-echo-back"] = stream.metadata["x-echo"]
        if "x-bin-bin" in stream.metadata:
            initial["x-bin-back-bin"] = stream.metadata["x-bin-bin"]
        await stream.send_initial_metadata(metadata=initial)
        await stream.send_message(req)
        await stream.send_trailing_metadata(
            metadata={"x-trailer": "done", "x-trailer-bin": b"\x00\xff"}
        )

    async def fail(self, stream):
        await stream.recv_message()
        await stream.send_trailing_metadata(
            status=Status.INVALID_ARGUMENT,
            status_message="bad thing: ü",
            metadata={"x-why": "because"},
        )

    async def sleep(self, stream):
        req = await stream.recv_message()
        await asyncio.sleep(int(req.decode() or "0") / 1000.0)
        await stream.send_message(b"slept")

    async def info(self, stream):
        await stream.recv_message()
        ua = stream.user_agent or ""
        text = "deadline=%s;ua=%s" % (stream.deadline is not None, ua)
        await stream.send_message(text.encode())

    async def count(self, stream):
        req = await stream.recv_message()
        for i in range(int(req.decode())):
            await stream.send_message(str(i).encode())

    async def hang(self, stream):
        await stream.recv_message()
        await stream.send_message(b"first")
        await asyncio.sleep(5)

    async def concat(self, stream):
        parts = [m async for m in stream]
        await stream.send_message(b",".join(parts))

    async def echo(self, stream):
        async for m in stream:
            await stream.send_message(m)

    def __mapping__(self):
        def h(f, c):
            return Handler(f, c, bytes, bytes)

        return {
            "/test.Echo/Unary": h(self.unary, Cardinality.UNARY_UNARY),
            "/test.Echo/Fail": h(self.fail, Cardinality.UNARY_UNARY),
            "/test.Echo/Sleep": h(self.sleep, Cardinality.UNARY_UNARY),
            "/test.Echo/Info": h(self.info, Cardinality.UNARY_UNARY),
            "/test.Echo/Count": h(self.count, Cardinality.UNARY_STREAM),
            "/test.Echo/Hang": h(self.hang, Cardinality.UNARY_STREAM),
            "/test.Echo/Concat": h(self.concat, Cardinality.STREAM_UNARY),
            "/test.Echo/Echo": h(self.echo, Cardinality.STREAM_STREAM),
        }


async def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = Server([Echo()], codec=RawCodec())
    await server.start(sock=sock)
    print("PORT %d" % port, flush=True)
    await server.wait_closed()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
