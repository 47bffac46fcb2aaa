"""Finished work the database could not take yet: kept until it can, never recomputed.

A digest is paid for in tokens before it is stored. When the database is away at that moment
(PostgreSQL restarting, the SQLite file's disk full), what would have been written (the
cached digest, its register rows, the tokens spent, a reply's delivery) is kept here: in
memory, and as one small JSON file per entry in ``<data folder>/unsaved/``, written
atomically (a temp file renamed into place), so a restart during the outage loses nothing.
Whoever wrote an entry's kind replays it (``on``); ``flush`` replays what it can once the
database answers. Several processes may share the folder: an entry is taken by renaming its
file first, so only one of them replays it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
Replay = Callable[[dict[str, Any]], None]


@dataclass
class Entry:
    kind: str  # "digest", "register", "usage", "delivery"...
    key: str
    payload: dict[str, Any]
    reason: str = ""  # why the database did not take it, in the user's terms
    file: Path | None = field(default=None, compare=False)


class Spool:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._entries: dict[tuple[str, str], Entry] = {}
        self._replays: dict[str, Replay] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._load()

    def __len__(self) -> int:
        return len(self._entries)

    def on(self, kind: str, replay: Replay) -> None:
        """Replay entries of ``kind`` with ``replay`` (raising DatabaseUnavailable: not yet)."""
        self._replays[kind] = replay

    def keep(self, kind: str, key: str, payload: dict[str, Any], reason: str = "") -> None:
        """Keep an entry in memory and, if the disk allows, in its file."""
        entry = Entry(kind, key, payload, reason)
        entry.file = self._write(entry)
        with self._lock:
            self._entries[(kind, key)] = entry
        log.info("kept %s %s until the database takes it (%s)", kind, key, reason)

    def find(self, kind: str, key: str) -> Entry | None:
        with self._lock:
            return self._entries.get((kind, key))

    def entries(self, kind: str | None = None) -> list[Entry]:
        with self._lock:
            return [e for e in self._entries.values() if kind is None or e.kind == kind]

    def flush(self) -> int:
        """Replay what the database takes now, in the order kept; how many went in.

        Stops at the first DatabaseUnavailable (the rest waits); an entry that can never go
        in (its article forgotten meanwhile) is logged and dropped.
        """
        if not self._entries or not self._flushing.acquire(blocking=False):
            return 0
        done = 0
        try:
            self._load()
            for entry in self.entries():
                replay = self._replays.get(entry.kind)
                if replay is None:  # its edge is not running in this process
                    continue
                taken = self._take(entry)
                if taken is None and entry.file is not None:  # another process replayed it
                    self._forget(entry)
                    continue
                try:
                    replay(entry.payload)
                except DatabaseUnavailable:
                    self._give_back(entry, taken)
                    break
                except Exception as error:  # never going in: do not retry forever
                    log.warning("dropped kept %s %s: %s", entry.kind, entry.key, error)
                self._forget(entry, taken)
                done += 1
        finally:
            self._flushing.release()
        if done:
            log.info("the database took %d kept item(s); %d still wait", done, len(self))
        return done

    # --- files ---------------------------------------------------------------------------

    def _name(self, kind: str, key: str) -> str:
        return hashlib.sha256(f"{kind}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def _write(self, entry: Entry) -> Path | None:
        """The entry's file, written atomically; None (memory only) when the disk refuses."""
        if self.folder is None:
            return None
        target = self.folder / f"{self._name(entry.kind, entry.key)}.json"
        partial = target.with_name(f".{target.stem}.{os.getpid()}.tmp")
        body = {"kind": entry.kind, "key": entry.key, "payload": entry.payload,
                "reason": entry.reason}  # fmt: skip
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(partial, "w", encoding="utf-8") as sink:
                json.dump(body, sink, ensure_ascii=False)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(partial, target)
        except OSError as error:
            partial.unlink(missing_ok=True)
            log.info("could not keep %s %s on disk (%s); kept in memory only",
                        entry.kind, entry.key, error.strerror or error)  # fmt: skip
            return None
        return target

    def _load(self) -> None:
        """Entries other processes (or a previous run) left in the folder."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json"), key=_mtime):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                entry = Entry(body["kind"], body["key"], body["payload"], body.get("reason", ""))
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("unreadable kept entry %s: %s", path.name, error)
                continue
            entry.file = path
            with self._lock:
                self._entries.setdefault((entry.kind, entry.key), entry)

    def _take(self, entry: Entry) -> Path | None:
        """Rename the entry's file so no other process replays it; None if one did."""
        if entry.file is None:
            return None
        taken = entry.file.with_name(f".{entry.file.stem}.{os.getpid()}.replaying")
        try:
            os.replace(entry.file, taken)
        except FileNotFoundError:
            return None
        except OSError:
            return entry.file  # read-only or full: replay it anyway, the file stays
        return taken

    def _give_back(self, entry: Entry, taken: Path | None) -> None:
        if taken is not None and entry.file is not None and taken != entry.file:
            try:
                os.replace(taken, entry.file)
            except OSError as error:
                log.warning("could not put back kept entry %s: %s", entry.file.name, error)

    def _forget(self, entry: Entry, taken: Path | None = None) -> None:
        with self._lock:
            self._entries.pop((entry.kind, entry.key), None)
        if taken is not None:
            taken.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
