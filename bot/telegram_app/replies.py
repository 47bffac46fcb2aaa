"""How the application's replies look and go out in Telegram (``bot.app.replies.Replies``).

Messages are HTML, cut to Telegram's size; keyboards carry the buttons (callback data:
``o:``/``c:`` officials and commitments, ``m:``/``j:`` exports, ``r:`` Retry, each with an
article id). Telegram calls that only decorate the work (typing, the status line, a line of
news) never fail it: their errors are logged and swallowed. A result that Telegram will not
take raises ReplyFailed, with the line its chat is told.
"""

from __future__ import annotations

import logging
import time

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.app.errors import ReplyFailed
from bot.core.schemas import Answer, Digest
from bot.core.service import CrossAnswer, StoredArticle, Watched, date_line
from bot.telegram_app import render
from bot.telegram_app.desk_commands import send_pages

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 2.0  # Telegram tolerates about one edit a second per chat; stay below
REFUSED_REPLY = "Telegram would not take my reply."


def digest_keyboard(article_id: int, digest: Digest) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"Officials ({len(digest.officials)})", callback_data=f"o:{article_id}"
                ),
                InlineKeyboardButton(
                    f"Commitments ({len(digest.commitments)})", callback_data=f"c:{article_id}"
                ),
            ],
            [
                InlineKeyboardButton("Export .md", callback_data=f"m:{article_id}"),
                InlineKeyboardButton("Export .json", callback_data=f"j:{article_id}"),
            ],
        ]
    )


def retry_keyboard(article_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Retry", callback_data=f"r:{article_id}")]])


def article_date(article: StoredArticle) -> str:
    """The digest's date line: when the article says it happened, else when it came."""
    return date_line(article.reported_date, article.date_basis, article.created_at)


async def send_html(
    bot: Bot,
    chat_id: int,
    paragraphs: list[render.Paragraph],
    *,
    reply_to: int | None = None,
    keyboard: InlineKeyboardMarkup | None = None,
    replace: int | None = None,
) -> list[int]:
    """Send paragraphs as one or more HTML messages; the keyboard goes under the last.

    ``replace``: the id of a status line that becomes the first message.
    """
    parts = render.pack(paragraphs)
    sent: list[int] = []
    for index, part in enumerate(parts):
        markup = keyboard if index == len(parts) - 1 else None
        if index == 0 and replace is not None:
            try:
                await bot.edit_message_text(
                    part, chat_id=chat_id, message_id=replace, parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )  # fmt: skip
                sent.append(replace)
                continue
            except TelegramError as error:  # the status line is cosmetic: send anew
                log.info("could not edit the status message (%s); sending anew", error)
                await _delete_quietly(bot, chat_id, replace)
        message = await bot.send_message(
            chat_id,
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_to_message_id=reply_to if index == 0 else None,
            allow_sending_without_reply=True,
        )
        sent.append(message.message_id)
    return sent


async def _delete_quietly(bot: Bot, chat_id: int, message_id: int) -> None:
    try:
        await bot.delete_message(chat_id, message_id)
    except TelegramError as error:
        log.info("could not delete the status message: %s", error)


class StatusLine:
    """One message edited as work progresses, never faster than Telegram allows.

    Known by its message id, so a replica taking a job over edits the line it inherited.
    Every Telegram error here is logged and swallowed: a failed edit must not cost a digest.
    """

    def __init__(
        self, bot: Bot, chat_id: int, reply_to: int | None, message_id: int | None = None
    ) -> None:
        self.bot, self.chat_id, self.reply_to = bot, chat_id, reply_to
        self.message_id = message_id
        self._text = ""
        self._last_edit = 0.0

    async def open(self, text: str) -> None:
        """Post the status line; without it the work simply goes on."""
        try:
            message = await self.bot.send_message(
                self.chat_id, text, reply_to_message_id=self.reply_to,
                allow_sending_without_reply=True,
            )  # fmt: skip
            self.message_id = message.message_id
            self._text, self._last_edit = text, time.monotonic()
        except TelegramError as error:
            log.warning("status line in chat %s failed: %s", self.chat_id, error)

    async def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.message_id is None or text == self._text:
            return
        if not force and now - self._last_edit < STATUS_EDIT_INTERVAL:
            return
        self._text, self._last_edit = text, now
        try:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self.message_id)
        except TelegramError as error:
            if "not modified" not in str(error).lower():
                log.warning("status edit in chat %s failed: %s", self.chat_id, error)

    async def become(self, text: str, *, retry: int | None = None) -> bool:
        """Turn the line into ``text`` for good (with a Retry button for article ``retry``);
        False if there is no line or it failed."""
        if self.message_id is None:
            return False
        keyboard = retry_keyboard(retry) if retry is not None else None
        try:
            await self.bot.edit_message_text(
                text, chat_id=self.chat_id, message_id=self.message_id, reply_markup=keyboard
            )
            self.message_id = None
            return True
        except TelegramError as error:
            log.info("could not edit the status line: %s", error)
            await self.close()
            return False

    async def close(self) -> None:
        """Remove the status line (the work ended without a reply to put in its place)."""
        if self.message_id is not None:
            await _delete_quietly(self.bot, self.chat_id, self.message_id)
            self.message_id = None


