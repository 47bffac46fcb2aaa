"""Links and files: read into an article's text in the background, then digested like a paste.

The core's front door reads them (``DigestService.read``: a page fetched with every guard, a
file read in a bounded child process). Until its article is handed on to the intake, a read
belongs to the chat's /cancel, which cancels its task and so the read itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app.intake import Intake
from bot.app.replies import Replies, StatusLine
from bot.app.runner import JobRunner
from bot.app.steps import JobSteps
from bot.core.errors import SourceError
from bot.core.service import DigestService, Source, Submission

log = logging.getLogger(__name__)

# What the user handed in, fetched from the chat (a file's bytes); None once the user has
# been told why not. Given the status line, to say so in its place.
Fetch = Callable[[StatusLine], Awaitable[Submission | None]]


class Reading:
    """The chats' links and files being read, each cancellable until it is handed on."""

    def __init__(
        self,
        service: DigestService,
        replies: Replies,
        steps: JobSteps,
        runner: JobRunner,
        intake: Intake,
    ) -> None:
        self.service, self.replies, self.steps = service, replies, steps
        self.runner, self.intake = runner, intake
        self._reading: dict[int, set[asyncio.Task[None]]] = {}  # chat -> its reads under way

    async def start_link(self, chat_id: int, user_id: int, url: str, *, reply_to: int) -> None:
        """Fetch a link in the background, then digest its article."""

        async def link(status: StatusLine) -> Submission:
            return Submission(url=url)

        await self.start_reading(chat_id, user_id, link, reply_to=reply_to,
                                 opening="Fetching the page…")  # fmt: skip

    async def start_reading(
        self, chat_id: int, user_id: int, fetch: Fetch, *, reply_to: int, opening: str
    ) -> None:
        """Read what ``fetch`` brings in the background, then digest its article; ``opening``
        is the status line meanwhile."""
        task = self.runner.spawn(self._read_in(chat_id, user_id, fetch, reply_to, opening))
        self._track_reading(chat_id, task)

    async def _read_in(
        self, chat_id: int, user_id: int, fetch: Fetch, reply_to: int, opening: str
    ) -> None:
        status = self.replies.status_line(chat_id, reply_to)
        await self.replies.typing(chat_id)
        await status.open(opening)
        submission = await fetch(status)
        if submission is None:
            return
        source = await self._read(chat_id, reply_to, status, submission)
        self._handed_on(chat_id)
        if source is not None:
            await self.intake.start_digest(
                chat_id, user_id, source, reply_to=reply_to, status=status
            )

    def _track_reading(self, chat_id: int, task: asyncio.Task[None]) -> None:
        """Until its article is handed on, a read belongs to the chat's /cancel."""
        tasks = self._reading.setdefault(chat_id, set())
        tasks.add(task)
        task.add_done_callback(lambda done: self._handed_on(chat_id, done))

    def _handed_on(self, chat_id: int, task: asyncio.Task[Any] | None = None) -> None:
        """The read is over (its article goes on as a digest job, which /cancel stops)."""
        current = task or asyncio.current_task()
        tasks = self._reading.get(chat_id, set())
        if current is not None:
            tasks.discard(current)
        if not tasks:
            self._reading.pop(chat_id, None)

    def cancel_reading(self, chat_id: int) -> bool:
        """Stop the chat's links and files still being fetched or read (the reader's child
        process is killed with its task); True if there was one."""
        tasks = self._reading.pop(chat_id, set())
        for task in tasks:
            task.cancel()
        return bool(tasks)

    async def _read(
        self, chat_id: int, reply_to: int, status: StatusLine, submission: Submission
    ) -> Source | None:
        """The source, or None after one line in place of the status line saying why not."""
        try:
            return await self.service.read(submission)
        except asyncio.CancelledError:  # /cancel: its reply says so; the status line goes
            with contextlib.suppress(Exception):
                await asyncio.shield(status.close())
            raise
        except SourceError as error:
            log.info("source refused in chat %s: %s", chat_id, error)
            text = error.user_message
        except Exception:
            log.error("reading a link or file in chat %s failed", chat_id, exc_info=True)
            text = "Something went wrong on my side while reading that. Please try again."
        await self.replace(status, text, chat_id, reply_to)
        return None

    async def replace(self, status: StatusLine, text: str, chat_id: int, reply_to: int) -> None:
        """Turn the status line into ``text`` (or send it, if the line is gone)."""
        if not await status.become(text):
            await self.steps.say(chat_id, text, reply_to)
