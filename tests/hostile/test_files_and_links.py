"""Bombs in links and files (issue 18): each through the CLI, a Telegram document and a link.

Every hostile input is built here, in code, from small pieces (a zip written by hand around
pre-compressed members, a PDF whose pages share one stream, a page gzipped twice), so nothing
big is checked in and a bomb costs the test a second or two to make. Each case must end in one
clear line (or a real digest) within bounded time and memory, and the bot must keep serving.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.core.sources.extract import DOCX_TYPE
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.web_server import FakeWebServer, Route, repeat
from tests.hostile import harness
from tests.test_sources import make_docx, pdf_file

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

GB = 1 << 30
MB = 1 << 20
SECONDS = 30  # generous: the point is catching minutes, not a slow machine
PEAK_MB = 500
ARTICLE = [
    "Mayor Ruth Okafor said on Monday that the city will rebuild the Elm Street bridge.",
    "Councillor Dev Patel said the works will start in May and end before the winter.",
    "The council approved a budget of 2 million dollars for the project.",
]

# --- zips written by hand, members pre-compressed --------------------------------------------


@dataclass(frozen=True)
class Member:
    """A zip member as raw deflate bytes, with the CRC and size of what they inflate to."""

    name: str
    deflated: bytes
    crc: int
    size: int


def member(name: str, data: bytes) -> Member:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Member(name, packer.compress(data) + packer.flush(), zlib.crc32(data), len(data))


def repeated(name: str, head: bytes, chunk: bytes, times: int, tail: bytes) -> Member:
    """``head + chunk * times + tail``, deflated in a few milliseconds: after a full flush
    the compressor forgets what came before, so every flushed chunk is the same bytes."""

    def flushed(data: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)

    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = flushed(head) + flushed(chunk) * times + last.compress(tail) + last.flush()
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    return Member(name, deflated, crc, len(head) + len(chunk) * times + len(tail))


def zip_of(members: list[Member], declare: dict[str, int] | None = None) -> bytes:
    """A zip archive (deflate, no zip64); ``declare`` states a false size for a member."""
    out, central = bytearray(), bytearray()
    for m in members:
        size = (declare or {}).get(m.name, m.size)
        name = m.name.encode()
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, m.crc, len(m.deflated), size)
        central += b"PK\x01\x02" + struct.pack("<H", 20) + fields
        central += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, len(out)) + name
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + m.deflated
    eocd = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + b"PK\x05\x06" + eocd)


def docx_members(title: str = "Bridge works", body: list[str] | None = None) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(make_docx(title, body or ARTICLE))) as real:
        return [member(i.filename, real.read(i.filename)) for i in real.infolist()]


def _replace(members: list[Member], name: str, new: Member) -> list[Member]:
    return [new if m.name == name else m for m in members]


def _edit(members: list[Member], name: str, edit: Callable[[bytes], bytes]) -> list[Member]:
    old = next(m for m in members if m.name == name)
    return _replace(members, name, member(name, edit(zlib.decompress(old.deflated, -15))))


_DOCUMENT_HEAD = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<w:document xmlns:w="
    b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
)
_DOCUMENT_TAIL = b"</w:body></w:document>"


def _paragraphs(lines: list[str]) -> bytes:
    return b"".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>".encode() for line in lines)


@functools.cache
def docx_image_bomb() -> bytes:
    """About 1 MB: a Word file whose picture inflates to 1 GB of zeros (issue: 2 GB, 4.2 GB RSS)."""
    image = repeated("word/media/image1.png", b"\x89PNG\r\n\x1a\n", bytes(MB), 1024, b"")
    members = _edit(
        docx_members(), "word/_rels/document.xml.rels",
        lambda xml: xml.replace(b"</Relationships>", b'<Relationship Id="rIdBomb" Type="http'
            b'://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
            b'Target="media/image1.png"/></Relationships>'),
    )  # fmt: skip
    members = _edit(
        members, "[Content_Types].xml",
        lambda xml: xml.replace(b"<Default ", b'<Default Extension="png" ContentType="image/png"/>'
                                b"<Default ", 1),
    )  # fmt: skip
    return zip_of([*members, image])


@functools.cache
def docx_text_bomb() -> bytes:
    """Some 300 KB whose document.xml inflates to 300 MB (issue: 623 KB to 500 MB)."""
    chunk = _paragraphs(["Mayor Ruth Okafor said the works will start in May."] * 10_000)
    times = 300 * MB // len(chunk)
    body = repeated("word/document.xml", _DOCUMENT_HEAD, chunk, times, _DOCUMENT_TAIL)
    return zip_of(_replace(docx_members(), "word/document.xml", body))


@functools.cache
def docx_short_paragraphs() -> bytes:
    """Tens of thousands of short paragraphs (python-docx: about 1 ms each for the style)."""
    lines = [f"Item {n} is ready." for n in range(60_000)]
    body = member("word/document.xml", _DOCUMENT_HEAD + _paragraphs(lines) + _DOCUMENT_TAIL)
    return zip_of(_replace(docx_members(), "word/document.xml", body))


def _with_document(xml: bytes) -> bytes:
    return zip_of(_replace(docx_members(), "word/document.xml", member("word/document.xml", xml)))


@functools.cache
def docx_entity_bomb() -> bytes:
    """A billion laughs in document.xml."""
    entities = [b'<!ENTITY e0 "laugh">'] + [
        b'<!ENTITY e%d "%s">' % (n, b"&e%d;" % (n - 1) * 10) for n in range(1, 10)
    ]
    doctype = b"<!DOCTYPE w:document [" + b"".join(entities) + b"]>"
    body = _DOCUMENT_HEAD.replace(b"?>\n", b"?>\n" + doctype + b"\n")
    return _with_document(body + b"<w:p><w:r><w:t>&e9;</w:t></w:r></w:p>" + _DOCUMENT_TAIL)


@functools.cache
def docx_huge_text_node() -> bytes:
    """One 12 MB text node (over libxml2's 10 MB limit for a node)."""
    return _with_document(_DOCUMENT_HEAD + _paragraphs(["Ha" * 6_000_000]) + _DOCUMENT_TAIL)


@functools.cache
def docx_cut_xml() -> bytes:
    """document.xml cut off in the middle of a paragraph, as a broken upload leaves it."""
    return _with_document((_DOCUMENT_HEAD + _paragraphs(ARTICLE))[:-20])


@functools.cache
def docx_lying_sizes() -> bytes:
    """document.xml declares 2 KB and inflates to 200 MB."""
    chunk = _paragraphs(["Mayor Ruth Okafor said the works will start in May."] * 10_000)
    body = repeated("word/document.xml", _DOCUMENT_HEAD, chunk, 200 * MB // len(chunk),
                    _DOCUMENT_TAIL)  # fmt: skip
    return zip_of(_replace(docx_members(), "word/document.xml", body), {body.name: 2048})


# --- PDFs ------------------------------------------------------------------------------------


def pdf_sharing_one_stream(pages: int, decoded: int) -> bytes:
    """``pages`` pages whose /Contents are one FlateDecode stream of ``decoded`` bytes: a line
    of real text, then path drawing (issue: 20 pages, 70 MB, 157 s)."""
    text = b"BT /F1 10 Tf 50 800 Td (Governor Ann Lee will fund 40 bridges.) Tj ET\n"
    unit = b"0 0 m 1 1 l S\n"
    content = text + unit * ((decoded - len(text)) // len(unit))
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (5 + n) for n in range(pages)), pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    ] * pages
    return pdf_file(objects)


