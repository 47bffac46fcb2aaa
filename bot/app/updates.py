"""Updates seen: a chat platform redelivers an update it thinks was lost, and a redelivery
must be a no-op on whichever replica it lands.

Ids are kept in the store for as long as a redelivery can come, then pruned by age.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from bot.app.tables import install, utc_now
from bot.core.errors import DatabaseUnavailable
from bot.core.storage.store import Store

SEEN_WHILE_AWAY = 10_000  # update ids remembered in memory while the database is away
UPDATE_RETENTION_DAYS = 3  # Telegram redelivers an update for at most 24 hours
PRUNE_EVERY = 1000  # updates between two prunings, besides the one at start


class SeenUpdates:
    """The update ids seen, on every replica (and in memory while the database is away)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen = 0
        self._seen_while_away: OrderedDict[int, None] = OrderedDict()
        install(store)

    def first_sight(self, update_id: int) -> bool:
        """True the first time an update ID is seen, False for a redelivery.

        With the database away (or its disk full) this process remembers the ids itself, so
        what needs no database (``/help``, the apology) still goes out, once.
        """
        try:
            cursor = self.store.execute(
                "INSERT INTO tg_updates VALUES (?, ?) ON CONFLICT (update_id) DO NOTHING",
                (update_id, utc_now()),
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
            self.prune()
        return cursor.rowcount == 1

    def prune(self, days: int = UPDATE_RETENTION_DAYS) -> int:
        """Forget update ids older than a redelivery could ever come."""
        cutoff = utc_now(datetime.now(UTC) - timedelta(days=days))
        return self.store.execute("DELETE FROM tg_updates WHERE seen_at < ?", (cutoff,)).rowcount
