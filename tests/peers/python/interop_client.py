"""grpcio (gRPC C-core) running the credential-free interop cases against a
server under test.

Usage: interop_client.py --server_host=127.0.0.1 --server_port=N
       [--test_case=all|name,name] [--server_host_override=H]
       [--use_tls=false] [--use_test_ca=false] [--test_ca_file=ca.pem]
       [--soak_iterations=10] [--skip=name,name]

With --use_tls=true --use_test_ca=true the channel is TLS
(grpc.ssl_channel_credentials) trusting the CA in --test_ca_file (made at
test time: gRPC's bundled test CA is not shipped here), and
--server_host_override sets grpc.ssl_target_name_override as well as the
authority.

One line per case (see interop_common), exit status 0 only if all passed.

Where grpcio cannot observe something a case asks about, the case checks
everything else and says so in its detail: grpcio does not expose the
compressed flag of a received message (server_compressed_*), and there is
no caching proxy on loopback (cacheable_unary).
"""

import queue
import sys
import time

import grpc

from interop_common import (ALL_CASES, ECHO_INITIAL, ECHO_TRAILING, INITIAL_VALUE,
                            LARGE_REQUEST, LARGE_RESPONSE, SERVICE, SPECIAL_MESSAGE,
                            STREAM_REQUESTS, STREAM_RESPONSES, TRAILING_VALUE,
                            VERY_LARGE_REQUEST, CaseFailed, case_list, check, check_eq,
                            load_messages, parse_flags, run_cases, truthy)

empty_pb2, messages_pb2 = load_messages()
M = messages_pb2

CALL_TIMEOUT = 20.0
MAX_MESSAGE = 32 * 1024 * 1024


class Stub:
    """The TestService methods on one channel, addressed by path."""

    def __init__(self, channel):
        def path(method, service=SERVICE):
            return "/%s/%s" % (service, method)

        ser = lambda m: m.SerializeToString()  # noqa: E731
        self.empty_call = channel.unary_unary(path("EmptyCall"), ser, empty_pb2.Empty.FromString)
        self.unary_call = channel.unary_unary(path("UnaryCall"), ser, M.SimpleResponse.FromString)
        self.cacheable_unary_call = channel.unary_unary(
            path("CacheableUnaryCall"), ser, M.SimpleResponse.FromString)
        self.streaming_output_call = channel.unary_stream(
            path("StreamingOutputCall"), ser, M.StreamingOutputCallResponse.FromString)
        self.streaming_input_call = channel.stream_unary(
            path("StreamingInputCall"), ser, M.StreamingInputCallResponse.FromString)
        self.full_duplex_call = channel.stream_stream(
            path("FullDuplexCall"), ser, M.StreamingOutputCallResponse.FromString)
        self.unimplemented_call = channel.unary_unary(
            path("UnimplementedCall"), ser, empty_pb2.Empty.FromString)
        self.unimplemented_service = channel.unary_unary(
            path("UnimplementedCall", "grpc.testing.UnimplementedService"), ser,
            empty_pb2.Empty.FromString)


def zeros(n):
    return M.Payload(type=M.COMPRESSABLE, body=bytes(n))


def check_payload(p, size, what):
    check_eq(len(p.body), size, what + " payload size")
    check(p.body == bytes(size), what + " payload is not all zeros")


def expect_error(fn, code, what):
    """Run fn, which must fail with `code`; returns the RpcError."""
    try:
        fn()
    except grpc.RpcError as e:
        check_eq(e.code(), code, what + " status code")
        return e
    raise CaseFailed("%s succeeded, want %s" % (what, code))


class Feeder:
    """A request iterator the test pushes into, for ping-pong style calls.
    `close()` half-closes the call."""

    _END = object()

    def __init__(self):
        self.q = queue.Queue()

    def send(self, msg):
        self.q.put(msg)

    def close(self):
        self.q.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get(timeout=CALL_TIMEOUT)
        if item is self._END:
            raise StopIteration
        return item


