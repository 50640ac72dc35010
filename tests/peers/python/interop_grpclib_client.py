"""grpclib (pure-Python asyncio gRPC over python-h2) running the interop
cases it can run against a server under test.

Usage: interop_grpclib_client.py --server_host=127.0.0.1 --server_port=N
       [--test_case=all|a,b] [--soak_iterations=10] [--skip=a,b]

Left out, because grpclib has no message compression (it can neither send
nor read a compressed message): the four *_compressed_* cases. A deadline that grpclib enforces on its own side
surfaces as asyncio.TimeoutError rather than a status; that counts as
DEADLINE_EXCEEDED. One line per case (see interop_common).
"""

import asyncio
import sys
import time

from grpclib.client import Channel
from h2.exceptions import StreamClosedError

from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from interop_common import (ALL_CASES, ECHO_INITIAL, ECHO_TRAILING, INITIAL_VALUE,
                            LARGE_REQUEST, LARGE_RESPONSE, SERVICE, SPECIAL_MESSAGE,
                            STREAM_REQUESTS, STREAM_RESPONSES, TRAILING_VALUE,
                            VERY_LARGE_REQUEST, CaseFailed, case_list, check, check_eq,
                            load_messages, parse_flags, truthy)

empty_pb2, M = load_messages()

UNSUPPORTED = {"client_compressed_unary", "client_compressed_streaming",
               "server_compressed_unary", "server_compressed_streaming"}
CASES = [c for c in ALL_CASES if c not in UNSUPPORTED]
TIMEOUT = 20.0

UU, US = Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM
SU, SS = Cardinality.STREAM_UNARY, Cardinality.STREAM_STREAM


def path(method, service=SERVICE):
    return "/%s/%s" % (service, method)


def zeros(n):
    return M.Payload(type=M.COMPRESSABLE, body=bytes(n))


def check_payload(p, size, what):
    check_eq(len(p.body), size, what + " payload size")
    check(p.body == bytes(size), what + " payload is not all zeros")


async def expect_status(coro, status, what):
    try:
        await coro
    except GRPCError as e:
        check_eq(e.status, status, what + " status")
        return e
    raise CaseFailed("%s succeeded, want %s" % (what, status))


async def after_cancel(stream, message):
    """grpclib cancels locally (RST_STREAM CANCEL) and has no status to
    read afterwards: the check is that the call is over for the client,
    so sending on it fails at once."""
    try:
        await asyncio.wait_for(stream.send_message(message), 2)
    except (StreamTerminatedError, GRPCError, ProtocolError, StreamClosedError) as e:
        return "cancelled: sending after cancel raises %s" % type(e).__name__
    raise CaseFailed("the call still accepted a message after cancel")


