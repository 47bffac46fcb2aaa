"""The bench's LangChain comparison (bench/langchain_recipe.py): it imports and says how to get
LangChain without the bench extra, and with it the documented recipes run on the fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import langchain_recipe as lc
from bot.core.reading.chunking import CountTokens
from tests.fakes.openai_server import MESSAGE_OVERHEAD_TOKENS, FakeOpenAIServer, RecordedRequest
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people

ROOT = Path(__file__).resolve().parents[1]
needs_langchain = pytest.mark.skipif(
    not lc.available(), reason=f"LangChain is not installed ({lc.INSTALL})"
)


def test_without_langchain_the_bench_says_how_to_get_the_comparison() -> None:
    blocked = ", ".join(repr(name) for name in lc.PACKAGES)
    script = (
        "import asyncio, sys\n"
        f"sys.modules.update(dict.fromkeys(({blocked},)))  # as if not installed\n"
        "from bench import bench, langchain_recipe\n"
        "assert not langchain_recipe.available()\n"
        "asyncio.run(bench.langchain_note(1.0))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install -e '.[bench]'" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1


def test_recipe_model_answers_the_recipes_and_leaves_the_bot_to_its_model() -> None:
    model = lc.RecipeModel(zhaoqing_people(), fallback=lambda body: "the bot's model")
    article = "Part 1.\n\nMayor Xu Xiaoxiong said Zhaoqing will build a die casting park. It opens."
    summary_prompt = (
        f'Write a concise summary of the following:\n\n\n"{article}"\n\n\nCONCISE SUMMARY:'
    )
    assert model({"messages": [{"role": "user", "content": summary_prompt}]}) == (
        "Mayor Xu Xiaoxiong said Zhaoqing will build a die casting park."
    )
    extraction = {
        "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": article}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Officials"}},
    }
    found = json.loads(str(model(extraction)))["officials"]
    assert [(o["name"], o["title"]) for o in found] == [("Xu Xiaoxiong", "Mayor")]
    assert found[0]["commitments"] == [
        "Mayor Xu Xiaoxiong said Zhaoqing will build a die casting park."
    ]
    bots = {"messages": [{"role": "user", "content": "[1] A sentence."}]}
    assert model(bots) == "the bot's model"


def test_prompt_tokens_are_counted_from_the_log_as_the_fake_counts_usage() -> None:
    body = {"messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": "ab"}]}
    chat = RecordedRequest("POST", "/v1/chat/completions", {}, body, 0.0, 1.0)
    models = RecordedRequest("GET", "/v1/models", {}, None, 0.0, 1.0)
    assert lc.logged_prompt_tokens([chat, models], len) == 6 + 2 * MESSAGE_OVERHEAD_TOKENS


@needs_langchain
async def test_the_recipes_run_against_the_strict_fake(
    llm_server: FakeOpenAIServer,
    model: ScriptedModel,
    count_tokens: CountTokens,
    article_text: str,
) -> None:
    text = "\n\n".join(f"Part {n}.\n\n{article_text}" for n in (1, 2))
    rows = await lc.langchain_figures(
        llm_server, "fake-model", {3000: text}, zhaoqing_people(), count=count_tokens
    )
    assert llm_server.responder is model  # the bot's model is back
    summary, both = rows
    assert (summary.recipe, both.recipe) == ("summary", "summary + officials")
    for row in rows:
        assert row.summary and not row.summary.startswith("{")
        assert row.article_tokens == count_tokens(text)
        assert row.prompt_tokens > row.article_tokens
        assert all(r.status == 200 for r in row.requests)
    summary_chunks, extraction_chunks = (int(n) for n in both.chunks.split("+"))
    assert summary.chunks == str(summary_chunks) and summary_chunks >= 3
    assert summary.calls == summary_chunks + 1  # map, then reduce (no collapse at this size)
    assert both.calls == summary_chunks + 1 + extraction_chunks
    assert {"Xu Xiaoxiong", "Zhang Aijun"} <= {o.name for o in both.officials}
    formats = [r.body.get("response_format") for r in both.requests]
    strict = [f["json_schema"] for f in formats if f is not None]
    assert len(strict) == extraction_chunks
    assert all(f["name"] == "Officials" and f["strict"] is True for f in strict)
