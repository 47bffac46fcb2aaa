"""The core's front door: take an article in, digest it, answer questions, count tokens.

Edges (the CLI, the Telegram adapter) build one ``DigestService`` from ``Settings`` and call
it; they never touch prompts, the model or SQL. The openai client is made here, in the
composition root, and handed down; nothing is global. What only some commands use (the openai
package, the local model, the tiktoken encoding, the reading pipeline) is loaded at first use,
so a cached digest or a register lookup (``open_desk``) starts in a fraction of a second.

Two keys run through it and are never one: a ``scope`` says whose articles (a chat's store
and register: what a question or a listing may see), an ``account`` whose tokens (a user's
daily quota: what a digest or an answer is counted against).
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.cleaning import clean, undecodable
from bot.core.desk.ask_schemas import CrossAnswer, CrossLine
from bot.core.desk.brief import Brief, Named
from bot.core.desk.desk import Desk
from bot.core.errors import ArticleError, LLMError, UnreadableText
from bot.core.health import HealthCheck, health_checks
from bot.core.models.encodings import load_encoding, token_counter
from bot.core.models.factory import build_llm
from bot.core.models.llm import LLM
from bot.core.prompts import PromptLibrary
from bot.core.reading.dates import date_line, human, listed, parse_since, read_date
from bot.core.schemas import Answer, AnswerStats, Digest, DigestStats, Usage
from bot.core.settings import Settings
from bot.core.sources import fetch_link, find_link, read_document
from bot.core.sources.base import Source, Submission
from bot.core.storage.copying import copy_sqlite_store
from bot.core.storage.register import RegisteredCommitment, RegisteredOfficial, RegisterHit
from bot.core.storage.store import Store, StoredArticle

if TYPE_CHECKING:
    from bot.core.desk.watch import MAX_WATCH_CHARS, Watched, find_hits, watch_key
    from bot.core.reading.chunking import CountTokens, NumberedArticle
    from bot.core.reading.digest import OnProgress, Progress
    from bot.core.reading.matching import normalize
    from bot.core.sources.download import download, too_large

# The edges import from the core only this module, the settings, the schemas and the errors:
# the shapes the service hands out, the few helpers that read a user's words or render a line.
__all__ = [
    "MAX_WATCH_CHARS",
    "Admission",
    "Brief",
    "CrossAnswer",
    "CrossLine",
    "Desk",
    "DigestService",
    "HealthCheck",
    "Named",
    "Progress",
    "RegisterHit",
    "RegisteredCommitment",
    "RegisteredOfficial",
    "Source",
    "StoredArticle",
    "Submission",
    "Watched",
    "build_llm",
    "clean",
    "copy_sqlite_store",
    "date_line",
    "download",
    "find_hits",
    "find_link",
    "health_checks",
    "human",
    "listed",
    "normalize",
    "open_desk",
    "parse_since",
    "too_large",
    "watch_key",
]

# Loaded at first use (PEP 562): ``digestbot who`` starts without the pipeline or HTTP client.
_LOADED_LATER = {
    "MAX_WATCH_CHARS": "bot.core.desk.watch",
    "Watched": "bot.core.desk.watch",
    "find_hits": "bot.core.desk.watch",
    "watch_key": "bot.core.desk.watch",
    "Progress": "bot.core.reading.digest",
    "normalize": "bot.core.reading.matching",
    "download": "bot.core.sources.download",
    "too_large": "bot.core.sources.download",
}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name not in _LOADED_LATER:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(_LOADED_LATER[name]), name)
        globals()[name] = value
        return value


def readable(text: str, what: str) -> str:
    """``text`` cleaned (``bot.core.cleaning``); UnreadableText when undecodable bytes are all
    it holds, which a model would only be paid to guess at."""
    text = clean(text)
    if undecodable(text):
        raise UnreadableText(f"{what} is not readable: its bytes are not UTF-8 text")
    return text


def make_title(text: str, limit: int = 80) -> str:
    """The first line, cut at a word with "…" when long (CJK, with no spaces, at the limit)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "untitled")
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-—") + "…"


