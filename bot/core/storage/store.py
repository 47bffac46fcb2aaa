"""Storage that migrates itself: articles, cached digests, questions, token usage.

On a SQLite file by default, or on PostgreSQL (``bot.core.storage.database``). Handed its path or
URL by the caller; nothing here knows about Telegram. A
``scope`` string keeps one conversation's articles apart from another's ("cli",
"chat:123"). Migrations are numbered SQL scripts applied in order, each in a transaction,
with a version kept per component, so an edge can add its own tables with ``migrate``.
A digest the database cannot take when it is finished (server away, disk full) waits in the
store's spool (``bot.core.storage.spool``) and is served from there, so it is never paid for twice.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.errors import DatabaseUnavailable
from bot.core.schemas import Answer, Digest
from bot.core.storage.database import (
    Database,
    Dialect,
    Migration,
    Result,
    SQLiteDatabase,
    open_database,
)
from bot.core.storage.spool import Spool

SPOOL_FOLDER = "unsaved"  # in the data folder: finished work waiting for the database

CORE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (scope, sha256)
    );
    CREATE TABLE digests (
        sha256 TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (sha256, model, prompt_version)
    );
    CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        question TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX exchanges_by_article ON exchanges (article_id, id);
    CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        user_key TEXT NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        calls INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX usage_by_user_day ON usage (user_key, day);
    """,
    # Where an article came from when it was not pasted: the link, or the file's name.
    "ALTER TABLE articles ADD COLUMN origin TEXT",
    # The date the article reports (bot.core.reading.dates): ISO day or month, NULL when
    # unknown, and its basis; articles stored before are unknown, dated by their arrival.
    """
    ALTER TABLE articles ADD COLUMN reported_date TEXT;
    ALTER TABLE articles ADD COLUMN date_basis TEXT NOT NULL DEFAULT 'arrived';
    """,
)

# An article's date in SQL: the reported one, else the day it arrived (``a``: articles).
ARTICLE_DAY = "COALESCE(a.reported_date, SUBSTR(a.created_at, 1, 10))"


def article_hash(text: str) -> str:
    """The article's key; any str hashes (a lone surrogate as itself, never a crash)."""
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@dataclass(frozen=True)
class StoredArticle:
    id: int
    scope: str
    sha256: str
    title: str
    text: str
    created_at: str
    origin: str | None = None  # the link or file name it came from; None for a paste
    reported_date: str | None = None  # the date it reports (bot.core.reading.dates); None: unknown
    date_basis: str = "arrived"  # "event", "published", or "arrived": reported_date unknown

    @property
    def day(self) -> str:
        """The article's date: the one it reports, else the day it arrived."""
        return self.reported_date or self.created_at[:10]


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: Answer


"""The data folder or database cannot be used."""


