"""Whether this process could serve: each readiness check as one line (``digestbot health``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.core.errors import ConfigError, PromptError, StoreError
from bot.core.models.encodings import load_encoding
from bot.core.models.factory import build_llm
from bot.core.models.llm import LLM
from bot.core.prompts import PromptLibrary
from bot.core.settings import Settings


@dataclass(frozen=True)
class HealthCheck:
    """One line of a readiness check: what was checked, whether it passed, and the detail."""

    name: str
    ok: bool
    detail: str


async def health_checks(settings: Settings, *, check_llm: bool = False) -> list[HealthCheck]:
    """Whether this process could serve: the prompts load, the tokenizer is at hand, the store
    is writable, the model settings make a model (and, with ``check_llm``, its server answers).
    Every check runs, so one look names everything to fix."""
    checks: list[HealthCheck] = []
    try:
        library = PromptLibrary()
        checks.append(HealthCheck("prompts", True, f"version {library.version} in "
                                  f"{library.directory}"))  # fmt: skip
    except PromptError as error:
        checks.append(HealthCheck("prompts", False, str(error)))
    try:
        encoding = load_encoding(settings.encoding, settings.tiktoken_cache_dir)
        checks.append(HealthCheck("tokenizer", True, encoding.name))
    except (OSError, ValueError) as error:
        checks.append(HealthCheck("tokenizer", False, str(error)))
    try:
        store = settings.open_store()
        try:
            with store.transaction():  # take the write lock and give it back: it is writable
                pass
            where = "PostgreSQL" if store.dialect == "postgres" else str(settings.store_path)
            checks.append(HealthCheck("store", True, f"{where} (schema {store.schema_version()})"))
        finally:
            store.close()
    except (StoreError, sqlite3.Error) as error:
        checks.append(HealthCheck("store", False, f"{settings.store_path}: {error}"))
    try:
        llm = build_llm(settings)
    except ConfigError as error:
        return [*checks, HealthCheck("model settings", False, str(error))]
    checks.append(HealthCheck("model settings", True, f"{llm.model} at {llm.server}"))
    if check_llm:
        checks += await _ping(llm)
    await llm.aclose()
    return checks


async def _ping(llm: LLM) -> list[HealthCheck]:
    """The model server's answer to a list of its models (the embedded model has no server)."""
    import openai

    from bot.core.models.openai_llm import OpenAICompatibleLLM

    if not isinstance(llm, OpenAICompatibleLLM):
        return []
    try:
        await llm.client.models.list()
    except openai.OpenAIError as error:
        return [HealthCheck("model server", False, f"{llm.server}: {error}")]
    return [HealthCheck("model server", True, "answered")]