class _LazyCounter:
    """Counts tokens; loads the encoding (about half a second) at the first count."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._encode: CountTokens | None = None
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        if self._encode is None:
            with self._lock:  # digests number articles in worker threads
                if self._encode is None:
                    settings = self._settings
                    encoding = load_encoding(settings.encoding, settings.tiktoken_cache_dir)
                    self._encode = token_counter(encoding)
        return self._encode(text)


def open_desk(settings: Settings) -> Desk:
    """The register's desk on its own store, for the commands that only read the register:
    no model is needed or loaded. ``close()`` it when done."""
    return Desk(settings.open_store())


def _usage(stats: DigestStats | AnswerStats) -> Usage:
    return Usage(stats.llm_calls, stats.prompt_tokens, stats.completion_tokens)


@dataclass(frozen=True)
class Admission:
    """What the intake made of an article read: the stored article (None when nothing was
    kept), its tokens (the digest's cost is estimated from them), or why it cannot be
    digested, so an edge decides what to say from one answer."""

    article: StoredArticle | None
    tokens: int = 0
    refusal: ArticleError | None = None


class DigestService:
    """One per process, built from the settings; the reading pipeline is imported with it."""

    def __init__(
        self,
        settings: Settings,
        llm: LLM,
        store: Store,
        prompts: PromptLibrary | None = None,
    ) -> None:
        from bot.core.reading.answer import AnswerConfig, QuestionAnswerer
        from bot.core.reading.digest import DigestConfig, DigestEngine

        self.settings = settings
        self.llm = llm
        self.store = store
        self.desk = Desk(store)
        self.prompts = (prompts or PromptLibrary()).with_values(language=settings.digest_language)
        self._count: CountTokens = _LazyCounter(settings)
        self.engine = DigestEngine(
            llm,
            self.prompts,
            self._count,
            DigestConfig(
                chunk_tokens=settings.chunk_tokens,
                chunk_overlap_tokens=settings.chunk_overlap_tokens,
                max_article_tokens=settings.max_article_tokens,
                concurrency=min(
                    settings.llm_concurrency, llm.capabilities.parallel or settings.llm_concurrency
                ),
                max_output_tokens=settings.max_output_tokens,
                encoding=settings.encoding,
                small_model=llm.capabilities.small
                if settings.small_model is None
                else settings.small_model,
            ),
            store,
        )
        self.answerer = QuestionAnswerer(
            llm,
            self.prompts,
            self._count,
            AnswerConfig(
                context_tokens=settings.answer_context_tokens,
                history_tokens=settings.history_tokens,
            ),
        )

    @classmethod
    def from_settings(cls, settings: Settings, llm: LLM | None = None) -> DigestService:
        store = settings.open_store()
        service = cls(settings, llm or build_llm(settings), store)
        service.flush_unsaved()  # what a previous run could not write (disk full, outage)
        return service

    async def aclose(self) -> None:
        await self.llm.aclose()
        self.store.close()

    def tokens(self, text: str) -> int:
        return self._count(clean(text))

    def warm_up(self) -> None:
        """What a long-running process pays once, now rather than at its first long article:
        the tokenizer and the helper process that splits half of a long article."""
        from bot.core.reading import sentence_process

        self._count("warm")
        sentence_process.warm_up()

    async def read(self, submission: Submission) -> Source:
        """What the user handed in, read into an article's text (a link fetched with every
        guard, a file read in a bounded child process); cancelling the caller stops the read.
        Raises ``SourceError`` with a line for the user."""
        if submission.url is not None:
            return await fetch_link(submission.url, self.settings)
        if submission.data is not None:
            return await read_document(
                submission.data,
                filename=submission.filename,
                content_type=submission.content_type,
                settings=self.settings,
            )
        return Source(text=submission.text or "", title=None, kind="text")

    async def take_in(
        self, submission: Submission, scope: str, *, reuse_digest: bool = False
    ) -> StoredArticle:
        """The whole intake, the same for every edge: read, check, store. The stored article
        keeps the page's title and link or the file's name, and the date it reports.

        ``reuse_digest``: the caller will take a kept digest of this text, so a text that has
        one is not numbered again (it was checked when it was digested; numbering is the
        intake's one slow step on a long article)."""
        source = await self.read(submission)
        admitted = await asyncio.to_thread(self.admit, scope, source, reuse_digest=reuse_digest)
        if admitted.refusal is not None:
            raise admitted.refusal
        assert admitted.article is not None  # not refused: stored
        return admitted.article

    def admit(
        self, scope: str, source: Source, *, reuse_digest: bool = False, keep_refused: bool = False
    ) -> Admission:
        """Check an article already read and store it (its title, origin and page date kept):
        an intake's one call. Numbering a long article is CPU work: call it off the event loop.

        A text that cannot be digested is not stored, unless ``keep_refused`` (a chat keeps it
        for a Retry once the limit allows it) and it is not blank. ``reuse_digest``: as in
        ``take_in``, a text with a kept digest is not numbered again (its tokens read 0)."""
        tokens, refusal = 0, None
        if not (reuse_digest and self.is_digested(source.text)):
            try:
                tokens = self.check_article(source.text).tokens
            except ArticleError as error:
                if not (keep_refused and source.text.strip()):
                    return Admission(None, refusal=error)
                refusal = error
        origin = source.url or source.filename
        article = self.save_article(scope, source.text, source.title, origin, source.date)
        return Admission(article, tokens, refusal)

    def article(self, article_id: int, scope: str) -> StoredArticle | None:
        """A stored article of this scope by its number; None if it is not this scope's."""
        return self.store.article(article_id, scope)

    def recent_articles(self, scope: str, limit: int = 10) -> list[StoredArticle]:
        """This scope's latest articles, newest first."""
        return self.store.recent_articles(scope, limit)

    def check_article(self, text: str) -> NumberedArticle:
        """Raise ArticleError with a clear reason if the text cannot be digested."""
        return self.engine.prepare(readable(text, "the article"))

    def save_article(
        self,
        scope: str,
        text: str,
        title: str | None = None,
        origin: str | None = None,
        published: str | None = None,
    ) -> StoredArticle:
        """Store an article; its title is the page's or file's when known, else its first line;
        ``origin`` is the link or file it came from, ``published`` its page's date (metadata).
        Every text is cleaned here, the core's front door, so no later step meets a lone
        surrogate or a control character. The date it reports is read here too, once."""
        text, title, origin = clean(text), clean(title or ""), clean(origin) if origin else None
        reported = read_date(text, published)
        return self.store.save_article(
            scope, text, make_title(title or text), origin, reported.date, reported.basis
        )

    async def digest(
        self,
        article: StoredArticle,
        *,
        account: str = "cli",
        on_progress: OnProgress | None = None,
        use_cache: bool = True,
    ) -> Digest:
        try:
            digest = await self.engine.digest(
                article.text, on_progress=on_progress, use_cache=use_cache
            )
        except LLMError as error:  # a failed digest still cost what its calls cost
            self._record(account, "digest", error.usage)
            raise
        # Off the event loop: with the database away these wait for its answer (or keep the
        # work in the spool), and the bot's other chats must not wait with them.
        await asyncio.to_thread(self.desk.record, article, digest)
        if not digest.stats.cached:
            await asyncio.to_thread(self._record, account, "digest", _usage(digest.stats))
        return digest

    async def digest_stored(
        self,
        article_id: int,
        scope: str,
        *,
        language: str | None = None,
        account: str = "cli",
        on_progress: OnProgress | None = None,
    ) -> tuple[StoredArticle, Digest] | None:
        """A stored article of this scope with its digest in ``language`` (a chat's choice;
        None: the default), the kept one or else made now: a queued job's one call. None if
        the article is not this scope's (forgotten meanwhile).

        ``on_progress`` hears ``Progress("reading", 0, 0)`` first when a digest is really
        made, so a status line opens only then (a kept digest reports nothing), and the
        reading's own steps after it. The store is asked off the event loop: with the
        database away, the other chats go on."""
        from bot.core.reading.digest import Progress

        article = await asyncio.to_thread(self.article, article_id, scope)
        if article is None:
            return None
        service = self.in_language(language) if language else self
        digest = await asyncio.to_thread(service.cached_digest, article)
        if digest is None:
            if on_progress is not None:
                await on_progress(Progress("reading", 0, 0))
            digest = await service.digest(article, account=account, on_progress=on_progress)
        return article, digest

    def not_saved(self, article: StoredArticle) -> str | None:
        """Why this article's digest is not in the database yet (it waits in the spool)."""
        return self.desk.waiting(article) or self.store.unsaved(article.sha256)

    def flush_unsaved(self) -> int:
        """Write what waits in the spool, if the database takes it now; how many went in."""
        return self.store.spool.flush()

    @property
    def language(self) -> str:
        return self.prompts.values["language"]

    def in_language(self, language: str) -> DigestService:
        """This service writing digests and answers in another language (a chat's choice).

        It shares the model, the store and everything else; only the prompts differ, and so
        the digest cache key. Close only the service built from the settings.
        """
        language = " ".join(language.split())
        if not language or language == self.language:
            return self
        other = copy.copy(self)
        other.prompts = self.prompts.with_values(language=language)
        other.engine = copy.copy(self.engine)
        other.engine.prompts = other.prompts
        other.answerer = copy.copy(self.answerer)
        other.answerer.prompts = other.prompts
        return other

    def is_digested(self, text: str) -> bool:
        """Whether a digest of this text with today's model and prompts is kept."""
        return self.engine.cached(clean(text)) is not None

    def cached_digest(self, article: StoredArticle) -> Digest | None:
        return self.engine.cached(article.text)

    async def ask(self, article: StoredArticle, question: str, *, account: str = "cli") -> Answer:
        question = readable(question, "the question")
        # Numbering a long article is CPU work: off the event loop, so other chats go on.
        numbered = await asyncio.to_thread(self.check_article, article.text)
        digest = self.engine.cached(article.text)
        history = self.store.exchanges(article.id)
        try:
            answer = await self.answerer.answer(numbered, digest, history, question)
        except LLMError as error:
            self._record(account, "answer", error.usage)
            raise
        self.store.save_exchange(article.id, question, answer)
        self._record(account, "answer", _usage(answer.stats))
        return answer

    async def ask_across(self, question: str, scope: str, *, account: str = "cli") -> CrossAnswer:
        """Answered from all of the scope's articles (``desk.ask``); a failed call costs too."""
        from bot.core.desk.ask import ask_across

        try:
            answer = await ask_across(readable(question, "the question"), scope, store=self.store,
                llm=self.llm, prompts=self.prompts, count_tokens=self._count)  # fmt: skip
        except LLMError as error:
            await asyncio.to_thread(self._record, account, "across", error.usage)
            raise
        await asyncio.to_thread(self._record, account, "across", answer.usage)
        return answer

    def _record(self, account: str, kind: str, usage: Usage | None) -> None:
        """Count the work against the user's day; a failed call's tokens were spent too."""
        if usage is not None and usage.calls:
            self.store.record_usage(
                account, kind, usage.calls, usage.prompt_tokens, usage.completion_tokens
            )

    def usage_today(self, account: str) -> int:
        return self.store.tokens_used(account)

    def forget(self, scope: str) -> int:
        """Delete a conversation's articles, digests and questions; how many articles."""
        return self.store.delete_scope(scope)
