"""The checks a line of a cross-article answer must pass before a user sees it.

A line stands on a quote of the article it cites: the quote must stand in that article's text
(or be the article's own words that the model copied with a slip), every figure of the claim
must be written in the article, and the claim must touch its quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from bot.core.cleaning import clean
from bot.core.desk.ask_schemas import CrossLine, CrossLineDraft
from bot.core.reading.chunking import Sentence
from bot.core.reading.dates import listed
from bot.core.reading.matching import CJK, aligned, coverage, normalize, words
from bot.core.storage.store import StoredArticle

_MIN_QUOTE_CHARS = 8  # a shorter quote ("the", "2027") proves nothing
_MIN_CJK_QUOTE_CHARS = 4
# A small model copies a sentence with a word slipped ("The project will create" for "The
# expansion will create"): a quote this close to one shown sentence, with every figure it
# holds written there too, is that sentence, which the line then quotes verbatim. Below it, or
# with a figure the sentence does not have ("580 jobs" for "480 jobs"), the line is dropped.
_SNAP_RATIO = 85
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*")
_QUOTE_EDGES = "\"'“”‘’«»「」『』 "


@dataclass
class Passage:
    """The sentences of one article the model is shown, in article order."""

    number: int  # "Article n" in the prompt: what the model cites
    article: StoredArticle
    sentences: list[Sentence] = field(default_factory=list)
    best: list[Sentence] = field(default_factory=list)  # its retrieved sentences, best first

    def line(self, claim: str, quote: str) -> CrossLine:
        """A line of the answer citing this passage's article, with its title and date."""
        article = self.article
        return CrossLine(claim=claim, quote=quote, article_id=article.id, title=article.title,
                         date=listed(article.day, article.date_basis))  # fmt: skip


def quoted_lines(
    passages: Sequence[Passage], per_article: int, limit: int, holds: re.Pattern[str] | None
) -> list[CrossLine]:
    """Lines that are the best sentences themselves, read by code: each shown article's
    ``per_article`` best (of those that match ``holds``, when given: a number of what "how
    many" counts), best articles first, at most ``limit``. For small models, which cite the
    wrong sentence or none (``bench/ask_across.py --ask-small``)."""
    lines = []
    for passage in passages:
        answering = [s for s in passage.best if holds is None or holds.search(s.text)]
        for sentence in answering[:per_article]:
            text = " ".join(sentence.text.split())
            lines.append(passage.line(text, text))
    return lines[:limit]


def check_lines(
    drafts: Sequence[CrossLineDraft], passages: Sequence[Passage]
) -> tuple[list[CrossLine], int]:
    """The lines whose quote is in the cited article, with that article's title and date; and
    how many were dropped (a quote not there, an article not shown, a claim its quote does not
    touch)."""
    shown = {p.number: p for p in passages}
    kept: list[CrossLine] = []
    seen: set[tuple[int, str]] = set()
    dropped = 0
    for draft in drafts:
        passage = shown.get(draft.article)
        claim = " ".join(clean(draft.claim).split())
        quote = " ".join(clean(draft.quote).split()).strip(_QUOTE_EDGES)
        if passage is not None and not quoted_in(quote, passage.article.text):
            quote = shown_sentence(quote, passage) or quote
        if passage is None or not claim or not quoted_in(quote, passage.article.text):
            dropped += 1
            continue
        article = passage.article
        if not _has_figures(claim, quote):
            # A figure is what a reader checks: the quote shown must write the claim's. When
            # the model cited the wrong sentence, the shown sentence of that article that
            # writes them all (and most of the claim's words) is the line's evidence instead.
            quote = figure_sentence(claim, passage) or ""
            if not quote:
                dropped += 1  # a figure no shown sentence of the cited article writes
                continue
        if not CJK.search(quote) and words(claim) and coverage(claim, quote) == 0:
            dropped += 1  # a real sentence cited for a claim it does not touch
            continue
        key = (article.id, normalize(quote))
        if key in seen:
            continue
        seen.add(key)
        kept.append(passage.line(claim, quote))
    return kept, dropped


def _has_figures(claim: str, quote: str) -> bool:
    """True if the quote writes every figure of the claim ("1,150", "2029", "1.2")."""
    return all(
        re.search(rf"(?<![\d.,]){re.escape(figure)}(?![\d]|[.,]\d)", quote)
        for figure in _FIGURE.findall(claim)
    )


def figure_sentence(claim: str, passage: Passage) -> str | None:
    """The shown sentence of the cited article that writes every figure of the claim, the one
    sharing most of its words; None when none does."""
    holding = [s.text for s in passage.sentences if _has_figures(claim, s.text)]
    return max(holding, key=lambda text: coverage(claim, text), default=None)


def shown_sentence(quote: str, passage: Passage) -> str | None:
    """The words of a shown sentence that a quote copies with a slip, if one is that close
    (``_SNAP_RATIO``): the whole sentence, or the part of it the quote aligns with, to whole
    words. Offsets hold because ``aligned`` folds case and accents without changing length."""
    wanted = aligned(quote)
    best: tuple[float, str, int, int] | None = None
    for sentence in passage.sentences:
        text = aligned(sentence.text)
        if len(wanted) >= len(text):
            score, start, end = fuzz.ratio(wanted, text), 0, len(text)
        else:
            found = fuzz.partial_ratio_alignment(wanted, text)
            if found is None:
                continue
            score, start, end = found.score, found.dest_start, found.dest_end
        if best is None or score > best[0]:
            best = (score, sentence.text, start, end)
    if best is None or best[0] < _SNAP_RATIO:
        return None
    _, text, start, end = best
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    snapped = text[start:end].strip().rstrip(",;:")
    if not set(_FIGURE.findall(quote)) <= set(_FIGURE.findall(snapped)):
        return None
    return snapped


def quoted_in(quote: str, text: str) -> bool:
    """True if the quote stands in the text (normalised); pieces joined by "…" each do, in
    order. A quote too short to prove anything is not one."""
    pieces = [normalize(p) for p in _ELLIPSIS.split(quote)]
    pieces = [p for p in pieces if p]
    if not pieces:
        return False
    longest = max(pieces, key=len)
    if len(longest) < (_MIN_CJK_QUOTE_CHARS if CJK.search(longest) else _MIN_QUOTE_CHARS):
        return False
    haystack = normalize(text)
    at = 0
    for piece in pieces:
        found = haystack.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True
