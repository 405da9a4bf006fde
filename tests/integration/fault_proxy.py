"""A real TCP proxy between a gate and the server that misbehaves on request: it cuts, delays,
garbles or replaces the server's answers with real bytes on a real socket (no mock of the client).

Modes (``proxy.mode = "..."``, read when a connection is accepted):

- ``pass``: forward both ways untouched.
- ``refuse``: accept, then reset the connection at once (a dropped connection).
- ``drop_answer``: forward the request, let the server do its work, then close the connection
  before a byte of the answer reaches the gate (the worst case for exactly-once: the server stored
  the batch, the gate never heard so).
- ``truncate``: forward the first ``cut_bytes`` bytes of the answer, then close (a body shorter than
  its Content-Length, or headers cut off).
- ``garble``: every ``{`` of the answer becomes ``<`` (same length: the HTTP framing holds, the JSON
  does not).
- ``reshape``: ``"server_time"`` becomes ``"server_tim3"`` (valid JSON, not the protocol).
- ``busy``: answer ``503`` with ``Retry-After: 1`` in the API's error shape, without the server.
- ``slow``: drip the answer a byte every ``drip_seconds`` (never idle long enough for a read timeout).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

MODES = {"pass", "refuse", "drop_answer", "truncate", "garble", "reshape", "busy", "slow"}


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.cut_bytes = 60
        self.drip_seconds = 0.5
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_all()
        self._thread.join(timeout=5)

    def drop_all(self) -> None:
        """Close every open connection (a network blip): kept-alive connections die too."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            mode = self.mode
            assert mode in MODES, mode
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _serve(self, client: socket.socket, mode: str) -> None:
        self._track(client)
        if mode == "refuse":
            # SO_LINGER 0: close sends a reset, as a dropped link or a crashed peer does.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _close(client)
            return
        if mode == "busy":
            self._answer_busy(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        threading.Thread(target=self._pump, args=(client, upstream, "pass"), daemon=True).start()
        self._pump(upstream, client, mode)

    def _pump(self, source: socket.socket, sink: socket.socket, mode: str) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if mode == "drop_answer":
                    break
                if mode == "truncate":
                    data = data[: max(0, self.cut_bytes - sent)]
                    if not data:
                        break
                elif mode == "garble":
                    data = data.replace(b"{", b"<")
                elif mode == "reshape":
                    data = data.replace(b'"server_time"', b'"server_tim3"')
                if mode == "slow":
                    for byte in data:
                        sink.sendall(bytes([byte]))
                        time.sleep(self.drip_seconds)
                else:
                    sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)

    def _answer_busy(self, client: socket.socket) -> None:
        try:
            client.settimeout(5)
            _read_request(client)
            body = json.dumps({"error": {"code": "busy", "message": "the server is busy; retry"}}).encode()
            head = (
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Retry-After: 1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            client.sendall(head.encode() + body)
        except OSError:
            pass
        finally:
            _close(client)


def _read_request(sock: socket.socket) -> bytes:
    """One HTTP request: headers, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def fault_proxy(upstream_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()
