"""A paste: Telegram splits a long text into several messages, which come back together here.

Each fragment is stored the moment it arrives (a crash loses nothing); a paste is complete
when its sender has been quiet for a short while. With replicas the pieces of one paste may
land on different processes, so the store decides: the quiet period runs from the latest
fragment's arrival wherever it landed, and the paste is closed by whichever replica claims it
(tg_pastes) once that has passed: a local timer is the fast path, and a sweep of the store
closes pastes whose timer is on another replica or died with one. Fragments leave the store
only with what came of them, in the transaction that records it (``JobQueue.take_fragments``),
so a paste is one article and one digest either way. Pieces are joined with a paragraph break
where the previous one ended a sentence, else with a space, since the client cuts at white
space near the 4096-character limit. Nothing here knows the chat platform: a forward's origin
comes in as the JSON its edge wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.app.tables import install
from bot.core.storage.store import Store

log = logging.getLogger(__name__)

_ENDS_SENTENCE = re.compile(r"""[.!?。！？…:"'”’)\]]\s*$""")
_SENTENCE = re.compile(r"[.!?。！？](?:\s|$)")
FAILED_PASTE_PAUSE = 60.0  # seconds before a paste whose closing failed is tried again


@dataclass(frozen=True)
class Fragment:
    message_id: int
    text: str
    forwarded: bool = False
    origin: str | None = None  # JSON of the forward's origin, as its edge wrote it


@dataclass(frozen=True)
class Paste:
    """A closed paste: its text joined, and what it is (an article, or a lone question)."""

    text: str
    message_ids: list[int]
    question: bool  # one typed piece too short to be an article: asked, not digested

    @classmethod
    def of(cls, fragments: list[Fragment]) -> Paste:
        text = join_fragments(fragments)
        lone = len(fragments) == 1 and not fragments[0].forwarded
        return cls(text, [f.message_id for f in fragments], lone and not looks_like_article(text))


PasteDone = Callable[[int, int, Paste], Awaitable[None]]
SpawnTask = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Fragments:
    """The fragments of pastes still being collected, and the claims of replicas closing them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        install(store)

    def add(
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

    def replace(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edited fragment of a paste still being collected; False if there is none."""
        cursor = self.store.execute(
            "UPDATE tg_fragments SET text = ?, arrived_at = ? "
            "WHERE chat_id = ? AND user_id = ? AND message_id = ?",
            (text, time.time(), chat_id, user_id, message_id),
        )
        return cursor.rowcount == 1

    def of(self, chat_id: int, user_id: int) -> list[Fragment]:
        rows = self.store.execute(
            "SELECT message_id, text, forwarded, origin FROM tg_fragments "
            "WHERE chat_id = ? AND user_id = ? ORDER BY message_id",
            (chat_id, user_id),
        ).fetchall()
        return [Fragment(int(r[0]), str(r[1]), bool(r[2]), r[3]) for r in rows]

    def collecting(self, chat_id: int, user_id: int) -> bool:
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

    def claim(self, chat_id: int, user_id: int, owner: str, until: float) -> bool:
        """Become the one replica closing this paste, until ``until`` (or it is released)."""
        cursor = self.store.execute(
            "INSERT INTO tg_pastes VALUES (?, ?, ?, ?) ON CONFLICT (chat_id, user_id) "
            "DO UPDATE SET closing_by = excluded.closing_by, "
            "closing_until = excluded.closing_until WHERE tg_pastes.closing_until < ?",
            (chat_id, user_id, owner, until, time.time()),
        )
        return cursor.rowcount == 1

    def release(self, chat_id: int, user_id: int, owner: str) -> None:
        self.store.execute(
            "DELETE FROM tg_pastes WHERE chat_id = ? AND user_id = ? AND closing_by = ?",
            (chat_id, user_id, owner),
        )

    def discard(self, chat_id: int, user_id: int) -> None:
        self.store.execute(
            "DELETE FROM tg_fragments WHERE chat_id = ? AND user_id = ?", (chat_id, user_id)
        )


def join_fragments(fragments: list[Fragment]) -> str:
    text = ""
    for fragment in fragments:
        piece = fragment.text.strip("\n")
        if not text:
            text = piece
        elif _ENDS_SENTENCE.search(text):
            text = f"{text}\n\n{piece}"
        else:
            text = f"{text} {piece.lstrip()}"
    return text


def looks_like_article(text: str) -> bool:
    """Long enough and with enough sentences to be an article rather than a question."""
    return len(text) >= 500 and len(_SENTENCE.findall(text)) >= 3


def continues(previous: Fragment, origin: str | None, quiet_seconds: float) -> bool:
    """Whether a new piece belongs to the paste that ends with ``previous``.

    Typed pieces belong together. A forwarded piece continues only a forward of the same
    origin written within the quiet period of it (a long message its author's client split),
    and for a channel only the very next post: five posts forwarded at once are five articles.
    """
    if origin is None or previous.origin is None:
        return origin is None and not previous.forwarded
    before, now = json.loads(previous.origin), json.loads(origin)
    if before["who"] != now["who"]:
        return False
    if abs(now["date"] - before["date"]) > quiet_seconds + 1:  # dates are whole seconds
        return False
    return before["post"] is None or now["post"] == before["post"] + 1


def leading_group(fragments: list[Fragment], quiet_seconds: float) -> list[Fragment]:
    """The first paste among stored fragments: the pieces that continue one another."""
    group = fragments[:1]
    for fragment in fragments[1:]:
        if not continues(group[-1], fragment.origin, quiet_seconds):
            break
        group.append(fragment)
    return group


