"""Split an article into numbered sentences and pack them into token-bounded chunks.

Sentences are the unit of evidence: the model cites sentence numbers and the code pulls the
exact words back out of the article, so every sentence keeps its character span. Packing
keeps chunks within the token budget, balances their sizes (parallel calls finish together),
prefers paragraph ends, and repeats a little of the previous chunk as context.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CountTokens = Callable[[str], int]

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "co",
        "ltd",
        "inc",
        "corp",
        "jr",
        "sr",
        "no",
        "vs",
        "etc",
        "gov",
        "sen",
        "rep",
        "gen",
        "col",
        "lt",
        "capt",
        "sgt",
        "dept",
        "univ",
        "assn",
        "bros",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "fig",
        "e.g",
        "i.e",
        "approx",
    ]
)
# A sentence ends at . ! ? … (plus closing quotes or brackets) followed by white space,
# or right after CJK full-width end marks, which are not followed by spaces.
_SENTENCE_END = re.compile(r"""(?:[.!?…]+["'”’)\]」』»]*(?=\s)|[。！？]+["'”’)\]」』»]*)""")
_CLAUSE_BREAK = re.compile(r"[,;:，；、：]\s*")
_PARAGRAPH = re.compile(r"[^\n]+")


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

    def __init__(self, text: str, count_tokens: CountTokens, max_sentence_tokens: int) -> None:
        self.text = text
        self.count_tokens = count_tokens
        self.sentences = _segment(text, count_tokens, max_sentence_tokens)
        self.tokens = count_tokens(text)
        self._by_number = {s.number: s for s in self.sentences}

    def sentence(self, number: int) -> Sentence | None:
        return self._by_number.get(number)

    def rendered_tokens(self) -> int:
        return sum(_rendered_cost(s, self.count_tokens) for s in self.sentences)

    def chunks(self, budget: int, overlap_tokens: int) -> list[Chunk]:
        return pack(self.sentences, self.count_tokens, budget, overlap_tokens)


def _segment(text: str, count: CountTokens, max_tokens: int) -> list[Sentence]:
    sentences: list[Sentence] = []
    for paragraph, line in enumerate(_PARAGRAPH.finditer(text)):
        for start, end in _sentence_spans(line.group(), line.start()):
            piece = text[start:end]
            for s, e in _split_long(piece, start, count, max_tokens):
                body = text[s:e]
                sentences.append(Sentence(len(sentences) + 1, s, e, paragraph, body, count(body)))
    return sentences


def _sentence_spans(line: str, offset: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        end = match.end()
        if _is_abbreviation(line, match.start()):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(line)))
    result = []
    for s, e in spans:
        # Trim surrounding white space so each span is exactly the sentence's words.
        chunk = line[s:e]
        left = len(chunk) - len(chunk.lstrip())
        right = len(chunk.rstrip())
        if right > left:
            result.append((offset + s + left, offset + s + right))
    return result


def _is_abbreviation(line: str, dot_index: int) -> bool:
    if line[dot_index] != ".":
        return False
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", line[:dot_index])
    if word is None:
        return False
    token = word.group(1).lower()
    return token in _ABBREVIATIONS or len(token) == 1


def _split_long(
    piece: str, offset: int, count: CountTokens, max_tokens: int
) -> list[tuple[int, int]]:
    """Cut a sentence that alone would overflow a chunk: at clauses first, then by size."""
    if count(piece) <= max_tokens:
        return [(offset, offset + len(piece))]
    cuts = [m.end() for m in _CLAUSE_BREAK.finditer(piece)]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(piece):
        end = _longest_fit(piece, start, cuts, count, max_tokens)
        spans.append((start, end))
        start = end
        while start < len(piece) and piece[start].isspace():
            start += 1
    return [(offset + s, offset + len(piece[:e].rstrip())) for s, e in spans]


def _longest_fit(
    piece: str, start: int, cuts: list[int], count: CountTokens, max_tokens: int
) -> int:
    fitting = [c for c in cuts if c > start and count(piece[start:c]) <= max_tokens]
    if fitting:
        return fitting[-1] if count(piece[start:]) > max_tokens else len(piece)
    if count(piece[start:]) <= max_tokens:
        return len(piece)
    # No clause fits: binary-search the longest prefix by characters (CJK has no spaces).
    low, high = start + 1, len(piece)
    while low < high:
        middle = (low + high + 1) // 2
        if count(piece[start:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    space = piece.rfind(" ", start + 1, low)
    return space if space > start + (low - start) // 2 else low


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
