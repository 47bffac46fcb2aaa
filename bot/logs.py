"""Logging set-up shared by the edges."""

from __future__ import annotations

import logging

# These log full request URLs, and the Bot API puts the bot token in every URL.
_CHATTY = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "telegram.ext.Updater")


def configure(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
