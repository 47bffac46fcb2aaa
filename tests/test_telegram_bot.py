"""The real python-telegram-bot Application against the fake Bot API and fake model servers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from telegram import Update
from telegram.ext import Application

from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.telegram_app.app import ALLOWED_UPDATES, build_application
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.telegram_api import FakeTelegramServer

# What build_application returns: an Application with python-telegram-bot's default types.
BotApp: TypeAlias = Application[Any, Any, Any, Any, Any, Any]

USER, STRANGER, CHAT, GROUP = 42, 7, 42, -100123
OFFICIALS = ["Sun Xing", "Zhang Libo", "Yang Qingbing", "Zhang Aijun", "Xu Xiaoxiong",
             "Chi Zhixiong", "Ding Wenjiang", "Zheng Chunqi"]  # fmt: skip


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def bot_settings(tmp_path: Path, llm_server: FakeOpenAIServer, tg: FakeTelegramServer) -> Settings:
    return make_settings(
        tmp_path,
        llm_server,
        telegram_bot_token=tg.token,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        allowed_users=str(USER),
        fragment_quiet_seconds=0.3,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[BotApp]:
    """Start the bot the way run_polling does, minus the signal handling."""
    app = build_application(settings, DigestService.from_settings(settings))
    await app.initialize()
    assert app.post_init is not None and app.updater is not None
    await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


@pytest.fixture
async def bot(bot_settings: Settings) -> AsyncIterator[BotApp]:
    async with running(bot_settings) as app:
        yield app


def fragments(text: str, parts: int) -> list[str]:
    """Cut at white space near equal sizes, the way a Telegram client splits a long paste."""
    size = len(text) // parts
    pieces, start = [], 0
    for _ in range(parts - 1):
        cut = text.rindex(" ", start, start + size)
        pieces.append(text[start:cut])
        start = cut + 1
    return [*pieces, text[start:]]


def texts(tg: FakeTelegramServer, chat: int = CHAT) -> list[str]:
    return [m.text for m in tg.bot_messages(chat)]


def digest_messages(tg: FakeTelegramServer, chat: int = CHAT) -> list[Any]:
    """Digest replies: the messages that carry the digest's buttons."""
    return [m for m in tg.bot_messages(chat) if "o:" in json.dumps(m.reply_markup or {})]


async def paste(tg: FakeTelegramServer, text: str, parts: int = 3, chat: int = CHAT) -> None:
    for piece in fragments(text, parts):
        tg.user_sends_text(chat, USER, piece)


