"""The digest, a chunked digest and a question against each kind of server users point us at.

The fake plays each profile as strictly as the real server (``tests/fakes/openai_server.py``):
a strict server only lets the model write what the schema it was sent allows, so a schema that
lost a property loses that property from every answer, as it did on OpenAI in the first version.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel, Field

from bot.core.errors import LLMError, LLMUnavailable, SchemaRejected, StructuredOutputError
from bot.core.models.capabilities import PROFILES, capabilities_for
from bot.core.models.openai_llm import OpenAICompatibleLLM
from bot.core.reading.chunking import CountTokens
from bot.core.schemas import Digest
from bot.core.service import DigestService
from tests.conftest import make_settings
from tests.fakes.openai_server import PROFILES as FAKE_PROFILES
from tests.fakes.openai_server import FakeOpenAIServer, Profile
from tests.fakes.scripted_model import ScriptedModel

# How a user configures each server (README, "Pointing it at a model"), and what it then gets.
CONFIGURED: dict[str, dict[str, Any]] = {
    "openai": {"server": "openai"},
    "vllm": {},  # auto: a strict-schema server
    "ollama": {},
    "llamacpp": {"server": "llamacpp"},
    "plain": {"server": "plain"},
}
FORMAT = {
    "openai": "json_schema",
    "vllm": "json_schema",
    "ollama": "json_schema",
    "llamacpp": "json_object",
    "plain": None,
}


def _titles(digest: Digest) -> dict[str, tuple[str, str]]:
    return {o.name: (o.title, o.organization) for o in digest.officials}


async def _digest_and_ask(
    tmp_path: Path, fake: FakeOpenAIServer, **settings: Any
) -> tuple[Digest, Digest, str]:
    text = (Path(__file__).parent / "data" / "zhaoqing-die-casting-summit.txt").read_text()
    service = DigestService.from_settings(make_settings(tmp_path, fake, **settings))
    try:
        single = await service.digest(service.save_article("a", text), use_cache=False)
        service.engine.config = type(service.engine.config)(
            **{**service.engine.config.__dict__, "chunk_tokens": 500}
        )
        chunked = await service.digest(service.save_article("a", text), use_cache=False)
        answer = await service.ask(service.save_article("a", text), "Who is the mayor of Zhaoqing?")
    finally:
        await service.aclose()
    assert chunked.stats.chunks > 1
    return single, chunked, answer.answer


@pytest.fixture
async def reference(
    tmp_path: Path, model: ScriptedModel, count_tokens: CountTokens
) -> AsyncIterator[Digest]:
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile="openai") as server:
        single, _, _ = await _digest_and_ask(tmp_path / "ref", server, server="openai")
    yield single


@pytest.mark.parametrize("profile", FAKE_PROFILES)
async def test_each_server_gets_its_format_and_gives_the_same_digest(
    profile: Profile,
    tmp_path: Path,
    model: ScriptedModel,
    count_tokens: CountTokens,
    reference: Digest,
) -> None:
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile=profile) as server:
        single, chunked, answer = await _digest_and_ask(tmp_path, server, **CONFIGURED[profile])
    formats = {(r.body.get("response_format") or {}).get("type") for r in server.requests}
    assert formats == {FORMAT[profile]}, "one format, the server's own, from the first request"
    assert all(r.status == 200 for r in server.requests)
    assert _titles(single) == _titles(reference)
    assert all(title for title, _ in _titles(single).values())
    assert _titles(chunked) == _titles(reference)
    assert "Xu Xiaoxiong" in answer


@pytest.mark.parametrize("profile", ["vllm", "llamacpp", "plain"])
async def test_unknown_server_falls_back_only_on_a_refusal_of_the_format_type(
    profile: Profile,
    tmp_path: Path,
    model: ScriptedModel,
    count_tokens: CountTokens,
    reference: Digest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Auto settings on a server we know nothing about: strict first, then one step down."""
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile=profile) as server:
        single, chunked, _ = await _digest_and_ask(tmp_path, server)
    kinds = [(r.body.get("response_format") or {}).get("type") for r in server.requests]
    refused = [r for r in server.requests if r.status != 200]
    expected = {"vllm": [], "llamacpp": ["json_schema"], "plain": ["json_schema"]}[profile]
    assert [(r.body.get("response_format") or {}).get("type") for r in refused] == expected
    assert kinds[len(refused) :] == [kinds[-1]] * (len(kinds) - len(refused))
    assert _titles(single) == _titles(reference) == _titles(chunked)
    warnings = [r for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(warnings) == len(expected) and all(w.levelno == logging.WARNING for w in warnings)


async def test_reasoning_models_get_max_completion_tokens_and_no_temperature(
    tmp_path: Path, model: ScriptedModel, count_tokens: CountTokens
) -> None:
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile="openai") as server:
        single, _, _ = await _digest_and_ask(tmp_path, server, server="openai", model="o3-mini")
    bodies = [r.body for r in server.requests]
    assert all(r.status == 200 for r in server.requests)
    assert all("max_completion_tokens" in b and "max_tokens" not in b for b in bodies)
    assert all("temperature" not in b for b in bodies)
    assert single.officials


