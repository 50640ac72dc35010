"""Shared by the grpclib peers of the blocking tests: a raw-bytes codec so
that no generated code is needed."""
from grpclib.encoding.base import CodecBase


class RawCodec(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message, message_type):
        return bytes(message)

    def decode(self, data, message_type):
        return bytes(data)
