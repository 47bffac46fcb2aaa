"""The model calls of one digest: run side by side, all or none, and timed for round trips.

``stats.round_trips`` is the longest chain of calls that ran one after another, from their
own start and end times (``planning.critical_path``); a failed batch reports every token spent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from bot.core.errors import LLMError
from bot.core.models.llm import Completion, T
from bot.core.reading.planning import critical_path
from bot.core.schemas import Usage


class _Paid(Protocol):
    @property
    def usage(self) -> Usage: ...


Paid = TypeVar("Paid", bound=_Paid)


class RoundTripMeter:
    """Start, end and call count of every model request of one digest, for its round trips."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float, int]] = []

    async def run(self, call: Coroutine[Any, Any, Completion[T]]) -> Completion[T]:
        started = time.monotonic()
        try:
            done = await call
        except LLMError as error:
            calls = error.usage.calls if error.usage else 1
            self.spans.append((started, time.monotonic(), max(calls, 1)))
            raise
        self.spans.append((started, time.monotonic(), max(done.usage.calls, 1)))
        return done

    @property
    def round_trips(self) -> int:
        return critical_path(self.spans)


async def all_or_none(
    calls: list[Coroutine[Any, Any, Paid]], spent: Usage | None = None
) -> list[Paid]:
    """Run side by side; on the first failure cancel the rest (no unpaid work left running)
    and raise it carrying every token spent so far, ``spent`` included."""
    tasks: list[asyncio.Task[Paid]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in calls]
    except BaseExceptionGroup as failures:
        errors = [e for e in failures.exceptions if isinstance(e, LLMError)]
        if len(errors) != len(failures.exceptions):
            raise
        total = Usage()
        total.add(spent)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                total.add(task.result().usage)
        for error in errors:
            total.add(error.usage)
        errors[0].usage = total
        raise errors[0] from None
    return [task.result() for task in tasks]
