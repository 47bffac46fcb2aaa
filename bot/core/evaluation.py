"""Score a digest and its follow-up answers against hand-made reference answers.

The reference format is ``tests/data/*.gold.json``: officials (name, aliases, title and
organisation keywords), wrong titles a model is known to give, people who are not officials
(reporters), commitments by actor with keywords, and follow-up questions with what a right
answer contains. Works with any backend: it only calls the service.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from bot.core.grounding import coverage, normalize
from bot.core.schemas import Digest, Official
from bot.core.service import DigestService


class QuestionScore(BaseModel):
    question: str
    answer: str
    right: bool
    seconds: float


class EvalReport(BaseModel):
    officials_expected: int
    officials_found: int
    titles_right: int
    invented_people: list[str]
    reporters_listed: list[str]
    other_people: list[str]
    missed_officials: list[str]
    wrong_titles: list[str]
    commitments_expected: int
    commitments_matched: int
    commitment_actors_right: int
    questions: list[QuestionScore]
    digest_seconds: float
    prompt_tokens: int
    completion_tokens: int
    llm_calls: int

    @property
    def answers_right(self) -> int:
        return sum(q.right for q in self.questions)


def _has(text: str, phrase: str) -> bool:
    return normalize(phrase) in normalize(text)


def _names(entry: dict[str, Any]) -> list[str]:
    return [entry["name"], *entry.get("aliases", [])]


def _match(official: Official, gold: list[dict[str, Any]]) -> dict[str, Any] | None:
    key = normalize(official.name)
    for entry in gold:
        if any(normalize(name) == key for name in _names(entry)):
            return entry
    return None


def _title_right(official: Official, entry: dict[str, Any], wrong: list[dict[str, Any]]) -> bool:
    """Most title keywords present (by content words, so "Secretary" + "Municipal Party
    Committee" matches "Secretary of the Municipal Party Committee"), and no known wrong one."""
    role = f"{official.title} {official.organization}"
    if any(w["name"] == entry["name"] and _has(official.title, w["not"]) for w in wrong):
        return False
    keywords = entry.get("title_keywords", [])
    hits = sum(coverage(k, role) == 1.0 for k in keywords)
    return hits >= 1 and hits * 2 >= len(keywords)


def score_digest(digest: Digest, article: str, gold: dict[str, Any]) -> dict[str, Any]:
    officials = gold["officials"]
    reporters = gold.get("not_officials", [])
    found: dict[str, Official] = {}
    invented, listed_reporters, others = [], [], []
    for official in digest.officials:
        if (entry := _match(official, officials)) is not None:
            found.setdefault(entry["name"], official)
        elif any(_has(official.name, r["name"]) for r in reporters):
            listed_reporters.append(official.name)
        elif not _has(article, official.name):
            invented.append(official.name)
        else:
            others.append(official.name)
    wrong = gold.get("wrong_titles", [])
    titles_right = [
        name for name, official in found.items()
        if _title_right(official, next(e for e in officials if e["name"] == name), wrong)
    ]  # fmt: skip
    matched, actors_right = 0, 0
    for expected in gold.get("commitments", []):
        keywords = expected["keywords"]
        for item in digest.commitments:
            text = f"{item.commitment} {item.quote}"
            if sum(_has(text, k) for k in keywords) * 2 >= len(keywords):
                matched += 1
                actor_names = [expected["actor"], expected.get("via", "")]
                actors_right += any(n and (_has(item.actor, n) or _has(n, item.actor))
                                    for n in actor_names)  # fmt: skip
                break
    return {
        "officials_expected": len(officials),
        "officials_found": len(found),
        "titles_right": len(titles_right),
        "invented_people": invented,
        "reporters_listed": listed_reporters,
        "other_people": others,
        "missed_officials": [e["name"] for e in officials if e["name"] not in found],
        "wrong_titles": [
            f"{name}: {found[name].title}" for name in found if name not in titles_right
        ],
        "commitments_expected": len(gold.get("commitments", [])),
        "commitments_matched": matched,
        "commitment_actors_right": actors_right,
    }


def answer_right(answer: str, quotes: list[str], stated: bool, expected: dict[str, Any]) -> bool:
    if expected.get("expect_not_stated"):
        return not stated
    text = " ".join([answer, *quotes])
    if "expect" in expected:
        return stated and all(_has(text, e) for e in expected["expect"])
    return stated and any(_has(text, e) for e in expected.get("expect_any", []))


async def evaluate(service: DigestService, article_text: str, gold: dict[str, Any]) -> EvalReport:
    # A scope of its own per run, so earlier runs' questions are not in the history.
    article = service.save_article(f"eval:{time.time_ns()}", article_text)
    digest = await service.digest(article, use_cache=False)
    questions = []
    for expected in gold.get("follow_up_questions", []):
        started = time.monotonic()
        answer = await service.ask(article, expected["q"])
        questions.append(
            QuestionScore(
                question=expected["q"],
                answer=answer.answer,
                right=answer_right(answer.answer, answer.quotes, answer.stated, expected),
                seconds=round(time.monotonic() - started, 2),
            )
        )
    return EvalReport(
        **score_digest(digest, article_text, gold),
        questions=questions,
        digest_seconds=digest.stats.seconds,
        prompt_tokens=digest.stats.prompt_tokens,
        completion_tokens=digest.stats.completion_tokens,
        llm_calls=digest.stats.llm_calls,
    )
