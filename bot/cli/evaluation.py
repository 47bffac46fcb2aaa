"""Score a digest and its follow-up answers against hand-made reference answers.

The reference format is ``tests/data/*.gold.json``: officials (name, aliases, title and
organisation keywords), wrong titles a model is known to give, people who are not officials
(reporters), commitments by actor with keywords, and follow-up questions with what a right
answer contains. Works with any backend: it only calls the service.

Besides what a digest finds, it counts what a reader must wade through: commitments listed,
how many say a reference pledge (precision), repeats, commitment texts with a word the article
does not have, the key points given, and how many of the gold's ``summary_keywords`` groups the
summary and key points cover (a group is one point a summary must make; any one of its strings
covers it, case-insensitive, whole words). A Chinese article is digested in Chinese, since its
gold strings are Chinese.

``evaluate_folder`` runs every ``<slug>.txt`` of a folder that has a ``<slug>.gold.json``
beside it (``tests/data/`` is the development corpus) and adds the rows up.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.core.errors import LLMError
from bot.core.reading.grounding import coverage, normalize
from bot.core.reading.matching import CJK, words
from bot.core.schemas import Commitment, Digest, Official
from bot.core.service import DigestService

log = logging.getLogger(__name__)


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
    # What a reader wades through (defaults: reports saved before these were counted).
    commitments_listed: int = 0
    commitments_precise: int = 0
    duplicate_commitments: list[str] = []
    new_word_commitments: list[str] = []
    summary_points: int = 0
    summary_covered: int = 0
    summary_missed: list[str] = []
    key_points: int = 0
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
    """The corpus rule (``tests/data/CORPUS.md``): title and organisation contain any title
    keyword (by content words, so "Secretary of the Municipal Party Committee" holds
    "Secretary"), and the title is not a known wrong one for this person."""
    role = f"{official.title} {official.organization}"
    if any(w["name"] == entry["name"] and _has(official.title, w["not"]) for w in wrong):
        return False
    return any(coverage(k, role) == 1.0 for k in entry.get("title_keywords", []))


def _says(text: str, phrase: str) -> bool:
    """Case-insensitive whole-word containment ("solar" not in "solarium"); plain for CJK."""
    text, phrase = normalize(text), normalize(phrase)
    if not phrase:
        return False
    if CJK.search(phrase):
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _keyword_hits(text: str, expected: dict[str, Any]) -> int:
    return sum(_has(text, k) for k in expected["keywords"])


def _says_reference(item: Commitment, expected: dict[str, Any]) -> bool:
    """The corpus rule for a found pledge: at least half its keywords, text or quote."""
    return _keyword_hits(f"{item.commitment} {item.quote}", expected) * 2 >= len(
        expected["keywords"]
    )


def _best_reference(item: Commitment, references: list[dict[str, Any]]) -> int | None:
    """The reference pledge the commitment's own text says most of (its quote, a whole
    sentence, may hold several pledges)."""
    scored = [
        (_keyword_hits(item.commitment, e) / len(e["keywords"]), -i)
        for i, e in enumerate(references)
        if e["keywords"] and _says_reference(item, e)
    ]
    best = max(scored, default=None)
    return -best[1] if best is not None and best[0] > 0 else None


def _shared_words(a: str, b: str) -> float:
    first, second = set(words(a)), set(words(b))
    return len(first & second) / max(1, min(len(first), len(second)))


def _label(item: Commitment) -> str:
    return f"{item.actor}: {item.commitment}"


def _duplicates(items: list[Commitment], references: list[dict[str, Any]]) -> list[str]:
    """Commitments that repeat an earlier one: mostly the same words (whoever it is given
    to), or the same quote saying the same pledge (the same reference pledge, or the same
    actor and half the words). Two pledges of one sentence are not repeats."""
    best = [_best_reference(item, references) for item in items]
    repeats = []
    for j, later in enumerate(items):
        for i, earlier in enumerate(items[:j]):
            overlap = _shared_words(earlier.commitment, later.commitment)
            same_quote = normalize(earlier.quote) == normalize(later.quote)
            same_pledge = same_quote and (
                (best[i] is not None and best[i] == best[j])
                or (normalize(earlier.actor) == normalize(later.actor) and overlap >= 0.5)
            )
            if overlap >= 0.8 or same_pledge:
                repeats.append(_label(later))
                break
    return repeats


def _vocabulary(article: str) -> set[str]:
    """The article's content words, hyphenated words also by their parts."""
    found = set(words(article))
    return found | {part for word in found for part in word.split("-")}


