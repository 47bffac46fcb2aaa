"""Tests for tests/fakes/telegram_api.py, driven by the real python-telegram-bot (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import AsyncIterator, Iterator
from functools import partial

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import FakeTelegramServer, parse_html

# PTB 22 warns about RetryAfter.retry_after becoming a timedelta; not this fake's business.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
CHAT = 4242
USER = 4242


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as srv:
        yield srv


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    server.user_sends_text(CHAT, USER, "hi")  # the chat exists once the user has written
    async with Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url) as b:
        yield b


def _raw_post(url: str, body: bytes, ctype: str) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_get_me_returns_the_bot_user(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (999, "digest_test_bot", True)
    assert me.can_join_groups and me.first_name == "DigestBot"


async def test_wrong_token_is_unauthorized(server: FakeTelegramServer) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=server.base_url):  # initialize() calls getMe
            pass
    status, body = _raw_post(f"{server.base_url}1:nope/getMe", b"", "application/json")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = _raw_post(f"{server.base_url}{server.token}/noSuchMethod", b"", "text/plain")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_urlencoded_and_json_bodies_are_both_understood(server: FakeTelegramServer) -> None:
    server.user_sends_text(7, 7, "hello")
    url = f"{server.base_url}{server.token}/sendMessage"
    status, body = _raw_post(url, b"chat_id=7&text=a%26b", "application/x-www-form-urlencoded")
    assert status == 200 and body["result"]["text"] == "a&b"  # type: ignore[index]
    status, body = _raw_post(url, b'{"chat_id": 7, "text": "j"}', "application/json")
    assert status == 200 and [m.text for m in server.bot_messages(7)] == ["a&b", "j"]


async def test_valid_html_passes_and_shows_plain_text(bot: Bot, server: FakeTelegramServer) -> None:
    html = (
        '<b>Bold</b> &amp; <i>it</i> <a href="https://example.org/?a=1&amp;b=2">link</a> '
        '<span class="tg-spoiler">s</span> <tg-spoiler>t</tg-spoiler> <code>x &lt; y</code> '
        "<pre>p</pre> <blockquote expandable>q &#128512; &quot;</blockquote>"
    )
    msg = await bot.send_message(CHAT, html, parse_mode="HTML")
    assert msg.text == 'Bold & it link s t x < y p q 😀 "'
    assert msg.message_id == 2  # the user's "hi" was message 1 in this chat
    sent = server.bot_messages(CHAT)[-1]
    assert (sent.text, sent.raw_text, sent.parse_mode) == (msg.text, html, "HTML")
    kinds = {e["type"] for e in sent.entities}
    assert {"bold", "italic", "text_link", "spoiler", "code", "pre"} <= kinds
    assert "expandable_blockquote" in kinds
    assert msg.parse_entities()[msg.entities[0]] == "Bold"


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("fish & chips", "Unescaped '&'"),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 9"),
        ("<i aba>x</i>", 'Expected equal sign in declaration of an attribute of the tag "i"'),
        ("é <b", "Unclosed start tag at byte offset 3"),
    ],
)
async def test_invalid_html_is_rejected(bot: Bot, html: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as err:
        await bot.send_message(CHAT, html, parse_mode="HTML")
    assert reason.lower() in str(err.value).lower()  # PTB capitalize()s the text


def test_lenient_ampersand_matches_real_telegram() -> None:
    assert parse_html("fish & chips &laquo;", strict_ampersand=False)[0] == "fish & chips &laquo;"
    assert parse_html("&lt &#x41;&#65")[0] == "< AA"


async def test_plain_text_is_not_parsed(bot: Bot) -> None:
    assert (await bot.send_message(CHAT, "<b>a & b")).text == "<b>a & b"


async def test_length_is_counted_after_entity_parsing(bot: Bot) -> None:
    await bot.send_message(CHAT, "x" * 4096)
    await bot.send_message(CHAT, "<b>" + "&lt;" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(CHAT, "<b>" + "&amp;" * 4097 + "</b>", parse_mode="HTML")


async def test_empty_text_and_unknown_chat(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(CHAT, "")
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(CHAT, " <b> </b>\n", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)[Cc]hat not found"):
        await bot.send_message(123, "nobody here")


async def test_edits(bot: Bot, server: FakeTelegramServer) -> None:
    msg = await bot.send_message(CHAT, "<b>draft</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("<b>draft</b>", CHAT, msg.message_id, parse_mode="HTML")
    same = "<strong>draft</strong>\n"  # the same text and entities once parsed and trimmed
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text(same, CHAT, msg.message_id, parse_mode="HTML")
    edited = await bot.edit_message_text("draft", CHAT, msg.message_id)  # entities differ
    assert isinstance(edited, type(msg)) and edited.text == "draft" and edited.edit_date
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    await bot.edit_message_reply_markup(CHAT, msg.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(CHAT, msg.message_id, reply_markup=keyboard)
    (sent,) = server.bot_messages(CHAT)
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]}
    assert [e["text"] for e in sent.edits] == ["draft", "draft"] and sent.text == "draft"
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text("x", CHAT, 1)  # the user's message
    assert await bot.delete_message(CHAT, msg.message_id)
    assert server.bot_messages(CHAT) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, msg.message_id)


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_injected_faults(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as err:
        await bot.send_message(CHAT, "first")
    assert _seconds(err.value) == 7
    assert server.calls_to("sendMessage")[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    server.fail_next("sendMessage", kind="500")
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "second")
    await bot.send_message(CHAT, "third")
    assert [m.text for m in server.bot_messages(CHAT)] == ["third"]


async def test_timeout_fault_still_delivers_the_message(server: FakeTelegramServer) -> None:
    server.user_sends_text(CHAT, USER, "hi")
    server.fail_next("sendMessage", kind="timeout", sleep=0.6)
    impatient = HTTPXRequest(read_timeout=0.2)
    async with Bot(server.token, base_url=server.base_url, request=impatient) as b:
        with pytest.raises(TimedOut):
            await b.send_message(CHAT, "slow")
        await server.wait_for(lambda: server.bot_messages(CHAT))
    assert server.bot_messages(CHAT)[0].text == "slow"  # the classic duplicate-send hazard


async def test_send_document_uploads_multipart(bot: Bot, server: FakeTelegramServer) -> None:
    payload = b"# Digest\r\n\x00\xff binary-safe\n"
    msg = await bot.send_document(
        CHAT, payload, filename='дайджест "1".md', caption="<b>Digest</b>", parse_mode="HTML"
    )
    assert msg.document and msg.document.file_name == 'дайджест "1".md' and msg.caption == "Digest"
    assert server.documents(CHAT) == [('дайджест "1".md', payload, "Digest")]
    call = server.calls_to("sendDocument")[0]
    assert call.params["chat_id"] == CHAT and call.params["document"]["content"] == payload
    again = await bot.send_document(CHAT, msg.document.file_id)  # re-send by file_id
    assert again.document and again.document.file_name == msg.document.file_id.rsplit("/")[-1]
    assert await bot.send_chat_action(CHAT, "upload_document")


async def test_commands(bot: Bot, server: FakeTelegramServer) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("digest", "Digest an article")])
    assert server.my_commands() == [
        {"command": "start", "description": "Start"},
        {"command": "digest", "description": "Digest an article"},
    ]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("/start", "with a slash")])
    assert await bot.delete_my_commands()
    assert server.my_commands() == []


async def test_long_poll_waits_for_an_update(bot: Bot, server: FakeTelegramServer) -> None:
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["hi"]
    started = time.monotonic()
    assert await bot.get_updates(offset=first[-1].update_id + 1, timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 2
    late = partial(server.user_sends_text, forward=True, reply_to_message_id=1)
    asyncio.get_running_loop().call_later(0.3, late, CHAT, USER, "late")
    started = time.monotonic()
    updates = await bot.get_updates(offset=first[-1].update_id + 1, timeout=5)
    assert time.monotonic() - started < 2
    (update,) = updates
    assert update.message and update.message.text == "late" and update.message.message_id == 2
    assert update.message.forward_origin and update.message.reply_to_message
    assert update.message.reply_to_message.text == "hi"


async def test_competing_get_updates_conflict(bot: Bot, server: FakeTelegramServer) -> None:
    # Two bot instances polling at once, as when a deployment overlaps the old one.
    first = asyncio.create_task(bot.get_updates(offset=10_001, timeout=5))
    await server.wait_for(lambda: server.calls_to("getUpdates"))
    async with Bot(server.token, base_url=server.base_url) as second:
        assert await second.get_updates() == ()  # the first poll's offset confirmed 10_000
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


async def test_stop_unblocks_a_long_poll(server: FakeTelegramServer) -> None:
    async with Bot(server.token, base_url=server.base_url) as b:
        poll = asyncio.create_task(b.get_updates(timeout=30))
        await server.wait_for(lambda: server.calls_to("getUpdates"))
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        with contextlib.suppress(NetworkError):  # a cut connection is fine too
            assert await asyncio.wait_for(poll, 3) == ()
        (call,) = server.calls_to("getUpdates")
        await server.wait_for(lambda: call.status == 200, timeout=1)  # the server side returned
        assert call.response == {"ok": True, "result": []}
        assert time.monotonic() - started < 2


async def test_application_long_polling_end_to_end(server: FakeTelegramServer) -> None:
    seen: list[int] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message
        seen.append(update.update_id)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
        await update.effective_message.reply_html("<b>Welcome</b> &amp; hi", reply_markup=keyboard)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message and update.effective_message.text
        seen.append(update.update_id)
        await update.effective_message.reply_text(update.effective_message.text)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query
        seen.append(update.update_id)
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text(f"pressed {update.callback_query.data}")

    app = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    await app.initialize()
    await app.start()
    assert app.updater
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        server.user_sends_text(CHAT, USER, "/start")
        server.user_sends_text(CHAT, USER, "plain words")
        await server.wait_for(lambda: len(server.bot_messages(CHAT)) == 2)
        welcome, echoed = server.bot_messages(CHAT)
        assert (welcome.text, echoed.text) == ("Welcome & hi", "plain words")
        assert {welcome.message_id, echoed.message_id} == {3, 4}  # the user's are 1 and 2
        server.user_presses_button(CHAT, USER, welcome.message_id, "again")
        await server.wait_for(lambda: server.bot_messages(CHAT)[0].text == "pressed again")
        assert server.calls_to("answerCallbackQuery")[0].status == 200
        await asyncio.sleep(0.3)  # a few more polls: nothing may be delivered twice
    finally:
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        assert time.monotonic() - started < 3
    assert sorted(seen) == [10_000, 10_001, 10_002] == sorted(set(seen))
    delivered = [
        u["update_id"]
        for c in server.calls_to("getUpdates")
        for u in (c.response or {}).get("result", [])
    ]
    assert sorted(delivered) == [10_000, 10_001, 10_002]
    offsets = [c.params.get("offset", 0) for c in server.calls_to("getUpdates")]
    assert offsets == sorted(offsets) and offsets[-1] == 10_003  # the shutdown call confirms all
    assert server.calls[0].method == "getMe" and server.calls[1].method == "deleteWebhook"


async def test_edits_forwards_and_allowed_updates(bot: Bot, server: FakeTelegramServer) -> None:
    first = await bot.get_updates(timeout=0, allowed_updates=["message"])
    offset = first[-1].update_id + 1
    server.user_edits_text(CHAT, 1, "hi, edited")
    channel = {"type": "channel", "chat": {"id": -100, "type": "channel"}, "message_id": 5}
    server.user_sends_text(CHAT, USER, "post", forward_origin=channel)
    (update,) = await bot.get_updates(offset=offset, timeout=0)  # the edit is not delivered
    assert update.message and update.message.text == "post"
    origin = update.message.forward_origin
    assert origin is not None and origin.type == "channel" and origin.message_id == 5  # type: ignore[attr-defined]
    assert server.allowed_updates == ["message"]
    server.user_edits_text(CHAT, 1, "hi, edited again")
    (edit,) = await bot.get_updates(
        offset=update.update_id + 1, timeout=0, allowed_updates=["message", "edited_message"]
    )
    assert edit.edited_message and edit.edited_message.text == "hi, edited again"
    assert edit.edited_message.edit_date is not None


async def test_faults_on_any_method(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("*", "429", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_chat_action(CHAT, "typing")
    server.fail_next("setMyCommands", "404")
    with pytest.raises(InvalidToken):  # PTB's name for any 404
        await bot.set_my_commands([("start", "Start")])
    server.fail_next("editMessageText", "502")
    sent = await bot.send_message(CHAT, "status")
    with pytest.raises(NetworkError):
        await sent.edit_text("status, edited")


async def test_set_webhook_is_validated_like_telegram(bot: Bot, server: FakeTelegramServer) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://bot.example.com/hook")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://bot.example.com:8080/hook")
    with pytest.raises(BadRequest, match=r"(?i)secret token"):
        await bot.set_webhook("https://bot.example.com/hook", secret_token="not ok!")
    assert await bot.set_webhook(
        "https://bot.example.com:88/hook", secret_token="A-z_09", allowed_updates=["message"]
    )
    assert (server.webhook_url, server.webhook_secret) == (
        "https://bot.example.com:88/hook",
        "A-z_09",
    )
    assert server.allowed_updates == ["message"]


async def test_webhook_updates_are_pushed_in_order_and_retried(
    bot: Bot, server: FakeTelegramServer
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[int, str | None]] = []
    answers = [500, 200, 200, 200]  # the first try fails: Telegram tries the update again

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            update = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((update["update_id"], self.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            self.send_response(answers.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    try:
        await bot.set_webhook("https://bot.example.com/hook", secret_token="s3cret")
        server.push_webhooks(f"http://127.0.0.1:{hook.server_address[1]}/hook")
        first, second = (server.user_sends_text(CHAT, USER, t) for t in ("one", "two"))
        await server.wait_for(lambda: len(server.webhook_deliveries) >= 4, timeout=10)
        ids = [update_id for update_id, _ in got]
        assert ids[0] == ids[1] and ids[1] < ids[2] < ids[3]  # retried, then in order
        assert {secret for _, secret in got} == {"s3cret"}
        assert [status for _, status in server.webhook_deliveries] == [500, 200, 200, 200]
        assert first["text"] == "one" and second["text"] == "two"
    finally:
        hook.shutdown()
        hook.server_close()