class Client:
    def __init__(self, target, options, soak, creds=None):
        self.target = target
        self.options = options
        self.soak = soak
        self.creds = creds
        self.channel = self.new_channel()
        self.stub = Stub(self.channel)

    def new_channel(self):
        if self.creds is None:
            return grpc.insecure_channel(self.target, options=self.options)
        return grpc.secure_channel(self.target, self.creds, options=self.options)

    def large_unary_once(self, stub):
        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                              payload=zeros(LARGE_REQUEST))
        resp = stub.unary_call(req, timeout=CALL_TIMEOUT)
        check_payload(resp.payload, LARGE_RESPONSE, "response")

    # --- the cases -------------------------------------------------------

    def empty_unary(self):
        resp = self.stub.empty_call(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        check(isinstance(resp, empty_pb2.Empty), "response is not an Empty")
        check_eq(resp.ByteSize(), 0, "response size")

    def cacheable_unary(self):
        stamp = str(time.time_ns()).encode()
        req = M.SimpleRequest(response_type=M.COMPRESSABLE,
                              payload=M.Payload(type=M.COMPRESSABLE, body=stamp))
        md = (("x-user-ip", "1.2.3.4"),)
        first = self.stub.cacheable_unary_call(req, metadata=md, timeout=CALL_TIMEOUT)
        second = self.stub.cacheable_unary_call(req, metadata=md, timeout=CALL_TIMEOUT)
        for r in (first, second):
            check(r.payload.body.isdigit(), "payload %r is not a decimal timestamp" % r.payload.body)
        if first.payload.body == second.payload.body:
            return "both bodies equal (served from a cache)"
        check(int(second.payload.body) > int(first.payload.body), "timestamps went backwards")
        return "no caching proxy on loopback: two fresh timestamps"

    def large_unary(self):
        self.large_unary_once(self.stub)

    def client_compressed_unary(self):
        def req(expect):
            return M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                                   payload=zeros(LARGE_REQUEST),
                                   expect_compressed=M.BoolValue(value=expect))

        expect_error(lambda: self.stub.unary_call(req(True), timeout=CALL_TIMEOUT,
                                                  compression=grpc.Compression.NoCompression),
                     grpc.StatusCode.INVALID_ARGUMENT, "uncompressed probe")
        resp = self.stub.unary_call(req(True), timeout=CALL_TIMEOUT,
                                    compression=grpc.Compression.Gzip)
        check_payload(resp.payload, LARGE_RESPONSE, "compressed call")
        resp = self.stub.unary_call(req(False), timeout=CALL_TIMEOUT,
                                    compression=grpc.Compression.NoCompression)
        check_payload(resp.payload, LARGE_RESPONSE, "uncompressed call")

    def server_compressed_unary(self):
        for flag in (True, False):
            req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                                  payload=zeros(LARGE_REQUEST),
                                  response_compressed=M.BoolValue(value=flag))
            resp = self.stub.unary_call(req, timeout=CALL_TIMEOUT)
            check_payload(resp.payload, LARGE_RESPONSE, "response_compressed=%s" % flag)
        return "sizes checked; grpcio hides the compressed flag"

    def client_streaming(self):
        reqs = [M.StreamingInputCallRequest(payload=zeros(n)) for n in STREAM_REQUESTS]
        resp = self.stub.streaming_input_call(iter(reqs), timeout=CALL_TIMEOUT)
        check_eq(resp.aggregated_payload_size, 74922, "aggregated_payload_size")

    def client_compressed_streaming(self):
        probe = M.StreamingInputCallRequest(payload=zeros(27182),
                                            expect_compressed=M.BoolValue(value=True))
        expect_error(lambda: self.stub.streaming_input_call(
            iter([probe]), timeout=CALL_TIMEOUT, compression=grpc.Compression.NoCompression),
            grpc.StatusCode.INVALID_ARGUMENT, "uncompressed probe")
        # grpcio compresses per call, not per message: both messages go out
        # compressed, which satisfies expect_compressed=false too.
        reqs = [probe, M.StreamingInputCallRequest(payload=zeros(45904),
                                                   expect_compressed=M.BoolValue(value=False))]
        resp = self.stub.streaming_input_call(iter(reqs), timeout=CALL_TIMEOUT,
                                              compression=grpc.Compression.Gzip)
        check_eq(resp.aggregated_payload_size, 73086, "aggregated_payload_size")

    def server_streaming(self):
        req = M.StreamingOutputCallRequest(
            response_type=M.COMPRESSABLE,
            response_parameters=[M.ResponseParameters(size=n) for n in STREAM_RESPONSES])
        sizes = [len(r.payload.body) for r in
                 self.stub.streaming_output_call(req, timeout=CALL_TIMEOUT)]
        check_eq(sizes, STREAM_RESPONSES, "response sizes")

    def server_compressed_streaming(self):
        req = M.StreamingOutputCallRequest(
            response_type=M.COMPRESSABLE,
            response_parameters=[
                M.ResponseParameters(size=31415, compressed=M.BoolValue(value=True)),
                M.ResponseParameters(size=92653, compressed=M.BoolValue(value=False))])
        resps = list(self.stub.streaming_output_call(req, timeout=CALL_TIMEOUT))
        check_eq([len(r.payload.body) for r in resps], [31415, 92653], "response sizes")
        for r in resps:
            check(r.payload.body == bytes(len(r.payload.body)), "payload is not all zeros")
        return "sizes checked; grpcio hides the compressed flag"

    def ping_pong(self):
        feeder = Feeder()
        call = self.stub.full_duplex_call(feeder, timeout=CALL_TIMEOUT)
        for req_size, resp_size in zip(STREAM_REQUESTS, STREAM_RESPONSES):
            feeder.send(M.StreamingOutputCallRequest(
                response_type=M.COMPRESSABLE,
                response_parameters=[M.ResponseParameters(size=resp_size)],
                payload=zeros(req_size)))
            resp = next(call)
            check_payload(resp.payload, resp_size, "reply")
        feeder.close()
        rest = list(call)
        check_eq(len(rest), 0, "responses after half-close")
        check_eq(call.code(), grpc.StatusCode.OK, "status")

    def empty_stream(self):
        call = self.stub.full_duplex_call(iter([]), timeout=CALL_TIMEOUT)
        check_eq(len(list(call)), 0, "responses")
        check_eq(call.code(), grpc.StatusCode.OK, "status")

    def custom_metadata(self):
        md = ((ECHO_INITIAL, INITIAL_VALUE), (ECHO_TRAILING, TRAILING_VALUE))

        def check_md(initial, trailing, what):
            check_eq(dict(initial).get(ECHO_INITIAL), INITIAL_VALUE, what + " initial metadata")
            check_eq(dict(trailing).get(ECHO_TRAILING), TRAILING_VALUE,
                     what + " trailing metadata")

        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=LARGE_RESPONSE,
                              payload=zeros(LARGE_REQUEST))
        resp, call = self.stub.unary_call.with_call(req, metadata=md, timeout=CALL_TIMEOUT)
        check_payload(resp.payload, LARGE_RESPONSE, "unary")
        check_md(call.initial_metadata(), call.trailing_metadata(), "unary")

        req = M.StreamingOutputCallRequest(
            response_type=M.COMPRESSABLE,
            response_parameters=[M.ResponseParameters(size=LARGE_RESPONSE)],
            payload=zeros(LARGE_REQUEST))
        call = self.stub.full_duplex_call(iter([req]), metadata=md, timeout=CALL_TIMEOUT)
        resps = list(call)
        check_eq(len(resps), 1, "full duplex responses")
        check_payload(resps[0].payload, LARGE_RESPONSE, "full duplex")
        check_md(call.initial_metadata(), call.trailing_metadata(), "full duplex")

    def _status_echo(self, message, streaming):
        status = M.EchoStatus(code=2, message=message)
        e = expect_error(lambda: self.stub.unary_call(
            M.SimpleRequest(response_status=status), timeout=CALL_TIMEOUT),
            grpc.StatusCode.UNKNOWN, "unary")
        check_eq(e.details(), message, "unary status message")
        if streaming:
            call = self.stub.full_duplex_call(
                iter([M.StreamingOutputCallRequest(response_status=status)]),
                timeout=CALL_TIMEOUT)
            e = expect_error(lambda: list(call), grpc.StatusCode.UNKNOWN, "full duplex")
            check_eq(e.details(), message, "full duplex status message")

    def status_code_and_message(self):
        self._status_echo("test status message", True)

    def special_status_message(self):
        self._status_echo(SPECIAL_MESSAGE, False)

    def unimplemented_method(self):
        expect_error(lambda: self.stub.unimplemented_call(empty_pb2.Empty(), timeout=CALL_TIMEOUT),
                     grpc.StatusCode.UNIMPLEMENTED, "UnimplementedCall")

    def unimplemented_service(self):
        expect_error(lambda: self.stub.unimplemented_service(empty_pb2.Empty(),
                                                             timeout=CALL_TIMEOUT),
                     grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService")

    def cancel_after_begin(self):
        feeder = Feeder()
        fut = self.stub.streaming_input_call.future(feeder, timeout=CALL_TIMEOUT)
        fut.cancel()
        feeder.close()
        check_eq(fut.code(), grpc.StatusCode.CANCELLED, "status")

    def cancel_after_first_response(self):
        feeder = Feeder()
        call = self.stub.full_duplex_call(feeder, timeout=CALL_TIMEOUT)
        feeder.send(M.StreamingOutputCallRequest(
            response_type=M.COMPRESSABLE,
            response_parameters=[M.ResponseParameters(size=31415)],
            payload=zeros(27182)))
        check_payload(next(call).payload, 31415, "first response")
        call.cancel()
        feeder.close()
        check_eq(call.code(), grpc.StatusCode.CANCELLED, "status")

    def timeout_on_sleeping_server(self):
        feeder = Feeder()
        call = self.stub.full_duplex_call(feeder, timeout=0.001)
        feeder.send(M.StreamingOutputCallRequest(payload=zeros(27182)))
        try:
            expect_error(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED, "call")
        finally:
            feeder.close()

    def very_large_request(self):
        req = M.SimpleRequest(response_type=M.COMPRESSABLE, response_size=10,
                              payload=zeros(VERY_LARGE_REQUEST))
        resp = self.stub.unary_call(req, timeout=CALL_TIMEOUT)
        check_payload(resp.payload, 10, "response")

    def rpc_soak(self):
        for _ in range(self.soak):
            self.large_unary_once(self.stub)
        return "%d large_unary calls on one channel" % self.soak

    def channel_soak(self):
        for _ in range(self.soak):
            with self.new_channel() as ch:
                self.large_unary_once(Stub(ch))
        return "%d large_unary calls, a new channel each" % self.soak


def main():
    flags = parse_flags(sys.argv[1:], {
        "server_host": "127.0.0.1", "server_port": "", "server_host_override": "",
        "test_case": "all", "use_tls": "false", "use_test_ca": "false",
        "test_ca_file": "", "soak_iterations": "10", "skip": ""})
    creds = None
    if truthy(flags["use_tls"]):
        if not truthy(flags["use_test_ca"]) or not flags["test_ca_file"]:
            raise SystemExit("--use_tls=true needs --use_test_ca=true and --test_ca_file")
        with open(flags["test_ca_file"], "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    if not flags["server_port"]:
        raise SystemExit("--server_port is required")
    target = "%s:%s" % (flags["server_host"], flags["server_port"])
    options = [("grpc.max_receive_message_length", MAX_MESSAGE),
               ("grpc.max_send_message_length", MAX_MESSAGE)]
    if flags["server_host_override"]:
        options.append(("grpc.default_authority", flags["server_host_override"]))
        if creds is not None:
            options.append(("grpc.ssl_target_name_override", flags["server_host_override"]))
    skip = set(c for c in flags["skip"].split(",") if c)
    names = [c for c in case_list(flags["test_case"], ALL_CASES) if c not in skip]
    client = Client(target, options, int(flags["soak_iterations"]), creds)
    table = {name: getattr(client, name) for name in ALL_CASES}
    return run_cases(names, table)


if __name__ == "__main__":
    sys.exit(main())
