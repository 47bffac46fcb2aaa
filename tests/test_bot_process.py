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
    # Subscribed only to what the handlers read.
    assert sorted(tg.allowed_updates or []) == [
        "callback_query", "channel_post", "edited_channel_post", "edited_message", "message"
    ]  # fmt: skip


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


def run_briefly(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_rejected_token_is_one_line_naming_the_setting(
    env: dict[str, str], tg: FakeTelegramServer
) -> None:
    wrong = "123456:WRONG-secret-part"
    result = run_briefly(env | {"TELEGRAM_BOT_TOKEN": wrong, "BOT_LOG_LEVEL": "WARNING"})
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "WRONG-secret-part" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # no traceback, no retry-loop log


def test_bad_log_level_is_one_settings_line(env: dict[str, str]) -> None:
    result = run_briefly(env | {"BOT_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2 and "BOT_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def test_sigterm_while_a_paste_is_collected_loses_no_digest(
    env: dict[str, str], tg: FakeTelegramServer, article_text: str, tmp_path: Path
) -> None:
    process = start_bot(env | {"BOT_FRAGMENT_QUIET_SECONDS": "5"}, tmp_path / "bot.log")
    try:
        await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=20)
        for piece in fragments(article_text, 2):
            tg.user_sends_text(CHAT, USER, piece)
        await tg.wait_for(lambda: _delivered(tg) >= 2, timeout=10)
        await asyncio.sleep(0.5)  # stored, and still inside the quiet period
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        process.kill()
    assert len(digest_messages(tg)) == 1  # finished before the bot exited
    assert "not initialized" not in (tmp_path / "bot.log").read_text()


def _delivered(tg: FakeTelegramServer) -> int:
    """How many message updates the bot has fetched."""
    return sum(
        "message" in u
        for c in tg.calls_to("getUpdates")
        for u in (c.response or {}).get("result", [])
    )


async def test_webhook_mode_answers_updates_with_the_secret(
    env: dict[str, str], tg: FakeTelegramServer, tmp_path: Path
) -> None:
    port = _free_port()
    url = "https://bot.example.com:8443/telegram"  # the public URL, before the TLS proxy
    local = f"http://127.0.0.1:{port}/telegram"
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
                local, update, {"Content-Type": "application/json",
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


async def test_webhook_without_a_secret_generates_one_and_keeps_it(
    env: dict[str, str], tg: FakeTelegramServer, tmp_path: Path
) -> None:
    port = _free_port()
    webhook = {
        "BOT_WEBHOOK_URL": "https://bot.example.com/hook",
        "BOT_WEBHOOK_LISTEN": "127.0.0.1",
        "BOT_WEBHOOK_PORT": str(port),
    }
    process = start_bot(env | webhook, tmp_path / "bot.log")
    try:
        await tg.wait_for(lambda: tg.webhook_url and _listening(port), timeout=20)
        kept = (Path(env["BOT_DATA_DIR"]) / "webhook-secret").read_text().strip()
        assert tg.webhook_secret == kept and len(kept) >= 32
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        process.kill()
    assert kept not in (tmp_path / "bot.log").read_text()


def test_a_taken_webhook_port_is_one_line_naming_the_setting(
    env: dict[str, str], tg: FakeTelegramServer
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        webhook = {
            "BOT_WEBHOOK_URL": "https://bot.example.com/hook",
            "BOT_WEBHOOK_LISTEN": "127.0.0.1",
            "BOT_WEBHOOK_PORT": str(port),
            "BOT_LOG_LEVEL": "WARNING",
        }
        result = run_briefly(env | webhook)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "BOT_WEBHOOK_PORT" in line and str(port) in line and "Errno" not in line
    assert tg.calls_to("setWebhook") == []  # Telegram is not pointed at a bot that cannot listen
