"""The slow part of the bot: digests and answers, run as tasks so no chat waits on another.

Each chat has its own lock, taken in arrival order, so one chat's digest and the question
after it stay in order while other chats proceed. Digest jobs are written down before the
model is called and marked done only after the reply is sent; a job interrupted by a stop
or a crash is resumed at the next start. Telegram calls that only decorate the work (typing,
the status line) never fail it; a job that fails says so in its chat, with a Retry button.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Bot, Document, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.core.digest import ArticleError, Progress
from bot.core.llm import LLMError
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.core.sources import Source, SourceError, fetch_link, read_document
from bot.core.store import StoredArticle
from bot.telegram_app import render
from bot.telegram_app.paste import join_fragments, looks_like_article
from bot.telegram_app.state import Fragment, Job, TelegramState, chat_scope, user_key

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 2.0  # Telegram tolerates about one edit a second per chat; stay below
SHUTDOWN_GRACE = 8.0  # under Docker's 10 s between SIGTERM and SIGKILL
_DIGEST_OVERHEAD_TOKENS = 1500


def estimate(article_tokens: int) -> int:
    """Tokens a digest may cost: prompts carry the article about 1.3 times, plus the answers."""
    return article_tokens * 3 // 2 + _DIGEST_OVERHEAD_TOKENS


SAVED = "Your article is saved: press Retry."
PAUSED = "Paused for a restart: the digest follows as soon as I am back."


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


def until_reset(now: datetime | None = None) -> str:
    """How long until the daily quota resets at 00:00 UTC, e.g. "5 h 12 min"."""
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    minutes = max(1, int((midnight - now).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


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
            except TelegramError as error:  # the status line is cosmetic: send anew
                log.info("could not edit the status message (%s); sending anew", error)
                await _delete_quietly(replace)
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


async def _delete_quietly(message: Message) -> None:
    try:
        await message.delete()
    except TelegramError as error:
        log.info("could not delete the status message: %s", error)


class StatusLine:
    """One message edited as work progresses, never faster than Telegram allows.

    Every Telegram error here is logged and swallowed: a failed edit must not cost a digest.
    """

    def __init__(self, bot: Bot, chat_id: int, reply_to: int | None) -> None:
        self.bot, self.chat_id, self.reply_to = bot, chat_id, reply_to
        self.message: Message | None = None
        self._text = ""
        self._last_edit = 0.0

    async def open(self, text: str) -> None:
        """Post the status line; without it the work simply goes on."""
        try:
            self.message = await self.bot.send_message(
                self.chat_id, text, reply_to_message_id=self.reply_to,
                allow_sending_without_reply=True,
            )  # fmt: skip
            self._text, self._last_edit = text, time.monotonic()
        except TelegramError as error:
            log.warning("status line in chat %s failed: %s", self.chat_id, error)

    async def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.message is None or text == self._text:
            return
        if not force and now - self._last_edit < STATUS_EDIT_INTERVAL:
            return
        self._text, self._last_edit = text, now
        try:
            await self.message.edit_text(text)
        except TelegramError as error:
            if "not modified" not in str(error).lower():
                log.warning("status edit in chat %s failed: %s", self.chat_id, error)

    async def close(self) -> None:
        """Remove the status line (the work ended without a reply to put in its place)."""
        if self.message is not None:
            await _delete_quietly(self.message)
            self.message = None


class ChatWork:
    def __init__(self, service: DigestService, state: TelegramState, bot: Bot) -> None:
        self.service = service
        self.state = state
        self.bot = bot
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs: dict[int, tuple[Job, asyncio.Task[None]]] = {}  # job id -> job, its task
        self._active: dict[int, int] = {}  # chat -> id of the job holding the chat's lock
        self._cancelled: set[int] = set()
        # Estimated cost of each queued or running digest, counted against its user's quota
        # until the real usage is recorded: two pastes at once cannot both slip under it.
        self._reserved: defaultdict[int, int] = defaultdict(int)
        self._costs: dict[int, tuple[int, int]] = {}  # job id -> user, reserved tokens
        # A status line already in the chat ("Fetching the page…") that a job takes over.
        self._handoff: dict[int, Message] = {}

    def service_for(self, chat_id: int) -> DigestService:
        """The service writing in the chat's language (``/language``), else the default."""
        language = self.state.language(chat_id)
        return self.service.in_language(language) if language else self.service

    @property
    def quota(self) -> int:
        return self.service.settings.daily_token_quota

    def over_quota(self, user_id: int, extra: int = 0) -> bool:
        if not self.quota:
            return False
        used = self.service.usage_today(user_key(user_id)) + self._reserved[user_id]
        return used + extra > self.quota

    def quota_message(self) -> str:
        return (
            f"You have reached today's limit of {self.quota:,} tokens. It resets at 00:00 UTC "
            f"(in {until_reset()}); /usage shows where you stand."
        )

    # --- tasks ---------------------------------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run in the background, tracked so that shutdown can wait for it."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task failed: %r", error, exc_info=error)

    async def drain(self, grace: float | None = None) -> None:
        """Wait for running work; what is still running after ``grace`` is stopped and stays
        pending in the store, so the next start finishes it."""
        deadline = time.monotonic() + (SHUTDOWN_GRACE if grace is None else grace)
        while self._tasks and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        if self._tasks:
            log.warning("stopping %d unfinished task(s); digests resume at next start",
                        len(self._tasks))  # fmt: skip
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(set(self._tasks), timeout=2)

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
        title: str | None = None,
        status: StatusLine | None = None,
        origin: str | None = None,
    ) -> None:
        """Check, store and queue an article; the digest itself runs as a task.

        ``title`` and ``origin`` are the page's or file's own (title; link or file name);
        ``status`` a status line already shown (a link being fetched), which the digest takes
        over or which goes if it cannot start.
        """
        try:
            # Numbering a long article is CPU work: off the event loop, other chats go on.
            numbered = await asyncio.to_thread(self.service.check_article, text)
        except ArticleError as error:
            if status is not None:
                await status.close()
            if not text.strip():
                if fragments_up_to is not None:
                    self.state.drop_fragments(chat_id, user_id, fragments_up_to)
                await self._say(chat_id, f"I can't digest that: {error}.", reply_to)
                return
            article = self._keep(chat_id, user_id, text, reply_to, fragments_up_to, title, origin)
            await self._say(
                chat_id,
                f"I can't digest that: {error}. The text is saved; reply /digest to it or "
                "press Retry once the limit allows it.",
                reply_to,
                article_id=article.id,
            )
            return
        if self.over_quota(user_id, estimate(numbered.tokens)):
            if status is not None:
                await status.close()
            article = self._keep(chat_id, user_id, text, reply_to, fragments_up_to, title, origin)
            await self._say(
                chat_id,
                f"{self.quota_message()} Your article is saved: press Retry after the reset.",
                reply_to,
                article_id=article.id,
            )
            return
        article = self.service.save_article(chat_scope(chat_id), text, title, origin)
        self.queue(
            chat_id, user_id, article.id, reply_to, fragments_up_to, estimate(numbered.tokens),
            status=status.message if status is not None else None,
        )  # fmt: skip

    def _keep(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        reply_to: int | None,
        up_to: int | None,
        title: str | None = None,
        origin: str | None = None,
    ) -> StoredArticle:
        """Save a text that cannot be digested now, so it can be later."""
        article = self.service.save_article(chat_scope(chat_id), text, title, origin)
        if up_to is not None:
            self.state.consume_fragments(chat_id, user_id, up_to, article.id)
        if reply_to is not None:
            self.state.link_messages(chat_id, [reply_to], article.id)
        self.state.set_current_article(chat_id, article.id)
        return article

    def queue(
        self,
        chat_id: int,
        user_id: int,
        article_id: int,
        reply_to: int | None,
        fragments_up_to: int | None = None,
        cost: int = 0,
        status: Message | None = None,
    ) -> None:
        """Write the job down, reserve its cost, make the article current, and start it."""
        job = self.state.create_job(chat_id, user_id, article_id, reply_to, fragments_up_to)
        self.state.set_current_article(chat_id, article_id)
        self._reserved[user_id] += cost
        self._costs[job.id] = (user_id, cost)
        if status is not None:
            self._handoff[job.id] = status
        self.launch(job)

    async def retry(self, chat_id: int, user_id: int, article_id: int, reply_to: int) -> None:
        """Digest a stored article again (``/digest`` in reply, or the Retry button)."""
        article = self.service.store.article(article_id, chat_scope(chat_id))
        if article is None:
            await self._say(chat_id, "That article is no longer available.", reply_to)
            return
        try:
            numbered = await asyncio.to_thread(self.service.check_article, article.text)
        except ArticleError as error:
            await self._say(chat_id, f"I can't digest that: {error}.", reply_to)
            return
        if self.over_quota(user_id, estimate(numbered.tokens)):
            await self._say(chat_id, self.quota_message(), reply_to, article_id=article.id)
            return
        self.queue(chat_id, user_id, article.id, reply_to, cost=estimate(numbered.tokens))

    def launch(self, job: Job) -> None:
        self._jobs[job.id] = (job, self.spawn(self._run_job(job)))

    def resume(self) -> int:
        jobs = self.state.pending_jobs()
        for job in jobs:
            log.info("resuming digest job %s for chat %s", job.id, job.chat_id)
            self.launch(job)
        return len(jobs)

    def cancel(self, chat_id: int) -> StoredArticle | None:
        """Stop the chat's running digest (else its oldest queued one); its article, or None."""
        job_id = self._active.get(chat_id)
        if job_id is None or job_id in self._cancelled:
            queued = self._live_jobs(chat_id)
            job_id = min(queued, default=None)
        if job_id is None:
            return None
        job, task = self._jobs[job_id]
        # Recorded before the task stops, so neither a crash now nor a restart resumes it.
        self.state.finish_job(job.id, "cancelled")
        self._cancelled.add(job.id)
        task.cancel()
        return self.service.store.article(job.article_id, chat_scope(chat_id))

    def cancel_chat(self, chat_id: int) -> None:
        """Stop every digest of a chat (``/forget``)."""
        for job_id in self._live_jobs(chat_id):
            job, task = self._jobs[job_id]
            self.state.finish_job(job.id, "cancelled")
            self._cancelled.add(job.id)
            task.cancel()

    def _live_jobs(self, chat_id: int) -> list[int]:
        """The chat's jobs still running or queued, not already being cancelled."""
        return [
            i
            for i, (job, task) in self._jobs.items()
            if job.chat_id == chat_id and not task.done() and i not in self._cancelled
        ]

    async def _run_job(self, job: Job) -> None:
        status = StatusLine(self.bot, job.chat_id, job.reply_to)
        status.message = self._handoff.pop(job.id, None)
        try:
            async with self._locks[job.chat_id]:
                if self.state.job_status(job.id) != "pending":
                    await status.close()  # a handed-over "Fetching the page…" line
                    return  # cancelled while it waited
                self._active[job.chat_id] = job.id
                try:
                    await self._digest_job(job, status)
                finally:
                    self._active.pop(job.chat_id, None)
        except asyncio.CancelledError:
            if job.id not in self._cancelled:
                log.info("digest job %s stopped by shutdown; it resumes at next start", job.id)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(status.show(PAUSED, force=True), timeout=2)
                raise
            await status.close()  # /cancel itself says which digest stopped
        except Exception as error:
            self.state.finish_job(job.id, "failed")
            if isinstance(error, LLMError | ArticleError):
                log.warning("digest job %s for chat %s failed: %s", job.id, job.chat_id, error)
            else:
                log.error("digest job %s for chat %s failed", job.id, job.chat_id, exc_info=True)
            await self._tell_failure(job, status, error)
        finally:
            self._cancelled.discard(job.id)
            self._handoff.pop(job.id, None)
            self._jobs.pop(job.id, None)
            user_id, cost = self._costs.pop(job.id, (job.user_id, 0))
            self._reserved[user_id] -= cost  # the service has recorded what it really cost

    async def _digest_job(self, job: Job, status: StatusLine) -> None:
        article = self.service.store.article(job.article_id, chat_scope(job.chat_id))
        if article is None:  # forgotten meanwhile
            self.state.finish_job(job.id, "failed")
            return
        service = self.service_for(job.chat_id)
        digest = service.cached_digest(article)
        if digest is None:
            await self._typing(job.chat_id)
            if status.message is None:
                await status.open("Reading the article…")
            else:  # the line that said "Fetching the page…"
                await status.show("Reading the article…", force=True)
            if status.message is not None:
                self.state.link_messages(job.chat_id, [status.message.message_id], article.id)

            async def progress(step: Progress) -> None:
                await self._typing(job.chat_id)
                if step.stage == "summarizing":
                    await status.show("Writing the summary…", force=True)
                elif step.total > 1:
                    await status.show(
                        f"Reading part {min(step.done + 1, step.total)} of {step.total}…"
                    )

            digest = await service.digest(
                article, user_key=user_key(job.user_id), on_progress=progress
            )
        sent = await send_html(
            self.bot,
            job.chat_id,
            render.digest_paragraphs(digest, title=render.display_title(article.text)),
            reply_to=job.reply_to,
            keyboard=digest_keyboard(article.id, digest),
            replace=status.message,
        )
        status.message = None
        self.state.link_messages(job.chat_id, sent, article.id)
        self.state.set_current_article(job.chat_id, article.id)
        self.state.finish_job(job.id, "done")

    async def _tell_failure(self, job: Job, status: StatusLine, error: Exception) -> None:
        """One line in the chat, in place of the status line, with a Retry button."""
        if isinstance(error, LLMError):
            text = f"{error.user_message} {SAVED}"
        elif isinstance(error, ArticleError):
            text = f"I can't digest this: {error}."
        elif isinstance(error, TelegramError):
            text = f"Telegram would not take my reply. {SAVED}"
        else:
            text = f"Something went wrong on my side. {SAVED}"
        self.state.set_current_article(job.chat_id, job.article_id)
        keyboard = retry_keyboard(job.article_id)
        if status.message is not None:
            try:
                await status.message.edit_text(text, reply_markup=keyboard)
                return
            except TelegramError as edit_error:
                log.info("could not edit the status line: %s", edit_error)
                await status.close()
        await self._say(job.chat_id, text, job.reply_to, article_id=job.article_id)

    # --- links and files: read into text, then digested like a paste ----------------------

    async def start_link(self, chat_id: int, user_id: int, url: str, *, reply_to: int) -> None:
        """Fetch a link in the background, then digest its article."""
        self.spawn(self._from_link(chat_id, user_id, url, reply_to))

    async def _from_link(self, chat_id: int, user_id: int, url: str, reply_to: int) -> None:
        status = StatusLine(self.bot, chat_id, reply_to)
        await self._typing(chat_id)
        await status.open("Fetching the page…")
        source = await self._read(chat_id, reply_to, status, fetch_link(url, self.settings))
        if source is not None:
            await self.start_digest(
                chat_id, user_id, source.text, reply_to=reply_to, title=source.title,
                status=status, origin=source.url or source.filename,
            )  # fmt: skip

    async def start_document(
        self, chat_id: int, user_id: int, document: Document, *, reply_to: int
    ) -> None:
        """Download and read a file in the background, then digest its article."""
        self.spawn(self._from_document(chat_id, user_id, document, reply_to))

    async def _from_document(
        self, chat_id: int, user_id: int, document: Document, reply_to: int
    ) -> None:
        status = StatusLine(self.bot, chat_id, reply_to)
        await self._typing(chat_id)
        await status.open("Opening the file…")
        try:
            data = bytes(await (await document.get_file()).download_as_bytearray())
        except TelegramError as error:
            log.warning("could not download a file in chat %s: %s", chat_id, error)
            await self._replace(status, "Telegram would not give me that file; send it again.",
                                chat_id, reply_to)  # fmt: skip
            return
        reading = read_document(
            data, filename=document.file_name, content_type=document.mime_type,
            settings=self.settings,
        )  # fmt: skip
        source = await self._read(chat_id, reply_to, status, reading)
        if source is not None:
            await self.start_digest(
                chat_id, user_id, source.text, reply_to=reply_to, title=source.title,
                status=status, origin=source.url or source.filename,
            )  # fmt: skip

    @property
    def settings(self) -> Settings:
        return self.service.settings

    async def _read(
        self,
        chat_id: int,
        reply_to: int,
        status: StatusLine,
        reading: Coroutine[Any, Any, Source],
    ) -> Source | None:
        """The source, or None after one line in place of the status line saying why not."""
        try:
            return await reading
        except SourceError as error:
            log.info("source refused in chat %s: %s", chat_id, error)
            text = error.user_message
        except Exception:
            log.error("reading a link or file in chat %s failed", chat_id, exc_info=True)
            text = "Something went wrong on my side while reading that. Please try again."
        await self._replace(status, text, chat_id, reply_to)
        return None

    async def _replace(self, status: StatusLine, text: str, chat_id: int, reply_to: int) -> None:
        """Turn the status line into ``text`` (or send it, if the line is gone)."""
        if status.message is not None:
            try:
                await status.message.edit_text(text)
                return
            except TelegramError as error:
                log.info("could not edit the status line: %s", error)
                await status.close()
        await self._say(chat_id, text, reply_to)

    async def open_article(
        self, chat_id: int, user_id: int, article_id: int, *, reply_to: int
    ) -> None:
        """Show an article's digest again (a register button); digest it if it has none yet."""
        article = self.service.store.article(article_id, chat_scope(chat_id))
        if article is None:
            await self._say(chat_id, "That article is no longer available.", reply_to)
            return
        digest = self.service_for(chat_id).cached_digest(article)
        if digest is None:  # e.g. digested before the chat changed its language
            await self.retry(chat_id, user_id, article.id, reply_to=reply_to)
            return
        sent = await send_html(
            self.bot, chat_id,
            render.digest_paragraphs(digest, title=render.display_title(article.text)),
            reply_to=reply_to, keyboard=digest_keyboard(article.id, digest),
        )  # fmt: skip
        self.state.link_messages(chat_id, sent, article.id)
        self.state.set_current_article(chat_id, article.id)

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
                answer = await self.service_for(chat_id).ask(
                    article, question, user_key=user_key(user_id)
                )
                sent = await send_html(
                    self.bot, chat_id, render.answer_paragraphs(answer), reply_to=reply_to
                )
            except (LLMError, ArticleError) as error:
                log.warning("question in chat %s failed: %s", chat_id, error)
                message = error.user_message if isinstance(error, LLMError) else f"{error}."
                await self._say(chat_id, f"Sorry, I couldn't answer: {message} Please ask again.",
                                reply_to)  # fmt: skip
                return
            except Exception:
                log.error("question in chat %s failed", chat_id, exc_info=True)
                await self._say(chat_id, "Something went wrong on my side. Please ask again.",
                                reply_to)  # fmt: skip
                return
            self.state.link_messages(chat_id, sent, article.id)

    # --- small helpers -------------------------------------------------------------------------

    async def _say(
        self, chat_id: int, text: str, reply_to: int | None = None, *, article_id: int | None = None
    ) -> None:
        """Send one line; with ``article_id`` it carries Retry and is linked to the article."""
        try:
            message = await self.bot.send_message(
                chat_id, text, reply_to_message_id=reply_to, allow_sending_without_reply=True,
                reply_markup=retry_keyboard(article_id) if article_id is not None else None,
            )  # fmt: skip
        except TelegramError as error:  # nothing more can be done for this chat
            log.warning("could not send a message to chat %s: %s", chat_id, error)
            return
        if article_id is not None:
            self.state.link_messages(chat_id, [message.message_id], article_id)

    async def _typing(self, chat_id: int) -> None:
        try:
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:  # cosmetic; never fail a digest over it
            log.debug("typing indicator failed: %s", error)
