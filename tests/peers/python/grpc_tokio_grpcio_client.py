"""grpcio as a client of grpc-sansio-tokio's test server (test.Test).

Usage: grpc_tokio_grpcio_client.py PORT [--tls CA_PEM_FILE]

With --tls the channel is TLS, trusting CA_PEM_FILE, and expects the
server's certificate to name "localhost".

Runs every scenario against 127.0.0.1:PORT with raw-bytes methods (no
generated code), records what it saw, and prints one line
`SUMMARY {json}` that tests/tests/tokio_peers.rs checks. A scenario that
raises records the exception text instead of its result.
"""

import base64
import json
import sys
import time

import grpc

PORT = int(sys.argv[1])
TIMEOUT = 10.0


def b64(b):
    return base64.b64encode(b).decode()


def md_dict(md):
    out = {}
    for k, v in md or ():
        out[k] = b64(v) if isinstance(v, bytes) else v
    return out


def main():
    results = {}
    if "--tls" in sys.argv:
        with open(sys.argv[sys.argv.index("--tls") + 1], "rb") as f:
            ca = f.read()
        channel = grpc.secure_channel(
            f"127.0.0.1:{PORT}",
            grpc.ssl_channel_credentials(root_certificates=ca),
            options=(("grpc.ssl_target_name_override", "localhost"),),
        )
    else:
        channel = grpc.insecure_channel(f"127.0.0.1:{PORT}")
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)

    def method(kind, name):
        return getattr(channel, kind)(f"/test.Test/{name}")

    def scenario(name):
        def wrap(f):
            try:
                results[name] = f()
            except Exception as e:  # noqa: BLE001 - recorded for the test
                results[name] = {"exception": repr(e)}
            return f

        return wrap

    @scenario("echo")
    def _():
        resp, call = method("unary_unary", "Echo").with_call(
            b"ping",
            metadata=(("x-hello", "world"), ("x-bin-bin", b"\x00\x9f\x92\x96\xff")),
            timeout=TIMEOUT,
        )
        return {
            "message": resp.decode(),
            "initial": md_dict(call.initial_metadata()),
            "trailing": md_dict(call.trailing_metadata()),
            "code": call.code().name,
        }

    @scenario("fail")
    def _():
        try:
            method("unary_unary", "Fail")(b"", timeout=TIMEOUT)
            return {"unexpected": "success"}
        except grpc.RpcError as e:
            return {
                "code": e.code().name,
                "details": e.details(),
                "trailing": md_dict(e.trailing_metadata()),
            }

    @scenario("count")
    def _():
        call = method("unary_stream", "Count")(b"5", timeout=TIMEOUT)
        msgs = [m.decode() for m in call]
        return {
            "messages": msgs,
            "initial": md_dict(call.initial_metadata()),
            "trailing": md_dict(call.trailing_metadata()),
            "code": call.code().name,
        }

    @scenario("join")
    def _():
        resp = method("stream_unary", "Join")(iter([b"a", b"bb", b"ccc"]), timeout=TIMEOUT)
        return {"message": resp.decode()}

    @scenario("shout")
    def _():
        call = method("stream_stream", "Shout")(iter([b"one", b"two", b"three"]), timeout=TIMEOUT)
        return {"messages": [m.decode() for m in call], "code": call.code().name}

    @scenario("deadline")
    def _():
        started = time.monotonic()
        try:
            method("unary_unary", "Sleep")(b"5000", timeout=0.3)
            return {"unexpected": "success"}
        except grpc.RpcError as e:
            return {"code": e.code().name, "elapsed": time.monotonic() - started}

    @scenario("cancel")
    def _():
        fut = method("unary_unary", "Sleep").future(b"10000", timeout=TIMEOUT)
        time.sleep(0.5)
        fut.cancel()
        # Give the RST_STREAM time to reach the server before the next call.
        time.sleep(0.3)
        return {"cancelled": fut.cancelled()}

    @scenario("gzip")
    def _():
        big = b"z" * 100000
        resp, call = method("unary_unary", "Echo").with_call(
            big, compression=grpc.Compression.Gzip, timeout=TIMEOUT
        )
        return {"len": len(resp), "same": resp == big}

    @scenario("deflate")
    def _():
        big = b"d" * 100000
        try:
            resp, call = method("unary_unary", "Echo").with_call(
                big, compression=grpc.Compression.Deflate, timeout=TIMEOUT
            )
            return {"len": len(resp), "same": resp == big}
        except grpc.RpcError as e:
            return {"code": e.code().name}

    @scenario("unimplemented")
    def _():
        try:
            channel.unary_unary("/test.Test/Nope")(b"", timeout=TIMEOUT)
            return {"unexpected": "success"}
        except grpc.RpcError as e:
            return {"code": e.code().name, "details": e.details()}

    channel.close()
    print("SUMMARY " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
