"""Storage that migrates itself: articles, cached digests, questions, token usage.

On a SQLite file by default, or on PostgreSQL (``bot.core.database``). Handed its path or
URL by the caller; nothing here knows about Telegram. A
``scope`` string keeps one conversation's articles apart from another's ("cli",
"chat:123"). Migrations are numbered SQL scripts applied in order, each in a transaction,
with a version kept per component, so an edge can add its own tables with ``migrate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.database import (
    Database,
    DatabaseError,
    Dialect,
    Migration,
    Result,
    SQLiteDatabase,
    open_database,
)
from bot.core.schemas import Answer, Digest

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
)


def article_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: Answer


StoreError = DatabaseError
"""The data folder or database cannot be used."""


class Store:
    """All persistent state of the bot, on a SQLite file or a PostgreSQL server."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.migrate("core", CORE_MIGRATIONS)

    @classmethod
    def open(cls, path: Path) -> Store:
        """The SQLite file at ``path`` (the embedded default)."""
        return cls(SQLiteDatabase.open(path))

    @classmethod
    def connect(cls, url: str | None, sqlite_path: Path) -> Store:
        """PostgreSQL when ``url`` names it (BOT_DATABASE_URL), else the SQLite file."""
        return cls(open_database(url, sqlite_path))

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
        self, scope: str, text: str, title: str, origin: str | None = None
    ) -> StoredArticle:
        """Store an article before any model sees it; the same text in a scope is stored once."""
        digest = article_hash(text)
        with self.transaction():
            self.execute(
                "INSERT INTO articles (scope, sha256, title, text, created_at, origin) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, sha256) "
                "DO UPDATE SET origin = COALESCE(articles.origin, excluded.origin)",
                (scope, digest, title, text, _now(), origin),
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
        row = self.execute(
            "SELECT body FROM digests WHERE sha256 = ? AND model = ? AND prompt_version = ?",
            (sha256, model, prompt_version),
        ).fetchone()
        return Digest.model_validate_json(row["body"]) if row else None

    def save_digest(self, sha256: str, model: str, prompt_version: str, digest: Digest) -> None:
        self.execute(
            "INSERT INTO digests VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256, model, prompt_version) "
            "DO UPDATE SET body = excluded.body, created_at = excluded.created_at",
            (sha256, model, prompt_version, digest.model_dump_json(), _now()),
        )

    # --- questions and answers -----------------------------------------------------------------

    def save_exchange(self, article_id: int, question: str, answer: Answer) -> None:
        self.execute(
            "INSERT INTO exchanges (article_id, question, body, created_at) VALUES (?, ?, ?, ?)",
            (article_id, question, answer.model_dump_json(), _now()),
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
        self, user_key: str, kind: str, calls: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        self.execute(
            "INSERT INTO usage (user_key, day, kind, calls, prompt_tokens, completion_tokens, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user_key, today(), kind, calls, prompt_tokens, completion_tokens, _now()),
        )

    def tokens_used(self, user_key: str, day: str | None = None) -> int:
        row = self.execute(
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS used FROM usage "
            "WHERE user_key = ? AND day = ?",
            (user_key, day or today()),
        ).fetchone()
        return int(row["used"])


def _article(row: Any) -> StoredArticle:
    return StoredArticle(
        row["id"],
        row["scope"],
        row["sha256"],
        row["title"],
        row["text"],
        row["created_at"],
        row["origin"],
    )
