"""Download a file from a server we trust (the Bot API's file server) with a byte cap.

python-telegram-bot's ``File.download_*`` read the whole body into memory before handing it
over, with no cap: a self-hosted Bot API serves files of up to 2 GB, and Telegram may leave a
document's size out. Here the body is streamed and refused the moment it passes the cap. The
address holds the bot's token: it never appears in an error or a log line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from bot.core.errors import DownloadError, SourceError


def too_large(max_bytes: int) -> SourceError:
    return SourceError(
        f"That file is too large for me: I read files of up to {max_bytes / 1_000_000:g} MB. "
        "Send a smaller file, a link, or the text."
    )


async def download(location: str, *, max_bytes: int, time_limit: float) -> bytes:
    """The bytes at ``location`` (a URL, or a local path as a ``--local`` Bot API gives),
    or a SourceError past ``max_bytes``, or a DownloadError."""
    if not location.startswith(("http://", "https://")):
        return await asyncio.to_thread(_read_local, Path(location), max_bytes)
    split = urlsplit(location)  # a file path may hold spaces or any letter: quoted as PTB does
    location = urlunsplit(split._replace(path=quote(split.path)))
    parts: list[bytes] = []
    size = 0
    try:
        # As python-telegram-bot's own client: the environment's proxy settings apply.
        async with (
            asyncio.timeout(time_limit),
            httpx.AsyncClient(timeout=httpx.Timeout(time_limit)) as client,
            client.stream("GET", location) as response,
        ):
            if response.status_code >= 400:
                raise DownloadError(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large(max_bytes)
            async for part in response.aiter_bytes():
                size += len(part)
                if size > max_bytes:
                    raise too_large(max_bytes)
                parts.append(part)
    except TimeoutError:
        raise DownloadError("timed out") from None
    except httpx.HTTPError as error:
        raise DownloadError(type(error).__name__) from None
    return b"".join(parts)


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as error:
        raise DownloadError(type(error).__name__) from None
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data
