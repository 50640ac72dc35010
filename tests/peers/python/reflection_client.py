"""grpcio-reflection's descriptor database (the v1alpha service) and a
raw v1 call against our server's reflection service, which serves the
descriptors of the interop protos (grpc.testing).

Usage: reflection_client.py <port>. Prints `SUMMARY <json>` with what it
saw and exits 1 on a failed check.
"""
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from summary import check, failures, run, seen


def main():
    port = int(sys.argv[1])
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(ch).result(timeout=10)

    # v1alpha, through grpcio's own client: a descriptor pool built from
    # what the server sends.
    db = ProtoReflectionDescriptorDatabase(ch)
    seen["services"] = sorted(db.get_services())
    pool = descriptor_pool.DescriptorPool(db)
    svc = pool.FindServiceByName("grpc.testing.TestService")
    seen["methods"] = sorted(m.name for m in svc.methods)
    req = pool.FindMessageTypeByName("grpc.testing.SimpleRequest")
    seen["simple_request_fields"] = sorted(f.name for f in req.fields)
    seen["unary_input"] = svc.methods_by_name["UnaryCall"].input_type.full_name
    try:
        pool.FindMessageTypeByName("grpc.testing.NoSuchThing")
        failures.append("an unknown symbol was found")
    except KeyError:
        seen["unknown"] = "KeyError"

    # v1, by hand (same messages as v1alpha): two requests on one call.
    info = ch.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [
        reflection_pb2.ServerReflectionRequest(
            host="h", file_containing_symbol="grpc.testing.TestService.EmptyCall"
        ),
        reflection_pb2.ServerReflectionRequest(host="h", file_by_filename="grpc/testing/empty.proto"),
        reflection_pb2.ServerReflectionRequest(host="h", file_by_filename="no/such.proto"),
    ]
    answers = list(info(iter(requests), timeout=10))
    names = []
    for a in answers[:2]:
        files = []
        for raw in a.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files.append(fd.name)
        names.append(files)
    seen["v1_files"] = names
    seen["v1_host"] = answers[0].valid_host
    seen["v1_original"] = answers[0].original_request.file_containing_symbol
    seen["v1_error"] = [answers[2].error_response.error_code, answers[2].error_response.error_message]


run(main)
