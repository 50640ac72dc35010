"""Writes a serialized FileDescriptorSet (with imports) of .proto files,
using grpcio-tools' bundled protoc.

Usage: descriptor_set.py <out> <include dir> <file.proto>...
"""
import sys

from grpc_tools import protoc

out, include, *files = sys.argv[1:]
code = protoc.main(
    ["protoc", "-I" + include, "--include_imports", "--descriptor_set_out=" + out, *files]
)
sys.exit(code)
