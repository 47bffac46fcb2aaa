"""``digestbot run`` as a real process: SIGKILL mid-digest loses nothing; SIGTERM stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
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
            [sys.executable, "-m", "bot", "run"], env=env, stdout=sink, stderr=subprocess.STDOUT
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
        [sys.executable, "-m", "bot", "run"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
