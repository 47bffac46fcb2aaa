"""A model that always answers right: it knows every corpus article's reference answers.

For the fake OpenAI server (``tests/fakes/openai_server.py``). It recognises which corpus
article the prompt holds from its numbered sentences (``[n] text``), and answers the shape the
request asks for (digest, chunk, small-model, summary or answer) with the gold's officials,
titles, organisations and pledges, citing the numbers *of the sentences it was given*: a chunk
("Report on sentences [a] to [b]") gets only what is first stated in its new sentences.
Follow-up questions from the gold get the expected answer; any other question is "not stated".
With ``translations`` it writes titles as the prompt asks for an article in another language
than the digest's: "Party Secretary (市委书记)".

The drafts are the same perfect drafts the grounding guard builds (``official_drafts`` and
``commitment_drafts`` below, shared with ``tests/test_corpus_grounding.py``): whatever a digest
through this model loses is the code's fault, not the model's.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.schemas import CitedCommitment, CitedOfficial
from tests.fakes.scripted_model import _NEW_RANGE, _schema_name, _sentences

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = sorted(p.name.removesuffix(".gold.json") for p in DATA.glob("*.gold.json"))
Gold = dict[str, Any]

_CJK = re.compile(r"[\u3400-\u9fff]")


# --- reading the gold against the text ---------------------------------------------------------


def fold(text: str) -> str:
    """Accent-, case-, quote- and space-insensitive form, as a grader would compare."""
    text = unicodedata.normalize("NFKD", text.replace("•", "·"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[‘’`´]", "'", text)
    return " ".join(text.split()).casefold()


def mentions(text: str, phrase: str) -> bool:
    """Word-bounded, folded containment (plain containment for CJK)."""
    text, phrase = fold(text), fold(phrase)
    if _CJK.search(phrase):
        return phrase in text
    return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None


def load(slug: str, count_tokens: CountTokens) -> tuple[NumberedArticle, Gold]:
    text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
    gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    return NumberedArticle(text, count_tokens, 400), gold


def names_of(entry: Gold) -> list[str]:
    return [entry["name"], *entry.get("aliases", [])]


def naming(article: NumberedArticle, name: str, *, unless: str = "") -> list[int]:
    return [
        s.number
        for s in article.sentences
        if mentions(s.text, name) and not (unless and mentions(s.text, unless))
    ]


def official_sentences(article: NumberedArticle, entry: Gold) -> list[int]:
    """Up to two sentences naming the person, those that also state a title first."""
    found = naming(article, entry["name"])
    with_title = [
        n
        for n in found
        if any(mentions(article.sentences[n - 1].text, k) for k in entry["title_keywords"])
    ]
    return list(dict.fromkeys([*with_title, *found]))[:2]


def pledge_sentences(article: NumberedArticle, commitment: Gold) -> list[int]:
    """The sentences holding most of a commitment's keywords, best first (at most three)."""
    hits = [
        (sum(mentions(s.text, k) for k in commitment["keywords"]), s.number)
        for s in article.sentences
    ]
    ranked = sorted((h for h in hits if h[0] > 0), key=lambda h: (-h[0], h[1]))
    return [n for _, n in ranked[:3]]


def joined(parts: list[str]) -> str:
    return ("，" if any(_CJK.search(p) for p in parts) else " ").join(parts)


def is_cjk(gold: Gold) -> bool:
    return any(_CJK.search(o["name"]) for o in gold["officials"])


# --- perfect drafts ----------------------------------------------------------------------------


def official_drafts(article: NumberedArticle, gold: Gold) -> list[CitedOfficial]:
    """What a perfect reader writes: each person once per mention form, with the text's title."""
    drafts = []
    for entry in gold["officials"]:
        title, organization = entry["title_keywords"][0], entry["organization_keywords"][0]
        sentences = official_sentences(article, entry)
        drafts.append(CitedOfficial(name=entry["name"], title=title,
                                    organization=organization, sentences=sentences))  # fmt: skip
        for alias in entry.get("aliases", []):
            # A later chunk sees only the short form, as the long article's readers do.
            later = naming(article, alias, unless=entry["name"])[:2]
            if later:
                drafts.append(CitedOfficial(name=alias, title="", organization="",
                                            sentences=later))  # fmt: skip
    return drafts


def commitment_drafts(article: NumberedArticle, gold: Gold) -> list[CitedCommitment]:
    return [
        CitedCommitment(
            actor=c["actor"],
            commitment=joined(c["keywords"]),
            deadline=None,
            sentences=pledge_sentences(article, c),
        )
        for c in gold["commitments"]
    ]


# --- the model ---------------------------------------------------------------------------------


@dataclass
class _Known:
    slug: str
    gold: Gold
    texts: frozenset[str]  # every sentence of the article as numbered by the bot
    numbers: dict[int, str]  # its own numbering: number -> text
    officials: list[CitedOfficial]
    commitments: list[CitedCommitment]


