"""Split an article into numbered sentences and pack them into token-bounded chunks.

Sentences are the unit of evidence: the model cites sentence numbers and the code pulls the
exact words back out of the article, so every sentence keeps its character span. Packing
keeps chunks within the token budget, balances their sizes (parallel calls finish together),
prefers paragraph ends, and repeats a little of the previous chunk as context.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syntok import segmenter as syntok_segmenter  # type: ignore[import-untyped]

from bot.core.reading import sentence_process
from bot.core.reading.script import (
    CJK_SENTENCE_END,
    CJK_SENTENCE_ENDS,
    Script,
    clause_marks,
    script_of,
)

CountTokens = Callable[[str], int]

# From this size (about 15k tokens) a helper process splits part of the article: below it,
# sending the text there costs more than it saves.
PARALLEL_CHARS = 60_000
# The part of the text this process splits itself: it also counts every sentence's tokens
# afterwards, and the helper's answer has to travel back.
HELPER_SHARE = 0.55

_PARAGRAPH = re.compile(r"[^\n]+")
_SPACES = re.compile(r"\s*")
# Words that are never the last of a sentence: honorifics, titles and initials go with the
# name after them ("Gov. Maria", "Smt. Iyer", "J. Tomas").
_NEVER_LAST = re.compile(
    r"(?:^|[\s(\[\"'“‘])(?:mr|mrs|ms|messrs|dr|prof|gov|lt|sen|sens|rep|reps|gen|col|capt|sgt|"
    r"cpl|adm|cmdr|hon|rt|cllr|smt|shri|sri|st|mt|ft|approx|dept|univ|assn|[a-z])\.$",
    re.IGNORECASE,
)
# Cut only before a word that can start a sentence; a time or date runs on into a weekday,
# month or time zone ("10 a.m. Tuesday", "Jan. 30").
_RUNS_ON = re.compile(
    r"(?:\d|(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"oct|nov|dec)[a-z]*\b|(?:[ecmp][sd]?t|gmt|utc|ist|cet)\b)",
    re.IGNORECASE,
)
# Words with a stop that run on into the date or number after them: times, months, "No. 5",
# and currencies written short before their sum ("Rs. 46 million", "Re. 1", "Tk. 500",
# "Sh. 20,000").
_DATE_WORD = re.compile(
    r"\b(?:a\.m|p\.m|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|no|nos|art|fig|vol|pp|"
    r"rs|re|tk|sh|ksh)\.$",
    re.IGNORECASE,
)
# syntok runs a sentence that ends on a decimal sum into the next ("an average of $26.10.
# Corvane will"): a stop after one, before a capital, ends the sentence.
_DECIMAL_END = re.compile(r"\d\.\d+\.\s+(?=[\"“‘(]?[A-Z])")


@dataclass(frozen=True)
class Sentence:
    """One sentence (or piece of an over-long one), with its place in the article."""

    number: int
    start: int
    end: int
    paragraph: int
    text: str
    tokens: int


@dataclass(frozen=True)
class Chunk:
    """Consecutive sentences sent to the model together; the first ``overlap`` are context."""

    index: int
    sentences: tuple[Sentence, ...]
    overlap: int
    tokens: int

    @property
    def new_sentences(self) -> tuple[Sentence, ...]:
        return self.sentences[self.overlap :]


def render_sentences(sentences: Sequence[Sentence]) -> str:
    """The numbered form the model reads: one sentence a line, blank line between paragraphs."""
    lines: list[str] = []
    previous: int | None = None
    for sentence in sentences:
        if previous is not None and sentence.paragraph != previous:
            lines.append("")
        lines.append(f"[{sentence.number}] {sentence.text}")
        previous = sentence.paragraph
    return "\n".join(lines)


class NumberedArticle:
    """An article with numbered sentences; the single source of truth for quotes."""

    def __init__(
        self,
        text: str,
        count_tokens: CountTokens,
        max_sentence_tokens: int,
        tokens: int | None = None,
    ) -> None:
        """``tokens``: the text's count when the caller has it already (it is not recounted)."""
        self.text = text
        self.count_tokens = count_tokens
        self.tokens = count_tokens(text) if tokens is None else tokens
        self.sentences = _segment(text, count_tokens, max_sentence_tokens)
        self._by_number = {s.number: s for s in self.sentences}

    def sentence(self, number: int) -> Sentence | None:
        return self._by_number.get(number)

    def rendered_tokens(self) -> int:
        return sum(_rendered_cost(s, self.count_tokens) for s in self.sentences)

    def chunks(self, budget: int, overlap_tokens: int) -> list[Chunk]:
        return pack(self.sentences, self.count_tokens, budget, overlap_tokens)


