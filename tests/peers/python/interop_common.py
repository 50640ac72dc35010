"""Shared pieces of the Python interop drivers (grpcio and grpclib).

The protobuf classes come from tests/proto, compiled with grpc_tools.protoc
into target/interop-py the first time a driver runs (and again whenever a
.proto file is newer than the generated code). Only the message files are
compiled: the drivers address methods by path, so no service stubs are
needed, and the generated modules live at the top level (`messages_pb2`)
so they never collide with grpcio's own `grpc` package.

Every driver reports one line per case on stdout:

    CASE <name> PASS <detail>
    CASE <name> FAIL <reason>

and ends with `SUMMARY {"passed": n, "failed": m}`. The exit status is 0
only when every case passed.
"""

import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO_DIR = os.path.join(ROOT, "tests", "proto", "grpc", "testing")
GEN_DIR = os.path.join(ROOT, "target", "interop-py")

# The sizes the interop descriptions use.
LARGE_REQUEST = 271828
LARGE_RESPONSE = 314159
STREAM_REQUESTS = [27182, 8, 1828, 45904]
STREAM_RESPONSES = [31415, 9, 2653, 58979]
VERY_LARGE_REQUEST = 10 * 1024 * 1024
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_VALUE = b"\xab\xab\xab"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"

SERVICE = "grpc.testing.TestService"

# Every credential-free case, in the order the drivers run them.
ALL_CASES = [
    "empty_unary",
    "cacheable_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "very_large_request",
    "rpc_soak",
    "channel_soak",
]


def _stale():
    outs = [os.path.join(GEN_DIR, n) for n in ("empty_pb2.py", "messages_pb2.py")]
    if not all(os.path.exists(p) for p in outs):
        return True
    newest_in = max(os.path.getmtime(os.path.join(PROTO_DIR, n))
                    for n in ("empty.proto", "messages.proto"))
    return newest_in > min(os.path.getmtime(p) for p in outs)


def load_messages():
    """Compile the messages if needed and return (empty_pb2, messages_pb2)."""
    if _stale():
        from grpc_tools import protoc
        os.makedirs(GEN_DIR, exist_ok=True)
        rc = protoc.main([
            "protoc",
            "-I" + PROTO_DIR,
            "--python_out=" + GEN_DIR,
            os.path.join(PROTO_DIR, "empty.proto"),
            os.path.join(PROTO_DIR, "messages.proto"),
        ])
        if rc != 0:
            raise SystemExit("protoc failed with %d" % rc)
    if GEN_DIR not in sys.path:
        sys.path.insert(0, GEN_DIR)
    import empty_pb2
    import messages_pb2
    return empty_pb2, messages_pb2


def parse_flags(argv, defaults):
    """`--name=value` or `--name value` flags into a dict seeded by defaults.
    Unknown flags are an error, so a typo never silently changes a run."""
    flags = dict(defaults)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise SystemExit("unexpected argument %r" % arg)
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise SystemExit("flag --%s needs a value" % name)
            i += 1
            value = argv[i]
        if name not in flags:
            raise SystemExit("unknown flag --%s" % name)
        flags[name] = value
        i += 1
    return flags


def truthy(value):
    return str(value).lower() in ("1", "true", "yes")


def case_list(spec, supported):
    """`all` or a comma list, checked against the cases this driver has."""
    names = supported if spec == "all" else [c for c in spec.split(",") if c]
    unknown = [c for c in names if c not in supported]
    if unknown:
        raise SystemExit("unknown test case(s): %s" % ", ".join(unknown))
    return names


class CaseFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CaseFailed(what)


def check_eq(got, want, what):
    if got != want:
        raise CaseFailed("%s: got %r, want %r" % (what, _short(got), _short(want)))


def _short(v):
    if isinstance(v, (bytes, str)) and len(v) > 64:
        return "%s... (%d long)" % (v[:16], len(v))
    return v


def run_cases(names, table, deadline_s=60.0):
    """Run each case (a function returning a short detail string) and report.
    Returns the process exit status."""
    passed = failed = 0
    for name in names:
        started = time.monotonic()
        try:
            detail = table[name]() or "ok"
            passed += 1
            print("CASE %s PASS %s (%.0f ms)" % (
                name, detail, (time.monotonic() - started) * 1000), flush=True)
        except Exception as e:  # every failure is reported, then the next case runs
            failed += 1
            reason = str(e) or type(e).__name__
            print("CASE %s FAIL %s" % (name, reason.replace("\n", " | ")), flush=True)
            if not isinstance(e, CaseFailed):
                traceback.print_exc(file=sys.stderr)
        if time.monotonic() - started > deadline_s:
            print("note: %s took over %.0f s" % (name, deadline_s), file=sys.stderr)
    print("SUMMARY " + json.dumps({"passed": passed, "failed": failed}), flush=True)
    return 0 if failed == 0 and passed == len(names) else 1
