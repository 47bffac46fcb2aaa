"""The durable job queue: every digest and answer is a row, written before the model is called.

A replica claims a job with a lease (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL) only
when no older job of its chat is pending, renews the lease while it works, and marks the job
done in the transaction that records the reply's message ids; a job whose owner died is
claimed again once its lease runs out (``send_once``: a paid-for reply's way out). Writing a
job consumes the paste's fragments it came from and reserves its estimated cost against its
user's quota, in the same transaction, so two replicas closing one paste make one job
(``hand_in``: or keep its article for a Retry). Nothing here knows the chat platform: chats,
users and messages are ids, owners are strings. Leases are epoch seconds from each replica's
clock, so replicas need synchronised clocks (NTP), as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.app.errors import JobLost, OverQuota, PasteGone
from bot.app.memory import ChatMemory, chat_scope
from bot.app.quota import account_of, reserve, reserved
from bot.app.tables import install, marks
from bot.app.watchlist import Watchlist
from bot.core.errors import DatabaseUnavailable
from bot.core.storage.store import Store

log = logging.getLogger(__name__)

_JOB = "id, chat_id, user_id, article_id, reply_to, kind, question, cost, status_message"


@dataclass(frozen=True)
class Job:
    id: int
    chat_id: int
    user_id: int
    article_id: int  # the article digested, or the one an answer is about
    reply_to: int | None
    kind: str = "digest"  # or "answer"
    question: str | None = None
    cost: int = 0  # estimated tokens, reserved against the quota while pending
    status_message: int | None = None  # the status line, for whoever runs the job

    @property
    def scope(self) -> str:
        """Whose articles the job may see: its chat's."""
        return chat_scope(self.chat_id)

    @property
    def account(self) -> str:
        """Whose tokens the job is counted against: its user's."""
        return account_of(self.user_id)


# What became of an article handed in (``JobQueue.hand_in``).
HandedIn = Literal["queued", "over quota", "kept", "dropped", "gone"]


def _job(r: Any) -> Job:
    """A row of ``_JOB``'s columns (sqlite3.Row or the PostgreSQL adapter's: both positional)."""
    return Job(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], str(r[5]), r[6], int(r[7]), r[8])


