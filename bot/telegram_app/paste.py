"""Join the pieces of one paste: Telegram splits long texts into several messages.

Each fragment is stored the moment it arrives (a crash loses nothing); a paste is complete
when its sender has been quiet for a short while. With replicas the pieces of one paste may
land on different processes, so the store decides: the quiet period runs from the latest
fragment's arrival wherever it landed, and the paste is closed by whichever replica claims it
(tg_pastes) once that has passed: a local timer is the fast path, and a sweep of the store
closes pastes whose timer is on another replica or died with one. The closing transaction
consumes exactly the fragments read, so a paste is one article and one digest either way.
Pieces are joined with a paragraph break where the previous one ended a sentence, else with
a space, since the client cuts at white space near the 4096-character limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import (
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from bot.telegram_app.state import Fragment, TelegramState

log = logging.getLogger(__name__)

PasteDone = Callable[[int, int, list[Fragment]], Awaitable[None]]
SpawnTask = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
_ENDS_SENTENCE = re.compile(r"""[.!?。！？…:"'”’)\]]\s*$""")
_SENTENCE = re.compile(r"[.!?。！？](?:\s|$)")


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


def origin_of(origin: MessageOrigin) -> str:
    """Who wrote a forwarded post, when, and (for a channel) which post, as stored JSON."""
    if isinstance(origin, MessageOriginUser):
        who = f"user:{origin.sender_user.id}"
    elif isinstance(origin, MessageOriginHiddenUser):
        who = f"hidden:{origin.sender_user_name}"
    elif isinstance(origin, MessageOriginChat):
        who = f"chat:{origin.sender_chat.id}"
    elif isinstance(origin, MessageOriginChannel):
        who = f"channel:{origin.chat.id}"
    else:
        who = f"other:{origin.type}"
    post = origin.message_id if isinstance(origin, MessageOriginChannel) else None
    return json.dumps({"who": who, "date": origin.date.timestamp(), "post": post})


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


FAILED_PASTE_PAUSE = 60.0  # seconds before a paste whose closing failed is tried again


class PasteCollector:
    def __init__(
        self,
        state: TelegramState,
        quiet_seconds: float,
        on_done: PasteDone,
        spawn: SpawnTask,
        *,
        owner: str = "local",
        claim_seconds: float = 30.0,
    ) -> None:
        self.state = state
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
        return (chat_id, user_id) in self._deadlines or self.state.has_fragments(chat_id, user_id)

    async def add(
        self, chat_id: int, user_id: int, message_id: int, text: str, origin: str | None = None
    ) -> None:
        """Store a piece; one that does not continue the paste in progress ends it first."""
        collected = self.state.fragments(chat_id, user_id)
        if collected and not continues(collected[-1], origin, self.quiet_seconds):
            await self.flush_now(chat_id, user_id)
        forwarded = origin is not None
        self.state.add_fragment(chat_id, user_id, message_id, text, forwarded, origin)
        self._schedule((chat_id, user_id), time.time() + self.quiet_seconds)

    def replace(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edit of a piece still being collected replaces its text (and waits anew)."""
        if not self.state.replace_fragment(chat_id, user_id, message_id, text):
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
        for chat_id, user_id, _ in self.state.quiet_pastes(now - self.quiet_seconds):
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
        self.state.discard_fragments(chat_id, user_id)

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
            while (latest := self.state.last_arrival(chat_id, user_id)) is not None:
                if not force and time.time() < latest + self.quiet_seconds:
                    self._schedule(key, latest + self.quiet_seconds)  # a later piece landed
                    break
                until = time.time() + self.claim_seconds
                if not self.state.claim_paste(chat_id, user_id, self.owner, until):
                    break  # another replica is closing it; what it leaves, it closes too
                try:
                    stored = self.state.fragments(chat_id, user_id)
                    group = leading_group(stored, self.quiet_seconds)
                    if not group or group[0].message_id == first:
                        break  # nothing, or no progress: leave it to the next try
                    first = group[0].message_id
                    await self.on_done(chat_id, user_id, group)
                    closed = True
                except Exception:
                    self._failed[key] = time.time() + FAILED_PASTE_PAUSE
                    raise
                finally:
                    self.state.release_paste(chat_id, user_id, self.owner)
                force = False  # pieces after a post that did not continue wait their own quiet
        finally:
            self._closing.discard(key)
        return closed
