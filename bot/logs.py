"""Logging set-up shared by the edges: quiet HTTP loggers, and secrets never written out."""

from __future__ import annotations

import logging
from collections.abc import Iterable

# These log full request URLs, and the Bot API puts the bot token in every URL.
_CHATTY = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "hpack")


class RedactSecrets(logging.Filter):
    """Replace each secret with a placeholder in every record, whatever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
