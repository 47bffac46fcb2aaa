"""Following feeds and digesting channel posts (issue 22), end to end.

The real python-telegram-bot against the fake Bot API and the fake model, and a local web
server (``FakeWebServer``) serving the feeds and the articles their items link to, over real
HTTP on 127.0.0.1 (the settings let links reach it). The store's side of feeds (claims,
leases, each item once, one chat's feeds invisible to another) runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app.feeds import FeedList
from bot.app.memory import chat_scope
from bot.core.settings import Settings
from bot.core.sources.feed import Feed, FeedItem
from bot.core.storage.store import Store
from tests import test_telegram_bot as base
from tests.conftest import DATA
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.web_server import FakeWebServer, Route, news_page, repeat
from tests.test_feeds import RSS_TYPE, newest_first, rss, rss_item
from tests.test_telegram_bot import CHAT, USER, digest_messages, running, texts
from tests.test_telegram_paths import deps_of

tg, bot_settings = base.tg, base.bot_settings  # the same fixtures

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
OTHER_CHAT = CHAT + 1000
CHANNEL = -1001234567890
POLL = 1.0  # seconds between two reads of a feed


def article_lines() -> list[str]:
    text = (DATA / "zhaoqing-die-casting-summit.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    """The feeds' articles: /news/<n>, each the summit article with a line of its own."""
    with FakeWebServer() as server:
        lines = article_lines()
        for n in range(1, 61):
            page = news_page(
                f"Release {n}: {lines[0]}", [*lines[1:], f"This is release number {n}."]
            )
            server.routes[f"/news/{n}"] = Route(body=page.encode())
        yield server


@pytest.fixture
def feed_settings(bot_settings: Settings) -> Settings:
    return bot_settings.model_copy(
        update={
            "fetch_allow_private": True,
            "feed_poll_seconds": POLL,
            "allowed_chats": str(CHANNEL),
        }
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, feed_settings: Settings) -> Settings:
    """The bot on each backend: on PostgreSQL the feeds' leases are the shared kind."""
    if request.param == "sqlite":
        return feed_settings
    url = SecretStr(request.getfixturevalue("postgres_url"))
    return feed_settings.model_copy(update={"database_url": url})


def serve(web: FakeWebServer, path: str, items: list[str], title: str = "Xijiang Daily") -> None:
    web.routes[path] = Route(content_type=RSS_TYPE, body=rss(items, title=title))


def article_ids(tg: FakeTelegramServer, chat: int = CHAT) -> list[str]:
    """The article of each digest in the chat, in order (from its buttons)."""
    return [
        str(m.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1])
        for m in digest_messages(tg, chat)
    ]


def replied_to(params: dict[str, Any]) -> int | None:
    parameters = params.get("reply_parameters") or {}
    found = parameters.get("message_id", params.get("reply_to_message_id"))
    return int(found) if found is not None else None


def failures_told(tg: FakeTelegramServer) -> list[str]:
    return lines_with(tg, "I could not read your feed")


def lines_with(tg: FakeTelegramServer, words: str, chat: int = CHAT) -> list[str]:
    return [t for t in texts(tg, chat) if words in t]


async def follow(tg: FakeTelegramServer, url: str, chat: int = CHAT) -> str:
    before = len(texts(tg, chat))
    tg.user_sends_text(chat, USER, f"/follow {url}")
    await tg.wait_for(lambda: len(texts(tg, chat)) > before, timeout=15)
    return texts(tg, chat)[before]


def store_of(app: Any) -> Store:
    found: Store = deps_of(app).app.service.store
    return found


# --- the target: 50 items, a restart in the middle, each digested once ----------------------