async def test_a_server_that_states_a_parameter_refusal_is_answered_once(
    tmp_path: Path,
    model: ScriptedModel,
    count_tokens: CountTokens,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gpt-5 model behind a proxy the bot does not know: the server says what it wants."""
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile="openai") as server:
        single, _, _ = await _digest_and_ask(tmp_path, server, model="gpt-5-mini")
    statuses = [r.status for r in server.requests]
    assert statuses[:3] == [400, 400, 200] and set(statuses[3:]) == {200}
    assert {
        w.getMessage().split(";")[-1].strip()
        for w in caplog.records
        if "from now on" in w.getMessage()
    } == {
        "sending max_completion_tokens from now on",
        "sending no temperature from now on",
    }
    assert single.officials


class _Limited(BaseModel):
    name: str = Field(json_schema_extra={"maxLength": 20})


async def test_a_refused_schema_is_a_bug_shown_not_a_fallback(
    count_tokens: CountTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenAI refuses maxLength; sent there unconverted, it must fail loudly, not degrade."""
    with FakeOpenAIServer(lambda body: '{"name": "x"}', profile="openai") as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        llm = OpenAICompatibleLLM(client, "gpt-4o-mini", capabilities=PROFILES["vllm"])
        with pytest.raises(SchemaRejected) as info:
            await llm.structured([{"role": "user", "content": "hi"}], _Limited)
        await llm.aclose()
    assert len(server.requests) == 1  # no json_object retry hiding it
    assert "'maxLength' is not permitted" in str(info.value)
    assert "_Limited" not in info.value.user_message and "127.0.0.1" not in info.value.user_message
    assert any(r.levelno == logging.ERROR and "_Limited" in r.getMessage() for r in caplog.records)


def test_the_profiles_users_configure() -> None:
    openai_caps = capabilities_for("auto", None, "gpt-4o-mini")
    assert (
        openai_caps.output_format == "json_schema"
        and "maxLength" in openai_caps.unsupported_keywords
    )
    assert capabilities_for("auto", "https://api.openai.com/v1", "o3").reasoning
    assert not capabilities_for("auto", "http://localhost:8000/v1", "o3").reasoning
    unknown = capabilities_for("auto", "http://localhost:8000/v1", "qwen")
    assert unknown.may_fall_back and "maxLength" in unknown.unsupported_keywords
    assert not capabilities_for("vllm", "http://localhost:8000/v1", "qwen").unsupported_keywords
    assert capabilities_for("auto", "https://x.openai.azure.com/v1", "gpt-4o").unsupported_keywords
    pinned = capabilities_for("auto", "http://x/v1", "m", response_format="json_object")
    assert pinned.output_format == "json_object" and not pinned.may_fall_back
    assert capabilities_for("llamacpp", "http://x/v1", "m").grammar_in_json_object


async def test_what_the_user_sees_when_the_model_answers_badly_twice(
    tmp_path: Path, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    llm_server.fail_next("bad_json", times=2)
    service = DigestService.from_settings(make_settings(tmp_path, llm_server))
    try:
        with pytest.raises(StructuredOutputError) as info:
            await service.digest(service.save_article("t", article_text))
        # The two unusable answers were paid for: they count against the daily quota.
        assert info.value.usage is not None
        assert service.usage_today("cli") == info.value.usage.total > 0
    finally:
        await service.aclose()
    line = info.value.user_message
    assert line == "The model could not read this article (it returned an unusable answer twice)."
    assert info.value.usage is not None and info.value.usage.calls == 2
    assert isinstance(info.value, LLMError)


async def test_a_failed_chunk_cancels_its_siblings(
    tmp_path: Path, model: ScriptedModel, count_tokens: CountTokens, article_text: str
) -> None:
    """One part fails: the parts still being read are cancelled, not left running unpaid."""
    import asyncio
    import threading

    release = threading.Event()
    sibling_arrived = threading.Event()

    def responder(body: dict[str, Any]) -> str:
        if "Report on sentences [1] " in body["messages"][-1]["content"]:
            # Fail once another part is in flight: on a busy machine the first part's request
            # may otherwise fail before its siblings were even sent, and nothing is cancelled.
            sibling_arrived.wait(10)
            raise RuntimeError("the first part breaks the server")  # a 500
        sibling_arrived.set()
        release.wait(30)  # the other parts hang until the test lets them go
        return model(body)

    with FakeOpenAIServer(responder, count_tokens=count_tokens, profile="openai") as server:
        service = DigestService.from_settings(
            make_settings(tmp_path, server, server="openai", chunk_tokens=500)
        )
        try:
            with pytest.raises(LLMUnavailable):
                # Siblings left running would hold the digest until they answer (30 s).
                await asyncio.wait_for(service.digest(service.save_article("t", article_text)), 8)
            siblings = [r for r in server.requests if r.error is None]
            assert siblings  # there were other parts in flight
            release.set()  # answer them now: a part still waiting would take its answer
            for _ in range(100):
                if all(r.finished_at for r in siblings):
                    break
                await asyncio.sleep(0.05)
            assert all(r.client_gone for r in siblings), "a sibling part was left running"
        finally:
            release.set()
            await service.aclose()
