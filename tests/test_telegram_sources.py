"""Links and files sent to the bot (issue 13): read by bot.core.sources, digested like a paste.

The real python-telegram-bot against the fake Bot API, the fake model server, and a local web
server (tests/fakes/web_server.py) serving a news page full of clutter. Documents are built by
the tests themselves (the builders of tests/test_sources.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app.memory import chat_scope
from bot.core.service import make_title
from bot.core.settings import Settings
from bot.core.sources.extract import DOCX_TYPE
from tests import test_telegram_bot as base
from tests.conftest import DATA
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.web_server import FakeWebServer, Route, news_page
from tests.test_sources import make_docx, make_pdf, scanned_pdf
from tests.test_telegram_bot import CHAT, OFFICIALS, USER, digest_messages, paste, running, texts
from tests.test_telegram_paths import deps_of

tg, bot_settings = base.tg, base.bot_settings  # the same fixtures

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
OTHER_CHAT = CHAT + 1000  # another private chat of the same user


def lines_of_article() -> list[str]:
    text = (DATA / "zhaoqing-die-casting-summit.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        lines = lines_of_article()
        page = news_page(lines[0], lines[1:], published="2025-03-29T08:00:00+08:00")
        server.routes["/news/zhaoqing"] = Route(body=page.encode())
        yield server


@pytest.fixture
def open_settings(bot_settings: Settings) -> Settings:
    """Links may reach 127.0.0.1, where the test's web server is."""
    return bot_settings.model_copy(update={"fetch_allow_private": True})


def officials_shown(message: Any) -> list[str]:
    """The digest's official lines ("• Name — role"), in order."""
    return [line for line in message.text.splitlines() if line.startswith("• ") and " — " in line]


async def test_a_link_gives_the_same_officials_as_the_pasted_text(
    open_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer, article_text: str,
    llm_server: FakeOpenAIServer,
) -> None:  # fmt: skip
    async with running(open_settings) as app:
        await paste(tg, article_text, parts=2, chat=OTHER_CHAT)
        pasted = (await tg.wait_for(lambda: digest_messages(tg, OTHER_CHAT), timeout=15))[-1]
        tg.user_sends_text(CHAT, USER, web.url("/news/zhaoqing"))
        linked = (await tg.wait_for(lambda: digest_messages(tg, CHAT), timeout=15))[-1]
        assert officials_shown(linked) == officials_shown(pasted)
        assert all(name in linked.text for name in OFFICIALS)
        # "March 28" has no year in the text: the page's publication date gives it.
        assert "Reported: 28 March 2025" in linked.text
        # The status line said what was happening, then became the digest.
        assert [e["text"] for e in linked.edits][:1] == ["Fetching the page…"]
        assert len(tg.bot_messages(CHAT)) == 1
        # The article is the page's: its title, and none of the page's clutter reached the model.
        stored = deps_of(app).app.service.store.recent_articles(chat_scope(CHAT), limit=1)[0]
        assert stored.title == make_title(lines_of_article()[0])
        assert stored.origin == web.url("/news/zhaoqing")  # the link is kept with the article
        assert linked.text.startswith(f"📰 {lines_of_article()[0][:40]}")
        prompt = json.dumps(llm_server.requests[-1].body)
        assert "Accept all" not in prompt and "Related articles" not in prompt
        # A question after it is about the linked article, as after a paste.
        tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await tg.wait_for(lambda: "Xu Xiaoxiong" in texts(tg)[-1] and len(texts(tg)) == 2)


async def test_a_link_to_a_private_address_is_refused_in_one_line(
    bot_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer,
    llm_server: FakeOpenAIServer,
) -> None:  # fmt: skip
    assert not bot_settings.fetch_allow_private
    async with running(bot_settings):
        tg.user_sends_text(CHAT, USER, web.url("/news/zhaoqing"))
        await tg.wait_for(lambda: any("private or local address" in t for t in texts(tg)))
        (reply,) = tg.bot_messages(CHAT)
        assert "\n" not in reply.text and reply.text.startswith("That link leads to a private")
        tg.user_sends_text(CHAT, USER, "ftp://example.com/release.txt")
        await tg.wait_for(lambda: "Only http and https" in texts(tg)[-1])
    assert web.requests == [] and llm_server.requests == []


async def test_a_pdf_and_a_word_file_are_digested(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer,
) -> None:  # fmt: skip
    lines = lines_of_article()
    pdf = make_pdf([lines[1:6], lines[6:]], title=lines[0])
    async with running(bot_settings) as app:
        tg.user_sends_document(CHAT, USER, "summit.pdf", pdf, mime_type="application/pdf")
        digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
        assert all(name in digest.text for name in OFFICIALS)
        tg.user_sends_document(
            CHAT + 1, USER, "summit.docx", make_docx(lines[0], lines[1:]), mime_type=DOCX_TYPE
        )
        word = (await tg.wait_for(lambda: digest_messages(tg, CHAT + 1), timeout=15))[-1]
        assert officials_shown(word) == officials_shown(digest)
        assert len(tg.calls_to("getFile")) == 2
        titles = [
            deps_of(app).app.service.store.recent_articles(chat_scope(c), limit=1)[0].title
            for c in (CHAT, CHAT + 1)
        ]
        assert titles == [make_title(lines[0])] * 2


