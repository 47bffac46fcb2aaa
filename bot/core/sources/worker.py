"""Read a file or page in a child process that has a memory limit and can be killed.

Parsers of PDF, Word and HTML are third-party code fed bytes from strangers: a few KB can ask
them for gigabytes or minutes, and a thread running them can neither be bounded nor stopped.
So every read runs in a fresh process (``python -P -m bot.core.sources.sandbox``) that
imports the one parser it needs, then limits its own address space (``RLIMIT_AS``) and CPU
time before touching the bytes. The parent waits without blocking the event loop, kills the child
at ``READ_SECONDS`` of wall time, and kills it when the awaiting task is cancelled (the bot's
shutdown, a ``/cancel``). The child is the parent's own, so its peak memory counts as the
parent's child in ``wait4``. At most ``MAX_READERS`` run at once per event loop, so a burst of
bombs costs a bounded amount of memory. A normal article costs the start of one interpreter
and one import (about 0.1 s for a PDF, 0.3 s for a page).

The protocol is in ``sandbox``. The child's stderr is discarded: a parser's warnings may
quote the article.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import struct
import sys
import weakref
from pathlib import Path
from typing import Any

from bot.core.errors import SourceError
from bot.core.sources.base import Source
from bot.core.sources.sandbox import TOO_BIG, UNREADABLE

log = logging.getLogger(__name__)

READ_SECONDS = 15.0  # wall time for one read, the interpreter's start included
READ_MEMORY_BYTES = 400 * 1024 * 1024  # address space a reader may add to its start-up size
MAX_READERS = 3  # reads at once per event loop; the rest wait their turn
TOO_SLOW = "Reading this file took longer than {seconds:g} s; send the text instead."

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding the ``bot`` package


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(MAX_READERS)
    return _slots[loop]


async def read_in_worker(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    charset: str | None = None,
    url: str | None = None,
    max_chars: int | None = None,
) -> Source:
    """``extract.read_bytes`` in a bounded child process; a SourceError says why not."""
    seconds, memory = READ_SECONDS, READ_MEMORY_BYTES
    fields = {"filename": filename, "content_type": content_type, "charset": charset, "url": url}
    limits = {"max_chars": max_chars, "seconds": seconds, "memory": memory}
    header = json.dumps(fields | limits).encode()
    payload = struct.pack(">I", len(header)) + header + data
    async with _slot():
        output, status = await _run(payload, seconds)
    return _result(output, status, seconds)


async def _run(payload: bytes, seconds: float) -> tuple[bytes, int | None]:
    """The child's stdout and exit status (None: killed at the time limit)."""
    env = dict(os.environ)
    # -P keeps the working folder off sys.path; the child imports the parent's own copy.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "bot.core.sources.sandbox",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
    except OSError as error:
        log.warning("could not start a reader process: %s", error)
        raise SourceError("I can't read files right now; try again in a minute.") from None
    try:
        async with asyncio.timeout(seconds):
            output, _ = await process.communicate(payload)
        return output, process.returncode
    except TimeoutError:
        return b"", None
    finally:
        if process.returncode is None:  # timed out or cancelled: stop it, and reap it
            process.kill()
            await process.wait()


def _result(output: bytes, status: int | None, seconds: float) -> Source:
    if status is None or status == -signal.SIGXCPU:
        raise SourceError(TOO_SLOW.format(seconds=seconds))
    try:
        answer: dict[str, Any] = json.loads(output.decode("utf-8", "surrogatepass"))
    except ValueError:
        answer = {}
    if "source" in answer:
        fields = answer["source"]
        return Source(
            text=fields["text"], title=fields["title"], kind=fields["kind"],
            url=fields["url"], filename=fields["filename"], date=fields.get("date"),
        )  # fmt: skip
    if "failure" in answer:  # the type only: the message may quote the article
        log.warning("a reader failed unexpectedly: %s", answer["failure"])
    elif "error" not in answer:
        log.warning("a reader process ended without an answer (status %s)", status)
        if status == -signal.SIGKILL:  # the kernel's OOM killer, or the address-space limit
            raise SourceError(TOO_BIG)
    raise SourceError(str(answer.get("error") or UNREADABLE))
