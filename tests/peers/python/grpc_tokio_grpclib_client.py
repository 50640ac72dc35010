"""grpclib as a client of grpc-sansio-tokio's test server (test.Test).

Usage: grpc_tokio_grpclib_client.py PORT

The same scenarios as grpc_tokio_grpcio_client.py but through grpclib
(pure-Python HTTP/2), with a codec that passes raw bytes through. grpclib
has no message compression, so there is no gzip scenario. Prints one line
`SUMMARY {json}`.
"""

import asyncio
import base64
import json
import sys
import time

from grpclib.client import Channel, StreamStreamMethod, UnaryStreamMethod, UnaryUnaryMethod, StreamUnaryMethod
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError

PORT = int(sys.argv[1])
TIMEOUT = 10.0


class RawCodec(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message, message_type):
        return message

    def decode(self, data, message_type):
        return data


def b64(b):
    return base64.b64encode(b).decode()


def md_dict(md):
    out = {}
    for k, v in (md or {}).items():
        out[k] = b64(v) if isinstance(v, bytes) else v
    return out


async def main():
    results = {}
    channel = Channel("127.0.0.1", PORT, codec=RawCodec(), status_details_codec=None)

    def m(cls, name):
        return cls(channel, f"/test.Test/{name}", bytes, bytes)

    async def scenario(name, f):
        try:
            results[name] = await asyncio.wait_for(f(), TIMEOUT)
        except Exception as e:  # noqa: BLE001 - recorded for the test
            results[name] = {"exception": repr(e)}

    async def echo():
        async with m(UnaryUnaryMethod, "Echo").open(
            metadata={"x-hello": "world", "x-bin-bin": b"\x00\x9f\x92\x96\xff"}
        ) as stream:
            await stream.send_message(b"ping", end=True)
            reply = await stream.recv_message()
            await stream.recv_trailing_metadata()
            return {
                "message": reply.decode(),
                "initial": md_dict(stream.initial_metadata),
                "trailing": md_dict(stream.trailing_metadata),
                "code": "OK",
            }

    async def fail():
        stream_box = {}
        try:
            async with m(UnaryUnaryMethod, "Fail").open() as stream:
                stream_box["s"] = stream
                await stream.send_message(b"", end=True)
                await stream.recv_message()
                await stream.recv_trailing_metadata()
            return {"unexpected": "success"}
        except GRPCError as e:
            s = stream_box.get("s")
            return {
                "code": e.status.name,
                "details": e.message,
                "trailing": md_dict(s.trailing_metadata if s else {}),
            }

    async def count():
        async with m(UnaryStreamMethod, "Count").open() as stream:
            await stream.send_message(b"5", end=True)
            msgs = []
            async for msg in stream:
                msgs.append(msg.decode())
            await stream.recv_trailing_metadata()
            return {
                "messages": msgs,
                "initial": md_dict(stream.initial_metadata),
                "trailing": md_dict(stream.trailing_metadata),
                "code": "OK",
            }

    async def join():
        async with m(StreamUnaryMethod, "Join").open() as stream:
            for w in (b"a", b"bb", b"ccc"):
                await stream.send_message(w)
            await stream.end()
            reply = await stream.recv_message()
            await stream.recv_trailing_metadata()
            return {"message": reply.decode()}

    async def shout():
        async with m(StreamStreamMethod, "Shout").open() as stream:
            out = []
            for w in (b"one", b"two", b"three"):
                await stream.send_message(w)
                out.append((await stream.recv_message()).decode())
            await stream.end()
            assert await stream.recv_message() is None
            await stream.recv_trailing_metadata()
            return {"messages": out, "code": "OK"}

    async def deadline():
        started = time.monotonic()
        try:
            await m(UnaryUnaryMethod, "Sleep")(b"5000", timeout=0.3)
            return {"unexpected": "success"}
        except GRPCError as e:
            return {"code": e.status.name, "elapsed": time.monotonic() - started}
        except asyncio.TimeoutError:
            return {"code": "DEADLINE_EXCEEDED", "elapsed": time.monotonic() - started}

    async def cancel():
        async with m(UnaryUnaryMethod, "Sleep").open() as stream:
            await stream.send_message(b"10000", end=True)
            try:
                await asyncio.wait_for(stream.recv_message(), 0.5)
                return {"unexpected": "reply"}
            except asyncio.TimeoutError:
                pass
            await stream.cancel()
        await asyncio.sleep(0.3)
        return {"cancelled": True}

    async def unimplemented():
        try:
            await UnaryUnaryMethod(channel, "/test.Test/Nope", bytes, bytes)(b"")
            return {"unexpected": "success"}
        except GRPCError as e:
            return {"code": e.status.name, "details": e.message}

    for name, f in [
        ("echo", echo),
        ("fail", fail),
        ("count", count),
        ("join", join),
        ("shout", shout),
        ("deadline", deadline),
        ("cancel", cancel),
        ("unimplemented", unimplemented),
    ]:
        await scenario(name, f)
    channel.close()
    print("SUMMARY " + json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
