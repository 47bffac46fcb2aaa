"""The slow part of the bot: digests and answers, run as tasks so no chat waits on another.

Every digest and answer is a job row (``state``), written before the model is called. A
replica claims a job with a lease, runs it as a task, and renews the lease while it works;
a job is claimable only when no older job of its chat is pending, so one chat's digest and
the question after it stay in order across replicas while other chats proceed. A replica
claims right after writing a job (no delay on a lone bot), after finishing one, and on a
poll, which also finds other replicas' jobs and those whose owner died (its lease ran out).
Before the reply goes out the job must still be ours, and it is marked done in the
transaction that records the reply's message ids, so it is sent once. A job interrupted by
a stop is released for another replica or the next start; cancelled elsewhere, it is
stopped at the next poll. The status line's message id is kept on the job, so whoever runs
it edits the same line. Telegram calls that only decorate the work (typing, the status
line) never fail it; a job that fails says so in its chat, with a Retry button.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Bot, Document, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.core.desk.watch import Watched, find_hits
from bot.core.errors import ArticleError, DatabaseUnavailable, LLMError, SourceError
from bot.core.reading.dates import date_line
from bot.core.reading.digest import Progress
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.core.sources import Source, fetch_link, read_document
from bot.core.storage.store import StoredArticle
from bot.telegram_app import render
from bot.telegram_app.paste import join_fragments, looks_like_article
from bot.telegram_app.state import (
    Fragment,
    Job,
    OverQuota,
    PasteGone,
    TelegramState,
    chat_scope,
    user_key,
)

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 2.0  # Telegram tolerates about one edit a second per chat; stay below
SHUTDOWN_GRACE = 8.0  # under Docker's 10 s between SIGTERM and SIGKILL
POLL_INTERVAL = 0.5  # seconds between looks for claimable jobs, cancellations, quiet pastes
_DIGEST_OVERHEAD_TOKENS = 1500


def estimate(article_tokens: int) -> int:
    """Tokens a digest may cost: prompts carry the article about 1.3 times, plus the answers."""
    return article_tokens * 3 // 2 + _DIGEST_OVERHEAD_TOKENS


_ANSWER_OVERHEAD_TOKENS = 1000


def estimate_answer(context_tokens: int, question_tokens: int) -> int:
    """Tokens an answer may cost: the article's context and the question, the prompt, the
    reply. Reserved like a digest's, so questions sent together cannot overshoot the quota."""
    return context_tokens + question_tokens + _ANSWER_OVERHEAD_TOKENS


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


