"""A tiny round-robin reverse proxy for tests (standard library only).

Like nginx's default upstream: each request goes to the next upstream in turn, and one that
refuses the connection is skipped for the next (``proxy_next_upstream error``), so a replica
killed mid-test costs no update. ``served`` records which upstream answered each request.

    with RoundRobinProxy(["http://127.0.0.1:8001", "http://127.0.0.1:8002"]) as proxy:
        ...  # POST to proxy.url + "/telegram"
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of updates must not lose SYNs
    proxy: RoundRobinProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-request
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        status, reply, reply_type = self.server.proxy._forward(
            self.command, self.path, headers, body
        )
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", reply_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    do_GET = do_POST


class RoundRobinProxy:
    """Forward every request to the next of ``upstreams`` (base URLs), skipping dead ones."""

    def __init__(self, upstreams: list[str], timeout: float = 30.0) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.served: list[str] = []  # the upstream that answered each request, in order
        self._next = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.proxy = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> RoundRobinProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def _order(self) -> list[str]:
        with self._lock:
            start, self._next = self._next, (self._next + 1) % len(self.upstreams)
        return self.upstreams[start:] + self.upstreams[:start]

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        for upstream in self._order():
            parts = urlsplit(upstream)
            connection = http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout
            )
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                reply = response.read()
            except ConnectionError:  # refused or reset: try the next upstream
                continue
            except OSError:
                return 504, b"upstream timed out", "text/plain"
            finally:
                connection.close()
            with self._lock:
                self.served.append(upstream)
            return response.status, reply, response.getheader("Content-Type") or "text/plain"
        return 502, b"no upstream answered", "text/plain"
