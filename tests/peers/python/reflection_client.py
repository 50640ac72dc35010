"""grpcio-reflection's descriptor database (the v1alpha service) and a
raw v1 call against our server's reflection service, which serves the
descriptors of the interop protos (grpc.testing) and of the reflection
service itself. The reflection service's files are checked against the
descriptor protoc made of the published v1alpha reflection.proto, which
grpcio-reflection ships.

Usage: reflection_client.py <port>. Prints `SUMMARY <json>` with what it
saw and exits 1 on a failed check.
"""
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
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
    # `grpcurl describe` of the reflection service, through grpcio's pool.
    described = {}
    for name in ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"):
        rs = pool.FindServiceByName(name)
        described[name] = [
            [m.name, m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming]
            for m in rs.methods
        ]
    seen["reflection_described"] = described
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

    # The reflection service's own files, by name.
    requests = [
        reflection_pb2.ServerReflectionRequest(file_by_filename="grpc/reflection/v1/reflection.proto"),
        reflection_pb2.ServerReflectionRequest(file_by_filename="grpc/reflection/v1alpha/reflection.proto"),
    ]
    answers = list(info(iter(requests), timeout=10))
    served = []
    for a in answers:
        raw = a.file_descriptor_response.file_descriptor_proto
        check("one reflection file", len(raw) == 1, len(raw))
        served.append(descriptor_pb2.FileDescriptorProto.FromString(raw[0]))
    seen["reflection_files"] = [f.name for f in served]
    compare_with_published(*served)


def compare_with_published(v1, v1alpha):
    """Each served file equals protoc's descriptor of the published
    v1alpha file (v1: the same in package grpc.reflection.v1, not
    deprecated), json_name aside; and every json_name is the one
    protobuf's own runtime derives."""
    published = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    published.name = "grpc/reflection/v1alpha/reflection.proto"
    v1_text = text_format.MessageToString(published)
    v1_text = v1_text.replace("v1alpha", "v1").replace("deprecated: true\n", "")
    published_v1 = text_format.Parse(v1_text, descriptor_pb2.FileDescriptorProto())
    check("v1 is not deprecated", not published_v1.options.deprecated, published_v1.options)
    for want, got in ((published_v1, v1), (published, v1alpha)):
        # protobuf's runtime names fields for JSON as protoc does.
        runtime = descriptor_pool.DescriptorPool()
        runtime.AddSerializedFile(want.SerializeToString())
        bare = descriptor_pb2.FileDescriptorProto()
        bare.CopyFrom(got)
        for m in bare.message_type:
            full = "%s.%s" % (got.package, m.name)
            for f in m.field:
                expected = runtime.FindMessageTypeByName(full).fields_by_name[f.name].json_name
                check("%s.%s json_name" % (full, f.name), f.json_name == expected, f.json_name)
                check("%s.%s has json_name" % (full, f.name), f.HasField("json_name"), f)
                f.ClearField("json_name")
        check("%s as published" % got.name, bare == want, differences(bare, want))
    seen["reflection_files_checked"] = True


def differences(got, want):
    """The top-level parts of two FileDescriptorProtos that differ."""
    out = []
    for field in ("name", "package", "dependency", "message_type", "service", "options", "syntax"):
        a, b = getattr(got, field), getattr(want, field)
        if a != b:
            out.append("%s: %r, published %r" % (field, a, b))
    return out


run(main)
