"""Fetch a link as a server must: only public web pages, a few redirects, bounded size and time.

The guard sits where the socket is opened. httpx runs on our own transport over an httpcore
pool whose network backend resolves each host itself, refuses the connection when any address
is private, loopback, link-local, multicast or reserved, and then connects to the very address
it checked (the URL keeps the host name, so the Host header, SNI and certificate check stay
right). Every connection goes through it, so every redirect hop is checked, and a DNS answer
that changes between a check and the connect (rebinding) cannot slip through. Redirects are
followed by hand to count them and to refuse non-http(s) targets. What is fetched (``Wanted``:
a page or document by default, a feed for ``feed``) sets the Accept header, the media types
taken and the lines of every refusal, so one request loop serves both.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from bot.core.errors import SourceError

MAX_REDIRECTS = 5
USER_AGENT = "Mozilla/5.0 (compatible; article-digest-bot; +https://github.com/)"
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.1"
# Media types read as a page, and documents handed to the document readers.
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "text/markdown"})
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
# Served as "binary" by many sites; accepted only when the link's name says PDF or Word.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})
_DOCUMENT_SUFFIXES = (".pdf", ".docx")


@dataclass(frozen=True)
class Fetched:
    """A body that passed every check, and what it claims to be."""

    url: str
    body: bytes
    media_type: str
    charset: str | None
    content_type: str = ""  # the Content-Type header as sent (a feed parser reads its charset)


@dataclass(frozen=True)
class Lines:
    """What each refusal says, by what is fetched: ``str.format`` templates over ``host`` (the
    link's, as given), ``seconds``, ``status`` (code and reason), ``media_type``, ``size`` and
    ``redirects``. These are a page's; a feed has its own (``feed.read_feed`` asks with them)."""

    timeout: str = "That page did not load within {seconds:g} s; try again later or send the text."
    unverified: str = "The secure connection to {host} could not be verified; check the link."
    unreachable: str = "Could not connect to {host}; check the link or try again later."
    broken_off: str = "The connection to {host} broke off; try again later or send the text."
    bad_redirect: str = "That link redirects to an invalid address."
    status: str = "The site answered {status}; check the link or send the text."
    media_type: str = (
        "That link is a {media_type}, not a web page or document; send a link to an article, "
        "a PDF or a Word file."
    )
    too_large: str = (
        "That page is larger than {size}, far more than an article; send the text instead."
    )
    compression: str = (
        "That site sent the page in a compression I can't read; send the text instead."
    )
    corrupt: str = "That page's compressed data is broken; try again later or send the text."
    redirects: str = (
        "That link redirects more than {redirects} times; send the final address or the text."
    )
    # A redirect whose target the guard refuses: None keeps the guard's own line (which names
    # the target's host); a template says it in terms of the link the user gave.
    redirect_private: str | None = None
    redirect_unreachable: str | None = None


@dataclass(frozen=True)
class Wanted:
    """What a caller fetches: its Accept header, the media types it takes (given the final
    URL, for types that only the link's name settles), and its lines."""

    accept: str
    takes: Callable[[str, httpx.URL], bool]
    lines: Lines


# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 (well-known and
# local-use prefixes) and the deprecated IPv4-compatible form. 6to4 and Teredo have their own
# properties in ``ipaddress``.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to ``ip`` may end up at (mapped, 6to4, Teredo, NAT64)."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)  # the relay server and the client behind it
    if any(ip in net for net in _NAT64) or ip in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def is_public_address(address: str) -> bool:
    """True for an address on the public internet; False for private, local and special ones,
    and for an IPv6 address that carries a private IPv4 one (6to4 2002:7f00:1::1 is 127.0.0.1)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _SITE_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded:
            if not all(_is_public(v4) for v4 in embedded):
                return False
            if ip.ipv4_mapped is not None:
                return True
    return _is_public(ip)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (tests replace this: they never use DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_NETWORK = httpcore.AnyIOBackend()


async def connect(
    address: str,
    port: int,
    connect_timeout: float | None,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
) -> httpcore.AsyncNetworkStream:
    """Open the TCP connection to an address already checked (tests route it to their server)."""
    return await _NETWORK.connect_tcp(
        address, port, timeout=connect_timeout, socket_options=socket_options
    )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def checked_address(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for ``host``, or a SourceError if it is not public."""
    host = host.strip("[]")
    if _is_ip_literal(host):
        addresses = [host]
    else:
        try:
            addresses = await resolve(host, port)
        except (socket.gaierror, UnicodeError):
            addresses = []
        if not addresses:
            raise SourceError(f"Could not find the site {host}; check the link.")
    if not allow_private and not all(is_public_address(a) for a in addresses):
        raise SourceError(
            f"That link leads to a private or local address ({host}); only public web pages "
            "can be fetched."
        )
    return addresses[0]


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks every host, then connects to the checked address itself."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port, allow_private=self._allow_private)
        return await connect(address, port, timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise SourceError("Only web links can be fetched.")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        await self._response.aclose()


class _CheckedTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool with the checking backend; no proxies, no environment."""

    def __init__(self, *, allow_private: bool) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # certifi's roots, as httpx itself
            max_connections=4,
            network_backend=_CheckedBackend(allow_private=allow_private),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def check_url(url: str | httpx.URL) -> httpx.URL:
    """The URL parsed, or a SourceError if it is not an http(s) link with a host."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except (httpx.InvalidURL, ValueError):
        raise SourceError("That link is not a valid web address; check it.") from None
    if parsed.scheme not in ("http", "https"):
        scheme = f" ({parsed.scheme}:)" if parsed.scheme else ""
        raise SourceError(f"Only http and https links can be read{scheme}.")
    if not parsed.host:
        raise SourceError("That link has no site name; check it.")
    if parsed.userinfo:
        # httpx would send it as Basic auth, and the link is kept with the article.
        raise SourceError(
            "That link has a user name or password in it; I don't send those to sites. "
            "Remove it from the link, or send the text."
        )
    return parsed


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


def _media_type(response: httpx.Response) -> tuple[str, str | None]:
    header = response.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    return media_type, response.charset_encoding


def _page_or_document(media_type: str, url: httpx.URL) -> bool:
    if media_type in PAGE_TYPES or media_type in DOCUMENT_TYPES:
        return True
    return media_type in _GENERIC_TYPES and url.path.lower().endswith(_DOCUMENT_SUFFIXES)


PAGES = Wanted(ACCEPT, _page_or_document, Lines())


def _refusal(template: str, **values: object) -> SourceError:
    return SourceError(template.format(**values))


def _too_large(max_bytes: int, lines: Lines, host: str) -> SourceError:
    return _refusal(lines.too_large, host=host, size=_megabytes(max_bytes))


class _Inflater:
    """One content-coding layer undone as the bytes arrive, never past ``limit`` bytes out.

    httpx inflates a whole network read at once (a few KB of ``gzip, gzip`` is gigabytes)
    before anyone can count it; here each call gets ``max_length`` and the body is refused
    the moment it passes the cap. Stacked or unknown codings are refused outright.
    """

    def __init__(self, coding: str, limit: int, lines: Lines, host: str) -> None:
        self._coding = coding
        self._limit = limit
        self._lines, self._host = lines, host
        self._out = 0
        self._head = b""  # deflate: the first bytes, until they say zlib or raw
        self._decoder: zlib._Decompress | None = None

    @classmethod
    def for_response(
        cls, response: httpx.Response, limit: int, lines: Lines, host: str
    ) -> _Inflater:
        codings = [
            c.strip().lower()
            for c in response.headers.get("content-encoding", "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1 or (codings and codings[0] not in _CODINGS):
            raise _refusal(lines.compression, host=host)
        return cls(codings[0] if codings else "identity", limit, lines, host)

    def feed(self, data: bytes) -> bytes:
        if self._coding == "identity":
            return self._count(data)
        if self._decoder is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            self._decoder = zlib.decompressobj(self._wbits(data))
        out = bytearray()
        try:
            while data and not (self._decoder.eof and self._coding == "deflate"):
                if self._decoder.eof:  # gzip members may follow one another
                    self._decoder = zlib.decompressobj(self._wbits(data))
                room = self._limit - self._out - len(out) + 1
                out += self._decoder.decompress(data, room)
                if self._out + len(out) > self._limit:
                    raise _too_large(self._limit, self._lines, self._host)
                data = self._decoder.unused_data if self._decoder.eof else b""
        except zlib.error:
            raise _refusal(self._lines.corrupt, host=self._host) from None
        return self._count(bytes(out))

    def _wbits(self, head: bytes) -> int:
        if self._coding != "deflate":
            return zlib.MAX_WBITS | 16  # gzip
        # "deflate" is meant to be zlib-wrapped; some servers send it raw.
        wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS

    def _count(self, data: bytes) -> bytes:
        self._out += len(data)
        if self._out > self._limit:
            raise _too_large(self._limit, self._lines, self._host)
        return data


_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
ACCEPT_ENCODING = "gzip, deflate"


async def _read_capped(response: httpx.Response, max_bytes: int, lines: Lines, host: str) -> bytes:
    """The body, decoded here as it arrives and counted decoded; refused past ``max_bytes``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, lines, host)
    inflater = _Inflater.for_response(response, max_bytes, lines, host)
    parts: list[bytes] = []
    received = 0
    async for raw in response.aiter_raw():
        received += len(raw)
        if received > max_bytes:
            raise _too_large(max_bytes, lines, host)
        parts.append(inflater.feed(raw))
    return b"".join(parts)


async def _fetch(
    client: httpx.AsyncClient, url: httpx.URL, *, max_bytes: int, wanted: Wanted
) -> Fetched:
    host, lines = url.host, wanted.lines
    for hop in range(MAX_REDIRECTS + 1):
        answered = False
        try:
            async with client.stream("GET", url) as response:
                answered = True
                if response.is_redirect:
                    try:
                        target = url.join(response.headers["location"])
                    except (httpx.InvalidURL, ValueError):
                        raise _refusal(lines.bad_redirect, host=host) from None
                    url = check_url(target)
                    continue
                if response.status_code >= 400:
                    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
                    raise _refusal(lines.status, host=host,
                                   status=f"{response.status_code}{reason}")  # fmt: skip
                media_type, charset = _media_type(response)
                if not wanted.takes(media_type, url):
                    what = media_type or "file of unknown type"
                    raise _refusal(lines.media_type, host=host, media_type=what)
                body = await _read_capped(response, max_bytes, lines, host)
                return Fetched(
                    url=str(url), body=body, media_type=media_type, charset=charset,
                    content_type=response.headers.get("content-type", ""),
                )  # fmt: skip
        except SourceError as error:
            if hop == 0 or answered or lines.redirect_private is None:
                raise
            raise _redirect_refused(error, lines, host) from None
    raise _refusal(lines.redirects, host=host, redirects=MAX_REDIRECTS)


def _redirect_refused(error: SourceError, lines: Lines, host: str) -> SourceError:
    """The guard refused a redirect's target: its line would name a host (or an address) the
    user never gave, so say it of the link they did give."""
    if "private or local" in str(error):
        return _refusal(lines.redirect_private or str(error), host=host)
    return _refusal(lines.redirect_unreachable or str(error), host=host)


async def fetch(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    time_limit: float,
    wanted: Wanted = PAGES,
) -> Fetched:
    """GET ``url`` within every limit; any refusal is a SourceError with the user's line.
    ``wanted``: what is fetched, a page or a document unless said otherwise (a feed)."""
    parsed = check_url(url)
    host, lines = parsed.host, wanted.lines
    client = httpx.AsyncClient(
        transport=_CheckedTransport(allow_private=allow_private),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(time_limit),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": wanted.accept,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
    )
    try:
        async with client, asyncio.timeout(time_limit):
            return await _fetch(client, parsed, max_bytes=max_bytes, wanted=wanted)
    except (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException):
        raise _refusal(lines.timeout, host=host, seconds=time_limit) from None
    except (ssl.SSLError, httpcore.ConnectError, httpx.ConnectError) as error:
        if any(isinstance(e, ssl.SSLError) for e in (error, error.__cause__, error.__context__)):
            raise _refusal(lines.unverified, host=host) from None
        raise _refusal(lines.unreachable, host=host) from None
    except (httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError):
        raise _refusal(lines.broken_off, host=host) from None
