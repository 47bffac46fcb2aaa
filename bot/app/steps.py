"""What running a job does: a digest or an answer made through the core's front door, then
sent through the chat's replies and recorded.

Before a reply goes out the job must still be ours, and it is marked done in the transaction
that records the reply's message ids, so it is sent once. A digest is paid for once made: it
goes out and is kept even if the database is away (the delivery is kept in the spool and
recorded when it is back). After a digest, the chat hears which of its watches it mentions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.app.errors import JobLost, ReplyFailed
from bot.app.jobs import Job, JobQueue
from bot.app.memory import chat_scope
from bot.app.quota import Quota
from bot.app.replies import Replies, StatusLine
from bot.core.errors import ArticleError, BotError, DatabaseUnavailable, LLMError
from bot.core.service import DigestService, Progress, Watched, find_hits

log = logging.getLogger(__name__)

SAVED = "Your article is saved: press Retry."
ACROSS = "across"  # a job's kind: a question across all of the chat's articles


def failure_line(error: Exception) -> str:
    """What a chat is told when its job failed: the error's own line for users (never its
    log text: "exited with code 3" and paths stay in the log), and that the article is kept."""
    if isinstance(error, ArticleError):
        return f"I can't digest this: {error}."
    if isinstance(error, BotError | ReplyFailed):  # the model, the built-in model, the chat
        return f"{error.user_message} {SAVED}"
    return f"Something went wrong on my side. {SAVED}"


class JobSteps:
    """The body of a claimed job: make the digest or answer, send it, record it."""

    def __init__(
        self,
        service: DigestService,
        jobs: JobQueue,
        quota: Quota,
        replies: Replies,
        replica: str,
    ) -> None:
        self.service, self.jobs, self.quota, self.replies = service, jobs, quota, replies
        self.memory, self.watchlist = jobs.memory, jobs.watchlist
        self.replica = replica  # this process among the replicas: the owner of its claims
        self.lease = service.settings.job_lease_seconds

    def service_for(self, chat_id: int) -> DigestService:
        """The service writing in the chat's language (``/language``), else the default."""
        language = self.memory.language(chat_id)
        return self.service.in_language(language) if language else self.service

    async def say(
        self, chat_id: int, text: str, reply_to: int | None = None, *, article_id: int | None = None
    ) -> None:
        """Send one line; with ``article_id`` it carries Retry and is linked to the article."""
        sent = await self.replies.say(chat_id, text, reply_to, retry=article_id)
        if article_id is not None and sent is not None:
            self.memory.link_messages(chat_id, [sent], article_id)

    # --- the digest -------------------------------------------------------------------------

    async def digest(self, job: Job, status: StatusLine) -> None:
        """One call into the core finds or makes the digest, one into the queue sends it
        once; then the chat hears which of its watches it mentions."""

        async def progress(step: Progress) -> None:
            """The status line opens (or the line that said "Fetching the page…", or a dead
            replica's, changes) at the first step: a kept digest goes out with no line."""
            await self.replies.typing(job.chat_id)
            if step.stage == "summarizing":
                await status.show("Writing the summary…", force=True)
            elif step.total > 1:
                await status.show(f"Reading part {min(step.done + 1, step.total)} of {step.total}…")
            elif step.total == 0:  # the first step: the digest is being made
                if status.message_id is None:
                    await status.open("Reading the article…")
                else:
                    await status.show("Reading the article…", force=True)
                if status.message_id is not None:  # cosmetic: a database away only costs that
                    with contextlib.suppress(DatabaseUnavailable):
                        await asyncio.to_thread(self.jobs.keep_status_line, job, status.message_id)

        # Database calls run off the event loop: while the database is away, other chats go on.
        language = await asyncio.to_thread(self.memory.language, job.chat_id)
        made = await self.service.digest_stored(
            job.article_id, job.scope, language=language, account=job.account, on_progress=progress
        )
        if made is None:  # forgotten meanwhile
            await asyncio.to_thread(self.jobs.finish, job.id, "failed", self.replica)
            return
        article, digest = made

        async def send() -> list[int]:
            sent = await self.replies.send_digest(
                job.chat_id, article, digest, reply_to=job.reply_to, replace=status.message_id
            )
            status.message_id = None
            return sent

        # From here the digest is paid for: it goes out and is kept even if the database is
        # away now (the store keeps it in its spool; the delivery is recorded when it is back),
        # and its delivery queues the watch alert.
        await self.jobs.send_once(job, self.replica, self.lease, send)
        await self.alert_watches(job.chat_id, job.article_id)

    async def tell_failure(self, job: Job, status: StatusLine, error: Exception) -> None:
        """One line in the chat, in place of the status line, with a Retry button."""
        text = failure_line(error)
        with contextlib.suppress(DatabaseUnavailable):
            await asyncio.to_thread(self.memory.set_current_article, job.chat_id, job.article_id)
        if not await status.become(text, retry=job.article_id):
            await self.say(job.chat_id, text, job.reply_to, article_id=job.article_id)

    # --- watch alerts -----------------------------------------------------------------------

    async def alert_watches(self, chat_id: int, article_id: int) -> None:
        """After a digest: one message listing the chat's watches it matches, sent once.

        The alert was queued in the transaction that recorded the digest's delivery; whoever
        claims it (this replica now, or any replica's poll after a stop) sends it, and the
        claim is written before sending, so neither replicas nor restarts send it twice. A
        failure here costs the alert only, never the digest, and is not retried forever.
        """
        found: list[Watched] = []
        article = None
        try:
            watches = await asyncio.to_thread(self.watchlist.watches, chat_id)
            if watches:
                scope = chat_scope(chat_id)
                article = await asyncio.to_thread(self.service.article, article_id, scope)
            if article is not None:
                service = await asyncio.to_thread(self.service_for, chat_id)
                digest = await asyncio.to_thread(service.cached_digest, article)
                if digest is not None:
                    numbered = await asyncio.to_thread(self.service.check_article, article.text)
                    found = find_hits(watches, digest, numbered.sentences)
        except DatabaseUnavailable:
            return  # still queued: a later poll sends it
        except Exception as error:  # the alert is lost, the digest is not
            log.warning("watch alert for chat %s could not be made: %s", chat_id,
                        type(error).__name__)  # fmt: skip
        try:
            if not await asyncio.to_thread(self.watchlist.claim_watch_alert, chat_id, article_id):
                return  # another replica has it, or it went out before
        except DatabaseUnavailable:
            return
        if found and article is not None:
            try:
                sent = await self.replies.send_watch_alert(chat_id, article, found)
                await asyncio.to_thread(self.memory.link_messages, chat_id, sent, article_id)
            except (ReplyFailed, DatabaseUnavailable) as error:
                log.warning("watch alert to chat %s failed: %s", chat_id, error)

    async def sweep_watch_alerts(self) -> None:
        """On the poll: alerts queued by a replica that stopped before sending them."""
        for chat_id, article_id in await asyncio.to_thread(self.watchlist.pending_watch_alerts):
            await self.alert_watches(chat_id, article_id)

    # --- the answer -------------------------------------------------------------------------

    async def answer(self, job: Job) -> None:
        """An answer about one article; its reply is linked to it (a reply to it asks again)."""
        chat_id, reply_to = job.chat_id, job.reply_to
        article = self.service.article(job.article_id, job.scope)
        question = job.question
        if article is None or question is None:  # forgotten meanwhile
            self.jobs.finish(job.id, "failed", self.replica)
            return

        async def reply() -> None:
            answer = await self.service_for(chat_id).ask(article, question, account=job.account)

            async def send() -> list[int]:
                return await self.replies.send_answer(chat_id, answer, reply_to=reply_to)

            await self.jobs.send_once(job, self.replica, self.lease, send)

        await self._answering(job, reply)

    async def across(self, job: Job) -> None:
        """A question across all of the chat's articles: each line quotes its article and
        carries a button to it. The reply is about no one article, so it is not linked to
        the one the job row names, and it does not change the chat's current article."""
        chat_id, question = job.chat_id, job.question
        if question is None:
            self.jobs.finish(job.id, "failed", self.replica)
            return

        async def reply() -> None:
            service = await asyncio.to_thread(self.service_for, chat_id)
            answer = await service.ask_across(question, job.scope, account=job.account)

            async def send() -> list[int]:
                await self.replies.send_cross_answer(chat_id, answer, reply_to=job.reply_to)
                return []  # done, with no message linked to an article

            await self.jobs.send_once(job, self.replica, self.lease, send)

        await self._answering(job, reply)

    async def _answering(self, job: Job, reply: Callable[[], Awaitable[None]]) -> None:
        """Run ``reply`` (which sends the answer once: ``JobQueue.send_once``) unless the user
        is over the quota by now; else, or when it fails, the chat is told why there is no
        answer and the job is finished."""
        chat_id, reply_to = job.chat_id, job.reply_to
        if self.quota.over(job.user_id):
            self.jobs.keep_lease(self.replica, job, self.lease)
            await self.say(chat_id, self.quota.message(), reply_to)
            self.jobs.finish(job.id, "done", self.replica)
            return
        await self.replies.typing(chat_id)
        try:
            await reply()
            return
        except (LLMError, ArticleError) as error:
            log.warning("question in chat %s failed: %s", chat_id, error)
            message = error.user_message if isinstance(error, LLMError) else f"{error}."
            await self.say(chat_id, f"Sorry, I couldn't answer: {message} Please ask again.",
                           reply_to)  # fmt: skip
        except JobLost:
            raise
        except Exception:
            log.error("question in chat %s failed", chat_id, exc_info=True)
            await self.say(chat_id, "Something went wrong on my side. Please ask again.",
                           reply_to)  # fmt: skip
        self.jobs.finish(job.id, "failed", self.replica)