def _new_words(item: Commitment, vocabulary: set[str]) -> list[str]:
    return [
        w
        for w in dict.fromkeys(words(item.commitment))
        if w not in vocabulary and not all(p in vocabulary for p in w.split("-"))
    ]


def _summary_score(digest: Digest, gold: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(groups, groups covered, groups missed) of the gold's ``summary_keywords``."""
    text = "\n".join([digest.summary, *digest.key_points])
    groups = [g for g in gold.get("summary_keywords", []) if g]
    missed = [" / ".join(g) for g in groups if not any(_says(text, k) for k in g)]
    return len(groups), len(groups) - len(missed), missed


def reading_load(digest: Digest, article: str, gold: dict[str, Any]) -> dict[str, Any]:
    """What a reader wades through: listed, precise, repeated, new-worded; summary points."""
    references = gold.get("commitments", [])
    items = digest.commitments
    vocabulary = _vocabulary(article)
    new_worded = []
    for item in items:
        if found := _new_words(item, vocabulary):
            new_worded.append(f"{_label(item)} ({', '.join(found)})")
    groups, covered, missed = _summary_score(digest, gold)
    return {
        "commitments_listed": len(items),
        "commitments_precise": sum(any(_says_reference(c, e) for e in references) for c in items),
        "duplicate_commitments": _duplicates(items, references),
        "new_word_commitments": new_worded,
        "summary_points": groups,
        "summary_covered": covered,
        "summary_missed": missed,
        "key_points": len(digest.key_points),
    }


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
    used: set[int] = set()
    for expected in gold.get("commitments", []):
        # The listed pledge holding most of its keywords (at least half), each pledge once;
        # between equals, one with the right actor.
        keywords = expected["keywords"]
        actor_names = [n for n in (expected["actor"], expected.get("via", "")) if n]
        best: tuple[int, bool, int] | None = None
        for index, item in enumerate(digest.commitments):
            text = f"{item.commitment} {item.quote}"
            hits = sum(_has(text, k) for k in keywords)
            if index in used or hits * 2 < len(keywords):
                continue
            actor_right = any(_has(item.actor, n) or _has(n, item.actor) for n in actor_names)
            if best is None or (hits, actor_right) > best[:2]:
                best = (hits, actor_right, index)
        if best is not None:
            matched += 1
            actors_right += best[1]
            used.add(best[2])
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
        **reading_load(digest, article, gold),
    }


def answer_right(answer: str, quotes: list[str], stated: bool, expected: dict[str, Any]) -> bool:
    if expected.get("expect_not_stated"):
        return not stated
    text = " ".join([answer, *quotes])
    if "expect" in expected:
        return stated and all(_has(text, e) for e in expected["expect"])
    return stated and any(_has(text, e) for e in expected.get("expect_any", []))


def article_language(text: str) -> str | None:
    """The language to digest an article in for scoring: Chinese for one mostly in Chinese
    characters (as the Chinese reader takes it), else None (the service's own)."""
    sample = text[:20_000]
    letters = sum(c.isalpha() for c in sample)
    return "Chinese" if letters and len(CJK.findall(sample)) * 2 >= letters else None


async def evaluate(
    service: DigestService,
    article_text: str,
    gold: dict[str, Any],
    *,
    max_questions: int | None = None,
) -> EvalReport:
    """Digest the article and ask its follow-up questions (the first ``max_questions``: a
    small local model takes most of a minute for each)."""
    # Chinese gold strings are Chinese: such an article's digest is scored in Chinese.
    if (language := article_language(article_text)) is not None:
        service = service.in_language(language)
    # A scope of its own per run, so earlier runs' questions are not in the history.
    article = service.save_article(f"eval:{time.time_ns()}", article_text)
    digest = await service.digest(article, use_cache=False)
    questions = []
    for expected in gold.get("follow_up_questions", [])[:max_questions]:
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


