"""The digest pipeline: at most two LLM round trips on the critical path.

An article that fits one chunk is digested in one call. A longer one is read chunk by chunk
concurrently (bounded), the chunk results are merged and grounded in code, and one final call
writes the summary from the notes. A chunk whose output is cut off or whose prompt is too
long is split in half and read again; cut JSON is never used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.chunking import Chunk, CountTokens, NumberedArticle, Sentence, render_sentences
from bot.core.grounding import Grounder
from bot.core.llm import LLM, ChatMessage, Completion, ContextTooLong, OutputTruncated, Usage
from bot.core.merging import (
    canonical_name,
    dedupe_commitments,
    merge_commitment_drafts,
    merge_official_drafts,
)
from bot.core.prompts import PromptLibrary
from bot.core.schemas import (
    ChunkExtraction,
    CitedCommitment,
    CitedOfficial,
    Commitment,
    CompactChunkExtraction,
    CompactDigestDraft,
    Digest,
    DigestDraft,
    DigestStats,
    Official,
    SummaryDraft,
)
from bot.core.store import Store, article_hash

# A compact answer is a few hundred tokens; more means a small model is looping.
COMPACT_MAX_TOKENS = 1024


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
    compact: bool = False  # small models: names and sentence numbers; titles read by code


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
        style = "compact" if self.config.compact else "full"
        return f"{self.prompts.version}:{self.config.chunk_tokens}:{style}"

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
        compact = self.config.compact
        messages = self._messages(
            render_sentences(chunk.sentences), "digest_compact" if compact else "digest"
        )
        try:
            if compact:
                brief = await self.llm.structured(
                    messages, CompactDigestDraft, max_tokens=COMPACT_MAX_TOKENS
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

        readings = await asyncio.gather(*(read(c) for c in chunks))
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
        final = await self.llm.structured(
            [self._system(), {"role": "user", "content": summarize}], SummaryDraft
        )
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
            "extract_compact" if self.config.compact else "extract_chunk",
            part=chunk.index + 1,
            parts=parts,
            context_note=note,
        )
        try:
            async with limit:
                if self.config.compact:
                    brief = await self.llm.structured(
                        messages, CompactChunkExtraction, max_tokens=COMPACT_MAX_TOKENS
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
        first, second = await asyncio.gather(
            *(self._read_chunk(h, parts, limit, splits_left) for h in halves)
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
        grounder = Grounder(article)
        merged = merge_official_drafts(official_drafts)
        merged += grounder.listed_people(d.name for d in merged)
        names = [d.name for d in merged]
        officials = [o for d in merged if (o := grounder.official(d, names)) is not None]
        officials.sort(key=lambda o: o.sentences[0] if o.sentences else 0)
        full_names = [o.name for o in officials]
        if self.config.compact:  # a small model misses most pledges: read the plain ones too
            commitment_drafts = [*commitment_drafts, *grounder.stated_pledges()]
        commitments = []
        for draft in merge_commitment_drafts(commitment_drafts):
            draft = draft.model_copy(update={"actor": canonical_name(draft.actor, full_names)})
            if (grounded := grounder.commitment(draft)) is not None:
                commitments.append(grounded)
        return officials, dedupe_commitments(commitments), grounder


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
