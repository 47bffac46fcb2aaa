"""The Telegram edge as its handlers see it: the application, who may use it, and when each
stranger was last told the bot is private. Built once by ``app.py`` and kept in
``application.bot_data``."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from bot.app.chat_app import ChatApp
from bot.telegram_app.access import AccessPolicy


@dataclass
class Edge:
    app: ChatApp
    access: AccessPolicy
    refused: dict[int, float] = field(default_factory=dict)  # stranger -> when last told


def edge_of(context: ContextTypes.DEFAULT_TYPE) -> Edge:
    found: Edge = context.bot_data["edge"]
    return found


def app_of(context: ContextTypes.DEFAULT_TYPE) -> ChatApp:
    return edge_of(context).app
