"""RSS and Atom feeds (issue 22): read through the fetch guard, parsed in a bounded child.

Every feed is served over real HTTP by ``FakeWebServer`` on 127.0.0.1 (the settings allow
private addresses, as in ``test_sources``); the redirect test reaches it through the fake
internet of ``test_sources`` with the guard on. Nothing resolves a real name or leaves the
machine. Each refusal must be one line in the user's terms, naming the feed by its host.
"""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from bot.core.errors import SourceError
from bot.core.settings import Settings
from bot.core.sources import feed as feed_module
from bot.core.sources import fetch
from bot.core.sources.feed import (
    MAX_ENTRIES,
    Feed,
    FeedItem,
    new_items,
    parse_feed,
    read_feed,
)
from tests.fakes.web_server import FakeWebServer, Route, repeat
from tests.test_sources import PUBLIC_IP, Internet

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml"


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "fetch_allow_private": True,
        "fetch_max_bytes": 10_000_000,
        "fetch_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def rss(items: list[str], title: str = "Xijiang Daily: news") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def rss_item(n: int, *, link: str | None = None, guid: str | None = None) -> str:
    when = format_datetime(_day(n))
    link = link if link is not None else f"/news/{n}"
    guid_tag = f'<guid isPermaLink="false">{guid or f"release-{n}"}</guid>'
    return (
        f"<item><title>Release {n}: the die-casting cluster</title><link>{link}</link>"
        f"{guid_tag}<pubDate>{when}</pubDate>"
        f"<description>&lt;p&gt;Summary of release {n} &amp;amp; more.&lt;/p&gt;</description>"
        "</item>"
    )


def _day(n: int) -> datetime:
    china = timezone(timedelta(hours=8))
    return datetime(2024, 3, 1, 9, 0, tzinfo=china) + timedelta(hours=n)


def newest_first(count: int) -> list[str]:
    return [rss_item(n) for n in reversed(range(1, count + 1))]


def assert_one_line(error: pytest.ExceptionInfo[SourceError], *, host: str = "127.0.0.1") -> str:
    """One line for the user: no newline, no traceback, no address beyond the feed's host."""
    message = str(error.value)
    assert message == error.value.user_message
    assert "\n" not in message and "Traceback" not in message
    assert "http://" not in message and "https://" not in message
    assert len(message) < 200
    assert host in message, message
    return message


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1"]
        raise socket.gaierror(socket.EAI_NONAME, "unknown in tests")

    monkeypatch.setattr(fetch, "resolve", resolve)


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


# --- feeds that are read ---------------------------------------------------------------------


async def test_an_rss_feed_of_50_items_is_read_whole(web: FakeWebServer) -> None:
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(newest_first(50)))
    feed = await read_feed(web.url("/feed.xml"), settings())
    assert feed.title == "Xijiang Daily: news" and feed.url == web.url("/feed.xml")
    assert len(feed.items) == 50 and feed.skipped == 0
    first = feed.items[0]  # the feed's order: newest first
    assert first == FeedItem(
        id="release-50",
        link=web.url("/news/50"),  # relative in the feed, absolute here
        title="Release 50: the die-casting cluster",
        published="2024-03-03T11:00:00+08:00",  # the feed's own offset: its local date
        summary="Summary of release 50 & more.",
    )
    assert len({item.id for item in feed.items}) == 50


async def test_50_items_over_a_restart_are_each_new_once(web: FakeWebServer) -> None:
    """The issue's target, for the reading part: a poll delivers 20 (the cap), the bot
    restarts with the 20 ids stored, 10 more items appear, and the later polls deliver the
    rest once each, oldest first."""
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(newest_first(40)))
    delivered: list[str] = []
    feed = await read_feed(web.url("/feed.xml"), settings())
    delivered += [item.id for item in new_items(feed, delivered, limit=20)]
    stored = list(delivered)  # what a store keeps across the restart

    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(newest_first(50)))
    for _ in range(3):
        feed = await read_feed(web.url("/feed.xml"), settings())
        fresh = new_items(feed, stored, limit=20)
        stored += [item.id for item in fresh]
        delivered += [item.id for item in fresh]
    assert delivered == [f"release-{n}" for n in range(1, 51)]


@pytest.mark.parametrize("scheme", ["feed://", "feed:http://"])
async def test_a_feed_scheme_as_browsers_give_it(web: FakeWebServer, scheme: str) -> None:
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(newest_first(2)))
    feed = await read_feed(f"{scheme}127.0.0.1:{web.port}/feed.xml", settings())
    assert feed.url == web.url("/feed.xml") and len(feed.items) == 2


