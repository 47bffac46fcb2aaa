"""What the Telegram edge must remember across restarts, in the core's SQLite file.

Fragments of a paste are written as they arrive and turned into an article in one
transaction with its digest job, so a crash at any moment loses no text; update IDs make a
redelivered update a no-op; jobs left pending by a crash are resumed at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.database import Migration, postgres_ddl
from bot.core.store import Store

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
)
UPDATE_RETENTION_DAYS = 3  # Telegram redelivers an update for at most 24 hours
PRUNE_EVERY = 1000  # updates between two prunings, besides the one at start


def _utc_now(moment: datetime | None = None) -> str:
    """UTC as datetime('now') writes it ("YYYY-MM-DD HH:MM:SS"), computed here for both SQLs."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")


def chat_scope(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_key(user_id: int) -> str:
    return f"tg:{user_id}"


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
    article_id: int
    reply_to: int | None


class TelegramState:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen = 0
        store.migrate("telegram", TELEGRAM_MIGRATIONS)

    def first_sight(self, update_id: int) -> bool:
        """True the first time an update ID is seen, False for a redelivery."""
        cursor = self.store.execute(
            "INSERT INTO tg_updates VALUES (?, ?) ON CONFLICT (update_id) DO NOTHING",
            (update_id, _utc_now()),
        )
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

    def link_messages(self, chat_id: int, message_ids: list[int], article_id: int) -> None:
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
            "INSERT INTO tg_fragments (chat_id, user_id, message_id, text, forwarded, origin) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, message_id) DO NOTHING",
            (chat_id, user_id, message_id, text, int(forwarded), origin),
        )

    def replace_fragment(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edited fragment of a paste still being collected; False if there is none."""
        cursor = self.store.execute(
            "UPDATE tg_fragments SET text = ? WHERE chat_id = ? AND user_id = ? AND message_id = ?",
            (text, chat_id, user_id, message_id),
        )
        return cursor.rowcount == 1

    def fragments(self, chat_id: int, user_id: int) -> list[Fragment]:
        rows = self.store.execute(
            "SELECT message_id, text, forwarded, origin FROM tg_fragments "
            "WHERE chat_id = ? AND user_id = ? ORDER BY message_id",
            (chat_id, user_id),
        ).fetchall()
        return [Fragment(int(r[0]), str(r[1]), bool(r[2]), r[3]) for r in rows]

    def pending_pastes(self) -> list[tuple[int, int]]:
        rows = self.store.execute("SELECT DISTINCT chat_id, user_id FROM tg_fragments").fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def drop_fragments(self, chat_id: int, user_id: int, up_to_message: int) -> None:
        self.store.execute(
            "DELETE FROM tg_fragments WHERE chat_id = ? AND user_id = ? AND message_id <= ?",
            (chat_id, user_id, up_to_message),
        )

    def consume_fragments(
        self, chat_id: int, user_id: int, up_to_message: int, article_id: int
    ) -> None:
        """Link a paste's fragments to its article (so /digest in reply to any retries it)."""
        with self.store.transaction():
            self._consume(chat_id, user_id, up_to_message, article_id)

    def _consume(self, chat_id: int, user_id: int, up_to_message: int, article_id: int) -> None:
        self.store.execute(
            "INSERT INTO tg_messages (chat_id, message_id, article_id) "
            "SELECT chat_id, message_id, ? FROM tg_fragments "
            "WHERE chat_id = ? AND user_id = ? AND message_id <= ? "
            "ON CONFLICT (chat_id, message_id) DO UPDATE SET article_id = excluded.article_id",
            (article_id, chat_id, user_id, up_to_message),
        )
        self.drop_fragments(chat_id, user_id, up_to_message)

    # --- digest jobs ---------------------------------------------------------------------

    def create_job(
        self,
        chat_id: int,
        user_id: int,
        article_id: int,
        reply_to: int | None,
        fragments_up_to: int | None = None,
    ) -> Job:
        """Queue a digest; consumes (and links) the paste's fragments in the same transaction."""
        with self.store.transaction():
            row = self.store.execute(
                "INSERT INTO tg_jobs (chat_id, user_id, article_id, reply_to) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (chat_id, user_id, article_id, reply_to),
            ).fetchone()
            if fragments_up_to is not None:
                self._consume(chat_id, user_id, fragments_up_to, article_id)
            if reply_to is not None:
                self.link_messages(chat_id, [reply_to], article_id)
        return Job(int(row[0]), chat_id, user_id, article_id, reply_to)

    def finish_job(self, job_id: int, status: str) -> None:
        self.store.execute("UPDATE tg_jobs SET status = ? WHERE id = ?", (status, job_id))

    def job_status(self, job_id: int) -> str | None:
        row = self.store.execute("SELECT status FROM tg_jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0]) if row else None

    def pending_jobs(self) -> list[Job]:
        rows = self.store.execute(
            "SELECT id, chat_id, user_id, article_id, reply_to FROM tg_jobs "
            "WHERE status = 'pending' ORDER BY id"
        ).fetchall()
        return [Job(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows]
