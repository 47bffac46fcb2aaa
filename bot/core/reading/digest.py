"""The digest pipeline: at most two LLM round trips on the critical path.

An article that fits one call is digested in one call. A longer one is cut into as many
chunks as the model's limits and the concurrency call for (``bot.core.reading.planning``: no more
than may run at once, so they never run in waves), read side by side, and one final call
writes the summary from the notes while the chunk results are merged and grounded in code.
A chunk whose output is cut off or whose prompt is too long is split in half and read again;
cut JSON is never used. ``stats.round_trips`` is the longest chain of calls that ran one
after another, from their own start and end times.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.errors import ArticleError, ContextTooLong, LLMError, OutputTruncated
from bot.core.models.llm import LLM, ChatMessage, Completion
from bot.core.prompts import PromptLibrary
from bot.core.reading.calls import RoundTripMeter, all_or_none
from bot.core.reading.chunking import Chunk, CountTokens, NumberedArticle, render_sentences
from bot.core.reading.commitments import refine
from bot.core.reading.grounding import Dropped, ground_drafts
from bot.core.reading.key_points import MAX_POINTS, with_article_points
from bot.core.reading.messages import (
    article_message,
    context_note,
    context_note_text,
    fence,
    system_message,
)
from bot.core.reading.planning import FULL_OUTPUT_SHARE, SMALL_OUTPUT_SHARE, Limits, cut
from bot.core.reading.script import not_latin_script
from bot.core.reading.summaries import clean_points, opening, whole_sentences
from bot.core.schemas import (
    SMALL_SUMMARY_CHARS,
    ChunkExtraction,
    CitedCommitment,
    CitedOfficial,
    Commitment,
    Digest,
    DigestDraft,
    DigestStats,
    Official,
    SmallChunkExtraction,
    SmallDigestDraft,
    SummaryDraft,
    Usage,
    schema_version,
)
from bot.core.storage.fingerprint import code_fingerprint
from bot.core.storage.store import Store, article_hash

# not_latin_script (``script``) and system_message (``messages``) stay importable from here.
__all__ = [
    "DigestConfig",
    "DigestEngine",
    "OnProgress",
    "Progress",
    "not_latin_script",
    "system_message",
]

# A small model's answer is a few hundred tokens; more means it is looping.
SMALL_MAX_TOKENS = 1024
# Notes per part passed to the summary call: enough for its 3 to 7 key points.
NOTES_PER_PART = 4
# Seconds the summary request gets to go out before grounding takes the CPU beside it.
SEND_HEAD_START = 0.02
# Articles numbered recently (check, then digest, number the same text once).
_PREPARED_KEEP = 4


@dataclass(frozen=True)
class Progress:
    """A step of a running digest, for a status line: ``stage`` is reading or summarizing."""

    stage: str
    done: int
    total: int


OnProgress = Callable[[Progress], Awaitable[None]]


@dataclass(frozen=True)
class DigestConfig:
    chunk_tokens: int | None = None  # a cap on a chunk; unset: planned from the model
    chunk_overlap_tokens: int = 80
    max_article_tokens: int = 100_000
    concurrency: int = 8
    max_output_tokens: int = 16_384
    max_splits: int = 2
    small_model: bool = False  # names and sentence numbers only; titles read by code
    encoding: str = "o200k_base"  # the tokenizer the chunks are counted with


@dataclass
class _Reading:
    """What one chunk yielded."""

    extraction: ChunkExtraction
    usage: Usage


class DigestEngine:
    """Turns article text into a grounded ``Digest``; pure core, no Telegram."""

    def __init__(
        self,
        llm: LLM,
        prompts: PromptLibrary,
        count_tokens: CountTokens,
        config: DigestConfig,
        store: Store | None = None,
    ) -> None:
        self.llm = llm
        self.prompts = prompts
        self.count_tokens = count_tokens
        self.config = config
        self.store = store
        self._prepared: OrderedDict[tuple[str, int], NumberedArticle] = OrderedDict()
        self._prepared_lock = threading.Lock()
        self._overhead: dict[tuple[bool, str], int] = {}

    @property
    def cache_version(self) -> str:
        # Code, prompts, the shapes the model fills and how the article is cut all change
        # what a digest holds.
        # Built from what decides the chunks (the model's limits and the settings), not from
        # the chunk sizes themselves: those need the tokenizer, which a cache hit never loads.
        style = "small" if self.config.small_model else "full"
        capabilities = self.llm.capabilities
        config = self.config
        return (
            f"{code_fingerprint()}:{self.prompts.version}:{schema_version()}:"
            f"{capabilities.context_tokens}:{capabilities.output_tokens}:{config.chunk_tokens}:"
            f"{config.chunk_overlap_tokens}:{config.concurrency}:{config.max_output_tokens}:"
            f"{config.encoding}:{style}"
        )

    def limits(self) -> Limits:
        """What bounds a chunk: the model's context and output limits, the concurrency, the cap."""
        capabilities = self.llm.capabilities
        small = self.config.small_model
        output = (
            SMALL_MAX_TOKENS
            if small
            else min(capabilities.output_tokens, self.config.max_output_tokens)
        )
        return Limits(
            context_tokens=capabilities.context_tokens,
            output_tokens=output,
            concurrency=self.config.concurrency,
            call_overhead=self.call_overhead(),
            output_share=SMALL_OUTPUT_SHARE if small else FULL_OUTPUT_SHARE,
            overlap_tokens=self.config.chunk_overlap_tokens,
            cap=self.config.chunk_tokens,
            max_sentence_tokens=self._max_sentence_tokens,
        )

    def call_overhead(self) -> int:
        """Prompt tokens every chunk call repeats: system, article framing, task, messages."""
        key = (self.config.small_model, self.prompts.version)
        if key not in self._overhead:
            task = "extract_small" if self.config.small_model else "extract_chunk"
            note = context_note_text(100, 199, 98, 99)
            parts = [
                system_message(self.prompts, "文")["content"],  # the longer one
                self.prompts.render("article", article=""),
                self.prompts.render(task, part=1, parts=8, context_note=note),
            ]
            self._overhead[key] = sum(self.count_tokens(p) + 4 for p in parts)
        return self._overhead[key]

    @property
    def _max_sentence_tokens(self) -> int:
        cap = self.config.chunk_tokens
        return min(cap // 2, 400) if cap else 400

    def prepare(self, text: str) -> NumberedArticle:
        """Number the article, or say clearly why it cannot be digested."""
        key = (article_hash(text), self._max_sentence_tokens)
        with self._prepared_lock:
            article = self._prepared.get(key)
        if article is None:
            # Counted before numbering: a text far over the limit (10 MB of one word) is
            # refused in the time of one count, not after every sentence is cut and counted.
            tokens = self.count_tokens(text)
            self._check_size(tokens)
            article = NumberedArticle(
                text, self.count_tokens, self._max_sentence_tokens, tokens=tokens
            )
            with self._prepared_lock:
                self._prepared[key] = article
                while len(self._prepared) > _PREPARED_KEEP:
                    self._prepared.popitem(last=False)
        if not article.sentences:
            raise ArticleError("the article is empty")
        self._check_size(article.tokens)
        return article

    def _check_size(self, tokens: int) -> None:
        if tokens > self.config.max_article_tokens:
            raise ArticleError(
                f"the article has {tokens:,} tokens; the limit is "
                f"{self.config.max_article_tokens:,} (BOT_MAX_ARTICLE_TOKENS)"
            )

    def cached(self, text: str) -> Digest | None:
        if self.store is None:
            return None
        found = self.store.cached_digest(article_hash(text), self.llm.model, self.cache_version)
        if found is not None:
            found.stats = found.stats.model_copy(
                update={
                    "cached": True,
                    "llm_calls": 0,
                    "round_trips": 0,
                    "seconds": 0.0,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                }
            )
        return found

    async def digest(
        self, text: str, *, on_progress: OnProgress | None = None, use_cache: bool = True
    ) -> Digest:
        started = time.monotonic()
        if use_cache and (hit := self.cached(text)) is not None:
            return hit  # a digested article was accepted when it was digested
        article = self.prepare(text)
        chunks = cut(article, self.limits())
        calls = RoundTripMeter()
        if len(chunks) == 1:
            digest = await self._single_call(article, chunks[0], on_progress, calls)
        else:
            digest = await self._chunked(article, chunks, on_progress, calls)
        digest.stats.article_tokens = article.tokens
        digest.stats.round_trips = calls.round_trips
        digest.stats.seconds = round(time.monotonic() - started, 3)
        if self.store is not None:
            self.store.save_digest(article_hash(text), self.llm.model, self.cache_version, digest)
        return digest

    # --- one call ------------------------------------------------------------------------------

    async def _single_call(
        self,
        article: NumberedArticle,
        chunk: Chunk,
        on_progress: OnProgress | None,
        calls: RoundTripMeter,
    ) -> Digest:
        await _report(on_progress, Progress("reading", 0, 1))
        small = self.config.small_model
        numbered = render_sentences(chunk.sentences)
        if small:  # the opening beside the summary's instruction: what, where, when
            messages = self._messages(numbered, "digest_small", opening=fence(opening(article)))
        else:
            messages = self._messages(numbered, "digest")
        try:
            if small:
                brief = await calls.run(
                    self.llm.structured(messages, SmallDigestDraft, max_tokens=SMALL_MAX_TOKENS)
                )
                done = Completion(brief.value.full(), brief.usage)
            else:
                done = await calls.run(self.llm.structured(messages, DigestDraft))
        except (OutputTruncated, ContextTooLong) as error:
            # Too much for one answer: read it in two or more smaller parts instead.
            smaller = article.chunks(max(chunk.tokens // 2, 200), self.config.chunk_overlap_tokens)
            return await self._chunked(article, smaller, on_progress, calls, spent=error.usage)
        draft = done.value
        officials, commitments, dropped = await asyncio.to_thread(
            self._ground, article, draft.officials, draft.commitments
        )
        return Digest(
            summary=whole_sentences(draft.summary, SMALL_SUMMARY_CHARS if small else None),
            key_points=self._key_points(draft.key_points, article),
            officials=officials,
            commitments=commitments,
            stats=DigestStats(
                chunks=1,
                llm_calls=done.usage.calls,
                round_trips=done.usage.calls,
                prompt_tokens=done.usage.prompt_tokens,
                completion_tokens=done.usage.completion_tokens,
                dropped_officials=dropped.officials,
                dropped_commitments=dropped.commitments,
            ),
        )

    # --- many chunks ---------------------------------------------------------------------------

    async def _chunked(
        self,
        article: NumberedArticle,
        chunks: list[Chunk],
        on_progress: OnProgress | None,
        calls: RoundTripMeter,
        spent: Usage | None = None,
    ) -> Digest:
        """Read chunks side by side, then summarise while the results are grounded;
        ``spent`` is a failed call made first."""
        limit = asyncio.Semaphore(self.config.concurrency)
        finished = 0
        await _report(on_progress, Progress("reading", 0, len(chunks)))

        async def read(chunk: Chunk) -> _Reading:
            nonlocal finished
            reading = await self._read_chunk(
                chunk, len(chunks), limit, self.config.max_splits, calls
            )
            finished += 1
            await _report(on_progress, Progress("reading", finished, len(chunks)))
            return reading

        readings = await all_or_none([read(c) for c in chunks], spent)
        usage = Usage()
        if spent:
            usage.add(spent)
        for reading in readings:
            usage.add(reading.usage)
        await _report(on_progress, Progress("summarizing", len(chunks), len(chunks)))
        # The summary needs only the opening and the notes; grounding runs while it is written.
        notes = "\n".join(
            f"Part {i}: " + " ".join(clean_points(r.extraction.key_points, NOTES_PER_PART))
            for i, r in enumerate(readings, start=1)
        )
        summarize = self.prompts.render(
            "summarize", parts=len(chunks), opening=fence(opening(article)), notes=fence(notes)
        )
        summary = asyncio.ensure_future(
            calls.run(
                self.llm.structured(
                    [
                        system_message(self.prompts, article.text),
                        {"role": "user", "content": summarize},
                    ],
                    SummaryDraft,
                )
            )
        )
        try:
            officials, commitments, dropped = await asyncio.to_thread(
                self._ground_after_send,
                article,
                [o for r in readings for o in r.extraction.officials],
                [c for r in readings for c in r.extraction.commitments],
            )
        except BaseException:
            summary.cancel()
            raise
        try:
            final = await summary
        except LLMError as error:  # the chunks were paid for too
            usage.add(error.usage)
            error.usage = usage
            raise
        usage.add(final.usage)
        return Digest(
            summary=final.value.summary.strip(),
            key_points=self._key_points(final.value.key_points, article),
            officials=officials,
            commitments=commitments,
            stats=DigestStats(
                chunks=len(chunks),
                llm_calls=usage.calls,
                round_trips=calls.round_trips,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                dropped_officials=dropped.officials,
                dropped_commitments=dropped.commitments,
            ),
        )

    async def _read_chunk(
        self,
        chunk: Chunk,
        parts: int,
        limit: asyncio.Semaphore,
        splits_left: int,
        calls: RoundTripMeter,
    ) -> _Reading:
        context, fresh = chunk.overlap, chunk.new_sentences
        note = context_note(chunk.sentences[:context], fresh)
        messages = self._messages(
            render_sentences(chunk.sentences),
            "extract_small" if self.config.small_model else "extract_chunk",
            part=chunk.index + 1,
            parts=parts,
            context_note=note,
        )
        try:
            async with limit:
                if self.config.small_model:
                    brief = await calls.run(
                        self.llm.structured(
                            messages, SmallChunkExtraction, max_tokens=SMALL_MAX_TOKENS
                        )
                    )
                    done = Completion(brief.value.full(), brief.usage)
                else:
                    done = await calls.run(self.llm.structured(messages, ChunkExtraction))
        except (OutputTruncated, ContextTooLong) as error:
            if splits_left == 0 or len(fresh) < 2:
                raise
            halves = await self._read_halves(chunk, parts, limit, splits_left - 1, calls)
            if error.usage:
                halves.usage.add(error.usage)
            return halves
        return _Reading(done.value, done.usage)

    async def _read_halves(
        self,
        chunk: Chunk,
        parts: int,
        limit: asyncio.Semaphore,
        splits_left: int,
        calls: RoundTripMeter,
    ) -> _Reading:
        fresh = chunk.new_sentences
        middle = len(fresh) // 2
        halves = [
            Chunk(chunk.index, chunk.sentences[: chunk.overlap + middle], chunk.overlap, 0),
            Chunk(chunk.index, fresh[middle:], 0, 0),
        ]
        first, second = await all_or_none(
            [self._read_chunk(h, parts, limit, splits_left, calls) for h in halves]
        )
        usage = Usage()
        usage.add(first.usage)
        usage.add(second.usage)
        combined = ChunkExtraction(
            officials=[*first.extraction.officials, *second.extraction.officials],
            commitments=[*first.extraction.commitments, *second.extraction.commitments],
            key_points=[*first.extraction.key_points, *second.extraction.key_points],
        )
        return _Reading(combined, usage)

    # --- shared --------------------------------------------------------------------------------

    def _key_points(self, drafted: list[str], article: NumberedArticle) -> list[str]:
        """The model's points; fewer than three (a small model writes none): the article's."""
        language = str(self.prompts.values.get("language", ""))
        return with_article_points(clean_points(drafted, MAX_POINTS), article, language)

    def _messages(self, numbered_text: str, task: str, **values: object) -> list[ChatMessage]:
        """System, then the article on its own, then the task: a prefix questions can share."""
        return [
            system_message(self.prompts, numbered_text),
            article_message(self.prompts, numbered_text),
            {"role": "user", "content": self.prompts.render(task, **values)},
        ]

    def _ground_after_send(
        self,
        article: NumberedArticle,
        official_drafts: list[CitedOfficial],
        commitment_drafts: list[CitedCommitment],
    ) -> tuple[list[Official], list[Commitment], Dropped]:
        """Ground in a worker thread once the event loop has had a moment to send the summary
        request (this thread would otherwise hold the GIL while the request is being built)."""
        time.sleep(SEND_HEAD_START)
        return self._ground(article, official_drafts, commitment_drafts)

    def _ground(
        self,
        article: NumberedArticle,
        official_drafts: list[CitedOfficial],
        commitment_drafts: list[CitedCommitment],
    ) -> tuple[list[Official], list[Commitment], Dropped]:
        officials, grounded, grounder = ground_drafts(
            article, official_drafts, commitment_drafts, read_commitments=self.config.small_model
        )
        # Commitments only, once each; a small model's text is the article's own clause.
        commitments, not_commitments = refine(article, grounded, own_words=self.config.small_model)
        grounder.dropped.commitments += not_commitments
        return officials, commitments, grounder.dropped


async def _report(on_progress: OnProgress | None, progress: Progress) -> None:
    if on_progress is not None:
        await on_progress(progress)
