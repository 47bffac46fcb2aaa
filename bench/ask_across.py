"""Questions across articles (issue 22): a set of 10 + 1 questions (questions-across*.json).

    python bench/ask_across.py            # the configured model: OPENAI_* or the embedded one
    python bench/ask_across.py --fake     # the reference fake through a local fake server
    python bench/ask_across.py --register none   # retrieval without the register's lines
    python bench/ask_across.py --questions tests/data/questions-across-unseen.json
    python bench/ask_across.py --questions tests/data/questions-across-fresh.json
                                          # the held-out sets, written without watching retrieval

Nothing is digested: the 21 dev articles are stored in one chat ("chat:desk") with the date
each reports, and their register is the gold digests grounded in code (the same perfect
drafts as ``tests/test_corpus_grounding.py``), standing in for what a digest keeps. Three of
them are stored again in another chat ("chat:other"), same texts under other ids, so a line
taken from the other chat is caught by its id. Each question is answered by
``bot.core.desk.ask.ask_across`` and scored:

- **right**: a kept line (quote checked) from every article the answer needs, holding that
  article's expected strings (in its claim or quote, folded);
- **foreign lines**: lines citing an article of another chat (must be 0);
- **not stated**: the question no article answers gets "Not stated in your articles.".

Target: at least 8 of the 10 right, 0 foreign lines, the not-stated one answered as such.
The fake model (``--fake``, and the fast test) answers from the reference quotes, and only
for an article whose quote is among the passages it was shown: it measures retrieval, the
plumbing and the quote check, not how well a model reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.cleaning import clean  # noqa: E402
from bot.core.desk.ask import AskConfig, ask_across  # noqa: E402
from bot.core.desk.ask_schemas import NOT_STATED, CrossAnswer  # noqa: E402
from bot.core.models.llm import LLM  # noqa: E402
from bot.core.prompts import PromptLibrary  # noqa: E402
from bot.core.reading.chunking import CountTokens, NumberedArticle  # noqa: E402
from bot.core.reading.dates import read_date  # noqa: E402
from bot.core.schemas import Digest  # noqa: E402
from bot.core.storage.register import Register  # noqa: E402
from bot.core.storage.store import Store  # noqa: E402

DATA = ROOT / "tests" / "data"
QUESTIONS = DATA / "questions-across.json"
SCOPE = "chat:desk"
OTHER_SCOPE = "chat:other"
OTHER_SLUGS = (
    "voltaris-ashcombe-battery-plant",
    "d3-corvane-tillman-expansion-businesswire",
    "d2-nairobi-dryland-forum-long",
)
_ARTICLE_BLOCK = re.compile(r"<article>\n\[Article (\d+)\] [^\n]*\n(.*?)\n</article>", re.S)
_QUESTION = re.compile(r"The user's question: (.*)\n")


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["questions"])


def fold(text: str) -> str:
    """Accent-, case-, quote- and space-insensitive form, as the corpus graders compare."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[‘’`´]", "'", text)
    return " ".join(text.split()).casefold()


@dataclass
class Corpus:
    """Where each stored article came from: its scope and slug, by article id."""

    slugs: dict[int, str] = field(default_factory=dict)
    scopes: dict[int, str] = field(default_factory=dict)

    def ids(self, scope: str) -> set[int]:
        return {i for i, s in self.scopes.items() if s == scope}


def store_corpus(store: Store, count_tokens: CountTokens, *, register: bool = True) -> Corpus:
    """The 21 articles in SCOPE and three of them again in OTHER_SCOPE; with ``register``,
    each one's gold digest (grounded in code) recorded in the register, as a digest would."""
    from bot.core.reading.grounding import ground_drafts
    from bot.core.service import make_title
    from tests.fakes.gold_model import CORPUS, commitment_drafts, official_drafts

    kept = Register(store)
    corpus = Corpus()
    placed = [(SCOPE, slug) for slug in CORPUS] + [(OTHER_SCOPE, slug) for slug in OTHER_SLUGS]
    for scope, slug in placed:
        text = clean((DATA / f"{slug}.txt").read_text(encoding="utf-8"))
        reported = read_date(text)
        article = store.save_article(
            scope, text, make_title(text), f"{slug}.txt", reported.date, reported.basis
        )
        corpus.slugs[article.id] = slug
        corpus.scopes[article.id] = scope
        if register:
            gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
            numbered = NumberedArticle(text, count_tokens, 400)
            officials, commitments, _ = ground_drafts(
                numbered, official_drafts(numbered, gold), commitment_drafts(numbered, gold)
            )
            digest = Digest(summary="", key_points=[], officials=officials, commitments=commitments)
            kept.record(article, digest)
    return corpus


@dataclass
class Scored:
    id: str
    right: bool
    cited: list[str]
    missing: list[str]  # needed articles with no right line
    foreign: int  # lines citing another chat's article
    stated: bool
    dropped: int
    calls: int
    tokens: int
    seconds: float


def score(question: dict[str, Any], answer: CrossAnswer, corpus: Corpus) -> Scored:
    """Right: a line from each needed article holding its strings; or, for the question no
    article answers, "not stated"."""
    mine = corpus.ids(SCOPE)
    foreign = sum(line.article_id not in mine for line in answer.lines)
    cited = [corpus.slugs.get(line.article_id, "?") for line in answer.lines]
    missing = []
    for need in question["articles"]:
        texts = [
            fold(f"{line.claim} {line.quote}")
            for line in answer.lines
            if line.article_id in mine and corpus.slugs.get(line.article_id) == need["slug"]
        ]
        if not any(all(fold(e) in t for e in need["expect"]) for t in texts):
            missing.append(need["slug"])
    if question.get("expect_not_stated"):
        right = not answer.stated and answer.answer == NOT_STATED and not answer.lines
    else:
        right = answer.stated and not missing and foreign == 0
    return Scored(
        question["id"],
        right,
        cited,
        missing,
        foreign,
        answer.stated,
        answer.dropped,
        answer.stats.llm_calls,
        answer.stats.prompt_tokens + answer.stats.completion_tokens,
        answer.stats.seconds,
    )