async def test_paste_in_fragments_gives_one_digest(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    await paste(tg, article_text, parts=3)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    assert len(llm_server.requests) == 1  # three fragments, one article, one call
    prompt = llm_server.requests[0].body["messages"][1]["content"]
    assert "Liao Tong" in prompt and "Sun Xing" in prompt  # first and last fragment both there
    shown = "\n".join(texts(tg))
    assert all(name in shown for name in OFFICIALS)
    assert all(len(m.text) <= 4096 for m in tg.bot_messages(CHAT))
    assert not any(t.startswith("Reading") for t in texts(tg))  # the status line was replaced
    assert tg.calls_to("sendChatAction")
    commands = [c["command"] for c in tg.my_commands()]
    assert {"start", "help", "new", "articles", "export", "usage", "cancel"} <= set(commands)


async def test_follow_up_buttons_and_export(
    bot: BotApp,
    tg: FakeTelegramServer,
    article_text: str,
) -> None:
    await paste(tg, article_text, parts=2)
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
    await tg.wait_for(lambda: any("Mayor Xu Xiaoxiong" in t for t in texts(tg)[-1:]))

    tg.user_presses_button(CHAT, USER, digest.message_id, f"o:{_article_id(digest)}")
    await tg.wait_for(lambda: any(t.startswith("Officials (12)") for t in texts(tg)))
    tg.user_presses_button(CHAT, USER, digest.message_id, f"c:{_article_id(digest)}")
    await tg.wait_for(lambda: any(t.startswith("Commitments (") for t in texts(tg)))
    tg.user_presses_button(CHAT, USER, digest.message_id, f"j:{_article_id(digest)}")
    tg.user_presses_button(CHAT, USER, digest.message_id, f"m:{_article_id(digest)}")
    await tg.wait_for(lambda: len(tg.documents(CHAT)) == 2)
    names = {name: body for name, body, _ in tg.documents(CHAT)}
    exported = json.loads(next(b for n, b in names.items() if n.endswith(".json")))
    assert len(exported["officials"]) == 12
    assert b"Xu Xiaoxiong" in next(b for n, b in names.items() if n.endswith(".md"))
    assert len(tg.calls_to("answerCallbackQuery")) == 4


def _article_id(message: Any) -> str:
    rows = message.reply_markup["inline_keyboard"]
    return str(rows[0][0]["callback_data"].split(":")[1])


async def test_reply_to_older_digest_asks_about_that_article(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    await paste(tg, article_text, parts=2)
    first = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    other = " ".join(
        f"Lakeside council member Anna Berg said the town will repair bridge {i} this year."
        for i in range(12)
    )
    tg.user_sends_text(CHAT, USER, other)
    await tg.wait_for(lambda: len(digest_messages(tg)) == 2, timeout=15)
    tg.user_sends_text(
        CHAT, USER, "Who is the mayor of Zhaoqing?", reply_to_message_id=first.message_id
    )
    await tg.wait_for(lambda: len(llm_server.requests) == 3)
    context = llm_server.requests[-1].body["messages"][1]["content"]
    assert "Zhaoqing" in context and "Lakeside" not in context
    await tg.wait_for(lambda: "Xu Xiaoxiong" in texts(tg)[-1])
    # Without a reply, a question goes to the current (latest) article.
    tg.user_sends_text(CHAT, USER, "Which bridge will be repaired?")
    await tg.wait_for(lambda: len(llm_server.requests) == 4)
    assert "Lakeside" in llm_server.requests[-1].body["messages"][1]["content"]


async def test_stranger_is_refused_without_llm_call(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    tg.user_sends_text(STRANGER, STRANGER, article_text[:3000])
    reply = await tg.wait_for(lambda: texts(tg, STRANGER))
    assert len(reply) == 1 and "user ID is 7" in reply[0] and "\n" not in reply[0]
    tg.user_sends_text(CHAT, USER, "/usage")  # the allowed user still gets service
    await tg.wait_for(lambda: texts(tg))
    assert llm_server.requests == []


async def test_group_needs_a_mention(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    tg.user_sends_text(GROUP, USER, article_text[:3000], chat_type="supergroup")
    tg.user_sends_text(GROUP, USER, "Who is the mayor?", chat_type="supergroup")
    tg.user_sends_text(GROUP, USER, "/usage@digest_test_bot", chat_type="supergroup")
    await tg.wait_for(lambda: texts(tg, GROUP))  # the command is answered...
    assert len(texts(tg, GROUP)) == 1 and llm_server.requests == []  # ...nothing else
    mention = "@digest_test_bot " + article_text[:3000]
    entity = {"type": "mention", "offset": 0, "length": len("@digest_test_bot")}
    tg.user_sends_text(GROUP, USER, mention, chat_type="supergroup", entities=[entity])
    await tg.wait_for(lambda: digest_messages(tg, GROUP), timeout=15)
    assert len(llm_server.requests) == 1


async def test_telegram_429_is_waited_out(
    bot: BotApp,
    tg: FakeTelegramServer,
) -> None:
    tg.fail_next("sendMessage", "429", retry_after=1)
    tg.user_sends_text(CHAT, USER, "/help")
    await tg.wait_for(lambda: texts(tg), timeout=10)
    sends = tg.calls_to("sendMessage")
    assert len(sends) == 2 and sends[1].at - sends[0].at >= 1.0
    assert "Paste an article" in texts(tg)[0]


async def test_same_update_twice_gets_one_reply(
    bot: BotApp,
    tg: FakeTelegramServer,
) -> None:
    tg.user_sends_text(CHAT, USER, "/help")
    await tg.wait_for(lambda: texts(tg))
    delivered = tg.calls_to("getUpdates")
    raw = next(u for c in delivered for u in (c.response or {}).get("result", []) if "message" in u)
    # Telegram redelivers an update whose offset was never confirmed (e.g. after a crash).
    await bot.process_update(Update.de_json(raw, bot.bot))
    tg.user_sends_text(CHAT, USER, "/usage")
    await tg.wait_for(lambda: len(texts(tg)) >= 2)
    assert len(texts(tg)) == 2 and "Today you have used" in texts(tg)[1]


async def test_markup_in_model_output_is_escaped(
    bot: BotApp, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, model: ScriptedModel,
    article_text: str,
) -> None:  # fmt: skip
    def hostile(request: dict[str, Any]) -> str:
        body = json.loads(model(request))
        body["summary"] = "Tags <b>like</i> this & *stars* _under_ <script>x</script> &amp;"
        body["key_points"] = ["a < b > c & d", "<a href='x'>link</a>"]
        return json.dumps(body)

    llm_server.responder = hostile
    await paste(tg, article_text, parts=2)
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    assert "<b>like</i> this & *stars* _under_ <script>x</script> &amp;" in digest.text
    assert "a < b > c & d" in digest.text


async def test_non_text_gets_an_explanation(
    bot: BotApp,
    tg: FakeTelegramServer,
) -> None:
    tg.user_sends(CHAT, USER, {"sticker": _sticker()})
    reply = await tg.wait_for(lambda: texts(tg))
    assert "only read text" in reply[0]


async def test_text_file_is_digested(
    bot: BotApp,
    tg: FakeTelegramServer,
    article_text: str,
) -> None:
    tg.user_sends_document(CHAT, USER, "article.txt", article_text.encode("utf-8"))
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    assert "Xu Xiaoxiong" in digest.text
    assert tg.calls_to("getFile")


async def test_forwarded_post_is_digested_even_if_short(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
) -> None:
    post = "Mayor Xu Xiaoxiong opened the new bridge today. Traffic will start on Monday."
    tg.user_sends_text(CHAT, USER, post, forward=True)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    assert "DigestDraft" in json.dumps(llm_server.requests[0].body["response_format"])


def _sticker() -> dict[str, Any]:
    return {
        "file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
        "height": 512, "is_animated": False, "is_video": False,
    }  # fmt: skip


async def test_llm_failure_is_reported_and_article_kept(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    llm_server.fail_next("500")
    await paste(tg, article_text, parts=2)
    await tg.wait_for(lambda: any("press Retry" in t for t in texts(tg)), timeout=15)
    first = next(m for m in tg.bot_messages(CHAT) if "press Retry" in m.text)
    assert first.text.startswith("The model is not answering right now.")
    # Replying /digest to the first fragment retries, and this time it works.
    tg.user_sends_text(CHAT, USER, "/digest", reply_to_message_id=1)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)


async def test_usage_new_and_articles(
    bot: BotApp,
    tg: FakeTelegramServer,
    article_text: str,
) -> None:
    await paste(tg, article_text, parts=2)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    tg.user_sends_text(CHAT, USER, "/usage")
    await tg.wait_for(lambda: "Today you have used" in texts(tg)[-1])
    assert "of your 300,000 daily tokens" in texts(tg)[-1]
    tg.user_sends_text(CHAT, USER, "/new")
    await tg.wait_for(lambda: texts(tg)[-1].startswith("Done."))
    # With no current article, a plain question is asked across the chat's articles.
    tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
    await tg.wait_for(lambda: texts(tg)[-1].startswith("❓ Who is the mayor of Zhaoqing?"))
    tg.user_sends_text(CHAT, USER, "/articles")
    listing = await tg.wait_for(
        lambda: next((m for m in tg.bot_messages(CHAT) if m.text.startswith("Recent")), None)
    )
    data = listing.reply_markup["inline_keyboard"][0][0]["callback_data"]
    tg.user_presses_button(CHAT, USER, listing.message_id, data)
    await tg.wait_for(lambda: texts(tg)[-1].startswith("Now discussing"))
    tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
    await tg.wait_for(lambda: "Xu Xiaoxiong" in texts(tg)[-1])


async def test_quota_and_size_limits_stop_before_the_model(
    tmp_path: Path, llm_server: FakeOpenAIServer, tg: FakeTelegramServer, bot_settings: Settings,
    article_text: str,
) -> None:  # fmt: skip
    limited = bot_settings.model_copy(update={"daily_token_quota": 500})
    async with running(limited):
        await paste(tg, article_text, parts=2)
        await tg.wait_for(lambda: any("limit of 500 tokens" in t for t in texts(tg)), timeout=10)
    small = bot_settings.model_copy(update={"max_article_tokens": 300, "daily_token_quota": 0})
    async with running(small):
        await paste(tg, article_text, parts=2)
        await tg.wait_for(lambda: any("limit is 300" in t for t in texts(tg)), timeout=10)
    assert llm_server.requests == []


async def test_one_chats_digest_does_not_delay_another(
    bot: BotApp,
    tg: FakeTelegramServer,
    llm_server: FakeOpenAIServer,
    article_text: str,
) -> None:
    llm_server.latency = 5.0
    await paste(tg, article_text, parts=2)
    await tg.wait_for(lambda: llm_server.requests, timeout=5)
    tg.user_sends_text(CHAT + 1, USER, "/help")
    await tg.wait_for(lambda: texts(tg, CHAT + 1), timeout=4)  # answered during the digest
    assert not digest_messages(tg)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)


def test_a_failed_jobs_line_is_the_errors_line_for_users_never_its_log_text() -> None:
    """The built-in model failing to start said "Something went wrong on my side"; now its own
    line, and neither its exit code nor a path."""
    from bot.app.steps import SAVED, failure_line
    from bot.core.errors import LocalModelError, OutputTruncated

    started = failure_line(LocalModelError("exited with code 3: /srv/models/x.gguf missing"))
    assert started == f"The built-in model could not be started on this machine. {SAVED}"
    assert failure_line(OutputTruncated("length at 1024 tokens")).startswith(
        "The model's answer was cut off"
    )
    assert failure_line(RuntimeError("boom /etc")) == f"Something went wrong on my side. {SAVED}"
