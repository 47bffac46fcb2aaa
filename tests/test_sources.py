"""Articles from links and files: the fetch guard, the extractors, and ``digestbot digest``.

Every link test talks over real HTTP to ``FakeWebServer`` on 127.0.0.1. Normal tests allow
private addresses (the server is on loopback); the refusal tests do not, and reach the server
through a fake internet: fake DNS answers and a router that sends one "public" address to it.
Nothing here resolves a real name or leaves the machine.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpcore
import pytest

from bot.core.errors import SourceError
from bot.core.settings import Settings
from bot.core.sources import fetch, fetch_link, find_link, load, read_bytes, read_document
from bot.core.sources.extract import DOCX_TYPE, reflow
from bot.core.sources.fetch import is_public_address
from tests.conftest import DATA, process_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.web_server import FakeWebServer, Route, news_page, repeat

ZHAOQING = DATA / "zhaoqing-die-casting-summit.txt"
PUBLIC_IP = "93.184.215.14"  # stands for a public web server; routed to FakeWebServer
CLUTTER = (
    "cookies",
    "Accept all",
    "Subscribe",
    "Related articles",
    "City council approves",
    "newsletter",
    "Great news for the city",
    "All rights reserved",
    "Privacy policy",
    "Share on",
    "Politics",
)


def paragraphs(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "fetch_allow_private": True,
        "fetch_max_bytes": 1_000_000,
        "fetch_timeout": 3.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


# --- documents built by the tests ------------------------------------------------------------


def _pdf_string(text: str) -> str:
    out = []
    for byte in text.encode("cp1252"):
        char = chr(byte)
        if char in "()\\":
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "(" + "".join(out) + ")"


def make_pdf(pages: list[list[str]], title: str | None = None, width: int = 90) -> bytes:
    """A real PDF, by hand: Helvetica text, each paragraph wrapped at ``width`` characters
    with a blank line after it, and a title in the document information."""
    objects: list[bytes] = [b"", b""]  # the catalog and the page tree, filled in last
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    kids = []
    for page in pages:
        ops = ["BT", "/F1 10 Tf", "14 TL", "50 800 Td"]
        for paragraph in page:
            ops += [f"{_pdf_string(line)} Tj T*" for line in textwrap.wrap(paragraph, width)]
            ops.append("T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    objects.append(f"<< /Title {_pdf_string(title)} >>".encode() if title else b"<< >>")
    return pdf_file(objects, info=len(objects))


def pdf_file(objects: list[bytes], info: int | None = None) -> bytes:
    """A PDF of these objects (numbered from 1; the first is the catalog), with its xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        info_ref,
        xref,
    )
    return bytes(out)


