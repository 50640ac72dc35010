"""Shared plumbing of the python-h2 peers used by grpc-sansio's real-peer tests.

A `Peer` owns one TCP socket and one `h2.connection.H2Connection`. It moves
bytes between them, keeps per-stream bookkeeping for the echo protocol the
tests speak, and sends request or response bodies within the flow-control
windows the remote side grants. Every wait is bounded by a wall-clock
deadline so a broken peer fails fast instead of hanging the test run.

The echo protocol (both roles speak it, so either side can be checked):
  request   HEADERS (:method, :path, ...), body DATA, optional trailers
  response  HEADERS :status 200, x-method, x-path, x-request-bytes
            DATA      the request body, byte for byte
            trailers  x-body-len = body length, and x-echo-NAME = VALUE
                      for every request trailer NAME: VALUE
"""

import json
import socket
import sys
import time

import h2.events
import h2.exceptions

# The tests run each scenario within this many seconds, whatever happens.
DEADLINE_SECONDS = 10.0


def pattern(n, seed=0):
    """A deterministic body of n bytes; the Rust side builds the same one."""
    return bytes(((i * 31 + seed * 7 + 7) % 251) for i in range(n))


def emit(summary):
    """Print the one-line JSON summary the Rust test parses."""
    sys.stdout.write("SUMMARY " + json.dumps(summary, sort_keys=True) + "\n")
    sys.stdout.flush()


class Outgoing:
    """What is left to send on one stream."""

    def __init__(self, body, trailers, end_after_body=True):
        self.body = body
        self.offset = 0
        self.trailers = trailers
        self.end_after_body = end_after_body
        self.done = False


class Stream:
    """What arrived on one stream."""

    def __init__(self):
        self.headers = None
        self.body = bytearray()
        self.trailers = None
        self.ended = False
        self.reset_code = None


class Peer:
    def __init__(self, sock, conn, deadline=None):
        self.sock = sock
        self.conn = conn
        self.sock.settimeout(0.05)
        self.deadline = deadline or (time.monotonic() + DEADLINE_SECONDS)
        self.outgoing = {}
        self.streams = {}
        self.eof = False
        self.terminated = None
        self.ping_acks = []
        self.window_updates = 0
        self.settings_acked = 0
        self.events = []
        # Set once we sent GOAWAY: python-h2 then refuses every frame but
        # GOAWAY, although a peer may rightly still send WINDOW_UPDATE or
        # PING. Such input is counted and dropped.
        self.closing = False
        self.dropped_after_goaway = 0

    # -- bytes --------------------------------------------------------------

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        """Send what is pending, wait briefly for bytes, feed them to h2.
        Returns the events they produced."""
        self.push_bodies()
        self.flush()
        if self.eof:
            time.sleep(0.01)
            return []
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return []
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return []
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            if not self.closing:
                raise
            self.dropped_after_goaway += len(data)
            return []
        for ev in events:
            self.on_event(ev)
        self.events.extend(events)
        self.push_bodies()
        self.flush()
        return events

    def run_until(self, cond, what):
        while not cond():
            if time.monotonic() > self.deadline:
                raise AssertionError("timed out waiting for " + what)
            if self.eof and not cond():
                raise AssertionError("connection closed while waiting for " + what)
            self.pump()

    def close(self, **kwargs):
        """Send GOAWAY (h2's close_connection) and flush it."""
        self.conn.close_connection(**kwargs)
        self.closing = True
        self.flush()

    def drain_to_eof(self):
        """Read until the remote side closes the TCP connection."""
        while not self.eof:
            if time.monotonic() > self.deadline:
                raise AssertionError("timed out waiting for the remote side to close TCP")
            self.pump()

    # -- events -------------------------------------------------------------

    def stream(self, sid):
        return self.streams.setdefault(sid, Stream())

    def on_event(self, ev):
        if isinstance(ev, (h2.events.RequestReceived, h2.events.ResponseReceived)):
            self.stream(ev.stream_id).headers = list(ev.headers)
        elif isinstance(ev, h2.events.TrailersReceived):
            self.stream(ev.stream_id).trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.stream(ev.stream_id).body.extend(ev.data)
            # The application consumed it: give the window back.
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.stream(ev.stream_id).ended = True
        elif isinstance(ev, h2.events.StreamReset):
            self.stream(ev.stream_id).reset_code = int(ev.error_code)
            self.outgoing.pop(ev.stream_id, None)
        elif isinstance(ev, h2.events.WindowUpdated):
            self.window_updates += 1
        elif isinstance(ev, h2.events.PingAckReceived):
            self.ping_acks.append(ev.ping_data)
        elif isinstance(ev, h2.events.SettingsAcknowledged):
            self.settings_acked += 1
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    # -- sending bodies within the windows -----------------------------------

    def queue_body(self, sid, body, trailers=None, end=True):
        self.outgoing[sid] = Outgoing(body, trailers, end)
        self.push_bodies()

    def push_bodies(self):
        for sid, out in list(self.outgoing.items()):
            while out.offset < len(out.body):
                room = min(
                    self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size,
                    len(out.body) - out.offset,
                )
                if room <= 0:
                    break
                chunk = out.body[out.offset:out.offset + room]
                out.offset += room
                last = out.offset == len(out.body)
                end = last and out.trailers is None and out.end_after_body
                self.conn.send_data(sid, chunk, end_stream=end)
            if out.offset == len(out.body):
                if out.trailers is not None:
                    self.conn.send_headers(sid, out.trailers, end_stream=True)
                elif out.end_after_body and not out.body:
                    self.conn.end_stream(sid)
                out.done = True
                del self.outgoing[sid]


def header(headers, name):
    """The value of the first field called `name` (bytes), or None."""
    for k, v in headers or []:
        if k == name:
            return v
    return None


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
