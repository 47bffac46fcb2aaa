"""Logging set-up shared by the edges: quiet HTTP loggers, and secrets never written out."""

from __future__ import annotations

import logging
from collections.abc import Iterable

# These log full request URLs, and the Bot API puts the bot token in every URL.
_CHATTY = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "hpack")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SECRETS: set[str] = set()


def add_secret(secret: str) -> None:
    """Redact ``secret`` from every later log line (e.g. a webhook secret made at start)."""
    for value in (secret, secret.partition(":")[2]):  # a bot token's second half is its secret
        if len(value) >= 6:
            _SECRETS.add(value)


def redact(text: str) -> str:
    # Longest first, so a token's half never leaves the rest of the token behind.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record: message, arguments, traceback and stack."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    for secret in secrets:
        add_secret(secret)
    logging.basicConfig(level=level, format=FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(FORMAT))
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