def make_docx(title: str, body: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, 0)
    for paragraph in body:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def scanned_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only localhost resolves; any other name fails as an unknown site would."""

    async def resolve(host: str, port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1"]
        raise socket.gaierror(socket.EAI_NONAME, "unknown in tests")

    monkeypatch.setattr(fetch, "resolve", resolve)


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        lines = paragraphs(ZHAOQING)
        server.routes["/news/zhaoqing"] = Route(body=news_page(lines[0], lines[1:]).encode())
        yield server


class Internet:
    """Fake DNS answers, and a router: PUBLIC_IP leads to the test server, nothing else."""

    def __init__(self, web: FakeWebServer) -> None:
        self.web = web
        self.dns: dict[str, list[str]] = {
            "news.example.com": [PUBLIC_IP],
            "localhost": ["127.0.0.1", "::1"],
        }
        self.dialed: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        if host in self.dns:
            return self.dns[host]
        raise socket.gaierror(socket.EAI_NONAME, "unknown in tests")

    async def connect(
        self, address: str, port: int, connect_timeout: float | None, options: object
    ) -> httpcore.AsyncNetworkStream:
        self.dialed.append(address)
        assert address == PUBLIC_IP, f"dialed {address}, which the guard should have refused"
        return await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", self.web.port)


@pytest.fixture
def internet(web: FakeWebServer, monkeypatch: pytest.MonkeyPatch) -> Internet:
    net = Internet(web)
    monkeypatch.setattr(fetch, "resolve", net.resolve)
    monkeypatch.setattr(fetch, "connect", net.connect)
    return net


def public_url(web: FakeWebServer, path: str) -> str:
    return f"http://news.example.com:{web.port}{path}"


# --- links: pages and extraction -------------------------------------------------------------


async def test_article_page_keeps_the_article_and_drops_the_clutter(web: FakeWebServer) -> None:
    source = await fetch_link(web.url("/news/zhaoqing"), settings())
    lines = paragraphs(ZHAOQING)
    assert source.kind == "html" and source.url == web.url("/news/zhaoqing")
    assert source.title == lines[0]
    got = source.text.splitlines()
    assert set(got) == set(lines), "every paragraph, and nothing but them"
    for word in CLUTTER:
        assert word not in source.text


@pytest.mark.parametrize(
    "name",
    [
        "chinadaily-fenghe-green-hydrogen",
        "eu-commission-cef-energy-grids",
        "lanjiang-project-signing-zh",
        "nc-governor-rural-grants",
        "pib-jal-shakti-bhimgarh",
    ],
)
def test_corpus_articles_survive_a_news_page(name: str) -> None:
    lines = paragraphs(DATA / f"{name}.txt")
    page = news_page(lines[0], lines[1:]).encode()
    source = read_bytes(page, filename="story.html", url="https://news.example.com/story")
    assert source.title == lines[0]
    # Whitespace is normalised (an ideographic space becomes a plain one), words are not.
    lines = [" ".join(line.split()) for line in lines]
    got = [line for line in source.text.splitlines() if line]
    assert [line for line in lines if line not in got] == []
    assert [line for line in got if line not in lines] == []


async def test_redirects_are_followed_and_the_final_url_kept(web: FakeWebServer) -> None:
    for hop in range(3):
        target = f"/hop{hop + 1}" if hop < 2 else "/news/zhaoqing"
        web.routes[f"/hop{hop}"] = Route(status=302, headers={"Location": target})
    source = await fetch_link(web.url("/hop0"), settings())
    assert source.url == web.url("/news/zhaoqing")
    assert "Zhang Aijun" in source.text


async def test_more_than_five_redirects_are_refused(web: FakeWebServer) -> None:
    for hop in range(10):
        web.routes[f"/loop{hop}"] = Route(status=301, headers={"Location": f"/loop{hop + 1}"})
    with pytest.raises(SourceError, match="redirects more than 5 times"):
        await fetch_link(web.url("/loop0"), settings())
    assert len(web.requests) == 6


async def test_plain_text_page(web: FakeWebServer) -> None:
    body = "Mayor Jane Doe said the bridge will open in May.\n".encode("cp1252")
    web.routes["/plain"] = Route(content_type="text/plain; charset=windows-1252", body=body)
    source = await fetch_link(web.url("/plain"), settings())
    assert (
        source.kind == "text" and source.text == "Mayor Jane Doe said the bridge will open in May."
    )


async def test_pdf_and_docx_links_take_the_document_path(web: FakeWebServer) -> None:
    web.routes["/files/release"] = Route(
        content_type="application/pdf", body=make_pdf([["Governor Ann Lee will fund 40 bridges."]])
    )
    web.routes["/files/release.docx"] = Route(
        content_type="application/octet-stream",
        body=make_docx("Grants", ["Governor Ann Lee will fund 40 bridges."]),
    )
    pdf = await fetch_link(web.url("/files/release"), settings())
    assert pdf.kind == "pdf" and "Governor Ann Lee will fund 40 bridges." in pdf.text
    word = await fetch_link(web.url("/files/release.docx"), settings())
    assert word.kind == "docx" and word.filename == "release.docx"
    assert word.text.splitlines() == ["Grants", "Governor Ann Lee will fund 40 bridges."]


# --- links: refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("ftp://example.com/a.txt", "Only http and https links can be read (ftp:)"),
        ("file:///etc/passwd", "Only http and https links can be read (file:)"),
        ("http:///nohost", "no site name"),
        ("http://no-such-site.invalid/", "Could not find the site no-such-site.invalid"),
    ],
)
async def test_bad_links_are_refused_in_one_line(link: str, message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        await fetch_link(link, settings())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.1.2.3",
        "169.254.169.254",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
    ],
)
async def test_private_addresses_are_refused_before_connecting(
    host: str, web: FakeWebServer
) -> None:
    with pytest.raises(SourceError, match="private or local address"):
        await fetch_link(
            f"http://{host}:{web.port}/news/zhaoqing", settings(fetch_allow_private=False)
        )
    assert web.requests == []


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
     "224.0.0.251", "240.0.0.1", "255.255.255.255", "0.0.0.0", "::1", "fe80::1", "fc00::1",
     "ff02::1", "::ffff:10.0.0.1", "::"],
)  # fmt: skip
def test_address_classes_that_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


async def test_the_checked_address_is_the_one_connected_to(
    web: FakeWebServer, internet: Internet
) -> None:
    source = await fetch_link(
        public_url(web, "/news/zhaoqing"), settings(fetch_allow_private=False)
    )
    assert "Xu Xiaoxiong" in source.text
    assert internet.dialed == [PUBLIC_IP]
    assert web.requests == [("/news/zhaoqing", f"news.example.com:{web.port}")]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/news/zhaoqing",
        "http://localhost:{port}/news/zhaoqing",
        "http://intranet.example.com:{port}/news/zhaoqing",
        "http://mixed.example.com:{port}/news/zhaoqing",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(
    location: str, web: FakeWebServer, internet: Internet
) -> None:
    internet.dns["intranet.example.com"] = ["10.20.30.40"]
    internet.dns["mixed.example.com"] = [PUBLIC_IP, "192.168.0.10"]
    web.routes["/go"] = Route(status=302, headers={"Location": location.format(port=web.port)})
    with pytest.raises(SourceError, match="private or local address"):
        await fetch_link(public_url(web, "/go"), settings(fetch_allow_private=False))
    assert internet.dialed == [PUBLIC_IP]  # the first hop only
    assert [path for path, _ in web.requests] == ["/go"]


async def test_a_redirect_to_another_scheme_is_refused(web: FakeWebServer) -> None:
    web.routes["/go"] = Route(status=302, headers={"Location": "gopher://example.com/"})
    with pytest.raises(SourceError, match="Only http and https"):
        await fetch_link(web.url("/go"), settings())


async def test_a_declared_50_mb_body_is_refused_unread(web: FakeWebServer) -> None:
    size = 50_000_000
    web.routes["/huge"] = Route(body=repeat(b"<p>x</p>" * 8192, size), content_length=size)
    with pytest.raises(SourceError, match=r"larger than 1 MB"):
        await fetch_link(web.url("/huge"), settings())
    await asyncio.sleep(0.2)
    assert web.sent.get("/huge", 0) < size // 5


async def test_an_undeclared_50_mb_body_is_cut_at_the_cap(web: FakeWebServer) -> None:
    size = 50_000_000
    web.routes["/huge"] = Route(body=repeat(b"<p>x</p>" * 8192, size))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"larger than 1 MB"):
        await fetch_link(web.url("/huge"), settings())
    assert time.monotonic() - started < 3
    await asyncio.sleep(0.2)
    assert web.sent.get("/huge", 0) < size // 5


async def test_a_slow_body_hits_the_time_cap(web: FakeWebServer) -> None:
    # 100 bytes every 0.2 s: each read is quick, the whole would take minutes.
    web.routes["/slow"] = Route(body=repeat(b"<p>slow</p>" * 9, 100_000, delay=0.2))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"did not load within 1 s"):
        await fetch_link(web.url("/slow"), settings(fetch_timeout=1.0))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("content_type", "path"),
    [("image/png", "/photo"), ("application/octet-stream", "/blob"), ("video/mp4", "/clip.pdf")],
)
async def test_binary_content_types_are_refused(
    content_type: str, path: str, web: FakeWebServer
) -> None:
    web.routes[path] = Route(content_type=content_type, body=b"\x89PNG\r\n\x1a\n" + bytes(5000))
    with pytest.raises(SourceError, match="not a web page or document") as err:
        await fetch_link(web.url(path), settings())
    assert content_type in str(err.value)


async def test_http_errors_and_dead_servers(web: FakeWebServer) -> None:
    with pytest.raises(SourceError, match="answered 404 Not Found"):
        await fetch_link(web.url("/missing"), settings())
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(SourceError, match=r"Could not connect to 127\.0\.0\.1"):
        await fetch_link(f"http://127.0.0.1:{port}/", settings())


async def test_a_page_without_article_text(web: FakeWebServer) -> None:
    web.routes["/app"] = Route(body=b"<html><body><div id='root'></div><script>x()</script>")
    with pytest.raises(SourceError, match="no article text"):
        await fetch_link(web.url("/app"), settings())


@pytest.mark.parametrize(
    ("message", "link"),
    [
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("  <http://example.com/x>  ", "http://example.com/x"),
        ("https://example.com/story.", "https://example.com/story"),
        ("ftp://example.com/f", "ftp://example.com/f"),
        ("Read this https://example.com/a", None),
        ("https://a.example https://b.example", None),
        ("Mayor Xu said the plan will go ahead.", None),
    ],
)
def test_find_link(message: str, link: str | None) -> None:
    assert find_link(message) == link


# --- documents -------------------------------------------------------------------------------


def test_pdf_text_is_reflowed_into_the_articles_paragraphs() -> None:
    lines = paragraphs(ZHAOQING)
    data = make_pdf([lines[2:6], lines[6:]], title=lines[0])
    source = read_bytes(data, filename="summit.pdf")
    assert source.kind == "pdf" and source.title == lines[0]
    assert source.text.splitlines() == [lines[0], "", *lines[2:]]


def test_reflow_joins_lines_of_print() -> None:
    page = (
        "Ministry announces grants\n"
        "The minister said the fund will pay for forty new bridges across the\n"
        "northern counties, with work to start in the spring of next year and\n"
        "the die-\ncasting plant to open in June.\n"
        "3\n"
        "A second paragraph.\n"
    )
    assert reflow(page) == [
        "Ministry announces grants",
        "The minister said the fund will pay for forty new bridges across the northern "
        "counties, with work to start in the spring of next year and the die-casting plant "
        "to open in June.",
        "A second paragraph.",
    ]


def test_a_scanned_pdf_gets_a_clear_message() -> None:
    with pytest.raises(SourceError) as err:
        read_bytes(scanned_pdf(), filename="scan.pdf")
    assert str(err.value) == "This PDF has no text layer (it looks scanned); send the text instead."


def test_locked_and_broken_pdfs() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Some words here."]]))))
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(SourceError, match="password-protected"):
        read_bytes(buffer.getvalue(), filename="locked.pdf")
    with pytest.raises(SourceError, match="not a readable PDF"):
        read_bytes(b"%PDF-1.4\n garbage", filename="broken.pdf")


def test_docx_paragraphs_headings_and_tables_in_order() -> None:
    data = make_docx(
        "Council approves stormwater plan",
        ["Mayor Ruth Okafor said the works will start in May.", "Councillor Dev Patel agreed."],
        table=[["Project", "Budget"], ["Culverts", "$2m"]],
    )
    source = read_bytes(data, filename="release.docx")
    assert source.kind == "docx" and source.title == "Council approves stormwater plan"
    assert source.text.splitlines() == [
        "Council approves stormwater plan",
        "Mayor Ruth Okafor said the works will start in May.",
        "Councillor Dev Patel agreed.",
        "Project | Budget",
        "Culverts | $2m",
    ]
    # Its type is read from the bytes' signature or the declared type, not only the name.
    assert read_bytes(data, content_type=DOCX_TYPE).kind == "docx"


def test_html_text_and_markdown_files() -> None:
    lines = paragraphs(ZHAOQING)
    html = read_bytes(news_page(lines[0], lines[1:]).encode(), filename="page.htm")
    assert html.kind == "html" and "Chi Zhixiong" in html.text and "cookies" not in html.text
    chinese = "肇庆市市长许晓雄表示，将全力支持压铸产业发展。"
    assert read_bytes(chinese.encode("gb18030") * 3, filename="a.txt").text.startswith(chinese)
    assert read_bytes(b"\xef\xbb\xbf# Title\n\nBody.", filename="a.md").text == "# Title\n\nBody."
    assert read_bytes(b"Plain words.", filename="notes").kind == "text"


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"\xd0\xcf\x11\xe0" + bytes(600), "old.doc", "Old Word .doc files can't be read"),
        (b"\x89PNG\r\n\x1a\n" + bytes(600), "photo.png", "This .png file is not text"),
        (b"PK\x03\x04 not really a zip", "fake.docx", "not a readable Word .docx"),
        (b"   \n ", "empty.txt", "This file is empty"),
    ],
)
def test_unreadable_files(data: bytes, filename: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        read_bytes(data, filename=filename)


async def test_document_size_cap() -> None:
    with pytest.raises(SourceError, match=r"larger than 0\.01 MB"):
        await read_document(
            b"x" * 20_000, filename="a.txt", settings=settings(fetch_max_bytes=10_000)
        )


async def test_load_reads_files_and_links(tmp_path: Path, web: FakeWebServer) -> None:
    path = tmp_path / "release.pdf"
    path.write_bytes(make_pdf([["Governor Ann Lee will fund 40 bridges."]]))
    assert (await load(str(path), settings())).filename == "release.pdf"
    assert (await load(web.url("/news/zhaoqing"), settings())).kind == "html"
    with pytest.raises(SourceError, match="no such file"):
        await load(str(tmp_path / "missing.pdf"), settings())


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_FETCH_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("BOT_FETCH_MAX_BYTES", "2000000")
    monkeypatch.setenv("BOT_FETCH_TIMEOUT", "5")
    values = Settings(_env_file=None)
    assert values.fetch_allow_private and values.fetch_max_bytes == 2_000_000
    assert values.fetch_timeout == 5.0
    monkeypatch.delenv("BOT_FETCH_ALLOW_PRIVATE")
    assert Settings(_env_file=None).fetch_allow_private is False


# --- the command line ------------------------------------------------------------------------


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, llm_server: FakeOpenAIServer) -> dict[str, str]:
    return process_env(tmp_path / "data", llm_server, BOT_FETCH_ALLOW_PRIVATE="true")


def test_cli_digests_a_link_like_a_paste(env: dict[str, str], web: FakeWebServer) -> None:
    result = run_cli(["digest", web.url("/news/zhaoqing"), "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["officials"]) == 12
    pasted = run_cli(["digest", str(ZHAOQING), "--json"], env)
    assert pasted.returncode == 0, pasted.stderr
    names = {o["name"] for o in json.loads(pasted.stdout)["officials"]}
    assert {o["name"] for o in data["officials"]} == names


def test_cli_digests_pdf_and_docx_files(env: dict[str, str], tmp_path: Path) -> None:
    lines = paragraphs(ZHAOQING)
    pdf = tmp_path / "summit.pdf"
    pdf.write_bytes(make_pdf([lines[2:6], lines[6:]], title=lines[0]))
    word = tmp_path / "summit.docx"
    word.write_bytes(make_docx(lines[0], lines[2:]))
    for path in (pdf, word):
        result = run_cli(["digest", str(path), "--json"], env)
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["officials"]) == 12


def test_cli_refusals_are_one_line(env: dict[str, str], web: FakeWebServer, tmp_path: Path) -> None:
    strict = env | {"BOT_FETCH_ALLOW_PRIVATE": "false"}
    result = run_cli(["digest", web.url("/news/zhaoqing")], strict)
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "private or local address" in result.stderr
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf())
    result = run_cli(["digest", str(scan)], env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "digestbot: This PDF has no text layer (it looks scanned); send the text instead."
    )


# --- issue 18: addresses inside addresses, passwords in links, bodies that inflate --------------


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local
        "feff::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",  # local-use NAT64
        "::127.0.0.1",  # IPv4-compatible
    ],
)
def test_addresses_that_carry_a_private_one(address: str) -> None:
    assert not is_public_address(address)


def test_a_6to4_address_of_a_public_one_is_public() -> None:
    assert is_public_address("2002:808:808::1")


@pytest.mark.parametrize("userinfo", ["editor:hunter2@", "editor@", ":hunter2@"])
async def test_a_link_with_a_user_or_password_is_refused(userinfo: str, web: FakeWebServer) -> None:
    link = web.url("/news/zhaoqing").replace("http://", f"http://{userinfo}")
    with pytest.raises(SourceError, match="user name or password") as err:
        await fetch_link(link, settings())
    assert "hunter2" not in str(err.value) and "editor" not in str(err.value)
    assert web.requests == []


async def test_a_redirect_to_a_link_with_a_password_is_refused(web: FakeWebServer) -> None:
    target = web.url("/news/zhaoqing").replace("http://", "http://editor:hunter2@")
    web.routes["/go"] = Route(status=302, headers={"Location": target})
    with pytest.raises(SourceError, match="user name or password"):
        await fetch_link(web.url("/go"), settings())
    assert [path for path, _ in web.requests] == ["/go"]


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [("gzip", _gzip), ("x-gzip", _gzip), ("deflate", zlib.compress), ("deflate", _raw_deflate),
     ("identity", bytes), ("GZip", _gzip)],
)  # fmt: skip
async def test_compressed_pages_are_read(
    encoding: str, pack: Callable[[bytes], bytes], web: FakeWebServer
) -> None:
    lines = paragraphs(ZHAOQING)
    body = pack(news_page(lines[0], lines[1:]).encode())
    web.routes["/packed"] = Route(body=body, headers={"Content-Encoding": encoding})
    source = await fetch_link(web.url("/packed"), settings())
    assert source.title == lines[0] and "Xu Xiaoxiong" in source.text


@pytest.mark.parametrize("encoding", ["gzip, gzip", "gzip,deflate", "br", "zstd", "compress"])
async def test_stacked_or_unknown_compression_is_refused(encoding: str, web: FakeWebServer) -> None:
    page = news_page("Title", ["Mayor Jane Doe spoke."]).encode()
    web.routes["/packed"] = Route(body=_gzip(_gzip(page)), headers={"Content-Encoding": encoding})
    with pytest.raises(SourceError, match="compression I can't read") as err:
        await fetch_link(web.url("/packed"), settings())
    assert "\n" not in str(err.value)


async def test_a_gzip_bomb_is_counted_as_it_inflates(web: FakeWebServer) -> None:
    """1 MB on the wire, 1 GB inflated: refused at the 1 MB cap with little memory used."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_SYNC_FLUSH)
    web.routes["/bomb"] = Route(body=chunk * 1024, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match=r"larger than 1 MB"):
            await fetch_link(web.url("/bomb"), settings())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 12_000_000, f"{peak / 1e6:.0f} MB held while inflating"