class PasteCollector:
    """Closes each paste once its sender has been quiet: here by a timer, or by a sweep of
    the store for pastes whose timer is on another replica or died with one."""

    def __init__(
        self,
        fragments: Fragments,
        quiet_seconds: float,
        on_done: PasteDone,
        spawn: SpawnTask,
        *,
        owner: str = "local",
        claim_seconds: float = 30.0,
    ) -> None:
        self.fragments = fragments
        self.quiet_seconds = quiet_seconds
        self.on_done = on_done
        self.spawn = spawn
        self.owner = owner  # this replica's id
        self.claim_seconds = claim_seconds  # how long a closing claim holds if we die
        self._deadlines: dict[tuple[int, int], float] = {}  # local timers, epoch seconds
        self._closing: set[tuple[int, int]] = set()
        self._failed: dict[tuple[int, int], float] = {}  # paste -> when to try it again

    def pending(self, chat_id: int, user_id: int) -> bool:
        """Whether the user's paste is being collected, on this replica or another."""
        return (chat_id, user_id) in self._deadlines or self.fragments.collecting(chat_id, user_id)

    async def add(
        self, chat_id: int, user_id: int, message_id: int, text: str, origin: str | None = None
    ) -> None:
        """Store a piece; one that does not continue the paste in progress ends it first."""
        collected = self.fragments.of(chat_id, user_id)
        if collected and not continues(collected[-1], origin, self.quiet_seconds):
            await self.flush_now(chat_id, user_id)
        forwarded = origin is not None
        self.fragments.add(chat_id, user_id, message_id, text, forwarded, origin)
        self._schedule((chat_id, user_id), time.time() + self.quiet_seconds)

    def replace(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edit of a piece still being collected replaces its text (and waits anew)."""
        if not self.fragments.replace(chat_id, user_id, message_id, text):
            return False
        self._schedule((chat_id, user_id), time.time() + self.quiet_seconds)
        return True

    async def flush_all(self) -> None:
        """Complete this replica's pastes at once (shutdown), so no digest waits for later."""
        for chat_id, user_id in list(self._deadlines):
            try:
                await self.flush_now(chat_id, user_id)
            except Exception:  # its fragments stay stored; the next start or a replica closes it
                log.exception("could not complete a paste in chat %s at shutdown", chat_id)

    async def sweep(self) -> None:
        """Close the pastes that have been quiet long enough and that no local timer holds:
        their last piece landed on another replica, or on one that died."""
        now = time.time()
        for chat_id, user_id, _ in self.fragments.quiet_pastes(now - self.quiet_seconds):
            key = (chat_id, user_id)
            if key in self._deadlines or key in self._closing or self._failed.get(key, 0) > now:
                continue
            self._closing.add(key)  # reserved now, so the next sweep does not spawn it twice
            self.spawn(self._close_reserved(chat_id, user_id))

    async def _close_reserved(self, chat_id: int, user_id: int) -> None:
        await self._close(chat_id, user_id, force=False, reserved=True)

    async def flush_now(self, chat_id: int, user_id: int) -> bool:
        """Complete a paste at once (``/digest``); False if there was none to close here."""
        self._deadlines.pop((chat_id, user_id), None)  # its waiting task will find nothing
        return await self._close(chat_id, user_id, force=True)

    def discard(self, chat_id: int, user_id: int) -> None:
        self._deadlines.pop((chat_id, user_id), None)
        self.fragments.discard(chat_id, user_id)

    def _schedule(self, key: tuple[int, int], deadline: float) -> None:
        waiting = key in self._deadlines
        self._deadlines[key] = max(deadline, self._deadlines.get(key, deadline))
        if not waiting:
            self.spawn(self._complete_when_quiet(key))

    async def _complete_when_quiet(self, key: tuple[int, int]) -> None:
        # Each new fragment pushes the deadline back; this one task waits it out.
        while (deadline := self._deadlines.get(key)) is not None:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        if self._deadlines.pop(key, None) is None:
            return  # flushed or discarded meanwhile
        await self._close(*key, force=False)

    async def _close(
        self, chat_id: int, user_id: int, *, force: bool, reserved: bool = False
    ) -> bool:
        """Close the user's paste if it is quiet (or ``force``) and this replica wins the
        claim; True if an article or question came of it."""
        key = (chat_id, user_id)
        if key in self._closing and not reserved:
            return False  # already being closed here
        self._closing.add(key)
        closed, first = False, None
        try:
            while (latest := self.fragments.last_arrival(chat_id, user_id)) is not None:
                if not force and time.time() < latest + self.quiet_seconds:
                    self._schedule(key, latest + self.quiet_seconds)  # a later piece landed
                    break
                until = time.time() + self.claim_seconds
                if not self.fragments.claim(chat_id, user_id, self.owner, until):
                    break  # another replica is closing it; what it leaves, it closes too
                try:
                    stored = self.fragments.of(chat_id, user_id)
                    group = leading_group(stored, self.quiet_seconds)
                    if not group or group[0].message_id == first:
                        break  # nothing, or no progress: leave it to the next try
                    first = group[0].message_id
                    await self.on_done(chat_id, user_id, Paste.of(group))
                    closed = True
                except Exception:
                    self._failed[key] = time.time() + FAILED_PASTE_PAUSE
                    raise
                finally:
                    self.fragments.release(chat_id, user_id, self.owner)
                force = False  # pieces after a post that did not continue wait their own quiet
        finally:
            self._closing.discard(key)
        return closed
