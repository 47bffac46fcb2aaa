"""Fixtures of the hostile suite: the CLI's environment and a running bot (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.settings import Settings
from tests.conftest import process_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_api import FakeTelegramServer
from tests.hostile import harness
from tests.test_telegram_bot import bot_settings, tg

__all__ = ["bot_settings", "tg"]  # fixtures, re-exported for the hostile modules


@pytest.fixture
def cli_env(tmp_path: Path, llm_server: FakeOpenAIServer) -> dict[str, str]:
    """Environment for ``harness.run_cli``: the fake model server and a temp data folder."""
    return process_env(tmp_path / "data", llm_server)


@pytest.fixture
async def hostile_bot(
    bot_settings: Settings, tg: FakeTelegramServer
) -> AsyncIterator[harness.HostileBot]:
    """A running bot (polling the fake Bot API) for the Telegram paths."""
    async with harness.hostile_bot(bot_settings, tg) as bot:
        yield bot
