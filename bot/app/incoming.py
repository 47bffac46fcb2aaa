"""What to do with a chat message's text: the application's one decision, for any edge.

The edge reads what only it can (is the bot addressed in a group, whom a forward is from,
which message it replies to) and hands the text over once; the paste collector, the chat's
memory, the reading of links and the intake are the application's to consult.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.intake import Intake
from bot.app.memory import ChatMemory
from bot.app.pastes import PasteCollector, looks_like_article
from bot.app.reading import Reading
from bot.core.service import find_link


@dataclass(frozen=True)
class IncomingText:
    """A message's text as the application needs it, whatever the chat service."""

    chat_id: int
    user_id: int
    message_id: int
    text: str  # cleaned, without the bot's mention
    addressed: bool  # a private chat, or in a group: mentioned, replied to or commanded
    reply_to: int | None = None  # the message it replies to
    origin: str | None = None  # a forward's author and date (JSON), None for own words


@dataclass
class TextRouter:
    """Sends a message's text where it belongs: a paste, a link, a question, or nowhere."""

    pastes: PasteCollector
    memory: ChatMemory
    reading: Reading
    intake: Intake

    async def receive(self, message: IncomingText) -> None:
        """While a paste is being collected every piece belongs to it; otherwise a lone link
        is read, a reply to one of our messages about an article is a question about it, and
        anything else waits out the quiet period (a lone short piece is answered as a
        question when it ends)."""
        chat_id, user_id, text = message.chat_id, message.user_id, message.text
        pending = self.pastes.pending(chat_id, user_id)
        if not text or not (pending or message.addressed):
            return
        if not pending and (link := find_link(text)) is not None:
            await self.reading.start_link(chat_id, user_id, link, reply_to=message.message_id)
            return
        reply = message.reply_to
        about = self.memory.article_of_message(chat_id, reply) if reply is not None else None
        question = message.origin is None and not looks_like_article(text)
        if about is not None and not pending and question:
            await self.intake.ask(chat_id, user_id, text, reply_to=message.message_id, about=about)
            return
        await self.pastes.add(chat_id, user_id, message.message_id, text, message.origin)