async def test_an_atom_feed(web: FakeWebServer) -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Provincial government: releases</title><id>urn:gd:releases</id>
  <updated>2024-03-29T08:15:00+08:00</updated>
  <entry><title type="html">Zhaoqing signs with Voltaris &amp;amp; partners</title>
    <id>urn:gd:release:7</id><link rel="alternate" href="releases/7.html"/>
    <link rel="enclosure" href="/files/7.pdf"/>
    <published>2024-03-29T08:15:00+08:00</published><updated>2024-03-30T10:00:00Z</updated>
    <summary type="html">&lt;b&gt;Signed&lt;/b&gt; at the summit.</summary></entry>
  <entry><title>No date</title><id>urn:gd:release:6</id>
    <link href="https://gd.example.gov/releases/6.html"/></entry>
</feed>"""
    web.routes["/atom"] = Route(content_type=ATOM_TYPE, body=body)
    feed = await read_feed(web.url("/atom"), settings())
    assert feed.title == "Provincial government: releases"
    assert feed.items == (
        FeedItem(
            id="urn:gd:release:7",
            link=web.url("/releases/7.html"),
            title="Zhaoqing signs with Voltaris & partners",
            published="2024-03-29T08:15:00+08:00",
            summary="Signed at the summit.",
        ),
        FeedItem(
            id="urn:gd:release:6",
            link="https://gd.example.gov/releases/6.html",
            title="No date",
            published=None,
            summary=None,
        ),
    )


async def test_relative_links_resolve_against_the_feed_after_its_redirect(
    web: FakeWebServer,
) -> None:
    items = [rss_item(1, link="item/1"), rss_item(2, link="../top/2"), rss_item(3, link="?p=3")]
    web.routes["/old"] = Route(status=301, headers={"Location": "/feeds/news.xml"})
    web.routes["/feeds/news.xml"] = Route(content_type="text/xml", body=rss(items))
    feed = await read_feed(web.url("/old"), settings())
    assert feed.url == web.url("/feeds/news.xml")
    assert [item.link for item in feed.items] == [
        web.url("/feeds/item/1"),
        web.url("/top/2"),
        web.url("/feeds/news.xml?p=3"),
    ]


async def test_duplicate_guids_count_once_and_linkless_items_are_skipped(
    web: FakeWebServer,
) -> None:
    items = [
        rss_item(3, guid="same"),
        rss_item(2, guid="same"),
        rss_item(1),
        "<item><title>No link</title><description>Text only.</description></item>",
        "<item><title>Script</title><link>javascript:alert(1)</link></item>",
        "<item><title>File</title><link>file:///etc/passwd</link></item>",
    ]
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(items))
    feed = await read_feed(web.url("/feed.xml"), settings())
    assert [(item.id, item.link) for item in feed.items] == [
        ("same", web.url("/news/3")),
        ("release-1", web.url("/news/1")),
    ]
    assert feed.skipped == 3


def test_an_empty_feed_is_a_feed() -> None:
    feed = parse_feed(rss([]), url="https://example.org/feed")
    assert feed.items == () and feed.title == "Xijiang Daily: news"


def test_long_titles_and_summaries_are_clipped() -> None:
    item = (
        f"<item><title>{'T' * 5000}</title><link>/a</link>"
        f"<description>{'word ' * 2000}</description></item>"
    )
    feed = parse_feed(rss([item], title="F" * 5000), url="https://example.org/feed")
    assert feed.title is not None and len(feed.title) == feed_module.MAX_TITLE_CHARS
    (got,) = feed.items
    assert got.title is not None and len(got.title) == feed_module.MAX_TITLE_CHARS
    assert got.summary is not None and len(got.summary) <= feed_module.MAX_SUMMARY_CHARS
    assert got.summary.endswith("…")


def test_ids_without_a_guid_and_long_ones() -> None:
    no_guid = "<item><title>A</title><link>https://example.org/a</link></item>"
    long_guid = f"<item><guid>{'x' * 500}</guid><link>https://example.org/b</link></item>"
    feed = parse_feed(rss([no_guid, long_guid]), url="https://example.org/feed")
    assert feed.items[0].id == "https://example.org/a"
    assert feed.items[1].id.startswith("sha256:") and len(feed.items[1].id) == 71


def test_items_past_the_cap_are_not_kept() -> None:
    feed = parse_feed(rss(newest_first(250)), url="https://example.org/feed")
    assert len(feed.items) == feed_module.MAX_ITEMS == 200
    assert feed.items[0].id == "release-250"  # the newest ones, as the feed lists them


# --- new items -------------------------------------------------------------------------------


def _feed(*items: tuple[str, str | None]) -> Feed:
    return Feed(
        url="https://example.org/feed",
        title=None,
        items=tuple(
            FeedItem(id=i, link=f"https://example.org/{i}", title=i, published=p, summary=None)
            for i, p in items
        ),
    )


def test_new_items_are_oldest_first_and_capped() -> None:
    feed = _feed(
        ("c", "2024-03-03T01:00:00+08:00"),
        ("a", "2024-03-01T00:00:00Z"),  # listed out of order: the dates decide
        ("b", "2024-03-02T18:00:00Z"),  # later than c, whose offset puts it on 2 March 17:00
    )
    assert [i.id for i in new_items(feed, set(), limit=10)] == ["a", "c", "b"]
    assert [i.id for i in new_items(feed, {"a"}, limit=1)] == ["c"]
    assert new_items(feed, {"a", "b", "c"}, limit=10) == []
    assert new_items(feed, set(), limit=0) == []


def test_new_items_without_dates_follow_the_feed_backwards() -> None:
    feed = _feed(("c", None), ("b", "2024-03-02T00:00:00Z"), ("a", None))
    assert [i.id for i in new_items(feed, {"z"}, limit=10)] == ["a", "b", "c"]


# --- refusals: one line each -----------------------------------------------------------------


async def test_a_feed_that_404s(web: FakeWebServer) -> None:
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/missing.xml"), settings())
    assert (
        assert_one_line(error) == "The feed at 127.0.0.1 answered 404 Not Found; check its address."
    )


async def test_a_feed_that_does_not_load_in_time(web: FakeWebServer) -> None:
    web.routes["/slow.xml"] = Route(content_type=RSS_TYPE, body=repeat(b" ", 100, delay=0.1))
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/slow.xml"), settings(fetch_timeout=1.0))
    message = assert_one_line(error)
    assert message == "The feed at 127.0.0.1 did not load within 1 s; try again later."


async def test_a_redirect_to_another_scheme(web: FakeWebServer) -> None:
    web.routes["/a"] = Route(status=302, headers={"Location": "/b"})
    web.routes["/b"] = Route(status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(SourceError, match=r"^Only http and https links can be read \(file:\)\.$"):
        await read_feed(web.url("/a"), settings())


async def test_a_malformed_feed(web: FakeWebServer) -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>A</ti'
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=body)
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/feed.xml"), settings())
    assert "is broken" in assert_one_line(error)


async def test_a_web_page_given_as_a_feed(web: FakeWebServer) -> None:
    page = b"<!DOCTYPE html><html><head><title>News</title></head><body><p>Hi</p></body></html>"
    web.routes["/news"] = Route(body=page)
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/news"), settings())
    assert "is not an RSS or Atom feed" in assert_one_line(error)


async def test_an_image_is_refused_unread(web: FakeWebServer) -> None:
    web.routes["/logo.png"] = Route(content_type="image/png", body=b"\x89PNG" + b"\0" * 100_000)
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/logo.png"), settings())
    assert "serves image/png, not an RSS or Atom feed" in assert_one_line(error)


@pytest.mark.parametrize("declared", [True, False])
async def test_a_10_mb_feed_is_refused_at_the_cap(web: FakeWebServer, declared: bool) -> None:
    size = 10_500_000
    head = rss([]).split(b"</channel>")[0]
    web.routes["/big.xml"] = Route(
        content_type=RSS_TYPE,
        body=repeat(head + rss_item(1).encode() * 200, size),
        content_length=size if declared else None,
    )
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError) as error:
            await read_feed(web.url("/big.xml"), settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    # Announced: refused before a byte is read. Not announced: the body up to the cap only.
    assert peak < (2_000_000 if declared else 40_000_000)
    message = assert_one_line(error)
    assert message == (
        "The feed at 127.0.0.1 is larger than 10 MB, far more than a news feed; I can't follow it."
    )


async def test_a_feed_of_too_many_items_is_refused_unparsed(web: FakeWebServer) -> None:
    items = [f"<item><link>/n/{n}</link></item>" for n in range(MAX_ENTRIES + 1)]
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=rss(items))
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/feed.xml"), settings())
    assert f"more than {MAX_ENTRIES} items" in assert_one_line(error)


LOL = "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i else "lol") * 10}">' for i in range(10))


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE rss [\n" + LOL.replace(">", ">\n") + "]>",  # one declaration a line
        f"<!DOCTYPE rss [{LOL}]>",  # all on one line: feedparser's own filter misses them
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>',
    ],
    ids=["laughs", "laughs-one-line", "external-file", "parameter"],
)
async def test_entity_bombs_and_external_entities(web: FakeWebServer, doctype: str) -> None:
    body = (
        f'<?xml version="1.0"?>\n{doctype}\n<rss version="2.0"><channel><title>&lol9;</title>'
        f"<item><title>&xxe; &lol9;</title><link>/a</link></item></channel></rss>"
    ).encode()
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=body)
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/feed.xml"), settings())
    assert "declares XML entities" in assert_one_line(error)
    assert [path for path, _ in web.requests] == ["/feed.xml"]


async def test_an_entity_bomb_in_utf16_is_not_expanded(web: FakeWebServer) -> None:
    """UTF-16 hides the declarations from the byte check: the parser must still hold."""
    body = (
        f'<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [{LOL}]>\n'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>&lol9;</title><link>/a</link></item></channel></rss>"
    ).encode("utf-16")
    web.routes["/feed.xml"] = Route(content_type="application/xml", body=body)
    started = time.monotonic()
    try:
        feed = await read_feed(web.url("/feed.xml"), settings())
    except SourceError as error:
        assert "\n" not in str(error)
    else:
        assert all(len(item.title or "") < 1000 for item in feed.items)
    assert time.monotonic() - started < 15


async def test_a_feed_the_parser_chokes_on_is_stopped_in_time(
    web: FakeWebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9 MB of ``<a `` costs feedparser over a minute and a gigabyte: the child is killed."""
    monkeypatch.setattr(feed_module, "FEED_READ_SECONDS", 2.0)
    web.routes["/feed.xml"] = Route(content_type=RSS_TYPE, body=b"<a " * 3_000_000)
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/feed.xml"), settings())
    assert time.monotonic() - started < 8
    message = assert_one_line(error)
    assert message.startswith("Reading the feed at 127.0.0.1 took longer than 2 s")


