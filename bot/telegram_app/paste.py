"""Join the pieces of one paste: Telegram splits long texts into several messages.

Each fragment is stored the moment it arrives (a crash loses nothing); a paste is complete
when its sender has been quiet for a short while. Pieces are joined with a paragraph
break where the previous one ended a sentence, else with a space, since the client cuts at
white space near the 4096-character limit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

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

    def add(
        self, chat_id: int, user_id: int, message_id: int, text: str, forwarded: bool = False
    ) -> None:
        self.state.add_fragment(chat_id, user_id, message_id, text, forwarded)
        self._schedule(chat_id, user_id)

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
