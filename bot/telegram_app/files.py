"""Files sent to the bot: downloaded from Telegram with a cap, then read by the core.

Streamed with a cap: Telegram may leave the size out, and PTB's own download holds the whole
file in memory first (a self-hosted Bot API serves 2 GB).
"""

from __future__ import annotations

import logging

from telegram import Document
from telegram.error import TelegramError

from bot.app.reading import Fetch, Reading
from bot.app.replies import StatusLine
from bot.core.errors import DownloadError, SourceError
from bot.core.service import Submission, download, too_large
from bot.core.settings import Settings

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_BYTES = 20_000_000  # the most the Bot API lets a bot download (getFile)


def file_limit(settings: Settings) -> int:
    """The largest file refused up front, by the size Telegram gives."""
    return min(settings.fetch_max_bytes, TELEGRAM_DOWNLOAD_BYTES)


def fetch_document(
    reading: Reading, settings: Settings, chat_id: int, document: Document, reply_to: int
) -> Fetch:
    """The file's bytes for the core to read; None once the chat has been told why not."""

    async def fetch(status: StatusLine) -> Submission | None:
        limit = settings.fetch_max_bytes
        try:
            file = await document.get_file()
            if (file.file_size or 0) > limit:
                raise too_large(limit)
            data = await download(file.file_path or "", max_bytes=limit,
                                  time_limit=max(60.0, settings.fetch_timeout))  # fmt: skip
        except SourceError as error:
            await reading.replace(status, error.user_message, chat_id, reply_to)
            return None
        except (TelegramError, DownloadError) as error:  # the URL holds the token: not logged
            log.warning("could not download a file in chat %s: %s", chat_id,
                        type(error).__name__)  # fmt: skip
            await reading.replace(status, "Telegram would not give me that file; send it again.",
                                 chat_id, reply_to)  # fmt: skip
            return None
        return Submission(data=data, filename=document.file_name,
                          content_type=document.mime_type)  # fmt: skip

    return fetch