async def test_a_download_is_cut_at_its_cap(web: FakeWebServer) -> None:
    """The Telegram file download: streamed, refused at the cap, the rest never read."""
    from bot.core.sources.download import download

    size = 50_000_000
    web.routes["/file"] = Route(body=repeat(b"x" * 65536, size), content_type=None)
    with pytest.raises(SourceError, match=r"too large for me: I read files of up to 1 MB"):
        await download(web.url("/file"), max_bytes=1_000_000, time_limit=5)
    await asyncio.sleep(0.2)
    assert web.sent.get("/file", 0) < size // 5
    web.routes["/small"] = Route(body=b"Mayor Jane Doe spoke.", content_type=None)
    assert await download(web.url("/small"), max_bytes=1_000_000, time_limit=5) == (
        b"Mayor Jane Doe spoke."
    )


# --- issue 18: every read in a worker process with a time and memory budget --------------------


def big_page(paragraph_count: int) -> bytes:
    lines = paragraphs(ZHAOQING)
    body = [f"{lines[1 + n % (len(lines) - 1)]} ({n})" for n in range(paragraph_count)]
    return news_page(lines[0], body).encode()


def _worker_children() -> list[int]:
    """Our live child processes that are source readers."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"bot.core.sources.sandbox" in cmdline:
                found.append(int(pid))
    return found


async def test_a_read_over_its_time_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.sources import worker

    monkeypatch.setattr(worker, "READ_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"took longer than 0\.5 s"):
        await read_document(big_page(12_000), filename="big.html", settings=settings(
            fetch_max_bytes=10_000_000))  # fmt: skip
    assert time.monotonic() - started < 3
    assert _worker_children() == []


async def test_a_read_over_its_memory_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.sources import worker

    monkeypatch.setattr(worker, "READ_MEMORY_BYTES", 40_000_000)
    with pytest.raises(SourceError, match="more memory"):
        await read_document(big_page(12_000), filename="big.html", settings=settings(
            fetch_max_bytes=10_000_000))  # fmt: skip


async def test_a_cancelled_read_stops_its_worker() -> None:
    reading = asyncio.create_task(
        read_document(big_page(12_000), filename="big.html",
                      settings=settings(fetch_max_bytes=10_000_000))
    )  # fmt: skip
    for _ in range(250):
        if _worker_children():
            break
        await asyncio.sleep(0.02)
    assert _worker_children(), "the read runs in a worker process"
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert _worker_children() == []


async def test_the_event_loop_keeps_turning_while_a_big_file_is_read() -> None:
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        source = await read_document(big_page(2_000), filename="big.html",
                                     settings=settings(fetch_max_bytes=10_000_000))  # fmt: skip
    finally:
        ticker.cancel()
    assert "Xu Xiaoxiong" in source.text
    assert max(gaps) < 0.25, f"the loop stalled {max(gaps):.2f} s"


# --- issue 18: every reader error is one line ---------------------------------------------------


def test_an_unexpected_parser_error_is_one_line_and_logged_without_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.core.sources import extract

    def boom(data: bytes, *args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("Mayor Secret Name said")

    monkeypatch.setattr(extract, "_read_pdf", boom)
    with caplog.at_level(logging.WARNING), pytest.raises(SourceError) as err:
        read_bytes(make_pdf([["Mayor Secret Name said hello."]]), filename="a.pdf")
    assert str(err.value) == "This file could not be read; send the text instead."
    assert "ZeroDivisionError" in caplog.text and "Secret" not in caplog.text


def test_a_pdf_of_too_many_pages_is_refused() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(1200):
        writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    started = time.monotonic()
    with pytest.raises(SourceError, match="1,200 pages"):
        read_bytes(buffer.getvalue(), filename="long.pdf")
    assert time.monotonic() - started < 5


def test_text_beyond_an_article_is_refused_early() -> None:
    with pytest.raises(SourceError, match="more text than an article"):
        read_bytes(b"Mayor Jane Doe spoke. " * 200_000, filename="a.txt", max_chars=1_000_000)
