"""The slow part of the bot: digests and answers, run as tasks so no chat waits on another.

Each chat has its own lock, taken in arrival order, so one chat's digest and the question
after it stay in order while other chats proceed. Digest jobs are written down before the
model is called and marked done only after the reply is sent; a job interrupted by a stop
or a crash is resumed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from bot.core.digest import ArticleError, Progress
from bot.core.llm import LLMError
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.store import StoredArticle
from bot.telegram_app import render
from bot.telegram_app.paste import join_fragments, looks_like_article
from bot.telegram_app.state import Fragment, Job, TelegramState, chat_scope, user_key

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 2.0  # Telegram tolerates about one edit a second per chat; stay below
_DIGEST_OVERHEAD_TOKENS = 1500


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


async def send_html(
    bot: Bot,
    chat_id: int,
    paragraphs: list[render.Paragraph],
    *,
    reply_to: int | None = None,
    keyboard: InlineKeyboardMarkup | None = None,
    replace: Message | None = None,
) -> list[int]:
    """Send paragraphs as one or more HTML messages; the keyboard goes under the last."""
    parts = render.pack(paragraphs)
    sent: list[int] = []
    for index, part in enumerate(parts):
        markup = keyboard if index == len(parts) - 1 else None
        if index == 0 and replace is not None:
            try:
                await replace.edit_text(part, parse_mode=ParseMode.HTML, reply_markup=markup)
                sent.append(replace.message_id)
                continue
            except BadRequest as error:
                log.info("could not edit the status message (%s); sending anew", error)
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


class StatusLine:
    """One message edited as work progresses, never faster than Telegram allows."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self._text = message.text or ""
        self._last_edit = time.monotonic()

    async def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if text == self._text or (not force and now - self._last_edit < STATUS_EDIT_INTERVAL):
            return
        self._text, self._last_edit = text, now
        try:
            await self.message.edit_text(text)
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                log.info("status edit failed: %s", error)


