"""Feeds a chat follows (issue 22): ``/follow`` an RSS or Atom feed, and each new item of it
is digested in the chat once, across restarts and replicas.

- Following reads the feed once (so a bad address is refused on the spot) and marks the items
  already in it as seen: a feed may list a year of releases, and digesting that backlog would
  spend the day's cap and the model on old news; the chat gets what appears from now on.
- Every ``BOT_FEED_POLL_SECONDS`` a feed is due; one replica claims it under a lease (the rows
  of ``tg_feeds``, like the job queue's) and reads it through the fetch guard. Each new item is
  written down first (insert-or-ignore on the feed and the item's id: a second reader of the
  same item adds nothing), then its page is read like a link sent in the chat and queued as a
  digest job in the same transaction that marks the item queued, so the existing job path
  delivers it once. A poll stopped midway leaves its items 'new' and the feed due: the next
  start, or another replica once the lease has run out, goes on from there.
- A chat follows at most ``BOT_FEEDS_PER_CHAT`` feeds and gets at most
  ``BOT_FEED_ITEMS_PER_DAY`` items a UTC day; the rest wait, oldest first, for the next day.
- A feed that fails records its one line (``/following`` shows it) and the chat is told once,
  when it starts failing, not at every poll; the other feeds go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.app.errors import OverQuota
from bot.app.jobs import JobQueue
from bot.app.memory import chat_scope
from bot.app.quota import Quota, estimate
from bot.app.replies import Replies
from bot.app.runner import JobRunner
from bot.app.tables import install
from bot.core.errors import DatabaseUnavailable, SourceError
from bot.core.service import DigestService, Submission
from bot.core.sources.feed import FEED_READ_SECONDS, Feed, FeedItem, new_items, read_feed
from bot.core.storage.store import Store

log = logging.getLogger(__name__)

LOOK_SECONDS = 2.0  # how often a replica looks for a due feed (at most)
POLLS_AT_ONCE = 2  # feeds one replica reads at the same time

_FEED = "id, chat_id, url, title, added_by, last_error"


@dataclass(frozen=True)
class FollowedFeed:
    """A feed as its chat sees it: ``number`` is its place in ``/following``."""

    number: int
    url: str
    title: str | None
    last_error: str | None = None

    @property
    def name(self) -> str:
        return self.title or urlsplit(self.url).hostname or "the feed"


@dataclass(frozen=True)
class _Claimed:
    id: int
    chat_id: int
    url: str
    title: str | None
    added_by: int  # whose quota its digests count against
    last_error: str | None


@dataclass(frozen=True)
class _Pending:
    id: int
    link: str
    title: str | None
    published: str | None


def _midnight() -> float:
    """This UTC day's start, in epoch seconds (the cap's day, like the quota's)."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class FeedList:
    """The feeds each chat follows and the items seen of each, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        install(store)

    def follow(self, chat_id: int, user_id: int, url: str, feed: Feed, cap: int) -> str:
        """Add the feed with its present items seen: "added", "exists" or "full"."""
        now = time.time()
        with self.store.transaction():
            if self.find(chat_id, url) is not None:
                return "exists"
            if self.count(chat_id) >= cap:
                return "full"
            row = self.store.execute(
                "INSERT INTO tg_feeds (chat_id, url, title, added_by, added_at, polled_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (chat_id, url, feed.title, user_id, now, now),
            ).fetchone()
            self.add_items(int(row[0]), chat_id, feed.items, "old")
        return "added"

    def find(self, chat_id: int, url: str) -> int | None:
        row = self.store.execute(
            "SELECT id FROM tg_feeds WHERE chat_id = ? AND url = ?", (chat_id, url)
        ).fetchone()
        return int(row[0]) if row else None

    def count(self, chat_id: int) -> int:
        row = self.store.execute(
            "SELECT COUNT(*) FROM tg_feeds WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return int(row[0])

    def following(self, chat_id: int) -> list[FollowedFeed]:
        """The chat's feeds, oldest first, numbered from 1."""
        rows = self.store.execute(
            "SELECT url, title, last_error FROM tg_feeds WHERE chat_id = ? ORDER BY id",
            (chat_id,),
        ).fetchall()
        return [FollowedFeed(n, str(r[0]), r[1], r[2]) for n, r in enumerate(rows, start=1)]

    def unfollow(self, chat_id: int, which: str) -> FollowedFeed | None:
        """Stop following the feed at ``which`` (its address, or its number in
        ``following``), forgetting its items; None if the chat follows no such feed."""
        with self.store.transaction():
            feeds = self.following(chat_id)
            found = next((f for f in feeds if which in (f.url, str(f.number))), None)
            if found is not None:
                self.store.execute(
                    "DELETE FROM tg_feeds WHERE chat_id = ? AND url = ?", (chat_id, found.url)
                )
        return found

    def add_items(self, feed_id: int, chat_id: int, items: Sequence[FeedItem], status: str) -> None:
        """Write items down as seen; an item already there (any status) stays as it is."""
        now = time.time()
        for item in items:
            self.store.execute(
                "INSERT INTO tg_feed_items (feed_id, chat_id, item_id, link, title, published, "
                "status, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (feed_id, item_id) DO NOTHING",
                (feed_id, chat_id, item.id, item.link, item.title, item.published, status, now),
            )

    def seen(self, feed_id: int) -> set[str]:
        rows = self.store.execute(
            "SELECT item_id FROM tg_feed_items WHERE feed_id = ?", (feed_id,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def taken_today(self, chat_id: int) -> int:
        """Items of the chat's feeds taken for digesting this UTC day (not those there when
        a feed was followed)."""
        row = self.store.execute(
            "SELECT COUNT(*) FROM tg_feed_items WHERE chat_id = ? AND seen_at >= ? "
            "AND status <> 'old'",
            (chat_id, _midnight()),
        ).fetchone()
        return int(row[0])

    def pending(self, feed_id: int) -> list[_Pending]:
        """The feed's items written down but not queued yet, in the order they were taken."""
        rows = self.store.execute(
            "SELECT id, link, title, published FROM tg_feed_items "
            "WHERE feed_id = ? AND status = 'new' ORDER BY id",
            (feed_id,),
        ).fetchall()
        return [_Pending(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]

    def mark(self, item_row: int, status: str) -> bool:
        """Move a 'new' item on; False if it was not 'new' any more (another reader's)."""
        return (
            self.store.execute(
                "UPDATE tg_feed_items SET status = ? WHERE id = ? AND status = 'new'",
                (status, item_row),
            ).rowcount
            == 1
        )

    def cap_reached(self, chat_id: int) -> bool:
        """Note that the chat's daily cap was reached; True the first time this UTC day."""
        day = datetime.now(UTC).date().isoformat()
        return (
            self.store.execute(
                "INSERT INTO tg_feed_days (chat_id, capped_on) VALUES (?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET capped_on = excluded.capped_on "
                "WHERE tg_feed_days.capped_on <> excluded.capped_on",
                (chat_id, day),
            ).rowcount
            == 1
        )

    # --- polling: one replica a feed, under a lease -----------------------------------------

    def claim_due(self, owner: str, lease: float, interval: float) -> _Claimed | None:
        """The feed polled longest ago, if it is due and no replica holds it; now ``owner``'s."""
        now = time.time()
        with self.store.transaction():
            row = self.store.execute(
                "UPDATE tg_feeds SET owner = ?, lease_until = ? WHERE id = ("
                "SELECT id FROM tg_feeds WHERE (lease_until IS NULL OR lease_until < ?) "
                f"AND polled_at <= ? ORDER BY polled_at LIMIT 1 {self.store.database.skip_locked}"
                f") RETURNING {_FEED}",
                (owner, now + lease, now, now - interval),
            ).fetchone()
        if row is None:
            return None
        return _Claimed(int(row[0]), int(row[1]), str(row[2]), row[3], int(row[4]), row[5])

    def renew(self, feed_id: int, owner: str, lease: float) -> bool:
        """Extend ``owner``'s lease on the feed; False if it is no longer theirs (unfollowed,
        or taken over after a stall)."""
        return (
            self.store.execute(
                "UPDATE tg_feeds SET lease_until = ? WHERE id = ? AND owner = ?",
                (time.time() + lease, feed_id, owner),
            ).rowcount
            == 1
        )

    def polled(
        self, feed_id: int, owner: str, *, title: str | None = None, error: str | None = None
    ) -> bool:
        """The poll is over: record when, and the feed's line if it failed; the lease goes.
        True if the chat should hear of the failure (the feed worked until now)."""
        failures = "0" if error is None else "failures + 1"
        named = ", title = ?" if title is not None else ""
        with self.store.transaction():
            row = self.store.execute(
                "SELECT last_error FROM tg_feeds WHERE id = ? AND owner = ?", (feed_id, owner)
            ).fetchone()
            if row is None:
                return False
            self.store.execute(
                "UPDATE tg_feeds SET polled_at = ?, owner = NULL, lease_until = NULL, "
                f"last_error = ?, failures = {failures}{named} WHERE id = ?",
                (time.time(), error, *([title] if title is not None else []), feed_id),
            )
        return error is not None and row[0] is None

    def release(self, owner: str) -> None:
        """Give up ``owner``'s feeds (a graceful stop): claimable again at once, still due."""
        self.store.execute(
            "UPDATE tg_feeds SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,)
        )

    def release_all(self) -> None:
        """At the start of the only process on the database: every lease is a dead run's."""
        self.store.execute("UPDATE tg_feeds SET owner = NULL, lease_until = NULL")


class _Paused(Exception):
    """The feed's items wait for the next poll (its owner's quota is spent, or the lease
    was lost)."""


class Feeds:
    """Following, unfollowing and this replica's share of polling the chats' feeds."""

    def __init__(
        self,
        service: DigestService,
        jobs: JobQueue,
        quota: Quota,
        replies: Replies,
        runner: JobRunner,
    ) -> None:
        self.service, self.jobs, self.quota, self.replies = service, jobs, quota, replies
        self.runner, self.owner = runner, runner.replica
        self.store = service.store
        self.list = FeedList(service.store)
        settings = service.settings
        self.interval = settings.feed_poll_seconds
        self.cap, self.per_day = settings.feeds_per_chat, settings.feed_items_per_day
        # A poll reads the feed and then each new item: the lease outlasts the longest step.
        self.lease = settings.job_lease_seconds + 2 * settings.fetch_timeout + FEED_READ_SECONDS
        self._polls: set[asyncio.Task[None]] = set()
        self._next_look = 0.0
        self._stopping = False

    # --- what a chat asks for -------------------------------------------------------------

    async def follow(self, chat_id: int, user_id: int, url: str) -> str:
        """Follow a feed; the one line to answer with."""
        url = url.strip()
        if not self.cap:
            return "Following feeds is turned off on this bot."
        if await asyncio.to_thread(self.list.find, chat_id, url) is not None:
            return "This chat already follows that feed; /following lists its feeds."
        if await asyncio.to_thread(self.list.count, chat_id) >= self.cap:
            return self._full()
        try:
            feed = await read_feed(url, self.service.settings)
        except SourceError as error:
            return error.user_message
        added = await asyncio.to_thread(self.list.follow, chat_id, user_id, url, feed, self.cap)
        if added == "exists":
            return "This chat already follows that feed; /following lists its feeds."
        if added == "full":
            return self._full()
        name = f"“{feed.title}”" if feed.title else "that feed"
        every = f"{round(self.interval / 60)} min" if self.interval >= 90 else "minute"
        every = every if self.interval >= 60 else f"{self.interval:g} s"
        return (
            f"Following {name}: I look at it every {every} and digest each new item here "
            "(the items already in it are skipped)."
        )

    def _full(self) -> str:
        return (
            f"This chat already follows {self.cap} feeds, the most it can: /unfollow one "
            "first (/following lists them)."
        )

    async def unfollow(self, chat_id: int, which: str) -> FollowedFeed | None:
        """Stop following a feed, by its address or its number in ``/following``."""
        return await asyncio.to_thread(self.list.unfollow, chat_id, which.strip())

    async def following(self, chat_id: int) -> list[FollowedFeed]:
        return await asyncio.to_thread(self.list.following, chat_id)

    # --- polling ---------------------------------------------------------------------------

    def start(self) -> None:
        """Alone on the database (SQLite), take back the feeds a previous run held."""
        if not self.jobs.shared:
            self.list.release_all()

    async def tick(self) -> None:
        """On the runner's poll: claim due feeds while this replica has room, and read each
        in its own task (the poll itself never waits for a feed)."""
        now = time.monotonic()
        if self._stopping or not self.cap or now < self._next_look:
            return
        self._next_look = now + min(LOOK_SECONDS, self.interval)
        while len(self._polls) < POLLS_AT_ONCE:
            feed = await asyncio.to_thread(
                self.list.claim_due, self.owner, self.lease, self.interval
            )
            if feed is None:
                return
            task = asyncio.create_task(self._poll(feed))
            self._polls.add(task)
            task.add_done_callback(self._polls.discard)

    async def stop(self) -> None:
        """Stop reading feeds; their leases go, so the next start (or another replica) goes
        on where they stopped."""
        self._stopping = True
        for task in list(self._polls):
            task.cancel()
        if self._polls:
            await asyncio.wait(set(self._polls), timeout=5)
        with contextlib.suppress(Exception):  # the database may be what is going away
            await asyncio.to_thread(self.list.release, self.owner)

    async def _poll(self, feed: _Claimed) -> None:
        title: str | None = None
        try:
            try:
                read = await read_feed(feed.url, self.service.settings)
            except SourceError as error:
                await self._failed(feed, error.user_message)
                return
            title = read.title
            if await asyncio.to_thread(self._take_new, feed, read):
                await self.replies.say(
                    feed.chat_id,
                    f"Today's {self.per_day} feed items are in; the rest follow tomorrow.",
                )
            await self._queue_pending(feed, read.title or feed.title)
        except asyncio.CancelledError:
            raise  # stopping: ``stop`` releases the lease, the feed stays due
        except _Paused:
            pass
        except DatabaseUnavailable as error:
            log.warning("polling feed %s of chat %s waits for the database: %s",
                        feed.id, feed.chat_id, error)  # fmt: skip
            return  # its lease runs out, and the feed is due again
        except Exception:
            log.error("polling feed %s of chat %s failed", feed.id, feed.chat_id, exc_info=True)
        with contextlib.suppress(DatabaseUnavailable):
            await asyncio.to_thread(self.list.polled, feed.id, self.owner, title=title)

    async def _failed(self, feed: _Claimed, line: str) -> None:
        """Record the feed's line; the chat hears it when the feed starts failing."""
        log.info("feed %s of chat %s failed: %s", feed.id, feed.chat_id, line)
        if await asyncio.to_thread(self.list.polled, feed.id, self.owner, error=line):
            which = f"your feed “{feed.title}”" if feed.title else "a feed this chat follows"
            await self.replies.say(
                feed.chat_id, f"I could not read {which}: {line} I'll keep trying."
            )

    def _take_new(self, feed: _Claimed, read: Feed) -> bool:
        """Write down the new items that fit in the chat's day (insert-or-ignore); True if
        some had to wait and the chat has not heard so today."""
        with self.store.transaction():
            room = max(0, self.per_day - self.list.taken_today(feed.chat_id))
            fresh = new_items(read, self.list.seen(feed.id), room + 1)
            self.list.add_items(feed.id, feed.chat_id, fresh[:room], "new")
            return len(fresh) > room and self.list.cap_reached(feed.chat_id)

    async def _queue_pending(self, feed: _Claimed, name: str | None) -> None:
        """Read each item written down and queue its digest, oldest first."""
        for item in await asyncio.to_thread(self.list.pending, feed.id):
            if not await asyncio.to_thread(self.list.renew, feed.id, self.owner, self.lease):
                raise _Paused(f"feed {feed.id} is no longer {self.owner}'s")
            await self._queue_item(feed, item, name)

    async def _queue_item(self, feed: _Claimed, item: _Pending, name: str | None) -> None:
        try:
            source = await self.service.read(Submission(url=item.link))
            if source.date is None and item.published:  # the feed's date, if the page has none
                source = dataclasses.replace(source, date=item.published)
            if source.title is None and item.title:
                source = dataclasses.replace(source, title=item.title)
        except SourceError as error:
            article, tokens, line = None, 0, error.user_message
        else:  # checked and stored in one call (numbering is CPU work: off the event loop)
            scope = chat_scope(feed.chat_id)
            admitted = await asyncio.to_thread(self.service.admit, scope, source)
            article, tokens, line = admitted.article, admitted.tokens, f"{admitted.refusal}."
        if article is None:  # not read, or refused: the chat hears why, once
            if await asyncio.to_thread(self.list.mark, item.id, "failed"):
                what = f"“{item.title}”" if item.title else "A new item"
                where = f" of “{name}”" if name else ""
                await self.replies.say(feed.chat_id, f"{what}{where} could not be digested: {line}")
            return
        try:
            await asyncio.to_thread(self._queue, feed, item, article.id, estimate(tokens))
        except OverQuota:
            log.info("feed %s of chat %s waits: its follower's quota is spent", feed.id,
                     feed.chat_id)  # fmt: skip
            raise _Paused("quota") from None
        self.runner.claim()

    def _queue(self, feed: _Claimed, item: _Pending, article_id: int, cost: int) -> None:
        """The digest job and the item marked queued, together or not at all."""
        with self.store.transaction():
            if not self.list.mark(item.id, "queued"):
                return  # another reader queued it
            self.jobs.create(
                feed.chat_id, feed.added_by, article_id, None, cost=cost,
                quota=self.quota.limit, used_today=self.quota.used_today(feed.added_by),
            )  # fmt: skip