def _segment(text: str, count: CountTokens, max_tokens: int) -> list[Sentence]:
    sentences: list[Sentence] = []
    lines = [(m.group(), m.start()) for m in _PARAGRAPH.finditer(text)]
    for paragraph, spans in enumerate(_spans_of_all(lines, len(text))):
        for start, end in spans:
            piece = text[start:end]
            tokens = count(piece)
            if tokens <= max_tokens:  # the common case: counted once
                number = len(sentences) + 1
                sentences.append(Sentence(number, start, end, paragraph, piece, tokens))
                continue
            for s, e in _split_long(piece, start, count, max_tokens):
                body = text[s:e]
                sentences.append(Sentence(len(sentences) + 1, s, e, paragraph, body, count(body)))
    return sentences


def _spans_of_all(lines: list[tuple[str, int]], size: int) -> list[list[tuple[int, int]]]:
    """Sentence spans of every paragraph; a long article's second half on a second CPU."""
    if size < PARALLEL_CHARS:
        return _spans_of(lines)
    half, seen = len(lines), 0
    for index, (line, _) in enumerate(lines):
        seen += len(line)
        if seen >= size * HELPER_SHARE:
            half = index + 1
            break
    return sentence_process.map_halves(_spans_of, lines[:half], lines[half:])


def _spans_of(lines: Sequence[tuple[str, int]]) -> list[list[tuple[int, int]]]:
    return [sentence_spans(line, offset) for line, offset in lines]


