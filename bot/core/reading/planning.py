"""How to cut an article for the model: how many chunks, and how big.

The plan follows from the article, the model's context and output limits and how many calls
may run at once, never from a fixed size:

- a chunk's prompt plus its answer must fit the context, and the answer must fit the output
  limit (an extraction grows with the text read: up to about ``output_share`` of it);
- every call repeats the system prompt and the task, so a chunk is at least
  ``MIN_CHUNK_OVERHEADS`` times that repeated part (the repetition then costs a few percent);
- there are never more chunks than calls allowed at once while they fit: more would run in
  waves, one more round trip each;
- ``cap`` (``BOT_CHUNK_TOKENS``) bounds a chunk for models that read small pieces better.

An article that fits one call is one call. Sizes are in rendered tokens (the numbered form
the model reads), as ``chunking.pack`` counts them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.reading.chunking import Chunk, NumberedArticle

# A chunk is at least this many times the prompt every call repeats (system, task, framing).
MIN_CHUNK_OVERHEADS = 25
# Share of a chunk's tokens its extraction may take, for a full and a small (names only) model.
FULL_OUTPUT_SHARE = 0.5
SMALL_OUTPUT_SHARE = 0.3
# Below this a chunk is not worth a call of its own, whatever the limits say.
MIN_CHUNK_TOKENS = 200


@dataclass(frozen=True)
class Limits:
    """What bounds one chunk: the model's window and answer size, and the calls at once."""

    context_tokens: int
    output_tokens: int
    concurrency: int
    call_overhead: int  # prompt tokens every chunk call repeats
    output_share: float = FULL_OUTPUT_SHARE
    overlap_tokens: int = 0
    cap: int | None = None  # BOT_CHUNK_TOKENS, if set
    max_sentence_tokens: int = 400

    @property
    def largest_chunk(self) -> int:
        """The most article tokens one call can take with its answer still fitting."""
        # The chunk, the prompt around it and the answer it may get share the context.
        by_context = int((self.context_tokens - self.call_overhead) / (1 + self.output_share))
        by_output = int(self.output_tokens / self.output_share)
        largest = min(by_context, by_output)
        if self.cap is not None:
            largest = min(largest, self.cap)
        return max(largest, MIN_CHUNK_TOKENS)

    @property
    def preferred_chunk(self) -> int:
        """The smallest chunk worth its repeated prompt."""
        return max(self.call_overhead * MIN_CHUNK_OVERHEADS, MIN_CHUNK_TOKENS)


@dataclass(frozen=True)
class Plan:
    chunks: int  # how many chunks are wanted (1: the whole article in one call)
    budget: int  # the packing budget per chunk, in rendered tokens
    largest: int  # the largest chunk the limits allow

    @property
    def single(self) -> bool:
        return self.chunks == 1


def plan(article_tokens: int, limits: Limits) -> Plan:
    """How many chunks an article of ``article_tokens`` rendered tokens is read in."""
    largest = limits.largest_chunk
    fewest = max(1, math.ceil(article_tokens / largest))  # what the limits force
    wanted = max(1, math.ceil(article_tokens / limits.preferred_chunk))
    count = max(fewest, min(wanted, max(1, limits.concurrency)))
    if count == 1:
        return Plan(1, largest, largest)
    # Room for the overlap and for cuts at sentence ends, so packing does not add a chunk.
    share = math.ceil(article_tokens / count)
    budget = min(largest, share + limits.overlap_tokens + limits.max_sentence_tokens)
    return Plan(count, max(budget, MIN_CHUNK_TOKENS), largest)


def cut(article: NumberedArticle, limits: Limits) -> list[Chunk]:
    """The article's chunks under ``limits``: one for a short article, else at most the
    planned count (more only if the limits force it)."""
    planned = plan(article.rendered_tokens(), limits)
    if planned.single:
        return article.chunks(planned.largest, limits.overlap_tokens)
    budget = planned.budget
    while True:
        chunks = article.chunks(budget, limits.overlap_tokens)
        if len(chunks) <= planned.chunks or budget >= planned.largest:
            return chunks
        budget = min(planned.largest, math.ceil(budget * 1.1))


def critical_path(calls: Iterable[tuple[float, float, int]]) -> int:
    """Sequential calls on the longest chain of (start, end, calls) intervals, where each
    interval starts after the one before it ended: the round trips a user waited for."""
    ordered = sorted(calls)
    depth: list[int] = []
    for index, (start, _end, weight) in enumerate(ordered):
        before = [depth[i] for i in range(index) if ordered[i][1] <= start]
        depth.append(weight + max(before, default=0))
    return max(depth, default=0)
