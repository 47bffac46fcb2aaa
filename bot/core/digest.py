"""The digest pipeline: at most two LLM round trips on the critical path.

An article that fits one chunk is digested in one call. A longer one is read chunk by chunk
concurrently (bounded), the chunk results are merged and grounded in code, and one final call
writes the summary from the notes. A chunk whose output is cut off or whose prompt is too
long is split in half and read again; cut JSON is never used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.core.chunking import Chunk, CountTokens, NumberedArticle, Sentence, render_sentences
from bot.core.fingerprint import code_fingerprint
from bot.core.grounding import Grounder, ground_drafts
from bot.core.llm import (
    LLM,
    ChatMessage,
    Completion,
    ContextTooLong,
    LLMError,
    OutputTruncated,
    Usage,
)
from bot.core.prompts import PromptLibrary
from bot.core.schemas import (
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
    schema_version,
)
from bot.core.store import Store, article_hash

# A small model's answer is a few hundred tokens; more means it is looping.
SMALL_MAX_TOKENS = 1024


class ArticleError(ValueError):
    """The text cannot be digested as given (empty, too long); the message says why."""


@dataclass(frozen=True)
class Progress:
    """A step of a running digest, for a status line: ``stage`` is reading or summarizing."""

    stage: str
    done: int
    total: int


OnProgress = Callable[[Progress], Awaitable[None]]


@dataclass(frozen=True)
class DigestConfig:
    chunk_tokens: int = 3000
    chunk_overlap_tokens: int = 80
    max_article_tokens: int = 100_000
    concurrency: int = 8
    max_output_tokens: int = 4096
    max_splits: int = 2
    small_model: bool = False  # names and sentence numbers only; titles read by code


@dataclass
class _Reading:
    """What one chunk yielded, and how many sequential calls it took."""

    extraction: ChunkExtraction
    usage: Usage
    sequential_calls: int


def fence(text: str) -> str:
    """Keep article text from closing the <article> fence it is placed in."""
    return text.replace("</article", "<\u200b/article").replace("<article", "<\u200barticle")


def article_message(prompts: PromptLibrary, numbered_text: str) -> ChatMessage:
    """The article as its own message, byte-identical wherever the same text is sent."""
    return {"role": "user", "content": prompts.render("article", article=fence(numbered_text))}


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

    @property
    def cache_version(self) -> str:
        # Code, prompts and the shapes the model fills all change what a digest holds.
        style = "small" if self.config.small_model else "full"
        return (
            f"{code_fingerprint()}:{self.prompts.version}:{schema_version()}:"
            f"{self.config.chunk_tokens}:{style}"
        )

    def prepare(self, text: str) -> NumberedArticle:
        """Number the article, or say clearly why it cannot be digested."""
        article = NumberedArticle(
            text, self.count_tokens, max_sentence_tokens=min(self.config.chunk_tokens // 2, 400)
        )
        if not article.sentences:
            raise ArticleError("the article is empty")
        if article.tokens > self.config.max_article_tokens:
            raise ArticleError(
                f"the article has {article.tokens:,} tokens; the limit is "
                f"{self.config.max_article_tokens:,} (BOT_MAX_ARTICLE_TOKENS)"
            )
        return article

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
        article = self.prepare(text)
        if use_cache and (hit := self.cached(text)) is not None:
            return hit
        chunks = article.chunks(self.config.chunk_tokens, self.config.chunk_overlap_tokens)
        if len(chunks) == 1:
            digest = await self._single_call(article, chunks[0], on_progress)
        else:
            digest = await self._chunked(article, chunks, on_progress)
        digest.stats.article_tokens = article.tokens
        digest.stats.seconds = round(time.monotonic() - started, 3)
        if self.store is not None:
            self.store.save_digest(article_hash(text), self.llm.model, self.cache_version, digest)
        return digest

    # --- one call ------------------------------------------------------------------------------

    async def _single_call(
        self, article: NumberedArticle, chunk: Chunk, on_progress: OnProgress | None
    ) -> Digest:
        await _report(on_progress, Progress("reading", 0, 1))
        small = self.config.small_model
        messages = self._messages(
            render_sentences(chunk.sentences), "digest_small" if small else "digest"
        )
        try:
            if small:
                brief = await self.llm.structured(
                    messages, SmallDigestDraft, max_tokens=SMALL_MAX_TOKENS
                )
                done = Completion(brief.value.full(), brief.usage)
            else:
                done = await self.llm.structured(messages, DigestDraft)
        except (OutputTruncated, ContextTooLong) as error:
            # Too much for one answer: read it in two or more smaller parts instead.
            smaller = article.chunks(max(chunk.tokens // 2, 200), self.config.chunk_overlap_tokens)
            return await self._chunked(article, smaller, on_progress, spent=error.usage)
        draft = done.value
        officials, commitments, grounder = self._ground(article, draft.officials, draft.commitments)
        return Digest(
            summary=draft.summary.strip(),
            key_points=_clean_points(draft.key_points, 7),
            officials=officials,
            commitments=commitments,
            stats=DigestStats(
                chunks=1,
                llm_calls=done.usage.calls,
                round_trips=done.usage.calls,
                prompt_tokens=done.usage.prompt_tokens,
                completion_tokens=done.usage.completion_tokens,
                dropped_officials=grounder.dropped.officials,
                dropped_commitments=grounder.dropped.commitments,
            ),
        )

    # --- many chunks ---------------------------------------------------------------------------

    async def _chunked(
        self,
        article: NumberedArticle,
        chunks: list[Chunk],
        on_progress: OnProgress | None,
        spent: Usage | None = None,
    ) -> Digest:
        """Read chunks side by side, then summarise; ``spent`` is a failed call made first."""
        limit = asyncio.Semaphore(self.config.concurrency)
        finished = 0
        await _report(on_progress, Progress("reading", 0, len(chunks)))

        async def read(chunk: Chunk) -> _Reading:
            nonlocal finished
            reading = await self._read_chunk(chunk, len(chunks), limit, self.config.max_splits)
            finished += 1
            await _report(on_progress, Progress("reading", finished, len(chunks)))
            return reading

        readings = await _all_or_none([read(c) for c in chunks], spent)
        usage = Usage()
        earlier = spent.calls if spent else 0
        if spent:
            usage.add(spent)
        for reading in readings:
            usage.add(reading.usage)
        officials, commitments, grounder = self._ground(
            article,
            [o for r in readings for o in r.extraction.officials],
            [c for r in readings for c in r.extraction.commitments],
        )
        await _report(on_progress, Progress("summarizing", len(chunks), len(chunks)))
        notes = "\n".join(
            f"Part {i}: " + " ".join(_clean_points(r.extraction.key_points, 5))
            for i, r in enumerate(readings, start=1)
        )
        roster = (
            "\n".join(
                f"- {o.name}: {o.title or 'title not stated'}"
                + (f", {o.organization}" if o.organization else "")
                for o in officials
            )
            or "- none"
        )
        summarize = self.prompts.render(
            "summarize", parts=len(chunks), notes=fence(notes), officials=roster
        )
        try:
            final = await self.llm.structured(
                [self._system(), {"role": "user", "content": summarize}], SummaryDraft
            )
        except LLMError as error:  # the chunks were paid for too
            usage.add(error.usage)
            error.usage = usage
            raise
        usage.add(final.usage)
        return Digest(
            summary=final.value.summary.strip(),
            key_points=_clean_points(final.value.key_points, 7),
            officials=officials,
            commitments=commitments,
            stats=DigestStats(
                chunks=len(chunks),
                llm_calls=usage.calls,
                round_trips=earlier + max(r.sequential_calls for r in readings) + final.usage.calls,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                dropped_officials=grounder.dropped.officials,
                dropped_commitments=grounder.dropped.commitments,
            ),
        )

    async def _read_chunk(
        self, chunk: Chunk, parts: int, limit: asyncio.Semaphore, splits_left: int
    ) -> _Reading:
        context, fresh = chunk.overlap, chunk.new_sentences
        note = _context_note(chunk.sentences[:context], fresh)
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
                    brief = await self.llm.structured(
                        messages, SmallChunkExtraction, max_tokens=SMALL_MAX_TOKENS
                    )
                    done = Completion(brief.value.full(), brief.usage)
                else:
                    done = await self.llm.structured(messages, ChunkExtraction)
        except (OutputTruncated, ContextTooLong) as error:
            if splits_left == 0 or len(fresh) < 2:
                raise
            halves = await self._read_halves(chunk, parts, limit, splits_left - 1)
            if error.usage:
                halves.usage.add(error.usage)
            return halves
        return _Reading(done.value, done.usage, done.usage.calls)

    async def _read_halves(
        self, chunk: Chunk, parts: int, limit: asyncio.Semaphore, splits_left: int
    ) -> _Reading:
        fresh = chunk.new_sentences
        middle = len(fresh) // 2
        halves = [
            Chunk(chunk.index, chunk.sentences[: chunk.overlap + middle], chunk.overlap, 0),
            Chunk(chunk.index, fresh[middle:], 0, 0),
        ]
        first, second = await _all_or_none(
            [self._read_chunk(h, parts, limit, splits_left) for h in halves]
        )
        usage = Usage()
        usage.add(first.usage)
        usage.add(second.usage)
        combined = ChunkExtraction(
            officials=[*first.extraction.officials, *second.extraction.officials],
            commitments=[*first.extraction.commitments, *second.extraction.commitments],
            key_points=[*first.extraction.key_points, *second.extraction.key_points],
        )
        # The failed call came first, then both halves ran side by side.
        steps = 1 + max(first.sequential_calls, second.sequential_calls)
        return _Reading(combined, usage, steps)

    # --- shared --------------------------------------------------------------------------------

    def _system(self) -> ChatMessage:
        return {"role": "system", "content": self.prompts.render("system")}

    def _messages(self, numbered_text: str, task: str, **values: object) -> list[ChatMessage]:
        """System, then the article on its own, then the task: a prefix questions can share."""
        return [
            self._system(),
            article_message(self.prompts, numbered_text),
            {"role": "user", "content": self.prompts.render(task, **values)},
        ]

    def _ground(
        self,
        article: NumberedArticle,
        official_drafts: list[CitedOfficial],
        commitment_drafts: list[CitedCommitment],
    ) -> tuple[list[Official], list[Commitment], Grounder]:
        return ground_drafts(
            article, official_drafts, commitment_drafts, read_pledges=self.config.small_model
        )


async def _all_or_none(
    readings: list[Coroutine[Any, Any, _Reading]], spent: Usage | None = None
) -> list[_Reading]:
    """Run side by side; on the first failure cancel the rest (no unpaid work left running)
    and raise it carrying every token spent so far, ``spent`` included."""
    tasks: list[asyncio.Task[_Reading]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(r) for r in readings]
    except BaseExceptionGroup as failures:
        errors = [e for e in failures.exceptions if isinstance(e, LLMError)]
        if len(errors) != len(failures.exceptions):
            raise
        total = Usage()
        total.add(spent)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                total.add(task.result().usage)
        for error in errors:
            total.add(error.usage)
        errors[0].usage = total
        raise errors[0] from None
    return [task.result() for task in tasks]


def _context_note(context: tuple[Sentence, ...], fresh: tuple[Sentence, ...]) -> str:
    if not fresh:
        return ""
    new = f" Report on sentences [{fresh[0].number}] to [{fresh[-1].number}] (the NEW sentences)."
    if context:
        return new + (
            f" Sentences [{context[0].number}] to [{context[-1].number}] repeat the end of the "
            "previous part for context only."
        )
    return new


def _clean_points(points: list[str], limit: int) -> list[str]:
    unique = dict.fromkeys(" ".join(p.split()) for p in points if p.strip())
    return list(unique)[:limit]


async def _report(on_progress: OnProgress | None, progress: Progress) -> None:
    if on_progress is not None:
        await on_progress(progress)
