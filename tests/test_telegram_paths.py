"""The paths around the happy one (issue 10): retry, failures, cancel, edits, forwards, limits.

Each test drives the real python-telegram-bot against the fake Bot API and the fake model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import runner
from bot.app.jobs import JobQueue
from bot.app.memory import chat_scope
from bot.app.tables import install
from bot.core.reading.chunking import CountTokens
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.core.storage.store import Store
from bot.telegram_app.edge import Edge
from tests import test_telegram_bot as base
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people
from tests.fakes.telegram_api import FakeTelegramServer
from tests.test_telegram_bot import (
    CHAT,
    OFFICIALS,
    STRANGER,
    USER,
    digest_messages,
    fragments,
    paste,
    running,
    texts,
)

tg, bot_settings, bot = base.tg, base.bot_settings, base.bot  # the same fixtures

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
OTHER = " ".join(
    f"Lakeside council member Anna Berg said the town will repair bridge {i} this year."
    for i in range(12)
)


def deps_of(app: Application) -> Edge:  # type: ignore[type-arg]
    found: Edge = app.bot_data["edge"]
    return found


def prompt(server: FakeOpenAIServer, index: int = -1) -> str:
    return str(server.requests[index].body["messages"][1]["content"])


def button_data(message: Any) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [str(b.get("callback_data")) for row in rows for b in row]


# --- 1. Retry, and what the user sees when the model fails ------------------------------------


async def test_failure_is_one_honest_line_and_retry_digests_the_stored_article(
    bot: Application, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    llm_server.fail_next("bad_json", times=2)  # unusable twice: StructuredOutputError
    await paste(tg, article_text, parts=3)
    failed = await tg.wait_for(
        lambda: [m for m in tg.bot_messages(CHAT) if "press Retry" in m.text], timeout=15
    )
    assert len(failed) == 1 and failed[0].text == (
        "The model could not read this article (it returned an unusable answer twice). "
        "Your article is saved: press Retry."
    )
    shown = "\n".join(texts(tg))
    assert "127.0.0.1" not in shown and "DigestDraft" not in shown and "Reading" not in shown
    assert any(d.startswith("r:") for d in button_data(failed[0]))

    # /digest in reply to a middle fragment digests the whole stored article again.
    tg.user_sends_text(CHAT, USER, "/digest", reply_to_message_id=2)
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    assert "Liao Tong" in prompt(llm_server) and "Sun Xing" in prompt(llm_server)
    assert all(name in digest.text for name in OFFICIALS[:3])
    tg.user_sends_text(CHAT, USER, "/articles")
    listing = await tg.wait_for(
        lambda: next((m for m in tg.bot_messages(CHAT) if m.text.startswith("Recent")), None)
    )
    assert len(listing.reply_markup["inline_keyboard"]) == 1  # one article, not one per try


async def test_retry_button_and_reply_to_the_error_message(
    bot: Application, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    llm_server.fail_next("500", times=2)
    await paste(tg, article_text, parts=2)
    error = (
        await tg.wait_for(
            lambda: [m for m in tg.bot_messages(CHAT) if "press Retry" in m.text], timeout=15
        )
    )[0]
    assert "127.0.0.1" not in error.text and "500" not in error.text
    # After a failure the article is the chat's current one: a question is about it.
    tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
    await tg.wait_for(lambda: sum("press Retry" in t for t in texts(tg)) == 1 and len(
        llm_server.requests) >= 2, timeout=15)  # fmt: skip
    assert "Zhaoqing" in prompt(llm_server)
    await tg.wait_for(lambda: "Sorry, I couldn't answer" in texts(tg)[-1], timeout=10)
    # The Retry button re-queues the stored article; this time the model answers.
    tg.user_presses_button(CHAT, USER, error.message_id, button_data(error)[0])
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    assert "Xu Xiaoxiong" in digest.text
    # /digest in reply to a message of the bot's (the digest) also re-queues, from cache.
    requests = len(llm_server.requests)
    tg.user_sends_text(CHAT, USER, "/digest", reply_to_message_id=digest.message_id)
    await tg.wait_for(lambda: len(digest_messages(tg)) == 2, timeout=15)
    assert len(llm_server.requests) == requests


# --- 2. Cosmetic Telegram failures never cost the work ------------------------------------------


async def test_status_edits_failing_do_not_abort_the_digest(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    chunked = bot_settings.model_copy(update={"chunk_tokens": 500})
    async with running(chunked):
        tg.fail_next("editMessageText", "502", times=10)
        await paste(tg, article_text, parts=2)
        digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=20))[-1]
    assert len(llm_server.requests) > 2  # chunks, then the summary: progress was reported
    assert tg.calls_to("editMessageText") and all(
        c.status == 502 for c in tg.calls_to("editMessageText")
    )
    assert "Xu Xiaoxiong" in digest.text
    assert not any(t.startswith(("Reading", "Writing")) for t in texts(tg))  # status removed


async def test_an_unexpected_error_in_a_job_is_told_in_its_chat(
    bot: Application, tg: FakeTelegramServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug, with a detail users must not see")

    deps_of(bot).app.service.digest = broken  # type: ignore[method-assign]
    await paste(tg, article_text, parts=2)
    line = await tg.wait_for(lambda: next((t for t in texts(tg) if "press Retry" in t), None))
    assert line == "Something went wrong on my side. Your article is saved: press Retry."
    assert not any(t.startswith("Reading") for t in texts(tg))


async def test_start_survives_a_failing_set_my_commands(
    bot_settings: Settings, tg: FakeTelegramServer
) -> None:
    tg.fail_next("setMyCommands", "404")  # PTB raises InvalidToken for any 404
    async with running(bot_settings):
        tg.user_sends_text(CHAT, USER, "/help")
        await tg.wait_for(lambda: texts(tg), timeout=10)
    assert "Paste an article" in texts(tg)[0]


# --- 3. /cancel ---------------------------------------------------------------------------------


async def test_cancel_stops_the_running_job_not_the_queued_one(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    llm_server.latency = 3.0
    async with running(bot_settings) as app:
        jobs = deps_of(app).app.jobs
        await paste(tg, article_text, parts=2)
        await tg.wait_for(lambda: llm_server.requests, timeout=10)  # job 1 is running
        tg.user_sends_text(CHAT, USER, OTHER)
        await tg.wait_for(lambda: len(jobs.store.execute("SELECT id FROM tg_jobs").fetchall()) == 2)
        tg.user_sends_text(CHAT, USER, "/cancel")
        stopped = await tg.wait_for(
            lambda: next((t for t in texts(tg) if t.startswith("Stopped")), None)
        )
        assert "Polish the golden signboard" in stopped
        assert jobs.status(1) == "cancelled"
        llm_server.latency = 0.0
        other = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
        assert "Anna Berg" in other.text and len(digest_messages(tg)) == 1
    async with running(bot_settings):  # the cancelled job is not resumed
        tg.user_sends_text(CHAT, USER, "/usage")
        await tg.wait_for(lambda: "Today you have used" in texts(tg)[-1])
        await asyncio.sleep(0.5)
    assert len(digest_messages(tg)) == 1


# --- 4. Edits, and the update types subscribed to ----------------------------------------------


async def test_edit_of_a_collected_fragment_replaces_it_and_other_edits_are_ignored(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    async with running(bot_settings.model_copy(update={"fragment_quiet_seconds": 1.5})):
        first, second = fragments(article_text, 2)
        tg.user_sends_text(CHAT, USER, first)
        tg.user_sends_text(CHAT, USER, second)
        await asyncio.sleep(0.5)  # both received, the paste still being collected
        tg.user_edits_text(CHAT, 1, first.replace("Polish the golden", "Polish the EDITED"))
        await tg.wait_for(lambda: digest_messages(tg), timeout=15)
        assert "Polish the EDITED" in prompt(llm_server) and len(llm_server.requests) == 1

        question = tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await tg.wait_for(lambda: len(llm_server.requests) == 2, timeout=10)
        await tg.wait_for(lambda: "Xu Xiaoxiong" in texts(tg)[-1])
        tg.user_edits_text(CHAT, question["message_id"], "Who is the party secretary?")
        usage = tg.user_sends_text(CHAT, USER, "/usage")
        await tg.wait_for(lambda: "Today you have used" in texts(tg)[-1])
        replies = len(texts(tg))
        tg.user_edits_text(CHAT, usage["message_id"], "/usage")  # a command, edited
        tg.user_sends_text(CHAT, USER, "/help")
        await tg.wait_for(lambda: "Paste an article" in texts(tg)[-1])
    assert len(llm_server.requests) == 2 and len(texts(tg)) == replies + 1


# --- 5. Forwarded posts ------------------------------------------------------------------------


async def test_forwarded_posts_are_separate_articles_unless_one_message_continued(
    bot: Application, tg: FakeTelegramServer, llm_server: FakeOpenAIServer,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    channel = {"type": "channel", "chat": {"id": -1001, "type": "channel", "title": "News"}}
    now = int(time.time())
    for post, name in enumerate(["Anna Berg", "Li Wei", "Maria Lopez"]):
        text = f"Mayor {name} opened bridge {post} today. Traffic will start on Monday."
        origin = {**channel, "message_id": 10 + 10 * post, "date": now - 3600 * (3 - post)}
        tg.user_sends_text(CHAT, USER, text, forward_origin=origin)
    await tg.wait_for(lambda: len(digest_messages(tg)) == 3, timeout=15)
    # Two pieces of one long message its author sent at once are one article.
    author = {"type": "hidden_user", "sender_user_name": "Bob", "date": now - 60}
    tg.user_sends_text(
        CHAT, USER, "Governor Ann Lee said the state will fund", forward_origin=author
    )
    tg.user_sends_text(CHAT, USER, "ten new schools by 2027.", forward_origin=author)
    await tg.wait_for(lambda: len(digest_messages(tg)) == 4, timeout=15)
    await asyncio.sleep(0.5)
    assert len(digest_messages(tg)) == 4 and len(llm_server.requests) == 4
    assert "fund ten new schools" in prompt(llm_server)


# --- 6. Webhook settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("http://bot.example.com/telegram", "good", "https"),
        ("https://bot.example.com:8080/telegram", "good", "443, 80, 88 or 8443"),
        ("https://bot.example.com/telegram", "not ok!", "BOT_WEBHOOK_SECRET"),
        ("https://bot.example.com/telegram", "x" * 257, "BOT_WEBHOOK_SECRET"),
    ],
)
def test_webhook_settings_follow_telegrams_rules(
    tmp_path: Path, llm_server: FakeOpenAIServer, url: str, secret: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        make_settings(tmp_path, llm_server, webhook_url=url, webhook_secret=secret)
    ok = make_settings(tmp_path, llm_server, webhook_url="https://bot.example.com:88/t")
    assert ok.webhook_url == "https://bot.example.com:88/t"


def test_bad_log_level_is_a_settings_error(tmp_path: Path, llm_server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="BOT_LOG_LEVEL must be"):
        make_settings(tmp_path, llm_server, log_level="LOUD")


def test_missing_webhook_secret_is_generated_once_and_kept(
    tmp_path: Path, llm_server: FakeOpenAIServer
) -> None:
    from bot.telegram_app.app import webhook_secret

    settings = make_settings(tmp_path, llm_server, webhook_url="https://bot.example.com/t")
    secret = webhook_secret(settings)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
    assert webhook_secret(settings) == secret
    assert (tmp_path / "webhook-secret").stat().st_mode & 0o077 == 0


# --- 7. Logs carry ids, never text or secrets ---------------------------------------------------


async def test_error_log_names_update_and_chat_not_text(
    bot: Application, tg: FakeTelegramServer, caplog: pytest.LogCaptureFixture,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    tg.fail_next("sendMessage", "500")
    with caplog.at_level(logging.ERROR):
        tg.user_sends_text(CHAT, USER, "/help private words of the user")
        await tg.wait_for(lambda: any("unhandled error" in r.message for r in caplog.records))
    record = next(r for r in caplog.records if "unhandled error" in r.message)
    assert re.search(rf"update \d+ in chat {CHAT}", record.getMessage())
    assert "private words" not in record.getMessage()


def test_redacting_formatter_covers_tracebacks() -> None:
    import io

    from bot import logs

    logs.add_secret("123456:SECRET-TOKEN-PART")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.RedactingFormatter(logs.FORMAT))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("The token `123456:SECRET-TOKEN-PART` was rejected")
        except RuntimeError:
            logger.error("start failed: %s", "SECRET-TOKEN-PART", exc_info=True)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "Traceback" in output and "SECRET-TOKEN-PART" not in output
    assert "[redacted]" in output


# --- 8. Strangers, titles, markers, limits ------------------------------------------------------


async def test_stranger_is_refused_once_per_hour(
    bot: Application, tg: FakeTelegramServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    for piece in fragments(article_text, 4):
        tg.user_sends_text(STRANGER, STRANGER, piece)
    await tg.wait_for(lambda: texts(tg, STRANGER))
    tg.user_sends_text(CHAT, USER, "/usage")
    await tg.wait_for(lambda: texts(tg))
    assert len(texts(tg, STRANGER)) == 1


async def test_titles_are_cut_at_a_word_and_markers_never_shown(
    bot: Application, tg: FakeTelegramServer, llm_server: FakeOpenAIServer,  # type: ignore[type-arg]
    model: ScriptedModel, article_text: str,
) -> None:  # fmt: skip
    def cites(request: dict[str, Any]) -> str:
        body = json.loads(model(request))
        body["summary"] = "The summit was held [1] in Zhaoqing [2, 3] with officials [4-6]."
        return json.dumps(body)

    llm_server.responder = cites
    await paste(tg, article_text, parts=2)
    digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=15))[-1]
    assert "The summit was held in Zhaoqing with officials." in digest.text
    assert not re.search(r"\[\d", digest.text)
    title = digest.text.splitlines()[0]
    assert title.endswith("…") and "Zhaoqing casting!" in title
    tg.user_sends_text(CHAT, USER, "/articles")
    listing = await tg.wait_for(
        lambda: next((m for m in tg.bot_messages(CHAT) if m.text.startswith("Recent")), None)
    )
    label = listing.reply_markup["inline_keyboard"][0][0]["text"]
    assert label.endswith("…") and len(label) <= 62
    words = set(article_text.split())
    assert all(word in words for word in label.removeprefix("✓ ").removesuffix("…").split())


async def test_over_quota_and_oversize_pastes_are_kept_for_later(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    async with running(bot_settings.model_copy(update={"daily_token_quota": 500})):
        await paste(tg, article_text, parts=2)
        line = await tg.wait_for(lambda: next((t for t in texts(tg) if "limit of 500" in t), None))
        assert re.search(r"in \d+ (h \d+ )?min", line) and "saved" in line
    async with running(bot_settings):  # the next day, or a larger quota: Retry digests it
        tg.user_sends_text(CHAT, USER, "/digest", reply_to_message_id=1)
        await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    small = bot_settings.model_copy(update={"max_article_tokens": 100, "daily_token_quota": 0})
    async with running(small) as app:
        tg.user_sends_text(CHAT, USER, OTHER)
        await tg.wait_for(lambda: any("limit is 100" in t and "saved" in t for t in texts(tg)))
        articles = deps_of(app).app.service.store.recent_articles(chat_scope(CHAT))
        assert any("Anna Berg" in a.text for a in articles)
    assert len(llm_server.requests) == 1


async def test_a_running_digest_reserves_its_cost_against_the_quota(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    llm_server.latency = 2.0
    async with running(bot_settings.model_copy(update={"daily_token_quota": 4000})):
        await paste(tg, article_text, parts=2)  # estimated at about 3,700 tokens: it fits
        await tg.wait_for(lambda: llm_server.requests, timeout=10)
        tg.user_sends_text(CHAT + 1, USER, OTHER)  # fits alone, not beside the running one
        await tg.wait_for(lambda: any("limit of 4,000" in t for t in texts(tg, CHAT + 1)))
        await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    assert len(llm_server.requests) == 1


# --- 9. Shutdown --------------------------------------------------------------------------------


async def test_shutdown_waits_for_a_resumed_job(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
) -> None:  # fmt: skip
    tg.user_sends_text(CHAT, USER, "hello")  # the chat exists
    store = Store.open(bot_settings.store_path)
    jobs = JobQueue(store)
    article = store.save_article(chat_scope(CHAT), article_text, "t")
    job = jobs.create(CHAT, USER, article.id, None)  # left pending by a crash
    store.close()
    llm_server.latency = 1.5
    async with running(bot_settings) as app:
        await tg.wait_for(lambda: llm_server.requests, timeout=10)
        live_jobs = deps_of(app).app.jobs
    # Leaving the block stopped the bot: it first finished the resumed digest.
    assert digest_messages(tg)
    assert live_jobs is not None
    reopened = Store.open(bot_settings.store_path)
    assert JobQueue(reopened).status(job.id) == "done"
    reopened.close()


async def test_shutdown_past_the_grace_period_records_the_job_for_the_next_start(
    bot_settings: Settings, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(runner, "SHUTDOWN_GRACE", 0.5)
    llm_server.latency = 4.0
    async with running(bot_settings) as app:
        await paste(tg, article_text, parts=2)
        await tg.wait_for(lambda: llm_server.requests, timeout=10)
        jobs = deps_of(app).app.jobs
    assert jobs.store is not None and not digest_messages(tg)
    assert any(t == runner.PAUSED for t in texts(tg))  # the status line says what happens
    llm_server.latency = 0.0
    async with running(bot_settings):
        await tg.wait_for(lambda: digest_messages(tg), timeout=15)
        await asyncio.sleep(0.5)
    assert len(digest_messages(tg)) == 1 and not any("press Retry" in t for t in texts(tg))


# --- 10. Every fragment of a paste belongs to it -------------------------------------------------


async def test_a_first_fragment_that_does_not_look_like_an_article_is_not_a_question(
    bot: Application, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    first, rest = fragments(article_text, 2)
    opening = first[:800].rsplit(" ", 1)[0].replace(".", ",").replace("!", ",")
    tg.user_sends_text(CHAT, USER, opening)
    tg.user_sends_text(CHAT, USER, first[len(opening) :].strip())
    tg.user_sends_text(CHAT, USER, rest)
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)
    await asyncio.sleep(0.5)
    assert len(llm_server.requests) == 1 and len(texts(tg)) == 1
    assert "Polish the golden signboard" in prompt(llm_server) and "Sun Xing" in prompt(llm_server)


# --- 11. CPU-heavy checks run off the event loop -------------------------------------------------


async def test_other_chats_are_answered_while_an_article_is_checked(
    bot: Application, tg: FakeTelegramServer, article_text: str,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    service = deps_of(bot).app.service
    check = service.check_article

    def slow_check(text: str) -> Any:
        time.sleep(3)  # a pathological article that takes seconds to split
        return check(text)

    service.check_article = slow_check  # type: ignore[method-assign]
    await paste(tg, article_text, parts=2)
    # Sent from a thread at a fixed wall-clock time: a blocked event loop cannot delay it.
    asked = time.monotonic() + 1.0
    timer = threading.Timer(1.0, tg.user_sends_text, (CHAT + 1, USER, "/help"))
    timer.start()
    await tg.wait_for(lambda: texts(tg, CHAT + 1), timeout=10)
    answered = next(c.at for c in tg.calls_to("sendMessage") if c.params["chat_id"] == CHAT + 1)
    assert answered - asked < 1.0  # the check (3 s) ran off the loop
    await tg.wait_for(lambda: digest_messages(tg), timeout=15)


# --- 12. /forget and retention ------------------------------------------------------------------


async def test_forget_deletes_the_chats_articles_digests_and_questions(
    bot_settings: Settings, tg: FakeTelegramServer, article_text: str
) -> None:
    tg.user_sends_text(CHAT, USER, "hello")
    store = Store.open(bot_settings.store_path)
    install(store)
    store.execute("INSERT INTO tg_updates VALUES (1, datetime('now', '-10 days'))")
    store.close()
    async with running(bot_settings) as app:
        service: DigestService = deps_of(app).app.service
        old = service.store.execute("SELECT count(*) FROM tg_updates WHERE update_id = 1")
        assert old.fetchone()[0] == 0  # pruned at start
        await paste(tg, article_text, parts=2)
        await tg.wait_for(lambda: digest_messages(tg), timeout=15)
        tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await tg.wait_for(lambda: "Xu Xiaoxiong" in texts(tg)[-1])
        tg.user_sends_text(CHAT, USER, "/forget")
        await tg.wait_for(lambda: texts(tg)[-1].startswith("Deleted 1 article"))
        for table in ("articles", "digests", "exchanges", "tg_messages", "tg_jobs"):
            count = service.store.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert count == 0, table
        tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await tg.wait_for(lambda: texts(tg)[-1].startswith("Paste an article first"))


# --- Any server profile, end to end --------------------------------------------------------------


@pytest.mark.parametrize("profile", ["openai", "llamacpp", "plain"])
async def test_digest_reaches_the_chat_on_each_server_profile(
    tmp_path: Path, tg: FakeTelegramServer, model: ScriptedModel, count_tokens: CountTokens,
    article_text: str, profile: str,
) -> None:  # fmt: skip
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile=profile) as server:  # type: ignore[arg-type]
        settings = make_settings(
            tmp_path, server, server=profile, telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url, telegram_base_file_url=tg.base_file_url,
            allowed_users=str(USER), fragment_quiet_seconds=0.3,
        )  # fmt: skip
        async with running(settings):
            await paste(tg, article_text, parts=2)
            digest = (await tg.wait_for(lambda: digest_messages(tg), timeout=20))[-1]
    lines = digest.text.splitlines()
    for person in zhaoqing_people()[:6]:
        if person.title == "reporter":
            continue
        line = next(line for line in lines if line.startswith(f"• {person.name} —"))
        assert person.title.lower() in line.lower(), line