class TelegramReplies:
    """``bot.app.replies.Replies`` for Telegram."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def status_line(
        self, chat_id: int, reply_to: int | None, message_id: int | None = None
    ) -> StatusLine:
        return StatusLine(self.bot, chat_id, reply_to, message_id)

    async def say(
        self, chat_id: int, text: str, reply_to: int | None = None, *, retry: int | None = None
    ) -> int | None:
        try:
            message = await self.bot.send_message(
                chat_id, text, reply_to_message_id=reply_to, allow_sending_without_reply=True,
                reply_markup=retry_keyboard(retry) if retry is not None else None,
            )  # fmt: skip
        except TelegramError as error:  # nothing more can be done for this chat
            log.warning("could not send a message to chat %s: %s", chat_id, error)
            return None
        return message.message_id

    async def typing(self, chat_id: int) -> None:
        try:
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:  # cosmetic; never fail a digest over it
            log.debug("typing indicator failed: %s", error)

    async def send_digest(
        self,
        chat_id: int,
        article: StoredArticle,
        digest: Digest,
        *,
        reply_to: int | None = None,
        replace: int | None = None,
    ) -> list[int]:
        title = render.display_title(article.text)
        paragraphs = render.digest_paragraphs(digest, title=title, date=article_date(article))
        keyboard = digest_keyboard(article.id, digest)
        try:
            return await send_html(self.bot, chat_id, paragraphs, reply_to=reply_to,
                                   keyboard=keyboard, replace=replace)  # fmt: skip
        except TelegramError as error:
            raise ReplyFailed(REFUSED_REPLY) from error

    async def send_answer(self, chat_id: int, answer: Answer, *, reply_to: int | None) -> list[int]:
        try:
            return await send_html(
                self.bot, chat_id, render.answer_paragraphs(answer), reply_to=reply_to
            )
        except TelegramError as error:
            raise ReplyFailed(REFUSED_REPLY) from error

    async def send_cross_answer(
        self, chat_id: int, answer: CrossAnswer, *, reply_to: int | None
    ) -> list[int]:
        try:
            return await send_pages(self.bot, chat_id, render.cross_pages(answer), reply_to)
        except TelegramError as error:
            raise ReplyFailed(REFUSED_REPLY) from error

    async def send_watch_alert(
        self, chat_id: int, article: StoredArticle, found: list[Watched]
    ) -> list[int]:
        paragraphs = render.watch_paragraphs(render.display_title(article.text), found)
        try:
            return await send_html(self.bot, chat_id, paragraphs)
        except TelegramError as error:
            raise ReplyFailed(str(error)) from error
