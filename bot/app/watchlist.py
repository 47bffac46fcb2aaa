"""A chat's watchlist (issue 22): names, places or words it wants to hear about, and the
alerts owed after a digest that mentions one.

An alert is queued in the transaction that records its digest's delivery (``bot.app.jobs``)
and claimed before it is sent, so it goes out once whichever replica sends it.
"""

from __future__ import annotations

import time

from bot.app.tables import install
from bot.core.storage.store import Store

WATCH_CAP = 50  # watches per chat


class Watchlist:
    """Each chat's watches and the alerts owed to it, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        install(store)

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