class ChatWork:
    def __init__(self, service: DigestService, state: TelegramState, bot: Bot, spawn: Any) -> None:
        self.service = service
        self.state = state
        self.bot = bot
        self.spawn = spawn
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._running: dict[int, tuple[int, asyncio.Task[None]]] = {}  # chat -> (job, task)
        self._cancelled: set[int] = set()

    @property
    def quota(self) -> int:
        return self.service.settings.daily_token_quota

    def over_quota(self, user_id: int, extra: int = 0) -> bool:
        return bool(self.quota) and self.service.usage_today(user_key(user_id)) + extra > self.quota

    def quota_message(self) -> str:
        return (
            f"You have reached today's limit of {self.quota:,} tokens. "
            "It resets at 00:00 UTC; /usage shows where you stand."
        )

    # --- digests -------------------------------------------------------------------------------

    async def paste_complete(self, chat_id: int, user_id: int, fragments: list[Fragment]) -> None:
        """A paste has ended: digest it if it is an article, else treat it as a question."""
        text = join_fragments(fragments)
        last = fragments[-1].message_id
        if len(fragments) == 1 and not fragments[0].forwarded and not looks_like_article(text):
            self.state.drop_fragments(chat_id, user_id, last)
            await self.ask(chat_id, user_id, text, reply_to=last, about=None)
            return
        await self.start_digest(
            chat_id, user_id, text, reply_to=fragments[0].message_id, fragments_up_to=last
        )

    async def start_digest(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None,
        fragments_up_to: int | None = None,
    ) -> None:
        """Check, store and queue an article; the digest itself runs as a task."""
        try:
            numbered = self.service.check_article(text)
        except ArticleError as error:
            if fragments_up_to is not None:
                self.state.drop_fragments(chat_id, user_id, fragments_up_to)
            await self._say(chat_id, f"I can't digest that: {error}.", reply_to)
            return
        if self.over_quota(user_id, numbered.tokens + _DIGEST_OVERHEAD_TOKENS):
            if fragments_up_to is not None:
                self.state.drop_fragments(chat_id, user_id, fragments_up_to)
            await self._say(chat_id, self.quota_message(), reply_to)
            return
        article = self.service.save_article(chat_scope(chat_id), text)
        job = self.state.create_job(chat_id, user_id, article.id, reply_to, fragments_up_to)
        self.launch(job)

    def launch(self, job: Job) -> None:
        task = self.spawn(self._run_job(job))
        self._running[job.chat_id] = (job.id, task)

    def resume(self) -> int:
        jobs = self.state.pending_jobs()
        for job in jobs:
            log.info("resuming digest job %s for chat %s", job.id, job.chat_id)
            self.launch(job)
        return len(jobs)

    def cancel(self, chat_id: int) -> bool:
        running = self._running.get(chat_id)
        if running is None or running[1].done():
            return False
        self._cancelled.add(running[0])
        running[1].cancel()
        return True

    async def _run_job(self, job: Job) -> None:
        async with self._locks[job.chat_id]:
            article = self.service.store.article(job.article_id, chat_scope(job.chat_id))
            if article is None:
                self.state.finish_job(job.id, "failed")
                return
            try:
                await self._digest_and_reply(job, article)
                self.state.finish_job(job.id, "done")
            except asyncio.CancelledError:
                if job.id in self._cancelled:  # /cancel, not a shutdown: do not resume
                    self.state.finish_job(job.id, "cancelled")
                    await self._say(
                        job.chat_id,
                        "Stopped. Your article is kept; reply /digest to it to try again.",
                        job.reply_to,
                    )
                    return
                raise
            except (LLMError, ArticleError) as error:
                self.state.finish_job(job.id, "failed")
                log.warning("digest job %s failed: %s", job.id, error)
                await self._say(
                    job.chat_id,
                    f"Sorry, I couldn't digest this: {error}. Your article is saved; "
                    "reply /digest to it to try again.",
                    job.reply_to,
                )
            except Exception:
                # Not resumed at the next start (it would fail again); the error handler
                # logs it and tells the user.
                self.state.finish_job(job.id, "failed")
                raise
            finally:
                self._cancelled.discard(job.id)
                if self._running.get(job.chat_id, (None,))[0] == job.id:
                    self._running.pop(job.chat_id, None)

    async def _digest_and_reply(self, job: Job, article: StoredArticle) -> None:
        digest = self.service.cached_digest(article)
        status: StatusLine | None = None
        if digest is None:
            await self._typing(job.chat_id)
            message = await self.bot.send_message(
                job.chat_id,
                "Reading the article…",
                reply_to_message_id=job.reply_to,
                allow_sending_without_reply=True,
            )
            status = StatusLine(message)

            async def progress(step: Progress) -> None:
                await self._typing(job.chat_id)
                if step.stage == "summarizing":
                    await status.show("Writing the summary…", force=True)
                elif step.total > 1:
                    await status.show(
                        f"Reading part {min(step.done + 1, step.total)} of {step.total}…"
                    )

            digest = await self.service.digest(
                article, user_key=user_key(job.user_id), on_progress=progress
            )
        sent = await send_html(
            self.bot,
            job.chat_id,
            render.digest_paragraphs(digest, title=article.title),
            reply_to=job.reply_to,
            keyboard=digest_keyboard(article.id, digest),
            replace=status.message if status else None,
        )
        self.state.link_messages(job.chat_id, sent, article.id)
        self.state.set_current_article(job.chat_id, article.id)

    # --- questions -----------------------------------------------------------------------------

    async def ask(
        self, chat_id: int, user_id: int, question: str, *, reply_to: int, about: int | None
    ) -> None:
        """Answer a question about ``about`` (an article ID) or the chat's current article."""
        self.spawn(self._answer(chat_id, user_id, question, reply_to, about))

    async def _answer(
        self, chat_id: int, user_id: int, question: str, reply_to: int, about: int | None
    ) -> None:
        async with self._locks[chat_id]:
            article_id = about or self.state.current_article(chat_id)
            article = (
                self.service.store.article(article_id, chat_scope(chat_id)) if article_id else None
            )
            if article is None:
                await self._say(
                    chat_id,
                    "Paste an article first (or forward a post), then ask "
                    "me about it. /help shows how.",
                    reply_to,
                )
                return
            if self.over_quota(user_id):
                await self._say(chat_id, self.quota_message(), reply_to)
                return
            await self._typing(chat_id)
            try:
                answer = await self.service.ask(article, question, user_key=user_key(user_id))
            except LLMError as error:
                await self._say(
                    chat_id, f"Sorry, I couldn't answer: {error}. Please try again.", reply_to
                )
                return
            sent = await send_html(
                self.bot, chat_id, render.answer_paragraphs(answer), reply_to=reply_to
            )
            self.state.link_messages(chat_id, sent, article.id)

    # --- small helpers -------------------------------------------------------------------------

    async def _say(self, chat_id: int, text: str, reply_to: int | None = None) -> None:
        await self.bot.send_message(
            chat_id, text, reply_to_message_id=reply_to, allow_sending_without_reply=True
        )

    async def _typing(self, chat_id: int) -> None:
        try:
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:  # cosmetic; never fail a digest over it
            log.debug("typing indicator failed: %s", error)


def spawn_in(application: Any) -> Any:
    """A spawner that lets PTB track the task, so a graceful stop waits for it."""

    def spawn(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = application.create_task(coroutine)
        return task

    return spawn