def sentence_spans(line: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of one paragraph (``offset`` added): CJK end marks where the paragraph
    is written so, syntok for the rest; the one sentence splitter of reading."""
    cuts = _cjk_cuts(line) if _is_cjk(line) else _latin_cuts(line)
    bounds = [0, *cuts, len(line)]
    result = []
    for s, e in itertools.pairwise(bounds):
        # Trim surrounding white space so each span is exactly the sentence's words.
        chunk = line[s:e]
        left = len(chunk) - len(chunk.lstrip())
        right = len(chunk.rstrip())
        if right > left:
            result.append((offset + s + left, offset + s + right))
    return result


def _is_cjk(line: str) -> bool:
    """CJK end marks, or CJK script: the text does not use '. ' between sentences."""
    return any(mark in line for mark in CJK_SENTENCE_ENDS) or script_of(line) is Script.CJK


def _cjk_cuts(line: str) -> list[int]:
    return [m.end() for m in CJK_SENTENCE_END.finditer(line) if m.end() < len(line)]


def _latin_cuts(line: str) -> list[int]:
    """syntok's sentence starts, minus those that follow a word no sentence ends with."""
    starts = [
        sentence[0].offset
        for paragraph in syntok_segmenter.analyze(line)
        for sentence in paragraph
        if sentence
    ][1:]
    starts = sorted({*starts, *(m.end() for m in _DECIMAL_END.finditer(line))})
    return [cut for cut in starts if not _runs_on(line, cut)]


def _runs_on(line: str, cut: int) -> bool:
    before = line[:cut].rstrip()
    after = line[cut:].lstrip()
    if before.endswith(";") or _NEVER_LAST.search(before[-12:]):
        return True  # syntok ends sentences at semicolons (and so inside "&amp;")
    if after[:1].islower():
        return True
    return bool(_DATE_WORD.search(before[-6:]) and _RUNS_ON.match(after[:12]))


def _split_long(
    piece: str, offset: int, count: CountTokens, max_tokens: int
) -> list[tuple[int, int]]:
    """Cut a sentence that alone would overflow a chunk: at clauses first, then by size.

    Each clause is counted once and clauses are packed greedily, so the work grows linearly
    with the sentence (a 4,000-clause list took minutes when every prefix was counted).
    """
    if count(piece) <= max_tokens:
        return [(offset, offset + len(piece))]
    # A clause keeps its mark and the space after it.
    cuts = (_past_spaces(piece, at + 1) for at in clause_marks(piece))
    bounds = [0, *(cut for cut in cuts if cut < len(piece))]
    clauses = list(itertools.pairwise([*dict.fromkeys(bounds), len(piece)]))
    costs = [count(piece[s:e]) for s, e in clauses]
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(clauses):
        if costs[index] > max_tokens:
            spans += _split_by_size(piece, *clauses[index], count, max_tokens)
            index += 1
            continue
        end, used = index, 0
        while end < len(clauses) and used + costs[end] <= max_tokens:
            used += costs[end]
            end += 1
        # Token counts are not quite additive across a cut: check the joined span once.
        while (
            end - 1 > index and count(piece[clauses[index][0] : clauses[end - 1][1]]) > max_tokens
        ):
            end -= 1
        spans.append((clauses[index][0], clauses[end - 1][1]))
        index = end
    return [
        (offset + s + len(text) - len(text.lstrip()), offset + s + len(text.rstrip()))
        for s, e in spans
        if (text := piece[s:e]).strip()
    ]


def _past_spaces(text: str, at: int) -> int:
    found = _SPACES.match(text, at)
    return found.end() if found else at


def _split_by_size(
    piece: str, start: int, stop: int, count: CountTokens, max_tokens: int
) -> list[tuple[int, int]]:
    """Longest prefixes that fit, found by binary search over a window of bounded size."""
    spans = []
    while start < stop:
        # Grow a window from a guess of 4 characters a token until it overflows, then search
        # inside it: every count stays near the piece's own size, so the work is linear.
        low, high = start + 1, min(stop, start + max_tokens * 4)
        while high < stop and count(piece[start:high]) <= max_tokens:
            low, high = high, min(stop, start + (high - start) * 2)
        if count(piece[start:high]) <= max_tokens:
            spans.append((start, high))
            start = high
            continue
        while low < high:
            middle = (low + high + 1) // 2
            if count(piece[start:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        space = piece.rfind(" ", start + 1, low)
        low = space if space > start + (low - start) // 2 else low
        spans.append((start, low))
        start = low
    return spans


def _rendered_cost(sentence: Sentence, count: CountTokens) -> int:
    # "[n] " marker plus the newline that ends the line.
    return sentence.tokens + count(f"[{sentence.number}] ") + 1


def pack(
    sentences: Sequence[Sentence], count: CountTokens, budget: int, overlap_tokens: int
) -> list[Chunk]:
    """Greedy packing towards an even target size, never above ``budget``."""
    if not sentences:
        return []
    costs = [_rendered_cost(s, count) for s in sentences]
    total = sum(costs)
    if total <= budget:
        return [Chunk(0, tuple(sentences), 0, total)]
    usable = max(budget - overlap_tokens, budget // 2)
    chunks: list[Chunk] = []
    index = 0
    while index < len(sentences):
        # Re-aim at every chunk so sizes stay even and no extra chunk is created.
        remaining = sum(costs[index:])
        chunks_left = math.ceil(remaining / usable)
        target = math.ceil(remaining / chunks_left)
        context = _overlap(sentences, costs, index, overlap_tokens) if chunks else 0
        used = sum(costs[index - context : index])
        end = index
        while end < len(sentences) and used + costs[end] <= budget:
            if end > index and used + costs[end] > target + overlap_tokens:
                break
            used += costs[end]
            end += 1
        if end == index:  # a single sentence above budget cannot happen after _split_long
            end += 1
        end = _prefer_paragraph_end(sentences, costs, index, end, target, usable, chunks_left)
        members = tuple(sentences[index - context : end])
        chunks.append(Chunk(len(chunks), members, context, sum(costs[index - context : end])))
        index = end
    return chunks


def _overlap(sentences: Sequence[Sentence], costs: list[int], index: int, limit: int) -> int:
    taken, used = 0, 0
    while taken < index and used + costs[index - taken - 1] <= limit:
        used += costs[index - taken - 1]
        taken += 1
    return taken


def _prefer_paragraph_end(
    sentences: Sequence[Sentence],
    costs: list[int],
    start: int,
    end: int,
    target: int,
    usable: int,
    chunks_left: int,
) -> int:
    """Move the cut back to a paragraph end if the chunk stays 3/4 full and none is added."""
    if end >= len(sentences) or sentences[end].paragraph != sentences[end - 1].paragraph:
        return end
    size = sum(costs[start:end])
    rest = sum(costs[end:])
    for cut in range(end - 1, start, -1):
        size -= costs[cut]
        rest += costs[cut]
        if size < target * 3 // 4 or math.ceil(rest / usable) > chunks_left - 1:
            break
        if sentences[cut].paragraph != sentences[cut - 1].paragraph:
            return cut
    return end