async def test_50_items_over_a_restart_are_each_delivered_once(
    backend_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer
) -> None:
    serve(web, "/feed.xml", [rss_item(0)])  # one item there before: skipped, not digested
    async with running(backend_settings) as app:
        reply = await follow(tg, web.url("/feed.xml"))
        assert reply.startswith("Following “Xijiang Daily”") and "skipped" in reply
        serve(web, "/feed.xml", [*newest_first(50), rss_item(0)])
        await tg.wait_for(lambda: len(digest_messages(tg)) >= 5, timeout=60)
        # Stopped in the middle: digests delivered, jobs queued, items not even read yet.
        rows = (
            store_of(app)
            .execute("SELECT status, COUNT(*) FROM tg_feed_items GROUP BY status")
            .fetchall()
        )
    statuses = {str(r[0]): int(r[1]) for r in rows}
    assert statuses.get("old") == 1 and sum(statuses.values()) == 51
    assert len(digest_messages(tg)) < 50
    async with running(backend_settings):
        await tg.wait_for(lambda: len(digest_messages(tg)) >= 50, timeout=180)
        await asyncio.sleep(3 * POLL)  # a few more polls: nothing comes twice
    ids = article_ids(tg)
    assert len(ids) == 50 and len(set(ids)) == 50
    assert "Release 0:" not in "\n".join(texts(tg))
    failures = [t for t in texts(tg) if "could not" in t or "wrong" in t]
    assert failures == []


# --- failing feeds: one line each, once; the others go on -----------------------------------


async def test_broken_feeds_say_one_line_once_and_stop_nothing_else(
    feed_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer
) -> None:
    names = {"/good.xml": "Good", "/bad.xml": "Bad", "/gone.xml": "Gone", "/big.xml": "Big"}
    for path, title in names.items():
        serve(web, path, [rss_item(1)], title=title)
    async with running(feed_settings):
        # At /follow a feed that does not work is refused in one line, and not followed.
        refused = await follow(tg, web.url("/missing.xml"))
        assert refused == "The feed at 127.0.0.1 answered 404 Not Found; check its address."
        for path in names:
            assert (await follow(tg, web.url(path))).startswith("Following")
        # Then three break, and the good one has a new item.
        web.routes["/bad.xml"] = Route(content_type=RSS_TYPE, body=b"<rss><channel><item><ti")
        del web.routes["/gone.xml"]
        size = 10_500_000
        web.routes["/big.xml"] = Route(content_type=RSS_TYPE, body=repeat(b" " * 65536, size))
        serve(web, "/good.xml", [rss_item(2), rss_item(1)], title="Good")
        await tg.wait_for(lambda: len(failures_told(tg)) == 3, timeout=30)
        await tg.wait_for(lambda: len(digest_messages(tg)) == 1, timeout=30)
        await asyncio.sleep(3 * POLL)  # polled again: failing still, said once
        assert sorted(failures_told(tg)) == [
            "I could not read your feed “Bad”: The feed at 127.0.0.1 is broken: I could not "
            "read any item in it. I'll keep trying.",
            "I could not read your feed “Big”: The feed at 127.0.0.1 is larger than 10 MB, far "
            "more than a news feed; I can't follow it. I'll keep trying.",
            "I could not read your feed “Gone”: The feed at 127.0.0.1 answered 404 Not Found; "
            "check its address. I'll keep trying.",
        ]
        polls = [p for p, _ in web.requests if p == "/gone.xml"]
        assert len(polls) >= 3  # still polled, not said again
        tg.user_sends_text(CHAT, USER, "/following")
        await tg.wait_for(lambda: texts(tg)[-1].startswith("This chat follows 4 of 20"))
        listing = texts(tg)[-1]
        assert (
            "2. Bad — http://127.0.0.1" in listing
            and "⚠ The feed at 127.0.0.1 is broken" in listing
        )
        assert "1. Good" in listing and listing.count("⚠") == 3
        # Fixed, it digests again; broken again later, it would be said again.
        serve(web, "/gone.xml", [rss_item(3), rss_item(1)], title="Gone")
        await tg.wait_for(lambda: len(digest_messages(tg)) == 2, timeout=30)
        assert len(failures_told(tg)) == 3
    assert all("Traceback" not in t for t in texts(tg))
    assert all("http" not in t for t in failures_told(tg))


