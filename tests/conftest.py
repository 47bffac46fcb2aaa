"""Shared fixtures: settings pointed at a temp folder, the fake model server, the article."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.core.models.encodings import load_encoding
from bot.core.reading.chunking import CountTokens
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.core.storage.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people
from tests.postgres import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]  # fixtures, re-exported for every test module

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("tiktoken")
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they pass, never the developer's own."""
    for name in list(os.environ):
        if name.startswith(("BOT_", "OPENAI_", "TELEGRAM_")):
            monkeypatch.delenv(name)


@pytest.fixture
def count_tokens(_tiktoken_cache: Path) -> CountTokens:
    encoding = load_encoding("o200k_base", _tiktoken_cache)
    return lambda text: len(encoding.encode_ordinary(text))


@pytest.fixture
def article_text() -> str:
    return (DATA / "zhaoqing-die-casting-summit.txt").read_text(encoding="utf-8")


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel(people=zhaoqing_people())


@pytest.fixture
def llm_server(model: ScriptedModel, count_tokens: CountTokens) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=model, count_tokens=count_tokens) as server:
        yield server


def make_settings(data_dir: Path, fake: FakeOpenAIServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "openai_base_url": fake.base_url,
        "openai_api_key": "test-key",
        "model": "fake-model",
        "request_timeout": 10.0,
        "llm_max_retries": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, llm_server: FakeOpenAIServer) -> Settings:
    return make_settings(tmp_path, llm_server)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[DigestService]:
    svc = DigestService.from_settings(settings)
    yield svc
    await svc.aclose()


def process_env(data_dir: Path, server: FakeOpenAIServer, **extra: str) -> dict[str, str]:
    """Environment for a ``digestbot`` subprocess: this machine's, minus the bot's own settings."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "OPENAI_", "TELEGRAM_"))
    }
    return base | {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "test-key",
        "BOT_MODEL": "fake-model",
        "BOT_DATA_DIR": str(data_dir),
        "BOT_LLM_MAX_RETRIES": "0",
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on each backend: the tests of the store run on both."""
    if request.param == "sqlite":
        opened = Store.open(tmp_path / "store.sqlite3")
    else:
        opened = Store.connect(request.getfixturevalue("postgres_url"), tmp_path / "unused")
    yield opened
    opened.close()