@dataclass
class GoldModel:
    """A responder that answers every corpus article (or the ``slugs`` given) perfectly."""

    count_tokens: CountTokens
    slugs: Sequence[str] = field(default_factory=lambda: list(CORPUS))
    # Titles written "translation (original)", as the prompt asks for an article in another
    # language than the digest's: original title -> its translation.
    translations: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    seen: list[str] = field(default_factory=list)  # which article each request was about
    _known: dict[str, _Known] = field(default_factory=dict, repr=False)

    def __call__(self, request: dict[str, Any]) -> str:
        self.calls += 1
        messages = request["messages"]
        prompt = "\n".join(_content(m) for m in messages if m.get("role") == "user")
        last = _content(messages[-1])
        kind = _schema_name(request)
        if kind == "SummaryDraft":
            return json.dumps(self._summary(prompt), ensure_ascii=False)
        # The article fence breaks "</article" with a zero-width space; the text has none.
        given = {n: t.replace("\u200b", "") for n, t in _sentences(prompt).items()}
        known = self._recognise(given)
        self.seen.append(known.slug if known else "?")
        if kind == "AnswerDraft":
            return json.dumps(self._answer(known, given, last), ensure_ascii=False)
        new = given
        if found := _NEW_RANGE.search(last):
            low, high = int(found.group(1)), int(found.group(2))
            new = {n: t for n, t in given.items() if low <= n <= high}
        officials, commitments = self._drafts(known, given, new)
        body: dict[str, Any] = {
            "officials": officials,
            "commitments": commitments,
            "key_points": [t[:120] for _, t in sorted(new.items())[:3]],
        }
        if kind.startswith("Small"):
            body["officials"] = list(dict.fromkeys(o["name"] for o in officials))
            del body["commitments"]  # the small shapes ask for none: code reads them
        if kind in ("DigestDraft", "SmallDigestDraft"):
            body["summary"] = self._summary_of(known, new)
        return json.dumps(body, ensure_ascii=False)

    # --- which article ---------------------------------------------------------------------

    def _recognise(self, given: dict[int, str]) -> _Known | None:
        if not given:
            return None
        best, best_share = None, 0.0
        for slug in self.slugs:
            known = self.known(slug)
            share = sum(t in known.texts for t in given.values()) / len(given)
            if share > best_share:
                best, best_share = known, share
        return best if best_share >= 0.5 else None

    def known(self, slug: str) -> _Known:
        if slug not in self._known:
            article, gold = load(slug, self.count_tokens)
            self._known[slug] = _Known(
                slug=slug,
                gold=gold,
                texts=frozenset(s.text for s in article.sentences),
                numbers={s.number: s.text for s in article.sentences},
                officials=official_drafts(article, gold),
                commitments=commitment_drafts(article, gold),
            )
        return self._known[slug]

    # --- digests and chunks ----------------------------------------------------------------

    def _drafts(
        self, known: _Known | None, given: dict[int, str], new: dict[int, str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The gold drafts first stated in the new sentences, cited by the prompt's numbers."""
        if known is None:
            return [], []
        by_text = {t: n for n, t in given.items()}
        first_new = min(new) if new else 0

        def cited(numbers: list[int], *, anywhere: bool) -> tuple[list[int], bool]:
            """The prompt's numbers of these sentences, and whether this part reports it:
            where any of them is new (a person), or where the first is (a pledge, once)."""
            mapped = [by_text[t] for n in numbers if (t := known.numbers[n]) in by_text]
            if not numbers:  # cites nothing: reported once, by the first part
                return [], first_new == min(given)
            looked_at = mapped if anywhere else [by_text.get(known.numbers[numbers[0]])]
            return mapped[:3], any(n in new for n in looked_at)

        officials = []
        for draft in known.officials:
            numbers, here = cited(draft.sentences, anywhere=True)
            if here:
                title = draft.title
                if title in self.translations:
                    title = f"{self.translations[title]} ({title})"
                officials.append({**draft.model_dump(), "title": title, "sentences": numbers})
        commitments = []
        for pledge in known.commitments:
            numbers, here = cited(pledge.sentences, anywhere=False)
            if here:
                commitments.append({**pledge.model_dump(), "sentences": numbers})
        return officials, commitments

    def _summary_of(self, known: _Known | None, new: dict[int, str]) -> str:
        if known is not None and (event := known.gold.get("facts", {}).get("event")):
            return str(event)[:280]
        return " ".join(t for _, t in sorted(new.items())[:2])[:280] or "Nothing to report."

    def _summary(self, prompt: str) -> dict[str, Any]:
        notes = re.findall(r"^Part \d+: (.*)$", prompt, re.MULTILINE)
        return {
            "summary": " ".join(notes)[:400] or "No notes.",
            "key_points": [n[:120] for n in notes[:5]],
        }

    # --- follow-up questions ---------------------------------------------------------------

    def _answer(self, known: _Known | None, given: dict[int, str], last: str) -> dict[str, Any]:
        unknown = {"answer": "The article does not say.", "stated": False, "sentences": []}
        if known is None:
            return unknown
        found = re.search(r"Question[^:\n]*:\s*(.*)", last)
        question = fold(found.group(1) if found else last)
        expected = next(
            (q for q in known.gold.get("follow_up_questions", []) if fold(q["q"]) == question),
            None,
        )
        if expected is None or expected.get("expect_not_stated"):
            return unknown
        wanted = expected.get("expect") or expected.get("expect_any", [])[:1]
        sentences = [
            n for n, t in sorted(given.items()) if any(mentions(t, w) or w in t for w in wanted)
        ]
        return {"answer": "; ".join(wanted), "stated": True, "sentences": sentences[:3]}


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")
