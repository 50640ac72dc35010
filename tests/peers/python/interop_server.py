"""grpcio (gRPC C-core) serving grpc.testing.TestService for the interop
matrix.

Usage: interop_server.py --port=N [--use_tls=false]
       [--tls_cert_file=cert.pem --tls_key_file=key.pem]

With --use_tls=true it serves TLS (grpc.ssl_server_credentials) with the
certificate and key given, made at test time in place of gRPC's bundled
server1.pem.

Port 0 picks a free port. Listens on 127.0.0.1 and prints "PORT n" once it
accepts calls; runs until killed (or for --max_seconds, a safety bound).

What grpcio cannot do, and so this server does not check: whether a request
message arrived compressed (grpcio hides the message flags and the
grpc-encoding header from handlers). `expect_compressed` is therefore
ignored here; the matrix leaves the two client_compressed_* cases out when
this server is the peer.
"""

import sys
import threading
import time
from concurrent import futures

import grpc

from interop_common import (ECHO_INITIAL, ECHO_TRAILING, SERVICE, load_messages,
                            parse_flags, truthy)

empty_pb2, messages_pb2 = load_messages()

MAX_MESSAGE = 32 * 1024 * 1024


def echo_metadata(context):
    """Send x-grpc-test-echo-initial back as initial metadata now, and
    arrange for x-grpc-test-echo-trailing-bin to come back as a trailer."""
    initial, trailing = [], []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL:
            initial.append((key, value))
        elif key == ECHO_TRAILING:
            trailing.append((key, value))
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def payload(size):
    if size < 0:
        raise ValueError("negative size")
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def end_with_echo_status(request, context):
    """Abort with the requested status when the request carries one."""
    if request.HasField("response_status"):
        st = request.response_status
        if st.code != 0:
            context.abort(status_code(st.code), st.message)


def status_code(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    return grpc.StatusCode.UNKNOWN


def empty_call(request, context):
    echo_metadata(context)
    return empty_pb2.Empty()


def unary_call(request, context):
    echo_metadata(context)
    end_with_echo_status(request, context)
    if request.response_type != messages_pb2.COMPRESSABLE:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported response type")
    if request.HasField("response_compressed"):
        context.set_compression(grpc.Compression.Gzip if request.response_compressed.value
                                else grpc.Compression.NoCompression)
    return messages_pb2.SimpleResponse(payload=payload(request.response_size))


def cacheable_unary_call(request, context):
    context.send_initial_metadata([("cache-control", "max-age=60, public")])
    body = str(time.time_ns()).encode()
    return messages_pb2.SimpleResponse(
        payload=messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=body))


def respond(params, context, compression_set):
    """One response per ResponseParameters, each after its interval."""
    for p in params:
        if p.interval_us > 0:
            time.sleep(p.interval_us / 1e6)
        if p.HasField("compressed"):
            if p.compressed.value:
                if not compression_set[0]:
                    context.set_compression(grpc.Compression.Gzip)
                    compression_set[0] = True
            else:
                context.disable_next_message_compression()
        yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))


def streaming_output_call(request, context):
    echo_metadata(context)
    end_with_echo_status(request, context)
    yield from respond(request.response_parameters, context, [False])


def streaming_input_call(request_iterator, context):
    echo_metadata(context)
    total = sum(len(r.payload.body) for r in request_iterator)
    return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)


def full_duplex_call(request_iterator, context):
    echo_metadata(context)
    compression_set = [False]
    for request in request_iterator:
        end_with_echo_status(request, context)
        yield from respond(request.response_parameters, context, compression_set)


def half_duplex_call(request_iterator, context):
    echo_metadata(context)
    requests = list(request_iterator)
    compression_set = [False]
    for request in requests:
        end_with_echo_status(request, context)
        yield from respond(request.response_parameters, context, compression_set)


def handler():
    de = empty_pb2.Empty.FromString
    se = empty_pb2.Empty.SerializeToString
    simple = dict(request_deserializer=messages_pb2.SimpleRequest.FromString,
                  response_serializer=messages_pb2.SimpleResponse.SerializeToString)
    out = dict(request_deserializer=messages_pb2.StreamingOutputCallRequest.FromString,
               response_serializer=messages_pb2.StreamingOutputCallResponse.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, {
        "EmptyCall": grpc.unary_unary_rpc_method_handler(
            empty_call, request_deserializer=de, response_serializer=se),
        "UnaryCall": grpc.unary_unary_rpc_method_handler(unary_call, **simple),
        "CacheableUnaryCall": grpc.unary_unary_rpc_method_handler(cacheable_unary_call, **simple),
        "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(streaming_output_call, **out),
        "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
            streaming_input_call,
            request_deserializer=messages_pb2.StreamingInputCallRequest.FromString,
            response_serializer=messages_pb2.StreamingInputCallResponse.SerializeToString),
        "FullDuplexCall": grpc.stream_stream_rpc_method_handler(full_duplex_call, **out),
        "HalfDuplexCall": grpc.stream_stream_rpc_method_handler(half_duplex_call, **out),
    })


def main():
    flags = parse_flags(sys.argv[1:], {"port": "0", "use_tls": "false", "max_seconds": "600",
                                       "tls_cert_file": "", "tls_key_file": ""})
    creds = None
    if truthy(flags["use_tls"]):
        if not flags["tls_cert_file"] or not flags["tls_key_file"]:
            raise SystemExit("--use_tls=true needs --tls_cert_file and --tls_key_file")
        with open(flags["tls_cert_file"], "rb") as f:
            cert = f.read()
        with open(flags["tls_key_file"], "rb") as f:
            key = f.read()
        creds = grpc.ssl_server_credentials([(key, cert)])
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                 ("grpc.max_send_message_length", MAX_MESSAGE)])
    server.add_generic_rpc_handlers((handler(),))
    addr = "127.0.0.1:%d" % int(flags["port"])
    if creds is None:
        port = server.add_insecure_port(addr)
    else:
        port = server.add_secure_port(addr, creds)
    server.start()
    print("PORT %d" % port, flush=True)
    done = threading.Event()
    done.wait(float(flags["max_seconds"]))
    server.stop(0)


if __name__ == "__main__":
    main()
