"""The real embedded model on the shared article (minutes on a CPU): ``pytest -m slow``.

Asserts the quality floor; speed targets are measured by ``digestbot eval`` (see README).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.evaluation import evaluate
from bot.core.models.gguf import ensure_default_model
from bot.core.models.llama_server import llama_cpp_available
from bot.core.service import DigestService
from bot.core.settings import Settings
from tests.conftest import DATA

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not llama_cpp_available(), reason="needs the 'local' extra"),
]


async def test_local_model_digest_and_follow_up(tmp_path: Path) -> None:
    # A fresh store (no cached digest); the 1.1 GB model is assembled once and shared.
    shared_models = Settings(_env_file=None).data_dir / "models"
    model = await asyncio.to_thread(ensure_default_model, shared_models, log=print)
    settings = Settings(_env_file=None, data_dir=tmp_path, local_model=model, local_keep_alive=120)
    lease = tmp_path / "local-model-server.json"
    gold = json.loads((DATA / "zhaoqing-die-casting-summit.gold.json").read_text())
    article = (DATA / "zhaoqing-die-casting-summit.txt").read_text()
    service = DigestService.from_settings(settings)
    try:
        report = await evaluate(service, article, gold)
        await service.aclose()
        server = json.loads(lease.read_text())["pid"]
        # The next command (a new service, as `digestbot ask` makes) finds the server the
        # digest left running, with the article's prompt state: only the question is new.
        service = DigestService.from_settings(settings)
        stored = service.save_article("cli", article)
        answer = await service.ask(stored, "Who is the mayor of Zhaoqing?")
        assert json.loads(lease.read_text())["pid"] == server
    finally:
        await service.aclose()
        lease.unlink(missing_ok=True)  # what stops the server
    print(report.model_dump_json(indent=2))
    print("follow-up from a new service:", answer)
    assert report.officials_found >= 9, report.missed_officials
    assert report.invented_people == []
    assert report.reporters_listed == []
    mayor = next(q for q in report.questions if q.question == "Who is the mayor of Zhaoqing?")
    assert "Xu Xiaoxiong" in mayor.answer
    assert "Xu Xiaoxiong" in answer.answer


def test_grammar_last_sampling_picks_the_same_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the embedded server's child does (bot.core.models.llama_child), in this process.
    from bot.core.models import llama_child
    from bot.core.models.llama_server import usable_cpus

    shared_models = Settings(_env_file=None).data_dir / "models"
    model = ensure_default_model(shared_models, log=print)
    llama_child.skip_crashing_backends(str(model))  # in-process: a crash cannot be retried
    llama_child.load_cpu_backends()
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

    llm = Llama(model_path=str(model), n_ctx=1024, n_threads=usable_cpus(), verbose=False)
    schema = {
        "type": "object",
        "properties": {"names": {"type": "array", "items": {"type": "string"}, "maxItems": 4}},
        "required": ["names"],
    }
    prompt = (
        "<|im_start|>user\nList the people: Mayor Xu Xiaoxiong met Dr. Ada Obi and"
        " Minister Tom Gadsby in Zhaoqing.<|im_end|>\n<|im_start|>assistant\n"
    )

    def complete() -> str:
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        out = llm.create_completion(
            prompt, grammar=grammar, max_tokens=60, temperature=0.0, repeat_penalty=1.1
        )
        assert not isinstance(out, Iterator)  # not streamed: one response, not its chunks
        return str(out["choices"][0]["text"])

    plain = complete()
    monkeypatch.setattr(Llama, "_init_sampler", Llama._init_sampler)  # undone after the test
    llama_child.sample_grammar_last()
    fast = complete()
    sampler = llm._sampler
    assert isinstance(sampler, llama_child.GrammarLastSampler)
    assert fast == plain, (fast, plain)
    assert json.loads(fast)["names"], fast
    # Both paths ran: picks the grammar allowed, and at least one it had to overrule.
    assert sampler.picks > sampler.fallbacks > 0, (sampler.picks, sampler.fallbacks)