@functools.cache
def pdf_stream_bomb() -> bytes:
    return pdf_sharing_one_stream(20, 70_000_000)


# Acrobat's default: AES-256, no password to open it (owner password only). Made once with
# pypdf's PdfWriter.encrypt(user_password="", algorithm="AES-256") and kept small here.
AES_PDF = (
    "eNqNVEuIHEUYvi3aEggIiifLyN6ydlV1PXEysMnuYIjJLDsmsoQc6q/H7shs96anZ91VQRQURMGQ9YH4AIWggmBu"
    "XhSTg6cgBiQEETboIiEHzVXBg9Wzr8HxYHcdqr7+6/u/+urvf3JupjVFHsuSyV+3fvgxIQijAp5JGo0kfWp9xaP0"
    "mKlMr1hM0jmz6PuIxoD5pNlMfO7qQDq2YRiXpCe6ro/OoqyOR+eS9FgxyCtERrZm/7m1TlT6GLqdKT3pXdccLdYi"
    "F44v1xwpRmvGed8vBqWNomqGVhH3DCcEsV2RccTEeRX5+oj/Szoby19zJGlnANVwWYMkSY+avh+yp0/43qqvutYk"
    "6WxuC9fNF1H6dDefzvvdXWAkAR9J8KTPF6slRKiqA/pV6c1y8vz3P/3mvpz4/NKHV1/Y/OWeq1c+feOhv9YW2vdP"
    "bEzdOnTqrdtfXbv++4t/rG8sLS08+Obmy48OXnv42sLPnxx+6dYjMzduHDx74ebKxtfk8fXL377S3Lp++ovD5w98"
    "fP7gnw9MXXrnwGcXL3x38e6p9y9vXfnom4nN40dWP3jvxN1Dr963+fazd+79+8i7yeu10B0pO5LFqCfdqudRg2AQ"
    "YA0n4KUCTI3DSgcrCHGMGko5xc4IaZVSjjulmOKBShE4tg47opojjsgR+jOIxztEYs8byuN8DjGqmRaSahrvstur"
    "fInSTmVyZ0qXpG3UcExRyLQhhDsSNAHIghdYKyMMAy6JoRpwJgURmJgIaBy4C0FQrUPmMImJdJTmHVcUW+88wQEC"
    "ZxKUA0xizZxGDQAczxeUcEoKnBluITqhjeKUcCUYeKKNxIZYq2jk95QxDFRnjFplLbCgNcWaEKktziK5INKR+Epq"
    "QWaqrszWsGA7lduZTQ+qpdnVuvjTmcK2V3xeB51E6fRs50y2Z1RGd2u7Uy230DZBvSj3F+3ZaJSR2meaW+YwKOqE"
    "owSoAOWFy7AXUVPQ0WfltfBeCaGlwsLpoByNg9dGRBourQTCpQGiQFLpLWGaAZWMCG5AMs9VpGLMGBloxlQkw0BC"
    "PLqINkCkmfPlcvxNvRGBcAYOFAA3SmKnsDJcG1AYghstlbXShwQjleC9BwnOM44C2sNI/MWGX/J9TLAxjNBsDKOc"
    "jGFR+xjGqRzDBKX7WFWabs+Xw5rudJ/zUXI6XxSx1203sON5KJDYmc/ENtbg8SaA1G5JloHATpoQa8ND8FZrzZr/"
    "J+TcsAeV6ysVkruNrV+ZshoaF72XyeTkbLuV/APD5a6T"
)


