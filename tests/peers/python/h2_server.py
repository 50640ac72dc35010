"""python-h2 as an HTTP/2 echo server for a grpc-sansio client.

Usage: h2_server.py STREAMS

Listens on 127.0.0.1 on an ephemeral port and prints "PORT n" on stdout,
accepts one connection, and answers every request with the echo protocol
described in h2peer.py. Once STREAMS requests have been answered in full it
sends a graceful GOAWAY (NO_ERROR, last stream id = the highest it saw),
waits for the client to close TCP, and prints "SUMMARY {json}".
"""

import socket
import sys
import time

import h2.config
import h2.connection

from h2peer import DEADLINE_SECONDS, Peer, emit, header


def main():
    expected = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(DEADLINE_SECONDS)
    print("PORT %d" % listener.getsockname()[1], flush=True)

    sock, _ = listener.accept()
    listener.close()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    peer = Peer(sock, h2.connection.H2Connection(config=config))
    peer.conn.initiate_connection()
    peer.flush()

    answered = set()
    paths = []
    received = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(answered) < expected or peer.outgoing:
        assert time.monotonic() < deadline, "timed out: answered %d of %d" % (
            len(answered), expected)
        assert not peer.eof, "client closed early: answered %d of %d" % (
            len(answered), expected)
        peer.pump()
        for sid, st in list(peer.streams.items()):
            if not st.ended or sid in answered:
                continue
            answered.add(sid)
            body = bytes(st.body)
            received += len(body)
            method = header(st.headers, b":method")
            path = header(st.headers, b":path")
            paths.append(path.decode())
            peer.conn.send_headers(sid, [
                (b":status", b"200"),
                (b"content-type", b"application/octet-stream"),
                (b"x-method", method),
                (b"x-path", path),
                (b"x-request-bytes", str(len(body)).encode()),
            ])
            trailers = [(b"x-body-len", str(len(body)).encode())]
            for k, v in st.trailers or []:
                trailers.append((b"x-echo-" + k, v))
            peer.queue_body(sid, body, trailers)

    # Graceful end: GOAWAY NO_ERROR naming the last stream processed.
    peer.close(last_stream_id=max(answered))
    peer.drain_to_eof()

    emit({
        "streams": len(answered),
        "bytes_received": received,
        "paths": sorted(paths),
        "window_updates": peer.window_updates,
        "last_stream_id": max(answered),
        "request_trailers": {
            header(st.headers, b":path").decode(): [[k.decode(), v.decode()] for k, v in st.trailers]
            for st in peer.streams.values() if st.trailers
        },
        "dropped_after_goaway": peer.dropped_after_goaway,
        "eof": peer.eof,
    })


if __name__ == "__main__":
    main()
