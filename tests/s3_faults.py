"""A small fault-injecting TCP proxy in front of the loopback S3 server: it reads each HTTP
request, and either answers it with a fault (a 503 SlowDown, a connection reset, or no answer
at all until the proxy closes: a stall) or passes it on to the server and its answer back, one
request per connection.

Which request gets a fault is decided by a `plan`: a callable taking the request's method,
path and headers (names in lower case) and returning "503", "reset", "stall" or None (pass it
on).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

Plan = Callable[[str, str, dict[str, str]], str | None]

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def faults_per_request(count: int, kind: str) -> Plan:
    """The first `count` tries of every distinct request (client, method, path, range) get
    `kind`: a burst every request of the run meets, then the server's answer."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    lock = threading.Lock()

    def plan(verb: str, path: str, headers: dict[str, str]) -> str | None:
        request = (client_of(headers), verb, path, headers.get("range", ""))
        with lock:
            seen[request] += 1
            return kind if seen[request] <= count else None

    return plan


def client_of(headers: dict[str, str]) -> str:
    """`duckdb` or `botocore` (s3fs), from the User-Agent; `other` for anything else."""
    agent = headers.get("user-agent", "").lower()
    return next((name for name in ("duckdb", "botocore") if name in agent), "other")


def faults_on(key: str, kind: str, client: str = "") -> Plan:
    """Every request for an object whose path ends with `key` gets `kind`, for ever; only
    those of the client whose User-Agent holds `client` when given (`duckdb`, `botocore`)."""

    def plan(verb: str, path: str, headers: dict[str, str]) -> str | None:
        mine = not client or client_of(headers) == client
        return kind if mine and path.split("?")[0].endswith(key) else None

    return plan


class FaultProxy:
    """The proxy: `endpoint` is its URL; `plan` may be changed at any time; `faults` counts
    the faults given to each client (`duckdb`, `botocore`, `other`); `stalled` is set once a
    request is held unanswered (its client then waits, for a test to kill it there)."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname, target.port)
        self.plan: Plan = lambda *_: None
        self.faults: Counter[str] = Counter()
        self.stalled = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                head, body = _read_request(client)
            except OSError:
                return
            if not head:
                return
            lines = head.decode("latin-1").split("\r\n")
            verb, path, _ = lines[0].split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            fault = self.plan(verb, path, headers)
            if fault is not None:
                self.faults[client_of(headers)] += 1
            if fault == "stall":
                self.stalled.set()
                self._closed.wait()  # no answer, the connection open, until the proxy closes
                return
            if fault == "reset":
                # SO_LINGER 0: close() sends a RST instead of a FIN
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if fault == "503":
                body = b"" if verb == "HEAD" else _SLOW_DOWN  # a HEAD answer has no body
                client.sendall(
                    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                    + f"Content-Length: {len(_SLOW_DOWN)}\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + body
                )
                return
            self._forward(client, lines, body)

    def _forward(self, client: socket.socket, lines: list[str], body: bytes) -> None:
        # the body is read already: no second `100 Continue` for the client from the server
        dropped = ("connection:", "expect:")
        kept = [line for line in lines[1:] if line and not line.lower().startswith(dropped)]
        request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        with socket.create_connection(self._upstream) as server:
            server.sendall(request + body)
            while chunk := server.recv(1 << 16):
                client.sendall(chunk)


def _read_request(client: socket.socket) -> tuple[bytes, bytes]:
    """One request's head (without its blank line) and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(1 << 16)
        if not chunk:
            return b"", b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length, expect = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        expect |= name.strip().lower() == b"expect" and b"100-continue" in value.lower()
    if expect and len(body) < length:  # the client (aiohttp: s3fs writes) waits for this
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    while len(body) < length:
        chunk = client.recv(1 << 16)
        if not chunk:
            break
        body += chunk
    return head, body


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