def replica_id() -> str:
    """This process among the replicas: host, pid and a random part (pids repeat in containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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


def article_date(article: StoredArticle) -> str:
    """The digest's date line: when the article says it happened, else when it came."""
    return date_line(article.reported_date, article.date_basis, article.created_at)


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

    async def become(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> bool:
        """Turn the line into ``text`` for good; False if there is no line or it failed."""
        if self.message_id is None:
            return False
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


class _Lost(Exception):
    """The job stopped being ours (cancelled, forgotten, or taken over after a stall)."""


class ChatWork:
    """This replica's share of the work: the jobs it claimed, their leases, and the poll."""

    def __init__(self, service: DigestService, state: TelegramState, bot: Bot) -> None:
        self.service = service
        self.state = state
        self.bot = bot
        self.replica = replica_id()
        self.lease = service.settings.job_lease_seconds
        self.capacity = service.settings.job_concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading: dict[int, set[asyncio.Task[None]]] = {}  # links and files being read
        self._running: dict[int, tuple[Job, asyncio.Task[None]]] = {}  # job id -> job, task
        self._stopped: dict[int, str] = {}  # job id -> why we stop it: "cancelled" or "lost"
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._claiming = asyncio.Lock()
        self._renewed = 0.0
        self._loop_error = ""
        # Run on every poll (the paste sweep): work that any replica may pick up.
        self.ticks: list[Callable[[], Awaitable[None]]] = []

    def service_for(self, chat_id: int) -> DigestService:
        """The service writing in the chat's language (``/language``), else the default."""
        language = self.state.language(chat_id)
        return self.service.in_language(language) if language else self.service

    @property
    def quota(self) -> int:
        return self.service.settings.daily_token_quota

    def _used_today(self, user_id: int) -> Callable[[], int]:
        return lambda: self.service.usage_today(user_key(user_id))

    def over_quota(self, user_id: int, extra: int = 0) -> bool:
        """Recorded usage plus what the user's pending jobs reserve, on every replica."""
        if not self.quota:
            return False
        used = self._used_today(user_id)() + self.state.pending_cost(user_id)
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

    def start(self) -> int:
        """Take up the work a previous run left, then poll; how many jobs were claimed."""
        with contextlib.suppress(DatabaseUnavailable):  # deliveries kept while it was away
            self.service.flush_unsaved()  # go in first: those jobs are done, not to be rerun
        if not self.state.shared:  # the only process on this store: every claim is a dead run's
            self.state.release_all()
        claimed = self.claim()
        self._poller = asyncio.create_task(self._poll())
        return claimed

    async def drain(self, grace: float | None = None) -> None:
        """Wait for running work; what is still running after ``grace`` is stopped and
        released, so another replica (or the next start) finishes it."""
        self._stopping = True  # no new claims; leases are still renewed meanwhile
        deadline = time.monotonic() + (SHUTDOWN_GRACE if grace is None else grace)
        while self._tasks and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        if self._tasks:
            log.warning("stopping %d unfinished task(s); their jobs stay pending for another "
                        "replica or the next start", len(self._tasks))  # fmt: skip
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(set(self._tasks), timeout=2)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        with contextlib.suppress(Exception):  # the database may be what is going away
            self.state.release_jobs(self.replica)

    # --- claiming and leases -------------------------------------------------------------

    def claim(self, *, own: bool = False) -> int:
        """Claim and start jobs while this replica has room; how many it started.

        While stopping, only ``own`` claims (right after writing a job) still take one.
        """
        started = 0
        while (own or not self._stopping) and len(self._running) < self.capacity:
            job = self.state.claim_job(self.replica, self.lease)
            if job is None:
                break
            self._running[job.id] = (job, self.spawn(self._run(job)))
            started += 1
            own = False
        return started

    async def _claim_off_loop(self) -> None:
        """``claim``, with the database calls off the event loop (an outage must not stall
        the chats); one claimer at a time, so the capacity holds."""
        async with self._claiming:
            while not self._stopping and len(self._running) < self.capacity:
                job = await asyncio.to_thread(self.state.claim_job, self.replica, self.lease)
                if job is None:
                    break
                self._running[job.id] = (job, self.spawn(self._run(job)))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                # Finished work kept while the database was away goes in first, so a job
                # delivered meanwhile is marked done before anything could claim it again.
                await asyncio.to_thread(self.service.flush_unsaved)
                await self._keep_leases()
                if not self._stopping:
                    await self._claim_off_loop()
                    for tick in self.ticks:
                        await tick()
                self._loop_error = ""
            except Exception as error:  # the database away for a moment: say so once
                if str(error) != self._loop_error:
                    log.warning("polling for jobs failed: %s", error)
                self._loop_error = str(error)

    async def _keep_leases(self) -> None:
        """Renew our leases (every third of the lease), and stop jobs no longer ours."""
        ids = list(self._running)
        if time.monotonic() - self._renewed >= self.lease / 3:
            held = await asyncio.to_thread(self.state.renew, self.replica, ids, self.lease)
            self._renewed = time.monotonic()
        else:
            held = await asyncio.to_thread(self.state.held, self.replica, ids)
        for job_id in set(ids) - held:
            if job_id in self._running:
                status = await asyncio.to_thread(self.state.job_status, job_id)
                if job_id in self._running:
                    self._stop(job_id, "lost" if status == "pending" else "cancelled")

    def _stop(self, job_id: int, why: str) -> None:
        if job_id in self._running and job_id not in self._stopped:
            self._stopped[job_id] = why
            self._running[job_id][1].cancel()

    def _still_ours(self, job: Job) -> None:
        """Just before a reply goes out: renew the lease, or raise _Lost."""
        if not self.state.renew(self.replica, [job.id], self.lease):
            raise _Lost

    async def _confirm(self, job: Job) -> None:
        """``_still_ours`` off the event loop. With the database away the job counts as ours:
        no replica can claim it meanwhile, and the reply is recorded when it is back."""
        try:
            held = await asyncio.to_thread(self.state.renew, self.replica, [job.id], self.lease)
        except DatabaseUnavailable:
            return
        if not held:
            raise _Lost

    async def _record_delivery(self, job: Job, sent: list[int]) -> None:
        """Mark the job done with its reply's messages; with the database away, keep that in
        the spool (the poll writes it once the database is back), never run the job again."""
        try:
            done = await asyncio.to_thread(self.state.deliver, job, self.replica, sent)
        except DatabaseUnavailable as error:
            await asyncio.to_thread(self.state.keep_delivery, job, sent, str(error))
            return
        if not done:
            log.warning("job %s was taken over while its reply was sent", job.id)

    # --- digests -------------------------------------------------------------------------------

    async def paste_complete(self, chat_id: int, user_id: int, fragments: list[Fragment]) -> None:
        """A paste has ended: digest it if it is an article, else treat it as a question."""
        text = join_fragments(fragments)
        ids = [f.message_id for f in fragments]
        if len(fragments) == 1 and not fragments[0].forwarded and not looks_like_article(text):
            await self.ask(chat_id, user_id, text, reply_to=ids[0], about=None, fragment_ids=ids)
            return
        await self.start_digest(chat_id, user_id, text, reply_to=ids[0], fragment_ids=ids)

    async def start_digest(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None,
        fragment_ids: list[int] | None = None,
        title: str | None = None,
        status: StatusLine | None = None,
        origin: str | None = None,
        published: str | None = None,
    ) -> None:
        """Check, store and queue an article; the digest itself runs as a claimed job.

        ``title``, ``origin`` and ``published`` are the page's or file's own (title; link or
        file name; the publication date its metadata gives);
        ``status`` a status line already shown (a link being fetched), which the digest takes
        over or which goes if it cannot start.
        """
        ids = fragment_ids or []
        try:
            # Numbering a long article is CPU work: off the event loop, other chats go on.
            numbered = await asyncio.to_thread(self.service.check_article, text)
        except ArticleError as error:
            if status is not None:
                await status.close()
            if not text.strip():
                if self.state.drop_fragments(chat_id, user_id, ids):
                    await self._say(chat_id, f"I can't digest that: {error}.", reply_to)
                return
            article = self.service.save_article(chat_scope(chat_id), text, title, origin, published)
            if self._keep(chat_id, user_id, article, reply_to, ids):
                await self._say(
                    chat_id,
                    f"I can't digest that: {error}. The text is saved; reply /digest to it or "
                    "press Retry once the limit allows it.",
                    reply_to,
                    article_id=article.id,
                )
            return
        article = self.service.save_article(chat_scope(chat_id), text, title, origin, published)
        try:
            self.queue(
                chat_id, user_id, article.id, reply_to, ids, estimate(numbered.tokens),
                status=status.message_id if status is not None else None,
            )  # fmt: skip
        except PasteGone:  # another replica closed this paste first
            if status is not None:
                await status.close()
        except OverQuota:
            if status is not None:
                await status.close()
            if self._keep(chat_id, user_id, article, reply_to, ids):
                await self._say(
                    chat_id,
                    f"{self.quota_message()} Your article is saved: press Retry after the reset.",
                    reply_to,
                    article_id=article.id,
                )

    def _keep(
        self,
        chat_id: int,
        user_id: int,
        article: StoredArticle,
        reply_to: int | None,
        fragment_ids: list[int],
    ) -> bool:
        """Keep a saved text that cannot be digested now, so it can be later; False if its
        fragments were consumed by another replica meanwhile (which answers instead)."""
        if not self.state.consume_fragments(chat_id, user_id, fragment_ids, article.id):
            return False
        if reply_to is not None:
            self.state.link_messages(chat_id, [reply_to], article.id)
        self.state.set_current_article(chat_id, article.id)
        return True

    def queue(
        self,
        chat_id: int,
        user_id: int,
        article_id: int,
        reply_to: int | None,
        fragment_ids: list[int] | None = None,
        cost: int = 0,
        status: int | None = None,
    ) -> None:
        """Write the job down (its cost weighed against the quota: OverQuota if it does not
        fit), make the article current, and claim at once."""
        self.state.create_job(
            chat_id, user_id, article_id, reply_to, fragment_ids or (), cost=cost,
            status_message=status, quota=self.quota, used_today=self._used_today(user_id),
        )  # fmt: skip
        self.state.set_current_article(chat_id, article_id)
        self.claim(own=True)

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
        try:
            self.queue(chat_id, user_id, article.id, reply_to, cost=estimate(numbered.tokens))
        except OverQuota:
            await self._say(chat_id, self.quota_message(), reply_to, article_id=article.id)

    def cancel(self, chat_id: int) -> StoredArticle | None:
        """Stop the chat's running digest (else its oldest queued one); its article, or None.

        Recorded in the store first, so neither a crash now nor a restart resumes it; a
        replica running it elsewhere stops at its next poll.
        """
        job = self.state.cancel_digest(chat_id)
        if job is None:
            return None
        self._stop(job.id, "cancelled")
        self.claim()  # the chat's next job may go
        return self.service.store.article(job.article_id, chat_scope(chat_id))

    def cancel_chat(self, chat_id: int) -> None:
        """Stop every digest and answer of a chat (``/forget``)."""
        for job_id in self.state.cancel_chat_jobs(chat_id):
            self._stop(job_id, "cancelled")

    async def _run(self, job: Job) -> None:
        status = StatusLine(self.bot, job.chat_id, job.reply_to, job.status_message)
        try:
            if job.kind == "answer":
                await self._answer_job(job)
            else:
                await self._digest_job(job, status)
        except (_Lost, asyncio.CancelledError) as stop:
            why = self._stopped.get(job.id)
            if why is None and isinstance(stop, _Lost):
                why = "lost" if self.state.job_status(job.id) == "pending" else "cancelled"
            if why is None:  # cancelled by drain: a shutdown
                log.info("job %s stopped by shutdown; it stays pending", job.id)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(status.show(PAUSED, force=True), timeout=2)
                raise
            if why == "cancelled":
                await status.close()  # /cancel itself says which digest stopped
            else:  # taken over: the new owner has the status line now
                log.warning("job %s of chat %s was taken over by another replica",
                            job.id, job.chat_id)  # fmt: skip
        except DatabaseUnavailable as error:  # before the model: nothing spent, nothing lost
            log.warning("job %s of chat %s waits for the database: %s", job.id, job.chat_id,
                        error)  # fmt: skip
            # The job stays pending: once the database is back and the lease has run out, it
            # is claimed again and its reply follows (a digest made meanwhile is kept).
            text = "My storage is not answering right now; the reply follows once it is back."
            if not await status.become(text):
                await self._say(job.chat_id, text, job.reply_to)
        except Exception as error:
            if isinstance(error, LLMError | ArticleError):
                log.warning("digest job %s for chat %s failed: %s", job.id, job.chat_id, error)
            else:
                log.error("digest job %s for chat %s failed", job.id, job.chat_id, exc_info=True)
            with contextlib.suppress(DatabaseUnavailable):
                if await asyncio.to_thread(self.state.held, self.replica, [job.id]):
                    await self._tell_failure(job, status, error)
                    await asyncio.to_thread(self.state.finish_job, job.id, "failed", self.replica)
        finally:
            self._running.pop(job.id, None)
            self._stopped.pop(job.id, None)
            if not self._stopping:  # e.g. the question that waited for this digest
                self.spawn(self._claim_off_loop())

    async def _digest_job(self, job: Job, status: StatusLine) -> None:
        # Database calls run off the event loop: while the database is away, other chats go on.
        scope = chat_scope(job.chat_id)
        article = await asyncio.to_thread(self.service.store.article, job.article_id, scope)
        if article is None:  # forgotten meanwhile
            await asyncio.to_thread(self.state.finish_job, job.id, "failed", self.replica)
            return
        service = await asyncio.to_thread(self.service_for, job.chat_id)
        digest = await asyncio.to_thread(service.cached_digest, article)
        if digest is None:
            await self._typing(job.chat_id)
            if status.message_id is None:
                await status.open("Reading the article…")
            else:  # the line that said "Fetching the page…", or a dead replica's
                await status.show("Reading the article…", force=True)
            if status.message_id is not None:
                await asyncio.to_thread(self._keep_status_line, job, status.message_id)

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
        # From here the digest is paid for: it goes out and is kept even if the database is
        # away now (the store keeps it in its spool; the delivery is recorded when it is back).
        await self._confirm(job)
        sent = await send_html(
            self.bot,
            job.chat_id,
            render.digest_paragraphs(
                digest, title=render.display_title(article.text), date=article_date(article)
            ),
            reply_to=job.reply_to,
            keyboard=digest_keyboard(article.id, digest),
            replace=status.message_id,
        )
        status.message_id = None
        await self._record_delivery(job, sent)  # queues the watch alert with the delivery
        await self.alert_watches(job.chat_id, job.article_id)

    async def alert_watches(self, chat_id: int, article_id: int) -> None:
        """After a digest: one message listing the chat's watches it matches, sent once.

        The alert was queued in the transaction that recorded the digest's delivery; whoever
        claims it (this replica now, or any replica's poll after a stop) sends it, and the
        claim is written before sending, so neither replicas nor restarts send it twice. A
        failure here costs the alert only, never the digest, and is not retried forever.
        """
        found: list[Watched] = []
        title = ""
        try:
            watches = await asyncio.to_thread(self.state.watches, chat_id)
            article = None
            if watches:
                scope = chat_scope(chat_id)
                article = await asyncio.to_thread(self.service.store.article, article_id, scope)
            if article is not None:
                service = await asyncio.to_thread(self.service_for, chat_id)
                digest = await asyncio.to_thread(service.cached_digest, article)
                if digest is not None:
                    numbered = await asyncio.to_thread(self.service.check_article, article.text)
                    found = find_hits(watches, digest, numbered.sentences)
                    title = render.display_title(article.text)
        except DatabaseUnavailable:
            return  # still queued: a later poll sends it
        except Exception as error:  # the alert is lost, the digest is not
            log.warning("watch alert for chat %s could not be made: %s", chat_id,
                        type(error).__name__)  # fmt: skip
        try:
            if not await asyncio.to_thread(self.state.claim_watch_alert, chat_id, article_id):
                return  # another replica has it, or it went out before
        except DatabaseUnavailable:
            return
        if found:
            try:
                sent = await send_html(self.bot, chat_id, render.watch_paragraphs(title, found))
                await asyncio.to_thread(self.state.link_messages, chat_id, sent, article_id)
            except (TelegramError, DatabaseUnavailable) as error:
                log.warning("watch alert to chat %s failed: %s", chat_id, error)

    async def sweep_watch_alerts(self) -> None:
        """On the poll: alerts queued by a replica that stopped before sending them."""
        for chat_id, article_id in await asyncio.to_thread(self.state.pending_watch_alerts):
            await self.alert_watches(chat_id, article_id)

    def _keep_status_line(self, job: Job, message_id: int) -> None:
        """Remember the status line for whoever runs the job next; cosmetic, so a database
        away only costs that."""
        with contextlib.suppress(DatabaseUnavailable):
            if job.status_message != message_id:
                self.state.set_status_message(job.id, message_id)
            self.state.link_messages(job.chat_id, [message_id], job.article_id)

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
        with contextlib.suppress(DatabaseUnavailable):
            await asyncio.to_thread(self.state.set_current_article, job.chat_id, job.article_id)
        if not await status.become(text, retry_keyboard(job.article_id)):
            await self._say(job.chat_id, text, job.reply_to, article_id=job.article_id)

    # --- links and files: read into text, then digested like a paste ----------------------

    async def start_link(self, chat_id: int, user_id: int, url: str, *, reply_to: int) -> None:
        """Fetch a link in the background, then digest its article."""
        self._track_reading(chat_id, self.spawn(self._from_link(chat_id, user_id, url, reply_to)))

    async def _from_link(self, chat_id: int, user_id: int, url: str, reply_to: int) -> None:
        status = StatusLine(self.bot, chat_id, reply_to)
        await self._typing(chat_id)
        await status.open("Fetching the page…")
        source = await self._read(chat_id, reply_to, status, fetch_link(url, self.settings))
        self._handed_on(chat_id)
        if source is not None:
            await self.start_digest(
                chat_id, user_id, source.text, reply_to=reply_to, title=source.title,
                status=status, origin=source.url or source.filename, published=source.date,
            )  # fmt: skip

    async def start_document(
        self, chat_id: int, user_id: int, document: Document, *, reply_to: int
    ) -> None:
        """Download and read a file in the background, then digest its article."""
        task = self.spawn(self._from_document(chat_id, user_id, document, reply_to))
        self._track_reading(chat_id, task)

    def _track_reading(self, chat_id: int, task: asyncio.Task[None]) -> None:
        """Until its article is handed on, a read belongs to the chat's /cancel."""
        tasks = self._reading.setdefault(chat_id, set())
        tasks.add(task)
        task.add_done_callback(lambda done: self._handed_on(chat_id, done))

    def _handed_on(self, chat_id: int, task: asyncio.Task[Any] | None = None) -> None:
        """The read is over (its article goes on as a digest job, which /cancel stops)."""
        current = task or asyncio.current_task()
        tasks = self._reading.get(chat_id, set())
        if current is not None:
            tasks.discard(current)
        if not tasks:
            self._reading.pop(chat_id, None)

    def cancel_reading(self, chat_id: int) -> bool:
        """Stop the chat's links and files still being fetched or read (the reader's child
        process is killed with its task); True if there was one."""
        tasks = self._reading.pop(chat_id, set())
        for task in tasks:
            task.cancel()
        return bool(tasks)

    async def _from_document(
        self, chat_id: int, user_id: int, document: Document, reply_to: int
    ) -> None:
        status = StatusLine(self.bot, chat_id, reply_to)
        await self._typing(chat_id)
        await status.open("Opening the file…")
        from bot.core.errors import DownloadError
        from bot.core.sources.download import download, too_large

        # Streamed with a cap: Telegram may leave the size out, and PTB's own download
        # holds the whole file in memory first (a self-hosted Bot API serves 2 GB).
        limit = self.settings.fetch_max_bytes
        try:
            file = await document.get_file()
            if (file.file_size or 0) > limit:
                raise too_large(limit)
            data = await download(file.file_path or "", max_bytes=limit,
                                  time_limit=max(60.0, self.settings.fetch_timeout))  # fmt: skip
        except SourceError as error:
            await self._replace(status, error.user_message, chat_id, reply_to)
            return
        except (TelegramError, DownloadError) as error:  # the URL holds the token: not logged
            log.warning("could not download a file in chat %s: %s", chat_id,
                        type(error).__name__)  # fmt: skip
            await self._replace(status, "Telegram would not give me that file; send it again.",
                                chat_id, reply_to)  # fmt: skip
            return
        reading = read_document(
            data, filename=document.file_name, content_type=document.mime_type,
            settings=self.settings,
        )  # fmt: skip
        source = await self._read(chat_id, reply_to, status, reading)
        self._handed_on(chat_id)
        if source is not None:
            await self.start_digest(
                chat_id, user_id, source.text, reply_to=reply_to, title=source.title,
                status=status, origin=source.url or source.filename, published=source.date,
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
        except asyncio.CancelledError:  # /cancel: its reply says so; the status line goes
            with contextlib.suppress(Exception):
                await asyncio.shield(status.close())
            raise
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
        if not await status.become(text):
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
            render.digest_paragraphs(
                digest, title=render.display_title(article.text), date=article_date(article)
            ),
            reply_to=reply_to, keyboard=digest_keyboard(article.id, digest),
        )  # fmt: skip
        self.state.link_messages(chat_id, sent, article.id)
        self.state.set_current_article(chat_id, article.id)

    # --- questions -----------------------------------------------------------------------------

    async def ask(
        self,
        chat_id: int,
        user_id: int,
        question: str,
        *,
        reply_to: int,
        about: int | None,
        fragment_ids: list[int] | None = None,
    ) -> None:
        """Queue an answer about ``about`` (an article ID) or the chat's current article.

        The article is fixed now, so a paste sent after the question does not change what
        it is about; the answer is a job, so it follows the chat's pending digest.
        """
        article_id = about or self.state.current_article(chat_id)
        article = (
            self.service.store.article(article_id, chat_scope(chat_id)) if article_id else None
        )
        if article is None:
            if self.state.drop_fragments(chat_id, user_id, fragment_ids or []):
                await self._say(
                    chat_id,
                    "Paste an article first (or forward a post), then ask "
                    "me about it. /help shows how.",
                    reply_to,
                )
            return
        cost = 0
        if self.quota:  # counting the article's tokens is CPU work: off the event loop
            cost = await asyncio.to_thread(self._answer_cost, article.text, question)
        try:
            self.state.create_job(
                chat_id, user_id, article.id, reply_to, fragment_ids or (), kind="answer",
                question=question, cost=cost, quota=self.quota,
                used_today=self._used_today(user_id),
            )  # fmt: skip
        except PasteGone:  # another replica took this question first
            return
        except OverQuota:
            if self.state.drop_fragments(chat_id, user_id, fragment_ids or []):
                await self._say(chat_id, self.quota_message(), reply_to)
            return
        self.claim(own=True)

    def _answer_cost(self, article: str, question: str) -> int:
        context = min(self.service.tokens(article), self.settings.answer_context_tokens)
        return estimate_answer(context, self.service.tokens(question))

    async def _answer_job(self, job: Job) -> None:
        chat_id, reply_to = job.chat_id, job.reply_to
        article = self.service.store.article(job.article_id, chat_scope(chat_id))
        if article is None or job.question is None:  # forgotten meanwhile
            self.state.finish_job(job.id, "failed", self.replica)
            return
        if self.over_quota(job.user_id):
            self._still_ours(job)
            await self._say(chat_id, self.quota_message(), reply_to)
            self.state.finish_job(job.id, "done", self.replica)
            return
        await self._typing(chat_id)
        try:
            answer = await self.service_for(chat_id).ask(
                article, job.question, user_key=user_key(job.user_id)
            )
            self._still_ours(job)
            sent = await send_html(
                self.bot, chat_id, render.answer_paragraphs(answer), reply_to=reply_to
            )
        except (LLMError, ArticleError) as error:
            log.warning("question in chat %s failed: %s", chat_id, error)
            message = error.user_message if isinstance(error, LLMError) else f"{error}."
            await self._say(chat_id, f"Sorry, I couldn't answer: {message} Please ask again.",
                            reply_to)  # fmt: skip
            self.state.finish_job(job.id, "failed", self.replica)
            return
        except _Lost:
            raise
        except Exception:
            log.error("question in chat %s failed", chat_id, exc_info=True)
            await self._say(chat_id, "Something went wrong on my side. Please ask again.",
                            reply_to)  # fmt: skip
            self.state.finish_job(job.id, "failed", self.replica)
            return
        if not self.state.deliver(job, self.replica, sent):
            log.warning("job %s was taken over while its reply was sent", job.id)

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
