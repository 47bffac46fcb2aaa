"""What the application says in a chat, as an interface each chat edge implements.

The application decides what to say and when; the edge decides how it looks and how it is
sent (``bot.telegram_app.replies`` for Telegram). Cosmetic calls (typing, the status line,
a one-line ``say``) never fail the work: the edge logs and swallows its own errors there.
The ``send_*`` calls carry the work's result, and raise ReplyFailed when the chat would not
take it.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.schemas import Answer, Digest
from bot.core.service import CrossAnswer, StoredArticle, Watched


class StatusLine(Protocol):
    """One message edited as work progresses; known by its id, so a replica taking a job
    over edits the line it inherited."""

    message_id: int | None

    async def open(self, text: str) -> None:
        """Post the line; without it the work simply goes on."""

    async def show(self, text: str, *, force: bool = False) -> None:
        """Edit the line, at most as often as the chat allows unless ``force``."""

    async def become(self, text: str, *, retry: int | None = None) -> bool:
        """Turn the line into ``text`` for good (with a Retry of article ``retry``); False if
        there is no line or it failed."""

    async def close(self) -> None:
        """Remove the line (the work ended without a reply to put in its place)."""


class Replies(Protocol):
    """How the application speaks in a chat; the chat edge implements it."""

    def status_line(
        self, chat_id: int, reply_to: int | None, message_id: int | None = None
    ) -> StatusLine:
        """A status line, new or (``message_id``) inherited."""

    async def say(
        self, chat_id: int, text: str, reply_to: int | None = None, *, retry: int | None = None
    ) -> int | None:
        """One line (with a Retry of article ``retry``); its message id, None if it failed."""

    async def typing(self, chat_id: int) -> None:
        """Show that work is under way."""

    async def send_digest(
        self,
        chat_id: int,
        article: StoredArticle,
        digest: Digest,
        *,
        reply_to: int | None = None,
        replace: int | None = None,
    ) -> list[int]:
        """The digest (``replace``: the status line that becomes its first message)."""

    async def send_answer(self, chat_id: int, answer: Answer, *, reply_to: int | None) -> list[int]:
        """The answer to a question."""

    async def send_cross_answer(
        self, chat_id: int, answer: CrossAnswer, *, reply_to: int | None
    ) -> list[int]:
        """The answer to a question across the chat's articles, each line with its article."""

    async def send_watch_alert(
        self, chat_id: int, article: StoredArticle, found: list[Watched]
    ) -> list[int]:
        """The chat's watches that a new digest mentions, with where."""