class Client:
    def __init__(self, host, port, soak):
        self.host, self.port, self.soak = host, port, soak
        self.channel = Channel(host, port)

    async def unary(self, method, req, resp_type, channel=None, **kw):
        ch = channel or self.channel
        async with ch.request(path(method), UU, type(req), resp_type,
                              timeout=kw.pop("timeout", TIMEOUT), **kw) as stream:
            await stream.send_message(req, end=True)
            resp = await stream.recv_message()
            await stream.recv_trailing_metadata()
            return resp, stream

    async def large_unary_once(self, channel=None):
        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                              payload=zeros(LARGE_REQUEST))
        resp, _ = await self.unary("UnaryCall", req, M.SimpleResponse, channel)
        check_payload(resp.payload, LARGE_RESPONSE, "response")

    async def empty_unary(self):
        resp, _ = await self.unary("EmptyCall", empty_pb2.Empty(), empty_pb2.Empty)
        check(resp is not None, "no response")
        check_eq(resp.ByteSize(), 0, "response size")

    async def cacheable_unary(self):
        req = M.SimpleRequest(payload=M.Payload(body=str(time.time_ns()).encode()))
        bodies = []
        for _ in range(2):
            resp, _ = await self.unary("CacheableUnaryCall", req, M.SimpleResponse,
                                       metadata={"x-user-ip": "1.2.3.4"})
            check(resp.payload.body.isdigit(), "payload is not a decimal timestamp")
            bodies.append(int(resp.payload.body))
        if bodies[0] == bodies[1]:
            return "both bodies equal (served from a cache)"
        check(bodies[1] > bodies[0], "timestamps went backwards")
        return "no caching proxy on loopback: two fresh timestamps"

    async def large_unary(self):
        await self.large_unary_once()

    async def server_compressed_unary(self):
        for flag in (True, False):
            req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                                  payload=zeros(LARGE_REQUEST),
                                  response_compressed=M.BoolValue(value=flag))
            resp, _ = await self.unary("UnaryCall", req, M.SimpleResponse)
            check_payload(resp.payload, LARGE_RESPONSE, "response_compressed=%s" % flag)
        return "sizes checked; grpclib hides the compressed flag"

    async def client_streaming(self):
        async with self.channel.request(path("StreamingInputCall"), SU,
                                        M.StreamingInputCallRequest,
                                        M.StreamingInputCallResponse,
                                        timeout=TIMEOUT) as stream:
            for i, n in enumerate(STREAM_REQUESTS):
                await stream.send_message(M.StreamingInputCallRequest(payload=zeros(n)),
                                          end=(i == len(STREAM_REQUESTS) - 1))
            resp = await stream.recv_message()
        check_eq(resp.aggregated_payload_size, 74922, "aggregated_payload_size")

    async def _output(self, req):
        async with self.channel.request(path("StreamingOutputCall"), US,
                                        M.StreamingOutputCallRequest,
                                        M.StreamingOutputCallResponse,
                                        timeout=TIMEOUT) as stream:
            await stream.send_message(req, end=True)
            return [m async for m in stream]

    async def server_streaming(self):
        req = M.StreamingOutputCallRequest(
            response_parameters=[M.ResponseParameters(size=n) for n in STREAM_RESPONSES])
        resps = await self._output(req)
        check_eq([len(r.payload.body) for r in resps], STREAM_RESPONSES, "response sizes")

    async def server_compressed_streaming(self):
        req = M.StreamingOutputCallRequest(response_parameters=[
            M.ResponseParameters(size=31415, compressed=M.BoolValue(value=True)),
            M.ResponseParameters(size=92653, compressed=M.BoolValue(value=False))])
        resps = await self._output(req)
        check_eq([len(r.payload.body) for r in resps], [31415, 92653], "response sizes")
        for r in resps:
            check(r.payload.body == bytes(len(r.payload.body)), "payload is not all zeros")
        return "sizes checked; grpclib hides the compressed flag"

    def duplex(self, **kw):
        return self.channel.request(path("FullDuplexCall"), SS, M.StreamingOutputCallRequest,
                                    M.StreamingOutputCallResponse,
                                    timeout=kw.pop("timeout", TIMEOUT), **kw)

    async def ping_pong(self):
        async with self.duplex() as stream:
            for req_size, resp_size in zip(STREAM_REQUESTS, STREAM_RESPONSES):
                await stream.send_message(M.StreamingOutputCallRequest(
                    response_parameters=[M.ResponseParameters(size=resp_size)],
                    payload=zeros(req_size)))
                resp = await stream.recv_message()
                check(resp is not None, "stream ended early")
                check_payload(resp.payload, resp_size, "reply")
            await stream.end()
            check(await stream.recv_message() is None, "a response after the fourth")

    async def empty_stream(self):
        async with self.duplex() as stream:
            await stream.send_request()
            await stream.end()
            check(await stream.recv_message() is None, "a response to nothing")

    async def custom_metadata(self):
        md = {ECHO_INITIAL: INITIAL_VALUE, ECHO_TRAILING: TRAILING_VALUE}

        def check_md(stream, what):
            check_eq(dict(stream.initial_metadata).get(ECHO_INITIAL), INITIAL_VALUE,
                     what + " initial metadata")
            check_eq(dict(stream.trailing_metadata).get(ECHO_TRAILING), TRAILING_VALUE,
                     what + " trailing metadata")

        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                              payload=zeros(LARGE_REQUEST))
        resp, stream = await self.unary("UnaryCall", req, M.SimpleResponse, metadata=md)
        check_payload(resp.payload, LARGE_RESPONSE, "unary")
        check_md(stream, "unary")
        async with self.duplex(metadata=md) as stream:
            await stream.send_message(M.StreamingOutputCallRequest(
                response_parameters=[M.ResponseParameters(size=LARGE_RESPONSE)],
                payload=zeros(LARGE_REQUEST)), end=True)
            resps = [m async for m in stream]
        check_eq(len(resps), 1, "full duplex responses")
        check_payload(resps[0].payload, LARGE_RESPONSE, "full duplex")
        check_md(stream, "full duplex")

    async def _status_echo(self, message, streaming):
        st = M.EchoStatus(code=2, message=message)
        e = await expect_status(self.unary("UnaryCall", M.SimpleRequest(response_status=st),
                                           M.SimpleResponse), Status.UNKNOWN, "unary")
        check_eq(e.message, message, "unary status message")
        if streaming:
            async def duplex():
                async with self.duplex() as stream:
                    await stream.send_message(M.StreamingOutputCallRequest(response_status=st),
                                              end=True)
                    return [m async for m in stream]
            e = await expect_status(duplex(), Status.UNKNOWN, "full duplex")
            check_eq(e.message, message, "full duplex status message")

    async def status_code_and_message(self):
        await self._status_echo("test status message", True)

    async def special_status_message(self):
        await self._status_echo(SPECIAL_MESSAGE, False)

    async def _unimplemented(self, p):
        async def call():
            async with self.channel.request(p, UU, empty_pb2.Empty, empty_pb2.Empty,
                                            timeout=TIMEOUT) as stream:
                await stream.send_message(empty_pb2.Empty(), end=True)
                await stream.recv_message()
        await expect_status(call(), Status.UNIMPLEMENTED, p)

    async def unimplemented_method(self):
        await self._unimplemented(path("UnimplementedCall"))

    async def unimplemented_service(self):
        await self._unimplemented(path("UnimplementedCall", "grpc.testing.UnimplementedService"))

    async def cancel_after_begin(self):
        async with self.channel.request(path("StreamingInputCall"), SU,
                                        M.StreamingInputCallRequest,
                                        M.StreamingInputCallResponse,
                                        timeout=TIMEOUT) as stream:
            await stream.send_request()
            await stream.cancel()
            return await after_cancel(stream, M.StreamingInputCallRequest())

    async def cancel_after_first_response(self):
        async with self.duplex() as stream:
            await stream.send_message(M.StreamingOutputCallRequest(
                response_parameters=[M.ResponseParameters(size=31415)],
                payload=zeros(27182)))
            resp = await stream.recv_message()
            check(resp is not None, "no first response")
            check_payload(resp.payload, 31415, "first response")
            await stream.cancel()
            return await after_cancel(stream, M.StreamingOutputCallRequest())

    async def timeout_on_sleeping_server(self):
        try:
            async with self.duplex(timeout=0.001) as stream:
                await stream.send_message(M.StreamingOutputCallRequest(payload=zeros(27182)))
                await stream.recv_message()
        except GRPCError as e:
            check_eq(e.status, Status.DEADLINE_EXCEEDED, "status")
            return "DEADLINE_EXCEEDED from the server"
        except asyncio.TimeoutError:
            return "deadline enforced by grpclib"
        raise CaseFailed("the call outlived its 1 ms deadline")

    async def very_large_request(self):
        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=10,
                              payload=zeros(VERY_LARGE_REQUEST))
        resp, _ = await self.unary("UnaryCall", req, M.SimpleResponse)
        check_payload(resp.payload, 10, "response")

    async def rpc_soak(self):
        for _ in range(self.soak):
            await self.large_unary_once()
        return "%d large_unary calls on one channel" % self.soak

    async def channel_soak(self):
        for _ in range(self.soak):
            ch = Channel(self.host, self.port)
            try:
                await self.large_unary_once(ch)
            finally:
                ch.close()
        return "%d large_unary calls, a new channel each" % self.soak


