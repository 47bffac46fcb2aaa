"""Guards that were not as claimed (issue 18): what reaches the log from a malformed webhook
call, a webhook port someone else holds, and two commands on one embedded server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request

import pytest

from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.telegram_app.app import ALLOWED_UPDATES, build_application
from tests.fakes.telegram_api import FakeTelegramServer

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

SECRET = "s3cret-token-value"
WORDS = "Mayor Xu Xiaoxiong pledged the confidential bridge budget"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, body: bytes, secret: str = SECRET) -> int:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize(
    "body",
    [
        {"update_id": 5, "message": {"message_id": 1, "date": "x", "text": WORDS,
                                     "chat": {"id": 1, "type": "private"}}},
        {"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": WORDS, "text": WORDS}},
        {"update_id": "x", "message": {"text": WORDS}},
    ],
    ids=["bad-date", "bad-chat", "no-date"],
)  # fmt: skip
async def test_a_malformed_webhook_call_logs_one_line_without_its_text(
    bot_settings: Settings, tg: FakeTelegramServer, caplog: pytest.LogCaptureFixture,
    body: dict[str, object],
) -> None:  # fmt: skip
    """PTB logs a body it cannot parse, whole, at CRITICAL: the article's words in the log."""
    port = free_port()
    app = build_application(bot_settings, DigestService.from_settings(bot_settings))
    caplog.set_level(logging.DEBUG)
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_webhook(
        listen="127.0.0.1", port=port, url_path="telegram", webhook_url="https://bot.example/telegram",
        secret_token=SECRET, allowed_updates=ALLOWED_UPDATES,
    )  # fmt: skip
    try:
        status = await asyncio.to_thread(
            post, f"http://127.0.0.1:{port}/telegram", json.dumps(body).encode()
        )
    finally:
        await app.updater.stop()
        await app.shutdown()
    assert status == 400
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.exc_info or ''}" for r in caplog.records
    )
    assert "confidential" not in logged and "Xiaoxiong" not in logged
    malformed = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 1 and "\n" not in malformed[0].getMessage()
    assert malformed[0].levelno <= logging.WARNING and malformed[0].exc_info is None