# --- chats, caps and unfollowing ------------------------------------------------------------


async def test_caps_and_one_chats_feeds_invisible_to_another(
    feed_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer
) -> None:
    capped = feed_settings.model_copy(update={"feeds_per_chat": 2, "feed_items_per_day": 3})
    for path in ("/a.xml", "/b.xml", "/c.xml"):
        serve(web, path, [], title=path[1])
    async with running(capped) as app:
        assert (await follow(tg, web.url("/a.xml"))).startswith("Following “a”")
        assert (await follow(tg, web.url("/b.xml"))).startswith("Following “b”")
        assert (await follow(tg, web.url("/a.xml"))).startswith("This chat already follows")
        full = await follow(tg, web.url("/c.xml"))
        assert full.startswith("This chat already follows 2 feeds, the most it can")
        # Another chat sees none of them, and cannot unfollow them.
        tg.user_sends_text(OTHER_CHAT, USER, "/following")
        await tg.wait_for(lambda: lines_with(tg, "follows no feed", OTHER_CHAT))
        tg.user_sends_text(OTHER_CHAT, USER, f"/unfollow {web.url('/a.xml')}")
        await tg.wait_for(lambda: lines_with(tg, "does not follow that feed", OTHER_CHAT))
        # Five new items: three digested today, the chat told once that the rest wait.
        serve(web, "/a.xml", newest_first(5), title="a")
        await tg.wait_for(lambda: len(digest_messages(tg)) == 3, timeout=60)
        await tg.wait_for(lambda: lines_with(tg, "Today's 3 feed items are in"))
        await asyncio.sleep(3 * POLL)
        assert len(digest_messages(tg)) == 3 and len(lines_with(tg, "Today's 3")) == 1
        rows = (
            store_of(app)
            .execute("SELECT item_id FROM tg_feed_items WHERE status = 'queued' ORDER BY id")
            .fetchall()
        )
        assert [r[0] for r in rows] == ["release-1", "release-2", "release-3"]  # oldest first
        # Unfollowed by number: it is gone from the list, the other keeps its number order.
        tg.user_sends_text(CHAT, USER, "/unfollow 1")
        await tg.wait_for(lambda: texts(tg)[-1] == "Stopped following “a”.")
        tg.user_sends_text(CHAT, USER, "/following")
        await tg.wait_for(lambda: texts(tg)[-1].startswith("This chat follows 1 of 2"))
        assert "1. b — " in texts(tg)[-1]
        assert digest_messages(tg, OTHER_CHAT) == []
        digested = deps_of(app).app.service.recent_articles(chat_scope(OTHER_CHAT))
        assert digested == []


# --- channels ---------------------------------------------------------------------------------


async def test_a_channel_post_is_digested_into_the_channels_register(
    feed_settings: Settings, tg: FakeTelegramServer, article_text: str
) -> None:
    async with running(feed_settings) as app:
        short = tg.channel_posts(CHANNEL, "Tomorrow: the summit, live from Zhaoqing.")
        post = tg.channel_posts(CHANNEL, article_text)
        digest = (await tg.wait_for(lambda: digest_messages(tg, CHANNEL), timeout=20))[-1]
        assert "Xu Xiaoxiong" in digest.text
        sent = tg.calls_to("sendMessage")
        assert any(replied_to(c.params) == post["message_id"] for c in sent)
        service = deps_of(app).app.service
        (stored,) = service.recent_articles(chat_scope(CHANNEL))
        assert "Xu Xiaoxiong" in stored.text
        assert service.desk.who("Xu Xiaoxiong", [chat_scope(CHANNEL)], None)
        assert service.recent_articles(chat_scope(CHAT)) == []
        # An edit that leaves the text as it was is not digested again; a real change is.
        tg.channel_edits_post(CHANNEL, post["message_id"], article_text)
        tg.channel_edits_post(CHANNEL, short["message_id"], "Tomorrow: the summit, live.")
        await asyncio.sleep(1.5)
        assert len(digest_messages(tg, CHANNEL)) == 1
        tg.channel_edits_post(CHANNEL, post["message_id"], article_text + "\nUpdated at noon.")
        await tg.wait_for(lambda: len(digest_messages(tg, CHANNEL)) == 2, timeout=20)
        assert len(service.recent_articles(chat_scope(CHANNEL))) == 2
        # A channel can follow a feed too: /follow posted in it.
        tg.channel_posts(CHANNEL, "/following")
        await tg.wait_for(lambda: lines_with(tg, "follows no feed", CHANNEL))


