"""Join the pieces of one paste: Telegram splits long texts into several messages.

Each fragment is stored the moment it arrives (a crash loses nothing); a paste is complete
when its sender has been quiet for a short while. Pieces are joined with a paragraph
break where the previous one ended a sentence, else with a space, since the client cuts at
white space near the 4096-character limit.
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


class PasteCollector:
    def __init__(
        self, state: TelegramState, quiet_seconds: float, on_done: PasteDone, spawn: SpawnTask
    ) -> None:
        self.state = state
        self.quiet_seconds = quiet_seconds
        self.on_done = on_done
        self.spawn = spawn
        self._deadlines: dict[tuple[int, int], float] = {}

    def pending(self, chat_id: int, user_id: int) -> bool:
        return (chat_id, user_id) in self._deadlines

    async def add(
        self, chat_id: int, user_id: int, message_id: int, text: str, origin: str | None = None
    ) -> None:
        """Store a piece; one that does not continue the paste in progress ends it first."""
        if self.pending(chat_id, user_id):
            collected = self.state.fragments(chat_id, user_id)
            if collected and not continues(collected[-1], origin, self.quiet_seconds):
                await self.flush_now(chat_id, user_id)
        forwarded = origin is not None
        self.state.add_fragment(chat_id, user_id, message_id, text, forwarded, origin)
        self._schedule(chat_id, user_id)

    def replace(self, chat_id: int, user_id: int, message_id: int, text: str) -> bool:
        """An edit of a piece still being collected replaces its text (and waits anew)."""
        if not self.pending(chat_id, user_id):
            return False
        if not self.state.replace_fragment(chat_id, user_id, message_id, text):
            return False
        self._schedule(chat_id, user_id)
        return True

    async def flush_all(self) -> None:
        """Complete every paste at once (shutdown), so no digest waits for the next start."""
        for chat_id, user_id in list(self._deadlines):
            try:
                await self.flush_now(chat_id, user_id)
            except Exception:  # its fragments stay stored and are resumed at the next start
                log.exception("could not complete a paste in chat %s at shutdown", chat_id)

    def resume(self) -> None:
        """Finish pastes that were still arriving when the bot stopped."""
        for chat_id, user_id in self.state.pending_pastes():
            self._schedule(chat_id, user_id)

    async def flush_now(self, chat_id: int, user_id: int) -> bool:
        """Complete a paste at once (``/digest``); False if there was none."""
        self._deadlines.pop((chat_id, user_id), None)  # its waiting task will find nothing
        fragments = self.state.fragments(chat_id, user_id)
        if fragments:
            await self.on_done(chat_id, user_id, fragments)
        return bool(fragments)

    def discard(self, chat_id: int, user_id: int) -> None:
        self._deadlines.pop((chat_id, user_id), None)
        self.state.drop_fragments(chat_id, user_id, up_to_message=2**62)

    def _schedule(self, chat_id: int, user_id: int) -> None:
        key = (chat_id, user_id)
        waiting = key in self._deadlines
        self._deadlines[key] = time.monotonic() + self.quiet_seconds
        if not waiting:
            self.spawn(self._complete_when_quiet(key))

    async def _complete_when_quiet(self, key: tuple[int, int]) -> None:
        # Each new fragment pushes the deadline back; this one task waits it out.
        while (deadline := self._deadlines.get(key)) is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        if self._deadlines.pop(key, None) is None:
            return  # flushed or discarded meanwhile
        fragments = self.state.fragments(*key)
        if fragments:
            await self.on_done(*key, fragments)