def aes_pdf() -> bytes:
    return zlib.decompress(base64.b64decode(AES_PDF))


# --- pages -----------------------------------------------------------------------------------


def gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


@functools.cache
def page_gzipped_twice() -> bytes:
    """A few KB, ``Content-Encoding: gzip, gzip``: 1 GB of zeros the second time (issue: 2.1 GB)."""
    inner = repeated("", b"", bytes(MB), 1024, b"")
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    once = header + inner.deflated + struct.pack("<II", inner.crc, inner.size & 0xFFFFFFFF)
    return gzip(once)


@functools.cache
def page_gzip_bomb() -> bytes:
    """One gzip layer, 1 MB that inflates to 1 GB."""
    inner = repeated("", b"<html><body><p>", bytes(MB), 1024, b"</p></body></html>")
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + inner.deflated + struct.pack("<II", inner.crc, inner.size & 0xFFFFFFFF)


# --- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    filename: str
    mime: str
    expect: str  # a word of the one line (lower case); "" when a digest is fine too


FILES = [
    Case("docx-image-bomb", docx_image_bomb, "bomb.docx", DOCX_TYPE, ""),
    Case("docx-text-bomb", docx_text_bomb, "bomb.docx", DOCX_TYPE, "too large"),
    Case("docx-short-paragraphs", docx_short_paragraphs, "items.docx", DOCX_TYPE, ""),
    Case("docx-entity-bomb", docx_entity_bomb, "laughs.docx", DOCX_TYPE, "damaged"),
    Case("docx-huge-text-node", docx_huge_text_node, "node.docx", DOCX_TYPE, ""),
    Case("docx-cut-xml", docx_cut_xml, "cut.docx", DOCX_TYPE, "damaged"),
    Case("docx-lying-sizes", docx_lying_sizes, "liar.docx", DOCX_TYPE, "damaged"),
    Case("pdf-stream-bomb", pdf_stream_bomb, "bomb.pdf", "application/pdf", "too large"),
]
FILE_IDS = [case.name for case in FILES]


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


