"""What the Telegram edge must remember across restarts and share across replicas, in the store.

Fragments of a paste are written as they arrive and turned into an article in one
transaction with its digest job, so a crash at any moment loses no text; the transaction
deletes exactly the fragments it read, so two replicas closing one paste make one job. Update
IDs make a redelivered update a no-op, on whichever replica it lands. Digests and answers are
job rows: a replica claims one with a lease (``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL) only when no older job of its chat is pending, renews the lease while it works,
and marks the job done in the transaction that records the reply's message ids; a job whose
owner died is claimed again once its lease runs out. A pending digest's estimated cost counts
against its user's quota. Times that replicas compare (leases, fragment arrival) are epoch
seconds from each replica's clock, so replicas need synchronised clocks (NTP), as usual.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.errors import DatabaseUnavailable
from bot.core.storage.database import Migration, postgres_ddl
from bot.core.storage.store import Store

_FIRST = """
    CREATE TABLE tg_updates (update_id INTEGER PRIMARY KEY, seen_at TEXT NOT NULL);
    CREATE TABLE tg_chats (
        chat_id INTEGER PRIMARY KEY,
        current_article_id INTEGER REFERENCES articles (id) ON DELETE SET NULL
    );
    CREATE TABLE tg_messages (
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE TABLE tg_fragments (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        UNIQUE (chat_id, message_id)
    );
    CREATE TABLE tg_jobs (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        reply_to INTEGER,
        status TEXT NOT NULL DEFAULT 'pending',
        created_at TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE INDEX tg_jobs_pending ON tg_jobs (status) WHERE status = 'pending';
"""
_SHARED = """
    ALTER TABLE tg_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'digest';
    ALTER TABLE tg_jobs ADD COLUMN question TEXT;
    ALTER TABLE tg_jobs ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tg_jobs ADD COLUMN status_message INTEGER;
    ALTER TABLE tg_jobs ADD COLUMN owner TEXT;
    ALTER TABLE tg_jobs ADD COLUMN lease_until REAL;
    CREATE INDEX tg_jobs_pending_by_chat ON tg_jobs (chat_id, id) WHERE status = 'pending';
    CREATE INDEX tg_jobs_pending_by_user ON tg_jobs (user_id) WHERE status = 'pending';
    ALTER TABLE tg_fragments ADD COLUMN arrived_at REAL NOT NULL DEFAULT 0;
    CREATE TABLE tg_pastes (
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        closing_by TEXT NOT NULL,
        closing_until REAL NOT NULL,
        PRIMARY KEY (chat_id, user_id)
    );
    CREATE TABLE tg_users (user_id INTEGER PRIMARY KEY);
"""
_WATCH = """
    CREATE TABLE tg_watches (
        chat_id INTEGER NOT NULL,
        watch_key TEXT NOT NULL,
        watch TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (chat_id, watch_key)
    );
    CREATE TABLE tg_watch_alerts (
        chat_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        status TEXT NOT NULL DEFAULT 'pending',
        PRIMARY KEY (chat_id, article_id)
    );
    CREATE INDEX tg_watch_alerts_pending ON tg_watch_alerts (chat_id) WHERE status = 'pending';
"""
_UTC_NOW = "(to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS'))"
TELEGRAM_MIGRATIONS: tuple[Migration | str, ...] = (
    Migration(_FIRST, postgres_ddl(_FIRST).replace("(datetime('now'))", _UTC_NOW)),
    # A forwarded post is an article to digest, however short.
    "ALTER TABLE tg_fragments ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0",
    # Where a forwarded fragment came from, so posts of other origins start their own paste;
    # update ids are pruned by age.
    """
    ALTER TABLE tg_fragments ADD COLUMN origin TEXT;
    CREATE INDEX tg_updates_by_age ON tg_updates (seen_at);
    """,
    # chat_languages: the language a chat's digests and answers are written in (/language).
    # Its own table, so /forget keeps the choice and tg_chats' inserts stay as they are.
    """
    CREATE TABLE tg_chat_languages (
        chat_id INTEGER PRIMARY KEY,
        language TEXT NOT NULL
    );
    """,
    # Shared work (issue 12): answers are jobs too, claimed by one replica at a time under a
    # lease; a pending digest reserves its cost; the status line is kept for whoever takes
    # the job over. Fragments keep their arrival time, and a paste being closed is claimed in
    # tg_pastes; tg_users has a row per user to lock while a cost is weighed against the quota.
    Migration(_SHARED, postgres_ddl(_SHARED).replace(" REAL", " DOUBLE PRECISION")),
    # The watchlist (issue 22): a chat's watches, and one row per (chat, article) whose watch
    # alert is queued ('pending') or claimed for sending ('sent'), so it goes out once.
    Migration(_WATCH, postgres_ddl(_WATCH).replace(" REAL", " DOUBLE PRECISION")),
)
WATCH_CAP = 50  # watches per chat
SEEN_WHILE_AWAY = 10_000  # update ids remembered in memory while the database is away
UPDATE_RETENTION_DAYS = 3  # Telegram redelivers an update for at most 24 hours
PRUNE_EVERY = 1000  # updates between two prunings, besides the one at start
_JOB = "id, chat_id, user_id, article_id, reply_to, kind, question, cost, status_message"


def _utc_now(moment: datetime | None = None) -> str:
    """UTC as datetime('now') writes it ("YYYY-MM-DD HH:MM:SS"), computed here for both SQLs."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")


def chat_scope(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_key(user_id: int) -> str:
    return f"tg:{user_id}"


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


class PasteGone(Exception):
    """The fragments were consumed meanwhile: another replica closed the same paste."""


class OverQuota(Exception):
    """The job's cost does not fit in what is left of its user's daily quota."""


@dataclass(frozen=True)
class Fragment:
    message_id: int
    text: str
    forwarded: bool = False
    origin: str | None = None  # JSON of the forward's origin (see paste.origin_of)


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


def _job(r: Any) -> Job:
    """A row of ``_JOB``'s columns (sqlite3.Row or the PostgreSQL adapter's: both positional)."""
    return Job(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], str(r[5]), r[6], int(r[7]), r[8])


class TelegramState:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen = 0
        self._seen_while_away: OrderedDict[int, None] = OrderedDict()
        store.migrate("telegram", TELEGRAM_MIGRATIONS)
        store.spool.on("delivery", self._replay_delivery)

    @property
    def shared(self) -> bool:
        """Whether other replicas may be using the same database."""
        return self.store.database.shared

    def first_sight(self, update_id: int) -> bool:
        """True the first time an update ID is seen, False for a redelivery.

        With the database away (or its disk full) this process remembers the ids itself, so
        what needs no database (``/help``, the apology) still goes out, once.
        """
        try:
            cursor = self.store.execute(
                "INSERT INTO tg_updates VALUES (?, ?) ON CONFLICT (update_id) DO NOTHING",
                (update_id, _utc_now()),
            )
        except DatabaseUnavailable:
            if update_id in self._seen_while_away:
                return False
            self._seen_while_away[update_id] = None
            if len(self._seen_while_away) > SEEN_WHILE_AWAY:
                self._seen_while_away.popitem(last=False)
            return True
        self._seen += 1
        if self._seen % PRUNE_EVERY == 0:  # a bot that runs for months never restarts to prune
            self.prune_updates()
        return cursor.rowcount == 1

    def prune_updates(self, days: int = UPDATE_RETENTION_DAYS) -> int:
        """Forget update ids older than Telegram could ever redeliver."""
        cutoff = _utc_now(datetime.now(UTC) - timedelta(days=days))
        return self.store.execute("DELETE FROM tg_updates WHERE seen_at < ?", (cutoff,)).rowcount

    def forget_chat(self, chat_id: int) -> None:
        """Drop the chat's edge state; its articles go with the core's ``forget``."""
        with self.store.transaction():
            self.store.execute("DELETE FROM tg_fragments WHERE chat_id = ?", (chat_id,))
            self.store.execute("DELETE FROM tg_chats WHERE chat_id = ?", (chat_id,))

    # --- the chat's language -------------------------------------------------------------

    def language(self, chat_id: int) -> str | None:
        """The language the chat chose with /language, or None for the bot's default."""
        row = self.store.execute(
            "SELECT language FROM tg_chat_languages WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_language(self, chat_id: int, language: str | None) -> None:
        """Keep the chat's language; None goes back to the default."""
        if language is None:
            self.store.execute("DELETE FROM tg_chat_languages WHERE chat_id = ?", (chat_id,))
            return
        self.store.execute(
            "INSERT INTO tg_chat_languages (chat_id, language) VALUES (?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language",
            (chat_id, language),
        )

    # --- the watchlist (issue 22) ---------------------------------------------------------

    def add_watch(self, chat_id: int, watch: str, key: str, cap: int = WATCH_CAP) -> str:
        """Add a watch (``key``: its compared form, ``bot.core.desk.watch.watch_key``): "added",
        "exists" (the chat watches it already) or "full" (``cap`` watches)."""
        with self.store.transaction():
            row = self.store.execute(
                "SELECT COUNT(*) FROM tg_watches WHERE chat_id = ?", (chat_id,)
            ).fetchone()
            if int(row[0]) >= cap:
                exists = self.store.execute(
                    "SELECT 1 FROM tg_watches WHERE chat_id = ? AND watch_key = ?", (chat_id, key)
                ).fetchone()
                return "exists" if exists else "full"
            added = self.store.execute(
                "INSERT INTO tg_watches (chat_id, watch_key, watch, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chat_id, watch_key) DO NOTHING",
                (chat_id, key, watch, time.time()),
            ).rowcount
        return "added" if added == 1 else "exists"

    def remove_watch(self, chat_id: int, key: str) -> bool:
        """Stop watching ``key``; False if the chat was not watching it."""
        return (
            self.store.execute(
                "DELETE FROM tg_watches WHERE chat_id = ? AND watch_key = ?", (chat_id, key)
            ).rowcount
            == 1
        )

    def clear_watches(self, chat_id: int) -> int:
        """Stop every watch of the chat; how many there were."""
        return self.store.execute("DELETE FROM tg_watches WHERE chat_id = ?", (chat_id,)).rowcount

    def watches(self, chat_id: int) -> list[str]:
        """The chat's watches as it wrote them, oldest first."""
        rows = self.store.execute(
            "SELECT watch FROM tg_watches WHERE chat_id = ? ORDER BY added_at, watch_key",
            (chat_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def queue_watch_alert(self, chat_id: int, article_id: int) -> bool:
        """The article's first digest in the chat was delivered: its watch alert is due.
        False if one was queued before (a digest shown again never alerts again)."""
        return (
            self.store.execute(
                "INSERT INTO tg_watch_alerts (chat_id, article_id) VALUES (?, ?) "
                "ON CONFLICT (chat_id, article_id) DO NOTHING",
                (chat_id, article_id),
            ).rowcount
            == 1
        )

    def claim_watch_alert(self, chat_id: int, article_id: int) -> bool:
        """Become the one sender of a queued alert; False if a replica claimed it already.
        Recorded before the message goes out: an alert is sent at most once."""
        return (
            self.store.execute(
                "UPDATE tg_watch_alerts SET status = 'sent' "
                "WHERE chat_id = ? AND article_id = ? AND status = 'pending'",
                (chat_id, article_id),
            ).rowcount
            == 1
        )

    def pending_watch_alerts(self, limit: int = 20) -> list[tuple[int, int]]:
        """Queued alerts no one has claimed (their replica stopped after the digest)."""
        rows = self.store.execute(
            "SELECT chat_id, article_id FROM tg_watch_alerts WHERE status = 'pending' "
            "ORDER BY chat_id, article_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    # --- current article and message links -----------------------------------------------

    def current_article(self, chat_id: int) -> int | None:
        row = self.store.execute(
            "SELECT current_article_id FROM tg_chats WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def set_current_article(self, chat_id: int, article_id: int | None) -> None:
        self.store.execute(
            "INSERT INTO tg_chats VALUES (?, ?) ON CONFLICT (chat_id) "
            "DO UPDATE SET current_article_id = excluded.current_article_id",
            (chat_id, article_id),
        )

    def link_messages(self, chat_id: int, message_ids: Sequence[int], article_id: int) -> None:
        for message_id in message_ids:
            self.store.execute(
                "INSERT INTO tg_messages VALUES (?, ?, ?) ON CONFLICT (chat_id, message_id) "
                "DO UPDATE SET article_id = excluded.article_id",
                (chat_id, message_id, article_id),
            )

    def article_of_message(self, chat_id: int, message_id: int) -> int | None:
        row = self.store.execute(
            "SELECT article_id FROM tg_messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        ).fetchone()
        return int(row[0]) if row else None

    # --- fragments of a paste ------------------------------------------------------------

    def add_fragment(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        text: str,
        forwarded: bool = False,
        origin: str | None = None,
    ) -> None:
        self.store.execute(
            "INSERT INTO tg_fragments "
            "(chat_id, user_id, message_id, text, forwarded, origin, arrived_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, message_id) DO NOTHING",
            (chat_id, user_id, message_id, text, int(forwarded), origin, time.time()),
        )

    def replace_fragment(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edited fragment of a paste still being collected; False if there is none."""
        cursor = self.store.execute(
            "UPDATE tg_fragments SET text = ?, arrived_at = ? "
            "WHERE chat_id = ? AND user_id = ? AND message_id = ?",
            (text, time.time(), chat_id, user_id, message_id),
        )
        return cursor.rowcount == 1

    def fragments(self, chat_id: int, user_id: int) -> list[Fragment]:
        rows = self.store.execute(
            "SELECT message_id, text, forwarded, origin FROM tg_fragments "
            "WHERE chat_id = ? AND user_id = ? ORDER BY message_id",
            (chat_id, user_id),
        ).fetchall()
        return [Fragment(int(r[0]), str(r[1]), bool(r[2]), r[3]) for r in rows]

    def has_fragments(self, chat_id: int, user_id: int) -> bool:
        """Whether a paste of this user is being collected (on any replica)."""
        row = self.store.execute(
            "SELECT 1 FROM tg_fragments WHERE chat_id = ? AND user_id = ? LIMIT 1",
            (chat_id, user_id),
        ).fetchone()
        return row is not None

    def last_arrival(self, chat_id: int, user_id: int) -> float | None:
        """When the paste's latest fragment arrived (on whichever replica), or None."""
        row = self.store.execute(
            "SELECT MAX(arrived_at) FROM tg_fragments WHERE chat_id = ? AND user_id = ?",
            (chat_id, user_id),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def pending_pastes(self) -> list[tuple[int, int]]:
        rows = self.store.execute("SELECT DISTINCT chat_id, user_id FROM tg_fragments").fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def quiet_pastes(self, before: float) -> list[tuple[int, int, float]]:
        """Pastes whose latest fragment arrived before ``before``: (chat, user, that time)."""
        rows = self.store.execute(
            "SELECT chat_id, user_id, MAX(arrived_at) FROM tg_fragments "
            "GROUP BY chat_id, user_id HAVING MAX(arrived_at) < ?",
            (before,),
        ).fetchall()
        return [(int(r[0]), int(r[1]), float(r[2])) for r in rows]

    def claim_paste(self, chat_id: int, user_id: int, owner: str, until: float) -> bool:
        """Become the one replica closing this paste, until ``until`` (or it is released)."""
        cursor = self.store.execute(
            "INSERT INTO tg_pastes VALUES (?, ?, ?, ?) ON CONFLICT (chat_id, user_id) "
            "DO UPDATE SET closing_by = excluded.closing_by, "
            "closing_until = excluded.closing_until WHERE tg_pastes.closing_until < ?",
            (chat_id, user_id, owner, until, time.time()),
        )
        return cursor.rowcount == 1

    def release_paste(self, chat_id: int, user_id: int, owner: str) -> None:
        self.store.execute(
            "DELETE FROM tg_pastes WHERE chat_id = ? AND user_id = ? AND closing_by = ?",
            (chat_id, user_id, owner),
        )

    def drop_fragments(self, chat_id: int, user_id: int, message_ids: Sequence[int]) -> bool:
        """Delete these fragments; False if another replica consumed them first."""
        try:
            with self.store.transaction():
                self._consume(chat_id, user_id, message_ids, None)
        except PasteGone:
            return False
        return True

    def discard_fragments(self, chat_id: int, user_id: int) -> None:
        self.store.execute(
            "DELETE FROM tg_fragments WHERE chat_id = ? AND user_id = ?", (chat_id, user_id)
        )

    def consume_fragments(
        self, chat_id: int, user_id: int, message_ids: Sequence[int], article_id: int
    ) -> bool:
        """Link a paste's fragments to its article (so /digest in reply to any retries it);
        False if another replica consumed them first."""
        try:
            with self.store.transaction():
                self._consume(chat_id, user_id, message_ids, article_id)
        except PasteGone:
            return False
        return True

    def _consume(
        self, chat_id: int, user_id: int, message_ids: Sequence[int], article_id: int | None
    ) -> None:
        """Inside a transaction: delete exactly these fragments, or raise PasteGone."""
        wanted = sorted(set(message_ids))
        if not wanted:
            return
        gone = self.store.execute(
            f"DELETE FROM tg_fragments WHERE chat_id = ? AND user_id = ? "
            f"AND message_id IN ({_marks(wanted)}) RETURNING message_id",
            (chat_id, user_id, *wanted),
        ).fetchall()
        if len(gone) != len(wanted):
            raise PasteGone(f"{len(wanted) - len(gone)} fragment(s) already consumed")
        if article_id is not None:
            self.link_messages(chat_id, wanted, article_id)

    # --- jobs: digests and answers -------------------------------------------------------

    def create_job(
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
    ) -> Job:
        """Queue a digest or an answer, consuming the paste's fragments in the same transaction.

        A digest's fragments and ``reply_to`` are linked to its article. With a ``quota``, the
        check and the reservation are one step: the user's row is locked first (PostgreSQL:
        ``SELECT ... FOR UPDATE``; SQLite: the transaction's ``BEGIN IMMEDIATE`` write lock),
        so concurrent pastes of one user, on any replica, take turns: ``used_today()`` plus the
        pending jobs' costs plus ``cost`` must fit, else OverQuota. Raises PasteGone if another
        replica consumed the fragments first.
        """
        with self.store.transaction():
            if quota:
                self.store.execute(
                    "INSERT INTO tg_users VALUES (?) ON CONFLICT (user_id) DO NOTHING", (user_id,)
                )
                lock = " FOR UPDATE" if self.store.dialect == "postgres" else ""
                self.store.execute(f"SELECT user_id FROM tg_users WHERE user_id = ?{lock}",
                                   (user_id,))  # fmt: skip
                used = (used_today() if used_today else 0) + self.pending_cost(user_id)
                if used + cost > quota:
                    raise OverQuota(f"{used + cost} > {quota}")
            row = self.store.execute(
                "INSERT INTO tg_jobs (chat_id, user_id, article_id, reply_to, kind, question, "
                "cost, status_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (chat_id, user_id, article_id, reply_to, kind, question, cost, status_message),
            ).fetchone()
            digest = kind == "digest"
            self._consume(chat_id, user_id, fragment_ids, article_id if digest else None)
            if reply_to is not None and digest:
                self.link_messages(chat_id, [reply_to], article_id)
        return Job(int(row[0]), chat_id, user_id, article_id, reply_to, kind, question, cost,
                   status_message)  # fmt: skip

    def pending_cost(self, user_id: int) -> int:
        """Tokens reserved by the user's pending jobs, on every replica."""
        row = self.store.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM tg_jobs WHERE user_id = ? AND status = 'pending'",
            (user_id,),
        ).fetchone()
        return int(row[0])

    def claim_job(self, owner: str, lease: float) -> Job | None:
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
            f"AND id IN ({_marks(job_ids)}) RETURNING id",
            (time.time() + lease, owner, *job_ids),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def held(self, owner: str, job_ids: Sequence[int]) -> set[int]:
        """The ids among ``job_ids`` that are still pending and ``owner``'s."""
        if not job_ids:
            return set()
        rows = self.store.execute(
            f"SELECT id FROM tg_jobs WHERE owner = ? AND status = 'pending' "
            f"AND id IN ({_marks(job_ids)})",
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
            self.link_messages(job.chat_id, message_ids, job.article_id)
            if job.kind == "digest":
                self.set_current_article(job.chat_id, job.article_id)
                self.queue_watch_alert(job.chat_id, job.article_id)
        return done == 1

    def keep_delivery(self, job: Job, message_ids: Sequence[int], reason: str) -> None:
        """A reply that went out while the database was away: recorded when it is back, so
        the job is never run (and paid for) again."""
        payload = {"job": [job.id, job.chat_id, job.user_id, job.article_id, job.reply_to,
                           job.kind, job.question, job.cost, job.status_message],
                   "messages": list(message_ids)}  # fmt: skip
        self.store.spool.keep("delivery", str(job.id), payload, reason)

    def _replay_delivery(self, payload: dict[str, Any]) -> None:
        """The kept delivery: the job done whoever holds it now (the reply went out)."""
        job = _job(payload["job"])
        with self.store.transaction():
            if self.job_status(job.id) is None:  # forgotten meanwhile
                return
            self.finish_job(job.id, "done")
            self.link_messages(job.chat_id, payload["messages"], job.article_id)
            if job.kind == "digest":
                self.set_current_article(job.chat_id, job.article_id)
                self.queue_watch_alert(job.chat_id, job.article_id)

    def finish_job(self, job_id: int, status: str, owner: str | None = None) -> bool:
        """Move a pending job to ``status``; with ``owner``, only while it is still theirs."""
        sql = "UPDATE tg_jobs SET status = ? WHERE id = ? AND status = 'pending'"
        params: tuple[object, ...] = (status, job_id)
        if owner is not None:
            sql, params = sql + " AND owner = ?", (*params, owner)
        return self.store.execute(sql, params).rowcount == 1

    def set_status_message(self, job_id: int, message_id: int) -> None:
        """Keep the job's status line, so a replica taking the job over edits that one."""
        self.store.execute(
            "UPDATE tg_jobs SET status_message = ? WHERE id = ?", (message_id, job_id)
        )

    def release_jobs(self, owner: str) -> int:
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
            self.finish_job(int(row[0]), "cancelled")
        return _job(row)

    def cancel_chat_jobs(self, chat_id: int) -> list[int]:
        """Cancel every pending job of the chat; their ids."""
        rows = self.store.execute(
            "UPDATE tg_jobs SET status = 'cancelled' WHERE chat_id = ? AND status = 'pending' "
            "RETURNING id",
            (chat_id,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def job_status(self, job_id: int) -> str | None:
        row = self.store.execute("SELECT status FROM tg_jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0]) if row else None

    def pending_jobs(self) -> list[Job]:
        rows = self.store.execute(
            f"SELECT {_JOB} FROM tg_jobs WHERE status = 'pending' ORDER BY id"
        ).fetchall()
        return [_job(r) for r in rows]
