"""A second CPU for pure-Python work that holds the GIL: one helper process, kept warm.

Splitting a long article into sentences (syntok, pure Python) is the one thing before its
first model call that grows with the article: about 0.4 s for 50k tokens on this machine's
cores. Threads cannot share that work; a helper process can take half of it. The helper is
a ``forkserver`` child (safe beside the threads a running bot has), started at the first
long article or by ``warm_up`` (the bot calls it at start, so no reader waits for it). On a
single CPU, or where a helper cannot start, the work stays in this process, as it would
without this module.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

HELPER_TIMEOUT = 30.0  # seconds; a helper that takes longer is given up for this process
_WATCH_SECONDS = 1.0  # how often the helper checks that its process is still there

_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None
_unavailable = False


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):
            return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _helper() -> concurrent.futures.ProcessPoolExecutor | None:
    global _pool, _unavailable
    with _lock:
        if _pool is None and not _unavailable:
            if _cpus() < 2 or "forkserver" not in multiprocessing.get_all_start_methods():
                _unavailable = True
            else:
                context = multiprocessing.get_context("forkserver")
                _pool = concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
                )
                atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def _end_with(owner: int) -> None:
    """In the helper: end when the process it works for is gone. A process killed outright
    (SIGKILL, the OOM killer) runs no clean-up, and the helper holds both ends of its own
    work queue, so it would otherwise wait on it forever beside the restarted bot."""

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            try:
                os.kill(owner, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid another user's
                os._exit(0)

    threading.Thread(target=watch, name="end-with-owner", daemon=True).start()


def _give_up(error: BaseException) -> None:
    global _pool, _unavailable
    log.info("the helper process is not available (%s); working in one process", error)
    with _lock:
        _unavailable = True
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _nothing(items: Sequence[object]) -> int:
    return len(items)


def warm_up() -> None:
    """Start the helper now (it takes a few tenths of a second), if there is a second CPU."""
    if (pool := _helper()) is not None:
        try:
            pool.submit(_nothing, ()).result(timeout=HELPER_TIMEOUT)
        except Exception as error:  # no /dev/shm, a sandbox refusing processes...
            _give_up(error)


def map_halves(
    work: Callable[[Sequence[Item]], list[Result]], first: Sequence[Item], second: Sequence[Item]
) -> list[Result]:
    """``work(first) + work(second)``, the second done by the helper at the same time.

    ``work`` must be a module-level function (the helper is sent it by name).
    """
    pool = _helper() if second else None
    if pool is None:
        return work([*first, *second])
    try:
        theirs = pool.submit(work, second)
    except Exception as error:
        _give_up(error)
        return work([*first, *second])
    mine = work(first)
    try:
        return mine + theirs.result(timeout=HELPER_TIMEOUT)
    except Exception as error:
        _give_up(error)
        return mine + work(second)
