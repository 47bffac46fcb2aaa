"""Follow-up answers: grounded quotes, 'not stated', history, retrieval for long articles."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.core.reading.answer import relevant_sentences
from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.service import DigestService
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAIServer


async def test_answer_quotes_the_article(service: DigestService, article_text: str) -> None:
    article = service.save_article("t", article_text)
    answer = await service.ask(article, "Who is the mayor of Zhaoqing?")
    assert answer.stated and "Xu Xiaoxiong" in answer.answer
    assert answer.quotes and all(q in article_text for q in answer.quotes)
    assert answer.stats.llm_calls == 1


async def test_unstated_answer_says_so(service: DigestService, article_text: str) -> None:
    article = service.save_article("t", article_text)
    answer = await service.ask(article, "What is the population of Zhaoqing?")
    assert answer.stated is False and answer.quotes == []


async def test_history_is_sent_and_prefix_is_stable(
    service: DigestService, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    article = service.save_article("t", article_text)
    await service.digest(article)
    await service.ask(article, "Who is the mayor of Zhaoqing?")
    await service.ask(
        article, "What did the Ministry of Industry and Information Technology promise?"
    )
    first, second = (r.body["messages"] for r in llm_server.requests[-2:])
    assert second[:2] == first[:2]  # system + article: a prompt cache can reuse them
    assert second[2] == {"role": "user", "content": "Question: Who is the mayor of Zhaoqing?"}
    assert second[3]["role"] == "assistant" and "Xu Xiaoxiong" in second[3]["content"]
    # A new service (a restart) still has the history.
    assert len(service.store.exchanges(article.id)) == 2


async def test_long_article_sends_relevant_passages(
    tmp_path: Path, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    settings = make_settings(tmp_path, llm_server, answer_context_tokens=400)
    service = DigestService.from_settings(settings)
    try:
        article = service.save_article("t", article_text)
        answer = await service.ask(article, "Who is the mayor of Zhaoqing?")
    finally:
        await service.aclose()
    context = "\n".join(m["content"] for m in llm_server.requests[-1].body["messages"][1:3])
    assert "Mayor Xu Xiaoxiong" in context and "most relevant" in context
    assert "Gaoyao Initiative" not in context  # unrelated parts were left out
    assert "Xu Xiaoxiong" in answer.answer


def test_retrieval_keeps_budget_and_order(article_text: str, count_tokens: CountTokens) -> None:
    article = NumberedArticle(article_text, count_tokens, 400)
    chosen = relevant_sentences(article, "Which companies lead, Xiaopeng or Ningde?", 300)
    assert sum(s.tokens for s in chosen) <= 300
    assert [s.number for s in chosen] == sorted(s.number for s in chosen)
    assert any("Xiaopeng" in s.text for s in chosen)


async def test_a_cited_sentence_that_does_not_say_it_is_not_the_quote(
    service: DigestService, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    # What the embedded model did: the right answer, cited with a sentence about Xinhuanet.
    article = service.save_article("t", article_text)
    numbered = service.check_article(article_text)
    unrelated = next(s for s in numbered.sentences if "Xinhuanet will rely" in s.text)
    mayor = next(s for s in numbered.sentences if "Mayor Xu Xiaoxiong" in s.text)
    llm_server.responder = lambda request: json.dumps(
        {"answer": "Xu Xiaoxiong", "stated": True, "sentences": [unrelated.number]}
    )
    answer = await service.ask(article, "Who is the mayor of Zhaoqing?")
    assert answer.answer == "Xu Xiaoxiong"
    assert answer.quotes == [mayor.text]  # the sentence that says it, found by code


def test_ranking_passages_writes_nothing_to_the_users_terminal(
    count_tokens: CountTokens, capsys: pytest.CaptureFixture[str]
) -> None:
    """bm25s sets its own logger to DEBUG when imported: with the CLI's plain logging set up
    (warnings only), its "Building index from tokens" reached the user's terminal."""
    text = "\n\n".join(f"The town of Orla {i} will build {i} bridges by 2030." for i in range(60))
    article = NumberedArticle(text, count_tokens, 400)
    root = logging.getLogger()
    handler = logging.StreamHandler()  # what logging.basicConfig(level=WARNING) installs
    root.addHandler(handler)
    try:
        assert relevant_sentences(article, "How many bridges will Orla 7 build?", 200)
    finally:
        root.removeHandler(handler)
    assert capsys.readouterr().err == ""


def test_a_question_in_english_finds_its_answer_in_a_chinese_article(
    count_tokens: CountTokens,
) -> None:
    """A follow-up on a long Chinese release is often asked in English: the sentences are
    ranked by their English keys too (``bilingual``), not shown from the top."""
    text = "\n\n".join(
        [f"第{i}项工作稳步推进，各部门加强协调配合，确保任务按期完成。" for i in range(1, 40)]
        + ["西宁市政府将设立规模20亿元的新能源产业基金。"]
    )
    article = NumberedArticle(text, count_tokens, 400)
    chosen = relevant_sentences(article, "How big is the new energy fund Xining will set up?", 120)
    assert any("产业基金" in s.text for s in chosen)