@pytest.fixture
def link_env(cli_env: dict[str, str]) -> dict[str, str]:
    return cli_env | {"BOT_FETCH_ALLOW_PRIVATE": "true"}  # the fake web server is on loopback


@pytest.fixture
async def open_bot(
    bot_settings: Settings, tg: FakeTelegramServer
) -> AsyncIterator[harness.HostileBot]:
    """A running bot whose links may reach the local fake web server."""
    settings = bot_settings.model_copy(update={"fetch_allow_private": True})
    async with harness.hostile_bot(settings, tg) as bot:
        yield bot


def _check_cli(run: harness.CliRun, expect: str) -> None:
    if expect:
        assert expect in harness.assert_one_line(run).lower(), str(run)
    else:
        harness.assert_refused_or_digested(run)
    harness.assert_bounded(run, seconds=SECONDS, mb=PEAK_MB)


def _check_reply(replies: list[str], expect: str) -> None:
    if expect or (len(replies) == 1 and "\n" not in replies[0]):
        assert expect in harness.assert_one_reply_line(replies).lower(), replies
    else:  # a digest of what is really there
        assert not any("went wrong" in reply for reply in replies), replies


@pytest.mark.parametrize("case", FILES, ids=FILE_IDS)
def test_file_on_the_cli(case: Case, cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / case.filename
    path.write_bytes(case.build())
    _check_cli(harness.run_cli("digest", str(path), "--json", env=cli_env, timeout=45),
               case.expect)  # fmt: skip


@pytest.mark.parametrize("case", FILES, ids=FILE_IDS)
def test_file_as_a_link_on_the_cli(
    case: Case, link_env: dict[str, str], web: FakeWebServer
) -> None:
    web.routes[f"/files/{case.filename}"] = Route(content_type=case.mime, body=case.build())
    run = harness.run_cli("digest", web.url(f"/files/{case.filename}"), "--json",
                          env=link_env, timeout=45)  # fmt: skip
    _check_cli(run, case.expect)


@pytest.mark.parametrize("case", FILES, ids=FILE_IDS)
async def test_file_as_a_telegram_document(case: Case, hostile_bot: harness.HostileBot) -> None:
    replies = await hostile_bot.send_document(case.build(), case.filename, case.mime, timeout=45)
    _check_reply(replies, case.expect)
    assert hostile_bot.last_seconds < SECONDS
    await hostile_bot.assert_alive()


@pytest.mark.parametrize("case", FILES, ids=FILE_IDS)
async def test_file_as_a_link_in_telegram(
    case: Case, open_bot: harness.HostileBot, web: FakeWebServer
) -> None:
    web.routes[f"/files/{case.filename}"] = Route(content_type=case.mime, body=case.build())
    replies = await open_bot.send_text(web.url(f"/files/{case.filename}"), timeout=45)
    _check_reply(replies, case.expect)
    assert open_bot.last_seconds < SECONDS
    await open_bot.assert_alive()


# --- encrypted PDFs are read ------------------------------------------------------------------


def test_an_aes_pdf_with_no_password_is_digested(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "release.pdf"
    path.write_bytes(aes_pdf())
    data = harness.assert_digested(harness.run_cli("digest", str(path), "--json", env=cli_env))
    assert data["summary"]


async def test_an_aes_pdf_in_telegram(hostile_bot: harness.HostileBot) -> None:
    replies = await hostile_bot.send_document(aes_pdf(), "release.pdf", "application/pdf")
    assert any(reply.startswith("📰") for reply in replies), replies


# --- pages that inflate ----------------------------------------------------------------------


PAGES = [
    ("gzip-gzip", page_gzipped_twice, "gzip, gzip", "compression"),
    ("gzip-bomb", page_gzip_bomb, "gzip", "larger than"),
]


@pytest.mark.parametrize(("name", "build", "encoding", "expect"), PAGES, ids=[p[0] for p in PAGES])
def test_an_inflating_page_on_the_cli(
    name: str, build: Callable[[], bytes], encoding: str, expect: str,
    link_env: dict[str, str], web: FakeWebServer,
) -> None:  # fmt: skip
    web.routes["/story"] = Route(body=build(), headers={"Content-Encoding": encoding})
    run = harness.run_cli("digest", web.url("/story"), env=link_env, timeout=45)
    assert expect in harness.assert_one_line(run)
    harness.assert_bounded(run, seconds=10, mb=PEAK_MB)


@pytest.mark.parametrize(("name", "build", "encoding", "expect"), PAGES, ids=[p[0] for p in PAGES])
async def test_an_inflating_page_in_telegram(
    name: str, build: Callable[[], bytes], encoding: str, expect: str,
    open_bot: harness.HostileBot, web: FakeWebServer,
) -> None:  # fmt: skip
    web.routes["/story"] = Route(body=build(), headers={"Content-Encoding": encoding})
    replies = await open_bot.send_text(web.url("/story"), timeout=45)
    assert expect in harness.assert_one_reply_line(replies)
    await open_bot.assert_alive()


# --- links that are not what they seem --------------------------------------------------------


def test_a_link_with_a_password_on_the_cli(link_env: dict[str, str], web: FakeWebServer) -> None:
    web.routes["/story"] = Route(body=b"<html><body><p>Secret page</p></body></html>")
    link = web.url("/story").replace("http://", "http://editor:hunter2@")
    line = harness.assert_one_line(harness.run_cli("digest", link, env=link_env))
    assert "password" in line and "hunter2" not in line
    assert web.requests == []


async def test_a_link_with_a_password_in_telegram(
    open_bot: harness.HostileBot, web: FakeWebServer
) -> None:
    link = web.url("/story").replace("http://", "http://editor:hunter2@")
    reply = harness.assert_one_reply_line(await open_bot.send_text(link))
    assert "password" in reply and "hunter2" not in reply
    assert web.requests == []
    await open_bot.assert_alive()


@pytest.mark.parametrize("host", ["[2002:7f00:1::1]", "[2002:a9fe:a9fe::1]", "[fec0::1]"])
def test_a_6to4_or_site_local_address_on_the_cli(host: str, cli_env: dict[str, str]) -> None:
    line = harness.assert_one_line(harness.run_cli("digest", f"http://{host}/", env=cli_env))
    assert "private or local address" in line


async def test_cancel_stops_a_page_still_loading(
    open_bot: harness.HostileBot, web: FakeWebServer
) -> None:
    """/cancel reaches a link being fetched: one line says so, and the bot goes on."""
    web.routes["/slow"] = Route(body=repeat(b"<p>Slow news.</p>", 200_000, delay=0.5))
    open_bot.tg.user_sends_text(open_bot.chat, open_bot.user, web.url("/slow"))
    for _ in range(200):  # until the fetch has begun
        await asyncio.sleep(0.05)
        if web.requests:
            break
    replies = await open_bot.send_text("/cancel", timeout=15)
    assert any("Stopped reading" in reply for reply in replies), replies
    assert open_bot.last_seconds < 5, replies
    assert not any("Fetching" in text for text in open_bot.texts()), open_bot.texts()
    await open_bot.assert_alive()