@dataclass
class Report:
    scored: list[Scored]

    @property
    def right(self) -> int:
        return sum(s.right for s in self.scored if not self._not_stated(s))

    @property
    def spanning(self) -> int:
        return sum(not self._not_stated(s) for s in self.scored)

    @property
    def foreign(self) -> int:
        return sum(s.foreign for s in self.scored)

    @property
    def not_stated_ok(self) -> bool:
        return all(s.right for s in self.scored if self._not_stated(s))

    @property
    def passed(self) -> bool:
        return self.right >= 8 and self.foreign == 0 and self.not_stated_ok

    def _not_stated(self, scored: Scored) -> bool:
        return scored.id.startswith("not-stated")

    def table(self) -> str:
        rows = [f"{'question':24} right  lines  dropped  calls  tokens  seconds  missing"]
        for s in self.scored:
            rows.append(
                f"{s.id:24} {'yes' if s.right else 'NO':5}  {len(s.cited):5}  {s.dropped:7}  "
                f"{s.calls:5}  {s.tokens:6}  {s.seconds:7.2f}  {', '.join(s.missing)}"
            )
        rows.append(
            f"right {self.right}/{self.spanning}, lines from another chat {self.foreign}, "
            f"not stated answered as such: {'yes' if self.not_stated_ok else 'NO'}; "
            f"target {'met' if self.passed else 'MISSED'}"
        )
        return "\n".join(rows)


async def measure(
    store: Store,
    corpus: Corpus,
    llm: LLM,
    prompts: PromptLibrary,
    count_tokens: CountTokens,
    config: AskConfig | None = None,
    questions: Path = QUESTIONS,
) -> Report:
    """Ask every question of the set in SCOPE, one after another, and score each answer."""
    scored = []
    for question in load_questions(questions):
        answer = await ask_across(
            question["question"],
            SCOPE,
            store=store,
            llm=llm,
            prompts=prompts,
            count_tokens=count_tokens,
            config=config,
        )
        scored.append(score(question, answer, corpus))
    return Report(scored)


class ReferenceModel:
    """A fake model for the fake OpenAI server that answers the set's questions from their
    reference quotes, citing an article only when its quote is in the passages shown (under
    the number it was shown with); any other question, or the not-stated one, gets no line.

    Honest about what it checks: retrieval (the reference sentence must be shown), the
    request, the schema and the quote check; not a model's reading.
    """

    def __init__(self, questions: Path = QUESTIONS) -> None:
        self.questions = {q["question"]: q for q in load_questions(questions)}
        self.calls = 0

    def __call__(self, request: dict[str, Any]) -> str:
        from bot.core.reading.matching import normalize

        self.calls += 1
        prompt = "\n".join(str(m.get("content", "")) for m in request["messages"])
        asked = _QUESTION.search(prompt)
        question = self.questions.get(asked.group(1).strip() if asked else "")
        lines = []
        blocks = {int(n): normalize(text) for n, text in _ARTICLE_BLOCK.findall(prompt)}
        for need in (question or {}).get("articles", []):
            shown = [n for n, text in blocks.items() if normalize(need["quote"]) in text]
            if shown:
                claim = ", ".join(need["expect"])  # the figures and names a right line holds
                lines.append({"article": shown[0], "claim": claim, "quote": need["quote"]})
        return json.dumps({"answer": "", "lines": lines})


async def _run(args: argparse.Namespace) -> Report:
    from bot.core.models.encodings import load_encoding, token_counter
    from bot.core.service import build_llm
    from bot.core.settings import Settings

    settings = Settings()
    encoding = load_encoding(settings.encoding, settings.tiktoken_cache_dir)
    count_tokens = token_counter(encoding)
    prompts = PromptLibrary().with_values(language=settings.digest_language)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "ask.sqlite3")
        corpus = store_corpus(store, count_tokens, register=args.register == "gold")
        if args.fake:
            from tests.conftest import make_settings
            from tests.fakes.openai_server import FakeOpenAIServer

            model = ReferenceModel(args.questions)
            with FakeOpenAIServer(model, count_tokens=count_tokens) as fake:
                llm = build_llm(make_settings(Path(folder), fake))
                try:
                    return await measure(
                        store, corpus, llm, prompts, count_tokens, questions=args.questions
                    )
                finally:
                    await llm.aclose()
                    store.close()
        llm = build_llm(settings)
        print(f"model: {llm.model} at {llm.server}", file=sys.stderr)
        config = AskConfig(small_lines_per_article=0) if args.ask_small else None
        try:
            return await measure(
                store, corpus, llm, prompts, count_tokens, config, questions=args.questions
            )
        finally:
            await llm.aclose()
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="the reference fake model")
    parser.add_argument("--register", choices=("gold", "none"), default="gold")
    parser.add_argument("--json", action="store_true", help="the scores as JSON as well")
    parser.add_argument(
        "--ask-small",
        action="store_true",
        help="ask a small model too (by default its lines are read by code)",
    )
    parser.add_argument(
        "--questions",
        type=Path,
        default=QUESTIONS,
        help="the question set (questions-across-unseen.json: the held-out one)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    report = asyncio.run(_run(args))
    print(report.table())
    print(f"{time.monotonic() - started:.1f}s in all")
    if args.json:
        print(json.dumps([s.__dict__ for s in report.scored], indent=2))
    raise SystemExit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