@pytest.mark.parametrize(
    "location",
    ["http://10.20.30.40:{port}/feed.xml", "http://intranet.example.com:{port}/feed.xml"],
)
async def test_a_feed_that_redirects_to_a_private_address_is_refused(
    web: FakeWebServer, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    net = Internet(web)
    net.dns["intranet.example.com"] = ["10.20.30.40"]
    monkeypatch.setattr(fetch, "resolve", net.resolve)
    monkeypatch.setattr(fetch, "connect", net.connect)
    web.routes["/feed.xml"] = Route(
        status=302, headers={"Location": location.format(port=web.port)}
    )
    url = f"http://news.example.com:{web.port}/feed.xml"
    with pytest.raises(SourceError) as error:
        await read_feed(url, settings(fetch_allow_private=False))
    message = assert_one_line(error, host="news.example.com")
    assert message == (
        "The feed at news.example.com redirects to a private or local address; only public "
        "feeds can be read."
    )
    assert "intranet" not in message and "10.20" not in message
    assert net.dialed == [PUBLIC_IP]


async def test_a_private_feed_address_is_refused_before_connecting(web: FakeWebServer) -> None:
    with pytest.raises(SourceError) as error:
        await read_feed(web.url("/feed.xml"), settings(fetch_allow_private=False))
    assert "private or local address" in assert_one_line(error)
    assert web.requests == []


async def test_broken_feeds_stop_nothing_else(web: FakeWebServer) -> None:
    """The issue's target: a malformed feed, a 404 and a 10 MB feed polled with a good one;
    each fails with its own line, the good one is read."""
    web.routes["/good.xml"] = Route(content_type=RSS_TYPE, body=rss(newest_first(5)))
    web.routes["/bad.xml"] = Route(content_type=RSS_TYPE, body=b"<rss><channel><item><title>")
    size = 10_200_000
    web.routes["/big.xml"] = Route(content_type=RSS_TYPE, body=repeat(b" " * 65536, size))
    paths = ["/good.xml", "/bad.xml", "/gone.xml", "/big.xml"]
    results = await asyncio.gather(
        *(read_feed(web.url(path), settings()) for path in paths), return_exceptions=True
    )
    good, *failures = results
    assert isinstance(good, Feed) and len(good.items) == 5
    lines = [str(failure) for failure in failures]
    assert all(isinstance(failure, SourceError) for failure in failures), lines
    assert lines == [
        "The feed at 127.0.0.1 is broken: I could not read any item in it.",
        "The feed at 127.0.0.1 answered 404 Not Found; check its address.",
        "The feed at 127.0.0.1 is larger than 10 MB, far more than a news feed; I can't follow it.",
    ]
