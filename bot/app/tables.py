"""The application's tables and their migrations.

They began as the Telegram edge's own, hence the ``tg_`` names and the ``telegram`` component:
both are kept as they are, so every existing database (SQLite or PostgreSQL) keeps working.
The tables belong to the application now; each store class of ``bot.app`` migrates them on
opening (a no-op once they are current).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core.storage.database import Migration, postgres_ddl
from bot.core.storage.store import Store

COMPONENT = "telegram"  # the name existing databases know these migrations by

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
_FEEDS = """
    CREATE TABLE tg_feeds (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        url TEXT NOT NULL,
        title TEXT,
        added_by INTEGER NOT NULL,
        added_at REAL NOT NULL,
        polled_at REAL NOT NULL,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL,
        UNIQUE (chat_id, url)
    );
    CREATE INDEX tg_feeds_by_poll ON tg_feeds (polled_at);
    CREATE TABLE tg_feed_items (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES tg_feeds (id) ON DELETE CASCADE,
        chat_id INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        link TEXT NOT NULL,
        title TEXT,
        published TEXT,
        status TEXT NOT NULL,
        seen_at REAL NOT NULL,
        UNIQUE (feed_id, item_id)
    );
    CREATE INDEX tg_feed_items_new ON tg_feed_items (feed_id, id) WHERE status = 'new';
    CREATE INDEX tg_feed_items_by_day ON tg_feed_items (chat_id, seen_at);
    CREATE TABLE tg_feed_days (chat_id INTEGER PRIMARY KEY, capped_on TEXT NOT NULL);
"""
_UTC_NOW = "(to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS'))"
APP_MIGRATIONS: tuple[Migration | str, ...] = (
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
    # Feeds (issue 22): the feeds a chat follows, each polled by one replica at a time under a
    # lease; every item seen once per feed (the unique key makes "each item once" hold across
    # replicas: 'old' items were there when followed, 'new' ones are still to queue, then
    # 'queued' or 'failed'); and the day a chat last heard that its daily cap was reached.
    Migration(_FEEDS, postgres_ddl(_FEEDS).replace(" REAL", " DOUBLE PRECISION")),
)


_INSTALLED: weakref.WeakSet[Store] = weakref.WeakSet()


def install(store: Store) -> None:
    """Bring the application's tables up to date, once per opened store (each store class
    of ``bot.app`` calls this, and one process builds several on one store)."""
    if store not in _INSTALLED:
        store.migrate(COMPONENT, APP_MIGRATIONS)
        _INSTALLED.add(store)


def utc_now(moment: datetime | None = None) -> str:
    """UTC as datetime('now') writes it ("YYYY-MM-DD HH:MM:SS"), computed here for both SQLs."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")


def marks(values: Sequence[object]) -> str:
    """One ``?`` per value, for an ``IN (...)`` list."""
    return ", ".join("?" * len(values))
