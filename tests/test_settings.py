"""Settings: precedence, blank values, and .env.example in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from bot.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if alias is not None:
        assert isinstance(alias, AliasChoices), alias
        return str(alias.choices[0])
    return f"BOT_{field.upper()}"


def test_env_example_lists_every_setting_and_loads(tmp_path: Path) -> None:
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    expected = {_env_name(f) for f in Settings.model_fields}
    assert names == expected
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.openai_base_url is None and settings.local_model is None
    assert settings.webhook_secret is None and settings.telegram_bot_token is None


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_MODEL=from-file\nBOT_CHUNK_TOKENS=999\n")
    monkeypatch.setenv("BOT_MODEL", "from-env")
    settings = Settings(_env_file=env_file)
    assert settings.model == "from-env" and settings.chunk_tokens == 999
    assert Settings(_env_file=env_file, model="from-init").model == "from-init"


def test_secrets_are_hidden() -> None:
    settings = Settings(_env_file=None, openai_api_key="sk-secret", telegram_bot_token="1:tok")
    assert "sk-secret" not in repr(settings) and "1:tok" not in str(settings)
