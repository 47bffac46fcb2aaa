"""A fake web server for link tests: article pages, redirects, huge, slow and binary bodies.

A standard-library ``ThreadingHTTPServer`` on 127.0.0.1 (free port) in a daemon thread. Each
path maps to a ``Route``: a status, headers and a body, or a generator of body parts so a
huge or slow body is produced on demand (``sent`` counts the bytes that went out, so a test
can prove a 50 MB body was not read to the end). ``requests`` records every path and Host
header seen.

``news_page`` builds a page the way news sites do: navigation menu, cookie banner, share
buttons, the article, a "related articles" list, a newsletter box and a footer.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = bytes | Callable[[], Iterable[bytes]]


@dataclass
class Route:
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    body: Body = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Announce this Content-Length instead of the body's (None: the body's, or none at all
    # for a generated body, which is then delimited by closing the connection).
    content_length: int | None = None


def repeat(part: bytes, total: int, delay: float = 0.0) -> Callable[[], Iterator[bytes]]:
    """A body of ``total`` bytes made of ``part``, optionally dripped with a delay per part."""

    def parts() -> Iterator[bytes]:
        left = total
        while left > 0:
            if delay:
                time.sleep(delay)
            piece = part[:left]
            left -= len(piece)
            yield piece

    return parts


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeWebServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a capped download, a timeout test) is not the fake's
        error: only anything else is printed, as the standard server does."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.requests.append((path, self.headers.get("Host", "")))
        route = owner.routes.get(path) or Route(status=404, body=b"<h1>Not found</h1>")
        generated = callable(route.body)
        static = b"" if callable(route.body) else route.body
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        for name, value in route.headers.items():
            self.send_header(name, value.replace("{base}", owner.base_url))
        length = route.content_length if route.content_length is not None else len(static)
        if generated and route.content_length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        parts: Iterable[bytes] = route.body() if callable(route.body) else [static]
        try:
            for part in parts:
                self.wfile.write(part)
                self.wfile.flush()
                with owner.lock:
                    owner.sent[path] = owner.sent.get(path, 0) + len(part)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class FakeWebServer:
    """``with FakeWebServer() as web: web.routes["/a"] = Route(body=...); web.url("/a")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        self.base_url = ""
        self._httpd: _HTTPServer | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def start(self) -> FakeWebServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeWebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_MENU = ["Home", "Politics", "Business", "Technology", "Sport", "Culture", "Opinion", "Video"]
_RELATED = [
    "City council approves new budget for road repairs",
    "Five things to know before the trade fair opens",
    "Opinion: why the die-casting boom needs skilled workers",
    "Photo gallery: the summit in pictures",
    "Weather: heavy rain expected across the province this weekend",
]


def news_page(
    title: str, paragraphs: Iterable[str], *, site: str = "Xijiang Daily", published: str = ""
) -> str:
    """A realistic article page around ``paragraphs``, with all the clutter of a news site;
    ``published`` (ISO) goes in the page's metadata, as news sites write it."""
    esc = html.escape
    when = f'<meta property="article:published_time" content="{esc(published)}">'
    when = when if published else ""
    menu = "".join(f'<li><a href="/section/{m.lower()}">{m}</a></li>' for m in _MENU)
    related = "".join(
        f'<li><a href="/news/{i}"><h3>{esc(r)}</h3></a><span class="date">2 hours ago</span></li>'
        for i, r in enumerate(_RELATED)
    )
    body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(title)} | {esc(site)}</title>
<meta property="og:title" content="{esc(title)}">
<meta property="og:site_name" content="{esc(site)}">{when}
<meta name="description" content="Latest news from {esc(site)}.">
<script>window.dataLayer = window.dataLayer || [];
function gtag(){{dataLayer.push(arguments);}}</script>
<style>.cookie-banner {{ position: fixed; bottom: 0; }}</style>
</head><body>
<div id="cookie-banner" class="cookie-banner" role="dialog">
  <p>We use cookies to improve your experience, personalise advertising and analyse our
  traffic. By clicking "Accept all" you consent to our use of cookies as described in our
  Cookie Policy. You can change your preferences at any time.</p>
  <button>Accept all</button><button>Reject</button><a href="/cookies">Cookie settings</a>
</div>
<header class="site-header"><a class="logo" href="/">{esc(site)}</a>
  <nav class="main-nav"><ul>{menu}</ul></nav>
  <form class="search"><input name="q" placeholder="Search"></form>
  <a href="/subscribe" class="subscribe">Subscribe for $1 a week</a>
</header>
<main>
<div class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/section/business">Business</a></div>
<article class="story">
  <h1 class="headline">{esc(title)}</h1>
  <div class="byline">By Staff Reporter | Published 29 March 2024, 08:15</div>
  <div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on X</a>
  <a href="#">Copy link</a></div>
  <div class="article-body">{body}</div>
  <div class="tags">Tags: <a href="/tag/industry">industry</a>, <a href="/tag/ev">EV</a></div>
</article>
<aside class="related"><h2>Related articles</h2><ul>{related}</ul></aside>
<aside class="newsletter"><h2>Get the morning briefing</h2>
  <p>Sign up for our free newsletter and never miss a story. Delivered every weekday.</p>
  <form><input type="email" placeholder="Your email"><button>Sign up</button></form></aside>
<section class="comments"><h2>Comments (3)</h2>
  <div class="comment">Great news for the city! Finally some investment.</div></section>
</main>
<footer><p>© 2024 {esc(site)}. All rights reserved.</p>
  <ul><li><a href="/about">About us</a></li><li><a href="/privacy">Privacy policy</a></li>
  <li><a href="/contact">Contact</a></li><li><a href="/ads">Advertise with us</a></li></ul>
</footer>
<script src="/static/app.js"></script>
</body></html>"""
