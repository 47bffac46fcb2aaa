"""``digestbot health``: a real readiness check for containers and operators."""

from __future__ import annotations

import sqlite3

import openai

from bot.core.errors import ConfigError, PromptError, StoreError
from bot.core.models.encodings import load_encoding
from bot.core.models.openai_llm import OpenAICompatibleLLM
from bot.core.prompts import PromptLibrary
from bot.core.service import build_llm
from bot.core.settings import Settings


async def check_health(settings: Settings, *, check_llm: bool = False) -> int:
    """Print one line per check; exit status 0 only if all pass."""
    results: list[tuple[str, bool, str]] = []

    try:
        library = PromptLibrary()
        results.append(("prompts", True, f"version {library.version} in {library.directory}"))
    except PromptError as error:
        results.append(("prompts", False, str(error)))

    try:
        encoding = load_encoding(settings.encoding, settings.tiktoken_cache_dir)
        results.append(("tokenizer", True, encoding.name))
    except (OSError, ValueError) as error:
        results.append(("tokenizer", False, str(error)))

    try:
        store = settings.open_store()
        try:
            # Take the write lock and give it back: proves the database is writable.
            with store.transaction():
                pass
            where = "PostgreSQL" if store.dialect == "postgres" else str(settings.store_path)
            results.append(("store", True, f"{where} (schema {store.schema_version()})"))
        finally:
            store.close()
    except (StoreError, sqlite3.Error) as error:
        results.append(("store", False, f"{settings.store_path}: {error}"))

    try:
        llm = build_llm(settings)
        results.append(("model settings", True, f"{llm.model} at {llm.server}"))
        if check_llm and isinstance(llm, OpenAICompatibleLLM):
            try:
                await llm.client.models.list()
                results.append(("model server", True, "answered"))
            except openai.OpenAIError as error:
                results.append(("model server", False, f"{llm.server}: {error}"))
        await llm.aclose()
    except ConfigError as error:
        results.append(("model settings", False, str(error)))

    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1
