"""One settings object for the whole bot.

Precedence, highest first: arguments passed to ``Settings(...)``, environment variables,
the ``.env`` file in the working directory, then the defaults below. Most variables are
``BOT_``-prefixed; the OpenAI and Telegram ones keep the names their own tools use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.core.storage.store import Store


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "article-digest-bot"


class Settings(BaseSettings):
    """Every knob of the bot, validated once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="BOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- the model -----------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description="API key of the OpenAI-compatible server.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp...).",
    )
    model: str = Field(default="gpt-4o-mini", description="Model name sent to the server.")
    server: Literal[
        "auto", "openai", "openai-compatible", "vllm", "ollama", "llamacpp", "plain"
    ] = Field(
        default="auto",
        description="What kind of server OPENAI_BASE_URL is; it decides the output format "
        "(auto: OpenAI for api.openai.com, otherwise a strict-schema server that may fall back).",
    )
    response_format: Literal["auto", "json_schema", "json_object", "prompt"] = Field(
        default="auto",
        description="Force one structured-output format instead of the server's own.",
    )
    reasoning_model: bool | None = Field(
        default=None,
        description="Send max_completion_tokens and no temperature (auto: OpenAI's o-series "
        "and gpt-5 models).",
    )
    small_model: bool | None = Field(
        default=None,
        description="Ask the model for the summary and names only; read titles, commitments and "
        "cross-article lines in code (auto: the embedded model).",
    )
    context_tokens: int | None = Field(
        default=None, ge=1024, description="The model's context window (auto: the server's)."
    )
    encoding: Literal["o200k_base", "cl100k_base"] = Field(
        default="o200k_base", description="tiktoken encoding used to count and split tokens."
    )
    local_model: Path | None = Field(
        default=None, description="A GGUF file for the embedded local model (extra 'local')."
    )
    local_threads: int | None = Field(
        default=None, ge=1, description="CPU threads of the embedded local model (all cores)."
    )
    local_keep_alive: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds the embedded model stays loaded after the last command or bot "
        "using it exits, so the next command's follow-up finds the article read (0: stop "
        "with the process).",
    )

    # --- reading articles ----------------------------------------------------------------
    chunk_tokens: int | None = Field(
        default=None,
        ge=200,
        description="Largest chunk of article text, in tokens (unset: planned from the model's "
        "context and output limits and the concurrency).",
    )
    chunk_overlap_tokens: int = Field(
        default=80, ge=0, description="Tokens of the previous chunk repeated for context."
    )
    max_article_tokens: int = Field(
        default=100_000, ge=100, description="Longest article accepted, in tokens."
    )
    llm_concurrency: int = Field(
        default=8, ge=1, description="Chunks read by the model at the same time."
    )
    request_timeout: float = Field(
        default=120.0, gt=0, description="Seconds before one LLM request is abandoned."
    )
    llm_max_retries: int = Field(
        default=2, ge=0, description="Retries of 429/5xx/timeouts by the openai client."
    )
    max_output_tokens: int = Field(
        default=16_384,
        ge=256,
        description="Largest answer asked of the model in one call (the server's own output "
        "limit is used when smaller).",
    )
    answer_context_tokens: int = Field(
        default=3000, ge=200, description="Article tokens given to a follow-up question."
    )
    history_tokens: int = Field(
        default=1500, ge=0, description="Tokens of earlier questions and answers kept."
    )
    digest_language: str = Field(
        default="English",
        min_length=1,
        max_length=40,
        description="Language digests and answers are written in, whatever the article's; "
        "names stay as the article writes them, titles get the translation beside the original.",
    )

    # --- links and files -----------------------------------------------------------------
    fetch_allow_private: bool = Field(
        default=False,
        description="Let links reach private, loopback and link-local addresses (tests, "
        "intranets); off, only public web pages are fetched.",
    )
    fetch_max_bytes: int = Field(
        default=10_000_000, ge=10_000, description="Largest page or file read, in bytes."
    )
    fetch_timeout: float = Field(
        default=20.0, gt=0, description="Seconds a link may take to load, redirects included."
    )

    # --- storage and logging -------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite store and every other state file.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host/db to keep all state in PostgreSQL "
        "(several replicas); unset: the SQLite file in the data folder.",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")

    # --- Telegram ------------------------------------------------------------------------
    telegram_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "telegram_bot_token"),
        description="Token from @BotFather.",
    )
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot",
        validation_alias=AliasChoices("TELEGRAM_BASE_URL", "telegram_base_url"),
        description="Bot API base (a self-hosted Bot API server, or a test fake).",
    )
    telegram_base_file_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BASE_FILE_URL", "telegram_base_file_url"),
        description="Bot API file base; derived from TELEGRAM_BASE_URL when unset.",
    )
    allowed_users: str = Field(
        default="",
        description="Comma-separated Telegram user IDs allowed to use the bot, or '*' for all.",
    )
    allowed_chats: str = Field(
        default="", description="Comma-separated chat IDs whose members may all use the bot."
    )
    daily_token_quota: int = Field(
        default=300_000, ge=0, description="LLM tokens one user may spend per UTC day (0: none)."
    )
    fragment_quiet_seconds: float = Field(
        default=1.5, ge=0, description="Quiet time that ends a paste split into fragments."
    )
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed digest or answer stays its replica's without a renewal "
        "(renewed every third of it); a replica that dies loses its jobs to another after this.",
    )
    job_concurrency: int = Field(
        default=32,
        ge=1,
        description="Digests and answers one bot process runs at the same time; more wait in "
        "the store for a free slot here or on another replica.",
    )
    feed_poll_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Seconds between two reads of a followed RSS or Atom feed (/follow); one "
        "replica reads a feed at a time.",
    )
    feeds_per_chat: int = Field(
        default=20, ge=0, description="Feeds one chat may follow (0: /follow is off)."
    )
    feed_items_per_day: int = Field(
        default=50,
        ge=1,
        description="New feed items digested per chat per UTC day, all its feeds together; "
        "the rest wait for the next day.",
    )
    webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL; when set the bot uses a webhook."
    )
    webhook_listen: str = Field(default="0.0.0.0", description="Webhook listen address.")
    webhook_port: int = Field(default=8443, description="Webhook listen port.")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret token Telegram sends with each webhook call ([A-Za-z0-9_-], at "
        "most 256); unset, one is generated and kept in the data folder.",
    )

    @field_validator("webhook_url", mode="after")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # Telegram's own rules, checked here so a bad URL is one line at start.
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("BOT_WEBHOOK_URL must be an https:// URL (Telegram's rule)")
        try:
            port = parts.port or 443
        except ValueError:
            raise ValueError("BOT_WEBHOOK_URL has an invalid port") from None
        if port not in (443, 80, 88, 8443):
            raise ValueError("BOT_WEBHOOK_URL's port must be 443, 80, 88 or 8443 (Telegram's rule)")
        return value

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError(
                "BOT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return value

    @field_validator(
        "openai_api_key",
        "openai_base_url",
        "local_model",
        "local_threads",
        "reasoning_model",
        "small_model",
        "context_tokens",
        "chunk_tokens",
        "database_url",
        "telegram_bot_token",
        "telegram_base_file_url",
        "webhook_url",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `KEY=` in a .env file means "not set", not "set to the empty string".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_dir", "local_model", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("BOT_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("BOT_DATABASE_URL must start with postgresql://")
        return value

    def open_store(self) -> Store:
        """The store these settings name: PostgreSQL, else the SQLite file."""
        from bot.core.storage.store import Store

        url = self.database_url.get_secret_value() if self.database_url else None
        return Store.connect(url, self.store_path)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "digestbot.sqlite3"

    @property
    def tiktoken_cache_dir(self) -> Path:
        return Path(os.environ.get("TIKTOKEN_CACHE_DIR") or self.data_dir / "tiktoken")