class JobQueue:
    """The job rows: written, claimed under leases, renewed, delivered or given up."""

    def __init__(self, store: Store) -> None:
        self.store = store
        install(store)
        self.memory = ChatMemory(store)  # a delivered reply is linked, a digest made current
        self.watchlist = Watchlist(store)  # and its watch alert queued, in one transaction
        store.spool.on("delivery", self._replay_delivery)

    @property
    def shared(self) -> bool:
        """Whether other replicas may be using the same database."""
        return self.store.database.shared

    def create(
        self,
        chat_id: int,
        user_id: int,
        article_id: int,
        reply_to: int | None,
        fragment_ids: Sequence[int] = (),
        *,
        kind: str = "digest",
        question: str | None = None,
        cost: int = 0,
        status_message: int | None = None,
        quota: int = 0,
        used_today: Callable[[], int] | None = None,
        current: bool = False,
    ) -> Job:
        """Queue a digest or an answer, consuming the paste's fragments in the same transaction.

        A digest's fragments and ``reply_to`` are linked to its article (made the chat's
        current one if ``current``). With a ``quota``, the
        check and the reservation are one step: the user's row is locked first (PostgreSQL:
        ``SELECT ... FOR UPDATE``; SQLite: the transaction's ``BEGIN IMMEDIATE`` write lock),
        so concurrent pastes of one user, on any replica, take turns (``bot.app.quota.reserve``):
        OverQuota if it does not fit. Raises PasteGone if another replica consumed the
        fragments first.
        """
        with self.store.transaction():
            if quota:
                reserve(self.store, user_id, cost, quota, used_today)
            row = self.store.execute(
                "INSERT INTO tg_jobs (chat_id, user_id, article_id, reply_to, kind, question, "
                "cost, status_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (chat_id, user_id, article_id, reply_to, kind, question, cost, status_message),
            ).fetchone()
            if kind == "digest":
                self._take(chat_id, user_id, fragment_ids, article_id, reply_to, current)
            else:
                self._take(chat_id, user_id, fragment_ids, None)
        return Job(int(row[0]), chat_id, user_id, article_id, reply_to, kind, question, cost,
                   status_message)  # fmt: skip

    def hand_in(
        self,
        chat_id: int,
        user_id: int,
        article_id: int | None,
        reply_to: int | None,
        fragment_ids: Sequence[int],
        *,
        cost: int | None,
        status_message: int | None = None,
        quota: int = 0,
        used_today: Callable[[], int] | None = None,
    ) -> HandedIn:
        """An article handed in, and the paste's fragments it came from: its digest queued
        when it can be, else kept for a Retry, so the intake has one answer to reply to.

        "queued": the job written (``create``: the article made current). "over quota", or
        "kept" when the core refused the text (``cost`` None): the fragments and ``reply_to``
        linked to the article, made current, so /digest in reply or Retry digests it later.
        "dropped": no article (a blank text), its fragments dropped. "gone": another replica
        consumed the fragments first, and answers instead.
        """
        outcome: HandedIn = "kept" if article_id is not None else "dropped"
        if article_id is not None and cost is not None:
            written = self._write(chat_id, user_id, article_id, reply_to, fragment_ids, cost=cost,
                                  status_message=status_message, quota=quota,
                                  used_today=used_today, current=True)  # fmt: skip
            if written != "over quota":
                return written
            outcome = written
        kept = self.take_fragments(
            chat_id, user_id, fragment_ids, article_id, reply_to, current=True
        )
        return outcome if kept else "gone"

    def hand_in_question(
        self,
        chat_id: int,
        user_id: int,
        article_id: int | None,
        reply_to: int | None,
        fragment_ids: Sequence[int],
        *,
        kind: str,
        question: str,
        cost: int,
        quota: int = 0,
        used_today: Callable[[], int] | None = None,
    ) -> Literal["queued", "over quota", "dropped", "gone"]:
        """A question handed in, and the paste's fragments it came from: its job written
        ("queued"); else its fragments dropped, so the intake tells the chat once: "over
        quota", or "dropped" when the chat has no article to ask about. "gone": another
        replica consumed the fragments first, and answers."""
        outcome: Literal["over quota", "dropped"] = "dropped"
        if article_id is not None:
            written = self._write(chat_id, user_id, article_id, reply_to, fragment_ids, kind=kind,
                                  question=question, cost=cost, quota=quota,
                                  used_today=used_today)  # fmt: skip
            if written != "over quota":
                return written
            outcome = written
        return outcome if self.take_fragments(chat_id, user_id, fragment_ids, None) else "gone"

    def _write(self, *args: Any, **kwargs: Any) -> Literal["queued", "over quota", "gone"]:
        """``create``, its two refusals read as outcomes (the paste gone, the quota spent)."""
        try:
            self.create(*args, **kwargs)
        except PasteGone:
            return "gone"
        except OverQuota:
            return "over quota"
        return "queued"

    def pending_cost(self, user_id: int) -> int:
        """Tokens reserved by the user's pending jobs, on every replica."""
        return reserved(self.store, user_id)

    def claim(self, owner: str, lease: float) -> Job | None:
        """The oldest claimable job, now ``owner``'s until its lease ends; None if none is.

        Claimable: pending, its lease (if any) run out, and the oldest pending job of its
        chat, so a chat's question waits for the digest before it, whichever replica runs
        that. The chat's head is a per-row index lookup (tg_jobs_pending_by_chat), never a
        join the planner could make quadratic on a table it has not analysed yet.
        """
        now = time.time()
        with self.store.transaction():
            row = self.store.execute(
                "UPDATE tg_jobs SET owner = ?, lease_until = ? WHERE id = ("
                "SELECT id FROM tg_jobs j WHERE status = 'pending' "
                "AND (lease_until IS NULL OR lease_until < ?) "
                "AND j.id = (SELECT MIN(e.id) FROM tg_jobs e WHERE e.chat_id = j.chat_id "
                "AND e.status = 'pending') "
                f"ORDER BY id LIMIT 1 {self.store.database.skip_locked}) RETURNING {_JOB}",
                (owner, now + lease, now),
            ).fetchone()
        return _job(row) if row else None

    def renew(self, owner: str, job_ids: Sequence[int], lease: float) -> set[int]:
        """Extend the leases of ``owner``'s jobs; the ids still its (not cancelled or taken)."""
        if not job_ids:
            return set()
        rows = self.store.execute(
            f"UPDATE tg_jobs SET lease_until = ? WHERE owner = ? AND status = 'pending' "
            f"AND id IN ({marks(job_ids)}) RETURNING id",
            (time.time() + lease, owner, *job_ids),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def held(self, owner: str, job_ids: Sequence[int]) -> set[int]:
        """The ids among ``job_ids`` that are still pending and ``owner``'s."""
        if not job_ids:
            return set()
        rows = self.store.execute(
            f"SELECT id FROM tg_jobs WHERE owner = ? AND status = 'pending' "
            f"AND id IN ({marks(job_ids)})",
            (owner, *job_ids),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def deliver(self, job: Job, owner: str, message_ids: Sequence[int]) -> bool:
        """Record a sent reply: its message ids and the job done, in one transaction.

        False if the job was no longer ``owner``'s (the reply went out all the same, so its
        links are kept).
        """
        with self.store.transaction():
            done = self.store.execute(
                "UPDATE tg_jobs SET status = 'done' WHERE id = ? AND owner = ? "
                "AND status = 'pending'",
                (job.id, owner),
            ).rowcount
            self.memory.link_messages(job.chat_id, message_ids, job.article_id)
            if job.kind == "digest":
                self.memory.set_current_article(job.chat_id, job.article_id)
                self.watchlist.queue_watch_alert(job.chat_id, job.article_id)
        return done == 1

    def keep_lease(self, owner: str, job: Job, lease: float) -> None:
        """Just before a reply goes out: renew the job's lease, or raise JobLost."""
        if not self.renew(owner, [job.id], lease):
            raise JobLost(f"job {job.id} is no longer {owner}'s")

    async def send_once(
        self, job: Job, owner: str, lease: float, send: Callable[[], Awaitable[list[int]]]
    ) -> None:
        """A paid-for reply's whole way out: the lease renewed (JobLost if the job is no
        longer ``owner``'s), ``send``, then the delivery recorded (``record_delivery``).
        With the database away the job counts as ours: no replica can claim it meanwhile,
        and the reply is recorded when it is back. The database is asked off the event loop."""
        try:
            held = await asyncio.to_thread(self.renew, owner, [job.id], lease)
        except DatabaseUnavailable:
            held = {job.id}
        if job.id not in held:
            raise JobLost(f"job {job.id} is no longer {owner}'s")
        await self.record_delivery(job, owner, await send())

    async def record_delivery(self, job: Job, owner: str, message_ids: Sequence[int]) -> None:
        """``deliver``, off the event loop; with the database away the delivery is kept in
        the spool (the poll writes it once the database is back), so the job is never run
        (and paid for) again."""
        try:
            done = await asyncio.to_thread(self.deliver, job, owner, message_ids)
        except DatabaseUnavailable as error:
            payload = {"job": [job.id, job.chat_id, job.user_id, job.article_id, job.reply_to,
                               job.kind, job.question, job.cost, job.status_message],
                       "messages": list(message_ids)}  # fmt: skip
            await asyncio.to_thread(
                self.store.spool.keep, "delivery", str(job.id), payload, str(error)
            )
            return
        if not done:
            log.warning("job %s was taken over while its reply was sent", job.id)

    def _replay_delivery(self, payload: dict[str, Any]) -> None:
        """The kept delivery: the job done whoever holds it now (the reply went out)."""
        job = _job(payload["job"])
        with self.store.transaction():
            if self.status(job.id) is None:  # forgotten meanwhile
                return
            self.finish(job.id, "done")
            self.memory.link_messages(job.chat_id, payload["messages"], job.article_id)
            if job.kind == "digest":
                self.memory.set_current_article(job.chat_id, job.article_id)
                self.watchlist.queue_watch_alert(job.chat_id, job.article_id)

    def finish(self, job_id: int, status: str, owner: str | None = None) -> bool:
        """Move a pending job to ``status``; with ``owner``, only while it is still theirs."""
        sql = "UPDATE tg_jobs SET status = ? WHERE id = ? AND status = 'pending'"
        params: tuple[object, ...] = (status, job_id)
        if owner is not None:
            sql, params = sql + " AND owner = ?", (*params, owner)
        return self.store.execute(sql, params).rowcount == 1

    def keep_status_line(self, job: Job, message_id: int) -> None:
        """Keep the job's status line, so a replica taking the job over edits that one; the
        line is linked to the job's article, like every message about it."""
        if job.status_message != message_id:
            self.store.execute(
                "UPDATE tg_jobs SET status_message = ? WHERE id = ?", (message_id, job.id)
            )
        self.memory.link_messages(job.chat_id, [message_id], job.article_id)

    def release(self, owner: str) -> int:
        """Give up ``owner``'s unfinished jobs (a graceful stop): claimable again at once."""
        return self.store.execute(
            "UPDATE tg_jobs SET owner = NULL, lease_until = NULL "
            "WHERE owner = ? AND status = 'pending'",
            (owner,),
        ).rowcount

    def release_all(self) -> None:
        """At the start of the only process on the database: every claim is a dead run's."""
        with self.store.transaction():
            self.store.execute(
                "UPDATE tg_jobs SET owner = NULL, lease_until = NULL WHERE status = 'pending'"
            )
            self.store.execute("DELETE FROM tg_pastes")

    def cancel_digest(self, chat_id: int) -> Job | None:
        """Cancel the chat's oldest pending digest (the running one, else the next); or None."""
        with self.store.transaction():
            row = self.store.execute(
                f"SELECT {_JOB} FROM tg_jobs WHERE chat_id = ? AND kind = 'digest' "
                "AND status = 'pending' ORDER BY id LIMIT 1",
                (chat_id,),
            ).fetchone()
            if row is None:
                return None
            self.finish(int(row[0]), "cancelled")
        return _job(row)

    def cancel_chat(self, chat_id: int) -> list[int]:
        """Cancel every pending job of the chat; their ids."""
        rows = self.store.execute(
            "UPDATE tg_jobs SET status = 'cancelled' WHERE chat_id = ? AND status = 'pending' "
            "RETURNING id",
            (chat_id,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def status(self, job_id: int) -> str | None:
        row = self.store.execute("SELECT status FROM tg_jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0]) if row else None

    def pending(self) -> list[Job]:
        rows = self.store.execute(
            f"SELECT {_JOB} FROM tg_jobs WHERE status = 'pending' ORDER BY id"
        ).fetchall()
        return [_job(r) for r in rows]

    # --- fragments: they leave the store with what came of them ---------------------------

    def take_fragments(
        self,
        chat_id: int,
        user_id: int,
        message_ids: Sequence[int],
        article_id: int | None,
        reply_to: int | None = None,
        current: bool = False,
    ) -> bool:
        """A paste that becomes no job: with ``article_id`` (a text kept for later) its
        fragments and ``reply_to`` are linked to the article, so /digest in reply to any
        retries it, and ``current`` makes it the chat's current article; without, they are
        dropped. False if another replica consumed them first (and answers)."""
        try:
            with self.store.transaction():
                self._take(chat_id, user_id, message_ids, article_id, reply_to, current)
        except PasteGone:
            return False
        return True

    def _take(
        self,
        chat_id: int,
        user_id: int,
        message_ids: Sequence[int],
        article_id: int | None,
        reply_to: int | None = None,
        current: bool = False,
    ) -> None:
        """Inside a transaction: delete exactly these fragments, or raise PasteGone; then link
        them and ``reply_to`` to ``article_id`` (and make it current), if there is one."""
        wanted = sorted(set(message_ids))
        if wanted:
            gone = self.store.execute(
                f"DELETE FROM tg_fragments WHERE chat_id = ? AND user_id = ? "
                f"AND message_id IN ({marks(wanted)}) RETURNING message_id",
                (chat_id, user_id, *wanted),
            ).fetchall()
            if len(gone) != len(wanted):
                raise PasteGone(f"{len(wanted) - len(gone)} fragment(s) already consumed")
        if article_id is not None:
            linked = wanted + ([reply_to] if reply_to is not None else [])
            self.memory.link_messages(chat_id, linked, article_id)
            if current:
                self.memory.set_current_article(chat_id, article_id)
