"""The daily token quota: what a digest or an answer may cost, weighed before it is queued.

A pending job's estimated cost counts against its user's quota until the job is done (then
the tokens it really used are recorded by the core), so questions and pastes sent together,
on any replica, cannot overshoot it.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.app.errors import OverQuota, quota_message
from bot.core.service import DigestService
from bot.core.storage.store import Store

_DIGEST_OVERHEAD_TOKENS = 1500
_ANSWER_OVERHEAD_TOKENS = 1000
# A question across articles shows the model passages of several of them (at most 2,500
# tokens with their headers: ``bot.core.desk.ask.AskConfig``) and may write a longer reply.
_ACROSS_CONTEXT_TOKENS = 3500


def account_of(user_id: int) -> str:
    """The key a user's tokens are counted against in the core (``tg:`` since the first
    release: kept, so the counts of existing databases go on)."""
    return f"tg:{user_id}"


def estimate(article_tokens: int) -> int:
    """Tokens a digest may cost: prompts carry the article about 1.3 times, plus the answers."""
    return article_tokens * 3 // 2 + _DIGEST_OVERHEAD_TOKENS


def estimate_answer(context_tokens: int, question_tokens: int) -> int:
    """Tokens an answer may cost: the article's context and the question, the prompt, the
    reply. Reserved like a digest's, so questions sent together cannot overshoot the quota."""
    return context_tokens + question_tokens + _ANSWER_OVERHEAD_TOKENS


def reserved(store: Store, user_id: int) -> int:
    """Tokens reserved by the user's pending jobs, on every replica."""
    row = store.execute(
        "SELECT COALESCE(SUM(cost), 0) FROM tg_jobs WHERE user_id = ? AND status = 'pending'",
        (user_id,),
    ).fetchone()
    return int(row[0])


def reserve(
    store: Store, user_id: int, cost: int, limit: int, used_today: Callable[[], int] | None
) -> None:
    """Inside the transaction that writes the job: weigh ``cost`` against the quota, or raise
    OverQuota. The user's row is locked first (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite:
    the transaction's ``BEGIN IMMEDIATE`` write lock), so concurrent pastes of one user, on any
    replica, take turns: ``used_today()`` plus the pending jobs' costs plus ``cost`` must fit."""
    store.execute("INSERT INTO tg_users VALUES (?) ON CONFLICT (user_id) DO NOTHING", (user_id,))
    lock = " FOR UPDATE" if store.dialect == "postgres" else ""
    store.execute(f"SELECT user_id FROM tg_users WHERE user_id = ?{lock}", (user_id,))
    used = (used_today() if used_today else 0) + reserved(store, user_id)
    if used + cost > limit:
        raise OverQuota(f"{used + cost} > {limit}", limit)


class Quota:
    """The quota as the settings give it (0: none), and what a user has used of it."""

    def __init__(self, service: DigestService, store: Store) -> None:
        self.service, self.store = service, store
        self.limit = service.settings.daily_token_quota

    def used_today(self, user_id: int) -> Callable[[], int]:
        """The user's recorded usage today, asked when the job is weighed."""
        return lambda: self.service.usage_today(account_of(user_id))

    def over(self, user_id: int, extra: int = 0) -> bool:
        """Recorded usage plus what the user's pending jobs reserve, on every replica."""
        if not self.limit:
            return False
        used = self.used_today(user_id)() + reserved(self.store, user_id)
        return used + extra > self.limit

    def message(self) -> str:
        return quota_message(self.limit)

    def answer_cost(self, article: str, question: str) -> int:
        """An answer's estimate (counting tokens is CPU work: call it off the event loop)."""
        service = self.service
        context = min(service.tokens(article), service.settings.answer_context_tokens)
        return estimate_answer(context, service.tokens(question))

    def across_cost(self, question: str) -> int:
        """A question across the chat's articles: whatever it finds, the passages are capped."""
        return estimate_answer(_ACROSS_CONTEXT_TOKENS, self.service.tokens(question))
