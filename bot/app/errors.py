"""Every error the application raises, each with the line a user may be shown.

As in ``bot.core.errors``: ``str(error)`` is a detail for the log, ``user_message`` the one
line a chat may see. Errors no user ever sees (another replica answers instead) say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar


class AppError(Exception):
    """Base of the application's errors."""

    shown: ClassVar[str | None] = None  # a fixed user line, when ``str()`` is for the log only

    @property
    def user_message(self) -> str:
        return self.shown if self.shown is not None else str(self)


class PasteGone(AppError):
    """The fragments were consumed meanwhile: another replica closed the same paste (and
    answers the user), so this one says nothing."""


class JobLost(AppError):
    """The job stopped being this replica's (cancelled, forgotten, or taken over after a
    stall): its reply must not go out from here, and the user hears from its new owner."""


class OverQuota(AppError):
    """The job's cost does not fit in what is left of its user's daily quota."""

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit

    @property
    def user_message(self) -> str:
        return quota_message(self.limit)


class ReplyFailed(AppError):
    """The chat would not take a reply; ``str(error)`` is the chat edge's line for the user
    (e.g. "Telegram would not take my reply.")."""


def until_reset(now: datetime | None = None) -> str:
    """How long until the daily quota resets at 00:00 UTC, e.g. "5 h 12 min"."""
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    minutes = max(1, int((midnight - now).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def quota_message(limit: int) -> str:
    """What a user over the daily quota is told."""
    return (
        f"You have reached today's limit of {limit:,} tokens. It resets at 00:00 UTC "
        f"(in {until_reset()}); /usage shows where you stand."
    )