class Store:
    """All persistent state of the bot, on a SQLite file or a PostgreSQL server."""

    def __init__(self, database: Database, spool: Spool | None = None) -> None:
        self.database = database
        self.spool = spool if spool is not None else Spool()
        self.spool.on("digest", self._replay_digest)
        self.spool.on("usage", self._replay_usage)
        self.spool.on("exchange", self._replay_exchange)
        self.migrate("core", CORE_MIGRATIONS)

    @classmethod
    def open(cls, path: Path) -> Store:
        """The SQLite file at ``path`` (the embedded default)."""
        return cls(SQLiteDatabase.open(path), Spool(path.parent / SPOOL_FOLDER))

    @classmethod
    def connect(cls, url: str | None, sqlite_path: Path) -> Store:
        """PostgreSQL when ``url`` names it (BOT_DATABASE_URL), else the SQLite file; either
        way the spool is in the data folder (the SQLite file's)."""
        return cls(open_database(url, sqlite_path), Spool(sqlite_path.parent / SPOOL_FOLDER))

    @property
    def dialect(self) -> Dialect:
        return self.database.dialect

    def close(self) -> None:
        self.database.close()

    def migrate(self, component: str, migrations: Sequence[Migration | str]) -> None:
        """Apply the component's migrations that this database has not seen yet."""
        self.database.migrate(component, migrations)

    def schema_version(self, component: str = "core") -> int:
        return self.database.schema_version(component)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes that land together or not at all."""
        with self.database.transaction():
            yield

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        return self.database.execute(sql, params)

    # --- articles ------------------------------------------------------------------------------

    def save_article(
        self,
        scope: str,
        text: str,
        title: str,
        origin: str | None = None,
        reported_date: str | None = None,
        date_basis: str = "arrived",
    ) -> StoredArticle:
        """Store an article before any model sees it; the same text in a scope is stored once
        (a date it did not have then is filled in)."""
        digest = article_hash(text)
        with self.transaction():
            self.execute(
                "INSERT INTO articles (scope, sha256, title, text, created_at, origin, "
                "reported_date, date_basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, sha256) "
                "DO UPDATE SET origin = COALESCE(articles.origin, excluded.origin), "
                "date_basis = CASE WHEN articles.reported_date IS NULL "
                "THEN excluded.date_basis ELSE articles.date_basis END, "
                "reported_date = COALESCE(articles.reported_date, excluded.reported_date)",
                (scope, digest, title, text, _now(), origin, reported_date, date_basis),
            )
            row = self.execute(
                "SELECT * FROM articles WHERE scope = ? AND sha256 = ?", (scope, digest)
            ).fetchone()
        return _article(row)

    def article(self, article_id: int, scope: str) -> StoredArticle | None:
        row = self.execute(
            "SELECT * FROM articles WHERE id = ? AND scope = ?", (article_id, scope)
        ).fetchone()
        return _article(row) if row else None

    def recent_articles(self, scope: str, limit: int = 10) -> list[StoredArticle]:
        rows = self.execute(
            "SELECT * FROM articles WHERE scope = ? ORDER BY id DESC LIMIT ?", (scope, limit)
        ).fetchall()
        return [_article(r) for r in rows]

    def delete_scope(self, scope: str) -> int:
        """Delete a scope's articles with their questions, and digests no other scope shares."""
        with self.transaction():
            hashes = [r[0] for r in self.execute(
                "SELECT sha256 FROM articles WHERE scope = ?", (scope,)
            ).fetchall()]  # fmt: skip
            # Exchanges (and edge rows that reference articles) go by ON DELETE CASCADE.
            count = self.execute("DELETE FROM articles WHERE scope = ?", (scope,)).rowcount
            for sha in hashes:
                self.execute(
                    "DELETE FROM digests WHERE sha256 = ? AND NOT EXISTS "
                    "(SELECT 1 FROM articles WHERE sha256 = ?)",
                    (sha, sha),
                )
        return int(count)

    # --- digests -------------------------------------------------------------------------------

    def cached_digest(self, sha256: str, model: str, prompt_version: str) -> Digest | None:
        """The kept digest: one still waiting in the spool first, else the database's."""
        kept = self.spool.find("digest", _digest_key(sha256, model, prompt_version))
        if kept is not None:
            return Digest.model_validate_json(kept.payload["body"])
        row = self.execute(
            "SELECT body FROM digests WHERE sha256 = ? AND model = ? AND prompt_version = ?",
            (sha256, model, prompt_version),
        ).fetchone()
        return Digest.model_validate_json(row["body"]) if row else None

    def save_digest(self, sha256: str, model: str, prompt_version: str, digest: Digest) -> None:
        """Keep a finished digest; with the database away it waits in the spool (its tokens
        are spent: losing it here would mean paying for it again)."""
        payload = {"sha256": sha256, "model": model, "prompt_version": prompt_version,
                   "body": digest.model_dump_json(), "created_at": _now()}  # fmt: skip
        try:
            self._replay_digest(payload)
        except DatabaseUnavailable as error:
            key = _digest_key(sha256, model, prompt_version)
            self.spool.keep("digest", key, payload, str(error))

    def _replay_digest(self, payload: dict[str, Any]) -> None:
        self.execute(
            "INSERT INTO digests VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256, model, prompt_version) "
            "DO UPDATE SET body = excluded.body, created_at = excluded.created_at",
            (payload["sha256"], payload["model"], payload["prompt_version"], payload["body"],
             payload["created_at"]),
        )  # fmt: skip

    def unsaved(self, sha256: str) -> str | None:
        """Why a digest of this article is still waiting for the database, or None."""
        for entry in self.spool.entries("digest"):
            if entry.payload["sha256"] == sha256:
                return entry.reason or "the database is not answering"
        return None

    # --- questions and answers -----------------------------------------------------------------

    def save_exchange(self, article_id: int, question: str, answer: Answer) -> None:
        """Keep a paid-for answer; with the database away it waits in the spool."""
        payload = {"article_id": article_id, "question": question,
                   "body": answer.model_dump_json(), "at": _now()}  # fmt: skip
        try:
            self._replay_exchange(payload)
        except DatabaseUnavailable as error:
            self.spool.keep("exchange", uuid.uuid4().hex, payload, str(error))

    def _replay_exchange(self, p: dict[str, Any]) -> None:
        self.execute(
            "INSERT INTO exchanges (article_id, question, body, created_at) "
            "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM articles WHERE id = ?)",
            (p["article_id"], p["question"], p["body"], p["at"], p["article_id"]),
        )

    def exchanges(self, article_id: int, limit: int = 20) -> list[Exchange]:
        """The latest exchanges about an article, oldest first."""
        rows = self.execute(
            "SELECT question, body FROM exchanges WHERE article_id = ? ORDER BY id DESC LIMIT ?",
            (article_id, limit),
        ).fetchall()
        return [Exchange(r["question"], Answer.model_validate_json(r["body"])) for r in rows][::-1]

    # --- usage ---------------------------------------------------------------------------------

    def record_usage(
        self, account: str, kind: str, calls: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Count tokens spent; with the database away they wait in the spool, dated today."""
        payload = {"user_key": account, "kind": kind, "calls": calls, "prompt": prompt_tokens,
                   "completion": completion_tokens, "day": today(), "at": _now()}  # fmt: skip
        try:
            self._replay_usage(payload)
        except DatabaseUnavailable as error:
            self.spool.keep("usage", f"{account}:{uuid.uuid4().hex}", payload, str(error))

    def _replay_usage(self, p: dict[str, Any]) -> None:
        self.execute(
            "INSERT INTO usage (user_key, day, kind, calls, prompt_tokens, completion_tokens, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (p["user_key"], p["day"], p["kind"], p["calls"], p["prompt"], p["completion"],
             p["at"]),
        )  # fmt: skip

    def tokens_used(self, account: str, day: str | None = None) -> int:
        """Tokens counted for the user on ``day`` (today), those still in the spool too."""
        day = day or today()
        row = self.execute(
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS used FROM usage "
            "WHERE user_key = ? AND day = ?",
            (account, day),
        ).fetchone()
        kept = sum(
            e.payload["prompt"] + e.payload["completion"]
            for e in self.spool.entries("usage")
            if e.payload["user_key"] == account and e.payload["day"] == day
        )
        return int(row["used"]) + int(kept)


def _digest_key(sha256: str, model: str, prompt_version: str) -> str:
    return f"{sha256}:{model}:{prompt_version}"


def _article(row: Any) -> StoredArticle:
    return StoredArticle(
        row["id"],
        row["scope"],
        row["sha256"],
        row["title"],
        row["text"],
        row["created_at"],
        row["origin"],
        row["reported_date"],
        row["date_basis"],
    )
