"""The embedded server outliving the command that started it, on a lease its users renew.

A 1.5B model on two cores reads a 2,000-token article in about 15 s. ``digestbot digest``
then ``digestbot ask`` in a new process would read it again to answer one question; a server
left running keeps the article's prompt state, so the question costs only its own tokens
(what Ollama's ``keep_alive`` does). The lease is a small JSON file naming the server; every
process using it renews the file's mtime, and the server exits once nobody has renewed it for
``seconds``, once the file is gone, or once it names another server (a newer one took over).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Lease", "pid_alive", "process_start", "server_alive", "watch_lease"]

_ENV_PATH = "BOT_SERVER_LEASE"
_ENV_SECONDS = "BOT_SERVER_LEASE_SECONDS"


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease file of one data folder's embedded server and how long it lasts unrenewed."""

    path: Path
    seconds: float

    @property
    def log_path(self) -> Path:
        """Where the server writes its output: no parent's pipe outlives the parent."""
        return self.path.with_suffix(".log")

    def read(self) -> dict[str, Any] | None:
        """The recorded server (pid, port, config), or None when there is none or it is torn."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write(self, **fields: Any) -> None:
        """Record a server atomically (a reader never sees half a file); renews the lease.

        A server's pid is recorded with its start time, so a pid reused by another process
        is never taken for the server (``server_alive``)."""
        pid = fields.get("pid")
        if isinstance(pid, int) and "pid_started" not in fields:
            fields["pid_started"] = process_start(pid)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(fields), encoding="utf-8")
        os.replace(scratch, self.path)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the lease's lock file (waiting in a thread, so the event loop runs on)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as handle:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def renew(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def child_env(self) -> Mapping[str, str]:
        """What tells the server's child to watch this lease (see ``watch_lease``)."""
        return {_ENV_PATH: str(self.path), _ENV_SECONDS: str(self.seconds)}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux); None elsewhere or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()  # the name may hold spaces and parentheses


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks since boot); None where /proc is not there."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None  # stat field 22


def server_alive(pid: int, started: object = None) -> bool:
    """The recorded server's process still runs: the pid is alive, not a zombie (exited, not
    yet reaped by the command that started it), and, when its start time was recorded, the
    same process rather than another one given the pid since.

    Only the process is asked: an HTTP call would wait in line behind the request the server
    is answering, and a busy server is not a dead one."""
    if not pid_alive(pid):
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc (macOS): the pid is all there is
    if fields[0] in ("Z", "X"):
        return False
    return not isinstance(started, int) or process_start(pid) == started


def watch_lease(environ: Mapping[str, str] = os.environ) -> bool:
    """In the server's child: exit when the lease lapses. False when there is no lease."""
    path, seconds = environ.get(_ENV_PATH), environ.get(_ENV_SECONDS)
    if not path or not seconds:
        return False
    lease = Lease(Path(path), float(seconds))

    def watch() -> None:
        while True:
            time.sleep(min(2.0, lease.seconds / 4))
            try:
                renewed = lease.path.stat().st_mtime
            except OSError:
                os._exit(0)  # the lease was removed: stop
            owner = (lease.read() or {}).get("pid")
            if owner not in (None, os.getpid()) or time.time() - renewed > lease.seconds:
                os._exit(0)  # another server took over, or nobody has used us for a while

    threading.Thread(target=watch, daemon=True, name="lease").start()
    return True
