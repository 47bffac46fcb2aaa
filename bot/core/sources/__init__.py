"""Any article, however it arrives: a link, a PDF, a Word file, an HTML or text file.

The one place that turns bytes (or a URL) plus a type into article text; the CLI and the
Telegram edge both call it, so a new format is added here and nowhere else.

- ``find_link(message)``: the URL when a message is (or holds only) a link, else None.
- ``await fetch_link(url, settings)``: fetch a link within every guard, then extract it.
- ``await read_document(data, filename=..., content_type=..., settings=...)``: a file's bytes.

Every read runs in a worker process with a time and memory budget (``worker``); every
failure is a ``SourceError`` whose message is one line for the user.
- ``await load(path_or_url, settings)``: what the command line is given.

Each returns a ``Source`` (text, title, kind, url, filename) or raises ``SourceError`` whose
message is one line for the user.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote

from bot.core.errors import SourceError
from bot.core.sources.base import Kind, Source
from bot.core.sources.extract import MAX_TEXT_CHARS, kind_of, read_bytes

if TYPE_CHECKING:
    from bot.core.settings import Settings

__all__ = [
    "Kind",
    "Source",
    "SourceError",
    "fetch_link",
    "find_link",
    "kind_of",
    "load",
    "read_bytes",
    "read_document",
]

_LINK = re.compile(r"^<?([a-z][a-z0-9+.-]*://\S+?)>?[.,;!)\]]*$", re.IGNORECASE)


def find_link(message: str) -> str | None:
    """The link when the message is nothing but one URL (any scheme: refused later, clearly)."""
    match = _LINK.match(message.strip())
    return match.group(1) if match else None


def _too_big(settings: Settings) -> SourceError:
    limit = f"{settings.fetch_max_bytes / 1_000_000:g} MB"
    return SourceError(f"This file is larger than {limit}; send a smaller file or the text.")


def _max_chars(settings: Settings) -> int:
    """Characters beyond any article the digest would take (a token is rarely 12 of them)."""
    return max(MAX_TEXT_CHARS, 12 * settings.max_article_tokens)


async def read_document(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None = None,
    settings: Settings,
) -> Source:
    """A document's bytes as an article (PDF, .docx, .html, .txt, .md), read in a bounded
    worker process (``worker``): its time and memory are capped, and it is killed when the
    caller is cancelled."""
    from bot.core.sources.worker import read_in_worker  # asyncio: kept out of the sandbox

    if len(data) > settings.fetch_max_bytes:
        raise _too_big(settings)
    return await read_in_worker(
        data, filename=filename, content_type=content_type, max_chars=_max_chars(settings)
    )


async def fetch_link(url: str, settings: Settings) -> Source:
    """The article behind a link, fetched with every guard (see ``fetch``), then extracted."""
    from bot.core.sources.fetch import fetch
    from bot.core.sources.worker import read_in_worker

    fetched = await fetch(
        url,
        allow_private=settings.fetch_allow_private,
        max_bytes=settings.fetch_max_bytes,
        time_limit=settings.fetch_timeout,
    )
    name = unquote(PurePosixPath(fetched.url.split("?", 1)[0]).name) or None
    return await read_in_worker(
        fetched.body,
        filename=name,
        content_type=fetched.media_type,
        charset=fetched.charset,
        url=fetched.url,
        max_chars=_max_chars(settings),
    )


async def load(target: str, settings: Settings) -> Source:
    """What ``digestbot digest URL|FILE`` is given: a link is fetched, a file read."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", target, re.IGNORECASE):
        return await fetch_link(target, settings)
    import asyncio

    data = await asyncio.to_thread(_read_file, Path(target), settings)
    return await read_document(data, filename=Path(target).name, settings=settings)


def _read_file(path: Path, settings: Settings) -> bytes:
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    if path.stat().st_size > settings.fetch_max_bytes:
        raise _too_big(settings)
    return path.read_bytes()
