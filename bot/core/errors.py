"""Every error the core raises, in one place, each with the line a user may be shown.

``str(error)`` is a detail for the log: it may name a server, a setting or a file.
``user_message`` is what an edge shows a user: one line, in the user's terms, with no server
address, schema name or traceback. Errors whose message is already such a line (an article
or a file that cannot be read) show it as it is.
"""

from __future__ import annotations

from typing import ClassVar

from bot.core.schemas import Usage


class BotError(Exception):
    """Base of the core's errors."""

    shown: ClassVar[str | None] = None  # a fixed user line, when ``str()`` is for the log only

    @property
    def user_message(self) -> str:
        return self.shown if self.shown is not None else str(self)


# --- settings and set-up --------------------------------------------------------------------


class ConfigError(BotError, RuntimeError):
    """Settings that cannot work; the message names the setting to fix."""


class PromptError(BotError, ValueError):
    """A prompt file is missing, malformed, or rendered without its variables."""


class EncodingUnavailable(BotError, RuntimeError):
    """The encoding is neither cached nor bundled, or cannot be copied where tiktoken looks."""


# --- what the user gave ----------------------------------------------------------------------


class ArticleError(BotError, ValueError):
    """The text cannot be digested as given (empty, too long); the message says why."""


class UnreadableText(ArticleError):
    """Text made only of bytes that are not UTF-8: there is nothing in it to read."""


class SourceError(BotError, ValueError):
    """A link or file that cannot be read; ``str(error)`` is one line for the user."""


class DownloadError(BotError):
    """The file server failed (network, HTTP status); the message holds no address."""

    shown = "I could not download that file. Please send it again."


# --- storage ---------------------------------------------------------------------------------


class DatabaseError(BotError, RuntimeError):
    """The database cannot be reached or used; the message says why."""


StoreError = DatabaseError


class DatabaseUnavailable(DatabaseError):
    """The database cannot take work now (server away, disk full); it may later."""

    shown: ClassVar[str | None] = "My storage is not answering right now."


class DiskFull(DatabaseUnavailable):
    """The disk holding the SQLite file is full."""

    shown = None  # its message names the folder to free


# --- the model -------------------------------------------------------------------------------


class LocalModelError(BotError, RuntimeError):
    """The local model could not be fetched, verified or served; the message says why."""

    shown = "The built-in model could not be started on this machine."


class LeaseHeld(BotError):
    """The data folder's server is alive with other settings (model, threads, version)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"the local model server of this data folder (pid {pid}) runs with "
                         "other settings")  # fmt: skip
        self.pid = pid


class LLMError(BotError, RuntimeError):
    """Base of every model failure; ``str()`` is a log line, ``user_message`` is for users."""

    shown = "The model could not be reached or answered badly. Please try again later."

    def __init__(
        self, detail: str, *, usage: Usage | None = None, setting: str | None = None
    ) -> None:
        super().__init__(detail)
        self.usage: Usage | None = usage  # tokens the failed attempt still cost, when known
        self.setting = setting  # the setting an operator should check, if one is to blame


class LLMUnavailable(LLMError):
    """Unreachable, timing out, rate-limited or failing server, after the client's retries."""

    shown = "The model is not answering right now. Please try again in a few minutes."


class ServerUnreachable(LLMUnavailable):
    """No connection to the server at all."""

    shown = "The model's server cannot be reached right now."


class LLMAuthError(LLMError):
    """The server refused the credentials."""

    shown = "The model refused this bot's credentials; the bot's operator must fix them."


class ModelNotFound(LLMError):
    """The server does not serve the configured model."""

    shown = "The model this bot is set to use is not available on its server."


class LLMRefused(LLMError):
    """The model declined to answer (refusal or content filter)."""

    shown = "The model declined to read this text."


class OutputTruncated(LLMError):
    """The model hit its output limit; the JSON is cut and must not be used."""

    shown = "The model's answer was cut off before it was complete."


class ContextTooLong(LLMError):
    """The prompt does not fit the model's context window."""

    shown = "This text is too long for the model in one piece."


class SchemaRejected(LLMError):
    """The server refused one of our schemas: a bug to fix, never a reason to fall back."""

    shown = "The model's server refused this bot's request; the bot's operator must fix it."


class StructuredOutputError(LLMError):
    """The model's output did not validate, even after being shown its errors."""

    shown = "The model could not read this article (it returned an unusable answer twice)."

    def __init__(
        self, detail: str, attempts: list[str], errors: list[str], *, usage: Usage | None = None
    ) -> None:
        super().__init__(detail, usage=usage)
        self.attempts = attempts
        self.errors = errors
