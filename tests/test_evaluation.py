"""The quality score counts what it should, in both directions."""

from __future__ import annotations

import json

from bot.core.evaluation import evaluate, score_digest
from bot.core.schemas import Digest, Official
from bot.core.service import DigestService
from tests.conftest import DATA

GOLD = json.loads((DATA / "zhaoqing-die-casting-summit.gold.json").read_text())


def _official(name: str, title: str, organization: str = "") -> Official:
    return Official(name=name, title=title, organization=organization, quote=name, sentences=[1])


def test_score_flags_wrong_titles_reporters_and_invented(article_text: str) -> None:
    digest = Digest(
        summary="",
        key_points=[],
        officials=[
            _official("Zhang Aijun", "Mayor", "Zhaoqing"),  # a known wrong title
            _official("Xu Xiaoxiong", "Mayor", "Zhaoqing"),
            _official("Yang Qing", "vice president", "Xinhuanet"),  # the article's short form
            _official("Liu Chunlin", "reporter"),
            _official("Jane Doe", "Minister"),
        ],
        commitments=[],
    )
    score = score_digest(digest, article_text, GOLD)
    assert score["officials_found"] == 3 and score["titles_right"] == 2
    assert score["wrong_titles"] == ["Zhang Aijun: Mayor"]
    assert score["reporters_listed"] == ["Liu Chunlin"] and score["invented_people"] == ["Jane Doe"]
    assert len(score["missed_officials"]) == 9


async def test_evaluate_runs_digest_and_questions(
    service: DigestService, article_text: str
) -> None:
    report = await evaluate(service, article_text, GOLD)
    assert report.officials_found == 12 and report.reporters_listed == []
    assert len(report.questions) == 4
    by_question = {q.question: q.right for q in report.questions}
    assert by_question["Who is the mayor of Zhaoqing?"]
    assert by_question["What is the population of Zhaoqing?"]