async def run(names, host, port, soak):
    # The channel belongs to the running loop, so it is made here.
    client = Client(host, port, soak)
    passed = failed = 0
    for name in names:
        started = time.monotonic()
        try:
            detail = await asyncio.wait_for(getattr(client, name)(), 60) or "ok"
            passed += 1
            print("CASE %s PASS %s (%.0f ms)" % (name, detail,
                                                (time.monotonic() - started) * 1000), flush=True)
        except Exception as e:
            failed += 1
            reason = "%s: %s" % (type(e).__name__, e)
            print("CASE %s FAIL %s" % (name, reason.replace("\n", " | ")), flush=True)
    client.channel.close()
    print('SUMMARY {"passed": %d, "failed": %d}' % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


def main():
    flags = parse_flags(sys.argv[1:], {
        "server_host": "127.0.0.1", "server_port": "", "server_host_override": "",
        "test_case": "all", "use_tls": "false", "use_test_ca": "false",
        "soak_iterations": "10", "skip": ""})
    if truthy(flags["use_tls"]):
        raise SystemExit("--use_tls=true is not supported by this driver (loopback only)")
    skip = set(c for c in flags["skip"].split(",") if c)
    names = [c for c in case_list(flags["test_case"], CASES) if c not in skip]
    return asyncio.run(run(names, flags["server_host"], int(flags["server_port"]),
                           int(flags["soak_iterations"])))


if __name__ == "__main__":
    sys.exit(main())