async def test_html_and_markdown_files_still_work(
    bot_settings: Settings, tg: FakeTelegramServer, article_text: str
) -> None:
    lines = lines_of_article()
    page = news_page(lines[0], lines[1:]).encode()
    async with running(bot_settings):
        tg.user_sends_document(CHAT, USER, "story.html", page, mime_type="text/html")
        digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
        assert "Xu Xiaoxiong" in digest.text
        data = article_text.encode()
        tg.user_sends_document(CHAT + 1, USER, "story.md", data, mime_type="text/markdown")
        await tg.wait_for(lambda: digest_messages(tg, CHAT + 1), timeout=15)


async def test_a_scanned_pdf_gets_the_sources_message(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer
) -> None:
    async with running(bot_settings):
        tg.user_sends_document(CHAT, USER, "scan.pdf", scanned_pdf(), mime_type="application/pdf")
        await tg.wait_for(lambda: any("no text layer" in t for t in texts(tg)))
        (reply,) = tg.bot_messages(CHAT)  # the status line became the message
        assert reply.text == "This PDF has no text layer (it looks scanned); send the text instead."
        tg.user_sends_document(CHAT, USER, "old.doc", b"\xd0\xcf\x11\xe0 old word",
                               mime_type="application/msword")  # fmt: skip
        await tg.wait_for(lambda: "save it as .docx" in texts(tg)[-1])
    assert llm_server.requests == []


async def test_a_file_over_the_limit_is_refused_before_download(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:  # fmt: skip
    small = bot_settings.model_copy(update={"fetch_max_bytes": 2_000})
    async with running(small):
        tg.user_sends_document(CHAT, USER, "article.txt", article_text.encode())
        await tg.wait_for(lambda: texts(tg))
        assert texts(tg) == [
            "That file is too large for me: I read files of up to 0.002 MB. "
            "Send a smaller file, a link, or the text."
        ]
    assert tg.calls_to("getFile") == [] and llm_server.requests == []


async def test_a_link_over_the_quota_is_kept_for_retry(
    open_settings: Settings, tg: FakeTelegramServer, web: FakeWebServer,
    llm_server: FakeOpenAIServer,
) -> None:  # fmt: skip
    """The paste's paths: a fetched article over the quota is saved, with Retry."""
    limited = open_settings.model_copy(update={"daily_token_quota": 500})
    async with running(limited):
        tg.user_sends_text(CHAT, USER, web.url("/news/zhaoqing"))
        await tg.wait_for(lambda: any("limit of 500 tokens" in t for t in texts(tg)), timeout=10)
        shown = tg.bot_messages(CHAT)
        assert len(shown) == 1  # the "Fetching the page…" line made way for the refusal
        assert "r:" in json.dumps(shown[0].reply_markup)
    assert llm_server.requests == []


async def test_help_and_the_command_menu_name_the_new_commands(
    bot_settings: Settings, tg: FakeTelegramServer
) -> None:
    async with running(bot_settings):
        tg.user_sends_text(CHAT, USER, "/help")
        (help_text,) = await tg.wait_for(lambda: texts(tg))
    commands = {c["command"] for c in tg.my_commands()}
    assert {"who", "pledges", "search", "language", "export"} <= commands
    for command in ("/who", "/pledges", "/search", "/export register", "/language", "PDF"):
        assert command in help_text


async def test_a_file_of_unknown_size_is_refused_at_the_cap_while_it_downloads(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer
) -> None:
    """Telegram may leave file_size out: the download stops at the cap, nothing is held whole."""
    import tracemalloc

    small = bot_settings.model_copy(update={"fetch_max_bytes": 100_000})
    content = b"Mayor Jane Doe said the bridge will open in May. " * 600_000  # 30 MB
    async with running(small):
        tracemalloc.start()
        try:
            tg.user_sends_document(CHAT, USER, "big.txt", content, file_size=False)
            await tg.wait_for(lambda: any("too large" in t for t in texts(tg)), timeout=15)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        (reply,) = tg.bot_messages(CHAT)
        assert reply.text == (
            "That file is too large for me: I read files of up to 0.1 MB. "
            "Send a smaller file, a link, or the text."
        )
        assert peak < 10_000_000, f"{peak / 1e6:.0f} MB held for a file refused at 0.1 MB"
    assert llm_server.requests == []
