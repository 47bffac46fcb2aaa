"""``digestbot run`` as a real process: SIGKILL mid-digest loses nothing; SIGTERM stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import process_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_api import FakeTelegramServer
from tests.test_telegram_bot import CHAT, USER, digest_messages, fragments


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        yield server


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=log.parent,  # away from the checkout, so a developer's .env is never read
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def env(tmp_path: Path, llm_server: FakeOpenAIServer, tg: FakeTelegramServer) -> dict[str, str]:
    return process_env(
        tmp_path / "data",
        llm_server,
        BOT_ALLOWED_USERS=str(USER),
        BOT_FRAGMENT_QUIET_SECONDS="0.3",
        BOT_LOG_LEVEL="DEBUG",
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
    )


async def test_killed_mid_digest_then_restarted_delivers_once(
    env: dict[str, str], tg: FakeTelegramServer, llm_server: FakeOpenAIServer,
    article_text: str, tmp_path: Path,
) -> None:  # fmt: skip
    log = tmp_path / "bot.log"
    llm_server.latency = 3.0
    first = start_bot(env, log)
    try:
        await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=20)
        for piece in fragments(article_text, 2):
            tg.user_sends_text(CHAT, USER, piece)
        await tg.wait_for(lambda: llm_server.requests, timeout=20)  # the model is working
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert not digest_messages(tg)

    llm_server.latency = 0.0
    second = start_bot(env, log)
    try:
        await tg.wait_for(lambda: digest_messages(tg), timeout=30)
        await asyncio.sleep(1.0)  # give a duplicate every chance to appear
        assert len(digest_messages(tg)) == 1
        tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await tg.wait_for(lambda: "Xu Xiaoxiong" in tg.bot_messages(CHAT)[-1].text, timeout=20)
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
    finally:
        second.kill()
    output = log.read_text()
    assert tg.token not in output and tg.token.split(":")[1] not in output
    assert "ready" in output


def test_missing_token_is_one_clear_line(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "TELEGRAM_BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_answers_updates_with_the_secret(
    env: dict[str, str], tg: FakeTelegramServer, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    webhook = {
        "BOT_WEBHOOK_URL": url,
        "BOT_WEBHOOK_LISTEN": "127.0.0.1",
        "BOT_WEBHOOK_PORT": str(port),
        "BOT_WEBHOOK_SECRET": "s3cret-token-value",
    }
    process = start_bot(env | webhook, tmp_path / "bot.log")
    try:
        await tg.wait_for(lambda: tg.webhook_url == url, timeout=20)
        await tg.wait_for(lambda: _listening(port), timeout=10)
        setting = tg.calls_to("setWebhook")[-1].params
        assert setting["secret_token"] == "s3cret-token-value"
        message = tg.user_sends_text(CHAT, USER, "/help")
        update = json.dumps({"update_id": 1, "message": message}).encode()

        def post(secret: str) -> int:
            request = urllib.request.Request(
                url, update, {"Content-Type": "application/json",
                              "X-Telegram-Bot-Api-Secret-Token": secret},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert await asyncio.to_thread(post, "wrong") == 403  # a forged call is refused
        assert await asyncio.to_thread(post, "s3cret-token-value") == 200
        await tg.wait_for(lambda: tg.bot_messages(CHAT), timeout=10)
        assert "Paste an article" in tg.bot_messages(CHAT)[0].text
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        process.kill()
    assert "s3cret-token-value" not in (tmp_path / "bot.log").read_text()
