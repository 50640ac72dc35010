"""python-h2 as an HTTP/2 client against a grpc-sansio server on 127.0.0.1.

Usage: h2_client.py PORT echo        the echo scenario (see below)
       h2_client.py PORT idle-data   break a rule: DATA on an idle stream

Both print one line "SUMMARY {json}" on stdout and exit 0 when every check
of their own passed; an AssertionError (exit 1, traceback on stderr) says
which one did not.

echo: pings the server, opens 54 streams at once (a GET, small and large
POST bodies, a request with trailers, and 50 small concurrent POSTs),
checks every echoed response head, body and trailer, then opens one more
stream and resets it with CANCEL, pings again so the reset is known to be
processed, and ends with a graceful GOAWAY, waiting for the server to
close TCP.
"""

import struct
import sys

import h2.config
import h2.connection
import h2.errors

from h2peer import Peer, connect, emit, header, pattern

BIG = 200_000
MANY = 50


def request_head(method, path, extra=()):
    return [
        (b":method", method),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", b"127.0.0.1"),
    ] + list(extra)


def new_conn():
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    return h2.connection.H2Connection(config=config)


def echo(port):
    peer = Peer(connect(port), new_conn())
    conn = peer.conn
    conn.initiate_connection()
    conn.ping(b"pyping01")
    peer.flush()

    plan = [
        (b"GET", b"/get", b"", None),
        (b"POST", b"/small", b"hello from python h2", None),
        (b"POST", b"/big", pattern(BIG), None),
        (b"POST", b"/trailers", b"body before trailers",
         [(b"x-req-trailer", b"abc"), (b"x-second", b"2")]),
    ]
    for i in range(MANY):
        plan.append((b"POST", b"/many/%d" % i, (b"stream %d " % i) * (i + 1), None))

    sent = {}
    for method, path, body, trailers in plan:
        sid = conn.get_next_available_stream_id()
        no_body = not body and trailers is None
        conn.send_headers(sid, request_head(method, path), end_stream=no_body)
        if not no_body:
            peer.queue_body(sid, body, trailers)
        sent[sid] = (method, path, body, trailers)
    peer.flush()

    peer.run_until(lambda: all(peer.stream(s).ended for s in sent), "all echo responses")
    peer.run_until(lambda: b"pyping01" in peer.ping_acks, "the first PING ACK")

    statuses = []
    for sid, (method, path, body, trailers) in sent.items():
        st = peer.stream(sid)
        assert st.reset_code is None, (path, st.reset_code)
        status = header(st.headers, b":status")
        statuses.append(status.decode())
        assert status == b"200", (path, st.headers)
        assert header(st.headers, b"x-method") == method, (path, st.headers)
        assert header(st.headers, b"x-path") == path, (path, st.headers)
        assert header(st.headers, b"x-request-bytes") == str(len(body)).encode(), path
        assert bytes(st.body) == body, (path, len(st.body), len(body))
        want = [(b"x-body-len", str(len(body)).encode())]
        for k, v in trailers or []:
            want.append((b"x-echo-" + k, v))
        assert st.trailers == want, (path, st.trailers, want)

    by_path = {sent[s][1]: peer.stream(s) for s in sent}
    big = by_path[b"/big"]
    trailer_stream = by_path[b"/trailers"]

    # A stream the client abandons half way: RST_STREAM CANCEL.
    reset_sid = conn.get_next_available_stream_id()
    conn.send_headers(reset_sid, request_head(b"POST", b"/reset"))
    conn.send_data(reset_sid, b"partial")
    peer.flush()
    conn.reset_stream(reset_sid, h2.errors.ErrorCodes.CANCEL)
    conn.ping(b"pyping02")
    peer.flush()
    peer.run_until(lambda: b"pyping02" in peer.ping_acks, "the second PING ACK")
    assert peer.stream(reset_sid).headers is None, "no response to a reset stream"

    # Graceful end: our GOAWAY, then the server answers and closes TCP.
    peer.close()
    peer.drain_to_eof()

    emit({
        "streams": len(sent),
        "statuses_200": statuses.count("200"),
        "bytes_sent": sum(len(v[2]) for v in sent.values()),
        "bytes_received": sum(len(peer.stream(s).body) for s in sent),
        "big_len": len(big.body),
        "big_matches": bytes(big.body) == pattern(BIG),
        "trailers": [[k.decode(), v.decode()] for k, v in trailer_stream.trailers],
        "response_head": [[k.decode(), v.decode()] for k, v in big.headers],
        "window_updates": peer.window_updates,
        "ping_acks": [p.decode() for p in peer.ping_acks],
        "reset_stream": reset_sid,
        "server_goaway": None if peer.terminated is None else {
            "code": int(peer.terminated.error_code),
            "last_stream_id": peer.terminated.last_stream_id,
        },
        "eof": peer.eof,
    })


def idle_data(port):
    """DATA on stream 1, which was never opened: RFC 9113 §5.1 makes that a
    connection error of type PROTOCOL_ERROR."""
    peer = Peer(connect(port), new_conn())
    peer.conn.initiate_connection()
    peer.flush()
    payload = b"test"
    # Frame header: 24-bit length, type 0 (DATA), flags END_STREAM, stream 1.
    raw = struct.pack(">I", len(payload))[1:] + bytes([0x0, 0x1]) + struct.pack(">I", 1)
    peer.sock.sendall(raw + payload)
    peer.drain_to_eof()
    t = peer.terminated
    assert t is not None, "expected a GOAWAY before the close"
    assert int(t.error_code) == int(h2.errors.ErrorCodes.PROTOCOL_ERROR), t
    emit({
        "goaway_code": int(t.error_code),
        "last_stream_id": t.last_stream_id,
        "debug_data": (t.additional_data or b"").decode("latin-1"),
        "eof": peer.eof,
    })


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2]
    {"echo": echo, "idle-data": idle_data}[mode](port)


if __name__ == "__main__":
    main()