# --- the store, on SQLite and PostgreSQL ---------------------------------------------------


def _feed(*ids: str, title: str = "News") -> Feed:
    items = tuple(FeedItem(i, f"https://example.org/{i}", i.title(), None, None) for i in ids)
    return Feed(url="https://example.org/rss", title=title, items=items)


def test_feed_rows_on_both_backends(store: Store, tmp_path: Path) -> None:
    feeds = FeedList(store)
    url = "https://example.org/rss"
    assert feeds.follow(1, 10, url, _feed("a", "b"), cap=2) == "added"
    assert feeds.follow(1, 10, url, _feed("a"), cap=2) == "exists"
    assert feeds.follow(2, 20, url, _feed("a"), cap=2) == "added"  # another chat: its own row
    assert feeds.follow(1, 10, url + "2", _feed(), cap=2) == "added"
    assert feeds.follow(1, 10, url + "3", _feed(), cap=2) == "full"
    assert [f.url for f in feeds.following(1)] == [url, url + "2"]
    assert [(f.number, f.name) for f in feeds.following(2)] == [(1, "News")]
    # Not due yet; due once the interval has passed; one replica at a time.
    assert feeds.claim_due("r1", 30, interval=3600) is None
    first = feeds.claim_due("r1", 30, interval=0)
    second = feeds.claim_due("r2", 30, interval=0)
    third = feeds.claim_due("r3", 30, interval=0)
    assert first and second and third and len({first.id, second.id, third.id}) == 3
    assert feeds.claim_due("r4", 30, interval=0) is None  # all held
    mine = next(f for f in (first, second, third) if f.chat_id == 1 and f.url == url)
    owner = {first.id: "r1", second.id: "r2", third.id: "r3"}[mine.id]
    # Each item once: written twice (two readers), it is one row; the old ones are seen.
    for _ in range(2):
        feeds.add_items(mine.id, 1, _feed("c", "d").items, "new")
    assert feeds.seen(mine.id) == {"a", "b", "c", "d"}
    assert feeds.taken_today(1) == 2 and feeds.taken_today(2) == 0
    pending = feeds.pending(mine.id)
    assert [p.link for p in pending] == ["https://example.org/c", "https://example.org/d"]
    assert feeds.mark(pending[0].id, "queued") and not feeds.mark(pending[0].id, "queued")
    assert not feeds.renew(mine.id, "someone else", 30) and feeds.renew(mine.id, owner, 30)
    # A failure is told once; the poll gives the lease back.
    assert feeds.polled(mine.id, owner, error="The feed at example.org answered 404.") is True
    assert feeds.claim_due(owner, 30, interval=0) is not None  # due again at interval 0
    assert feeds.polled(mine.id, owner, error="The feed at example.org answered 404.") is False
    assert feeds.following(1)[0].last_error == "The feed at example.org answered 404."
    assert feeds.cap_reached(1) and not feeds.cap_reached(1) and feeds.cap_reached(2)
    feeds.release("r2")
    feeds.release_all()
    gone = feeds.unfollow(1, "1")
    assert gone is not None and gone.url == url
    assert feeds.unfollow(1, url) is None and feeds.unfollow(2, "7") is None
    assert [f.url for f in feeds.following(1)] == [url + "2"]
    assert feeds.seen(mine.id) == set()  # its items went with it
    assert feeds.following(2)[0].url == url