# --- a folder of articles ----------------------------------------------------------------------

GOLD_SUFFIX = ".gold.json"


class CorpusRow(BaseModel):
    """One article's figures, as the corpus table shows them."""

    article: str
    officials_expected: int = 0
    officials_found: int = 0
    titles_right: int = 0
    invented: int = 0
    reporters: int = 0
    non_persons: int = 0
    commitments_expected: int = 0
    commitments_found: int = 0
    actors_right: int = 0
    commitments_listed: int = 0
    commitments_precise: int = 0
    duplicates: int = 0
    new_words: int = 0  # commitment texts holding a word the article does not have
    summary_points: int = 0
    summary_covered: int = 0
    key_points: int = 0
    questions: int = 0
    answers_right: int = 0
    digest_seconds: float = 0.0
    seconds: float = 0.0  # the digest and every follow-up question
    error: str | None = None

    @classmethod
    def of(cls, article: str, report: EvalReport, seconds: float) -> CorpusRow:
        return cls(
            article=article,
            officials_expected=report.officials_expected,
            officials_found=report.officials_found,
            titles_right=report.titles_right,
            invented=len(report.invented_people),
            reporters=len(report.reporters_listed),
            non_persons=len(report.other_people),
            commitments_expected=report.commitments_expected,
            commitments_found=report.commitments_matched,
            actors_right=report.commitment_actors_right,
            commitments_listed=report.commitments_listed,
            commitments_precise=report.commitments_precise,
            duplicates=len(report.duplicate_commitments),
            new_words=len(report.new_word_commitments),
            summary_points=report.summary_points,
            summary_covered=report.summary_covered,
            key_points=report.key_points,
            questions=len(report.questions),
            answers_right=report.answers_right,
            digest_seconds=round(report.digest_seconds, 2),
            seconds=round(seconds, 2),
        )


class CorpusReport(BaseModel):
    rows: list[CorpusRow]
    reports: dict[str, EvalReport]

    @property
    def total(self) -> CorpusRow:
        counts = {
            name: sum(getattr(row, name) for row in self.rows)
            for name, info in CorpusRow.model_fields.items()
            if info.annotation in (int, float)
        }
        for name in ("digest_seconds", "seconds"):
            counts[name] = round(counts[name], 2)
        return CorpusRow(article="total", **counts)


def corpus_articles(folder: Path) -> list[tuple[str, Path, Path]]:
    """(slug, article, gold) for every article of the folder that has its reference answers."""
    found = []
    for gold in sorted(folder.glob(f"*{GOLD_SUFFIX}")):
        slug = gold.name.removesuffix(GOLD_SUFFIX)
        if (text := folder / f"{slug}.txt").is_file():
            found.append((slug, text, gold))
    return found


async def evaluate_folder(
    service: DigestService,
    folder: Path,
    on_row: Callable[[CorpusRow], None] | None = None,
    *,
    max_questions: int | None = None,
) -> CorpusReport:
    """Evaluate every article of the folder in turn; a model failure is a row, not the end.

    ``on_row`` hears each row as it is done: a slow model takes minutes per article.
    """
    rows: list[CorpusRow] = []
    reports = {}
    for slug, text_path, gold_path in corpus_articles(folder):
        text = text_path.read_text(encoding="utf-8", errors="replace")
        gold = json.loads(gold_path.read_text(encoding="utf-8"))
        started = time.monotonic()
        try:
            report = await evaluate(service, text, gold, max_questions=max_questions)
        except LLMError as error:
            log.warning("%s: %s", slug, error)  # the row says it in the user's terms only
            rows.append(CorpusRow(article=slug, error=error.user_message))
        else:
            reports[slug] = report
            rows.append(CorpusRow.of(slug, report, time.monotonic() - started))
        if on_row is not None:
            on_row(rows[-1])
    return CorpusReport(rows=rows, reports=reports)
