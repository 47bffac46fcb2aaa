"""The reader's side of ``worker``: read one file in this process, within its limits.

Run as ``python -P -m bot.core.sources.sandbox``. Stdin holds a 4-byte big-endian length, a
JSON header (the file's name, type, charset and URL, the character cap, the seconds and the
memory allowed), then the raw bytes. Stdout gets one JSON object: ``{"source": {...}}`` or
``{"error": "one line"}``, with ``"failure"`` (the type name of an unexpected exception) for
the parent's log. This module imports next to nothing (no asyncio, no settings): the parser
the file needs is imported, then the limits are set, then the bytes are read.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
from dataclasses import asdict
from typing import Any

from bot.core.errors import SourceError

TOO_BIG = "This file needs more memory to read than I allow; send the text instead."
UNREADABLE = "This file could not be read; send the text instead."


def limit(memory: int, seconds: float) -> None:
    """Cap this process's address space at its present size plus ``memory``, and its CPU."""
    import resource

    with open("/proc/self/statm") as statm:
        present = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (present + memory, present + memory))
    cpu = int(seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


def read(raw: bytes) -> dict[str, Any]:
    """The answer for one request (see the module's docstring)."""
    (size,) = struct.unpack(">I", raw[:4])
    header = json.loads(raw[4 : 4 + size])
    data = raw[4 + size :]
    del raw
    from bot.core.sources.extract import kind_of, preload, read_bytes

    preload(kind_of(header["filename"], header["content_type"], data))
    # After the imports: they are not the file's doing. Without /proc, or with a limit
    # refused, the parent's clock still stops the read.
    with contextlib.suppress(OSError, ValueError):
        limit(int(header["memory"]), float(header["seconds"]))
    try:
        source = read_bytes(
            data, filename=header["filename"], content_type=header["content_type"],
            charset=header["charset"], url=header["url"], max_chars=header["max_chars"],
        )  # fmt: skip
    except SourceError as error:
        return {"error": str(error)}
    except MemoryError:
        return {"error": TOO_BIG}
    except Exception as error:  # read_bytes has its own catch-all; this is the last line
        return {"error": UNREADABLE, "failure": type(error).__name__}
    return {"source": asdict(source)}


def main() -> None:
    answer = read(sys.stdin.buffer.read())
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
