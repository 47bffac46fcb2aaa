"""What a chat hands in becomes an article and a job: a closed paste, a page or file read
(``bot.app.reading``), a question, a retry.

The article is checked and stored by one call to the core's front door (``admit``), then
handed to the job queue in one call (``hand_in``): its job written, its cost weighed against
the quota and the paste's fragments consumed with it, or the article kept for a Retry. Then
one reply, or the job claimed at once; the digest or answer itself runs as a job
(``bot.app.runner``).
"""

from __future__ import annotations

import asyncio

from bot.app.errors import OverQuota
from bot.app.jobs import JobQueue
from bot.app.memory import chat_scope
from bot.app.pastes import Paste
from bot.app.quota import Quota, estimate
from bot.app.replies import Replies, StatusLine
from bot.app.runner import JobRunner
from bot.app.steps import ACROSS
from bot.core.errors import ArticleError
from bot.core.service import DigestService, Source, StoredArticle

NO_ARTICLES = (
    "Paste an article first (or forward a post, send a link or a file), then ask me about it. "
    "/help shows how."
)


class Intake:
    """Turns what a chat hands in into a stored article and a queued job."""

    def __init__(
        self,
        service: DigestService,
        jobs: JobQueue,
        quota: Quota,
        replies: Replies,
        runner: JobRunner,
    ) -> None:
        self.service, self.jobs, self.quota, self.replies = service, jobs, quota, replies
        self.runner = runner
        self.steps, self.memory = runner.steps, jobs.memory

    # --- articles ----------------------------------------------------------------------------

    async def paste_complete(self, chat_id: int, user_id: int, paste: Paste) -> None:
        """A paste has ended: digest it if it is an article, else treat it as a question."""
        ids = paste.message_ids
        if paste.question:
            await self.ask(chat_id, user_id, paste.text, reply_to=ids[0], about=None,
                           fragment_ids=ids)  # fmt: skip
            return
        await self.start_digest(chat_id, user_id, paste.text, reply_to=ids[0], fragment_ids=ids)

    async def start_digest(
        self,
        chat_id: int,
        user_id: int,
        source: Source | str,
        *,
        reply_to: int | None,
        fragment_ids: list[int] | None = None,
        status: StatusLine | None = None,
    ) -> None:
        """Check, store and queue an article; the digest itself runs as a claimed job.

        ``source``: a text, or a page or file read (its title, link or file name, and the
        publication date its metadata gives are kept); ``status`` a status line already shown
        (a link being fetched), which the digest takes over or which goes if it cannot start.
        """
        if isinstance(source, str):
            source = Source(text=source, title=None, kind="text")
        # Numbering a long article is CPU work: off the event loop, other chats go on.
        admitted = await asyncio.to_thread(
            self.service.admit, chat_scope(chat_id), source, keep_refused=True
        )
        article, refusal = admitted.article, admitted.refusal
        handed = self.jobs.hand_in(
            chat_id, user_id, article.id if article else None, reply_to, fragment_ids or [],
            cost=None if refusal else estimate(admitted.tokens), quota=self.quota.limit,
            status_message=status.message_id if status else None,
            used_today=self.quota.used_today(user_id),
        )  # fmt: skip
        if handed == "queued":
            self.runner.claim(own=True)
            return
        if status is not None:
            await status.close()
        if handed == "gone":  # another replica closed this paste first, and answers
            return
        if handed == "over quota":
            line = f"{self.quota.message()} Your article is saved: press Retry after the reset."
        elif handed == "kept":
            line = (f"I can't digest that: {refusal}. The text is saved; reply /digest to it "
                    "or press Retry once the limit allows it.")  # fmt: skip
        else:
            line = f"I can't digest that: {refusal}."
        await self.steps.say(chat_id, line, reply_to, article_id=article.id if article else None)

    async def retry(self, chat_id: int, user_id: int, article_id: int, reply_to: int) -> None:
        """Digest a stored article again (``/digest`` in reply, or the Retry button)."""
        article = self.service.article(article_id, chat_scope(chat_id))
        if article is None:
            await self.steps.say(chat_id, "That article is no longer available.", reply_to)
            return
        try:
            numbered = await asyncio.to_thread(self.service.check_article, article.text)
        except ArticleError as error:
            await self.steps.say(chat_id, f"I can't digest that: {error}.", reply_to)
            return
        try:  # the job written, its cost weighed against the quota, the article made current
            self.jobs.create(
                chat_id, user_id, article.id, reply_to, cost=estimate(numbered.tokens),
                quota=self.quota.limit, used_today=self.quota.used_today(user_id), current=True,
            )  # fmt: skip
        except OverQuota as error:
            await self.steps.say(chat_id, error.user_message, reply_to, article_id=article.id)
            return
        self.runner.claim(own=True)

    async def open_article(
        self, chat_id: int, user_id: int, article_id: int, *, reply_to: int
    ) -> None:
        """Show an article's digest again (a register button); digest it if it has none yet."""
        article = self.service.article(article_id, chat_scope(chat_id))
        if article is None:
            await self.steps.say(chat_id, "That article is no longer available.", reply_to)
            return
        digest = self.steps.service_for(chat_id).cached_digest(article)
        if digest is None:  # e.g. digested before the chat changed its language
            await self.retry(chat_id, user_id, article.id, reply_to=reply_to)
            return
        sent = await self.replies.send_digest(chat_id, article, digest, reply_to=reply_to)
        self.memory.link_messages(chat_id, sent, article.id)
        self.memory.set_current_article(chat_id, article.id)

    # --- questions -----------------------------------------------------------------------------

    async def ask(
        self,
        chat_id: int,
        user_id: int,
        question: str,
        *,
        reply_to: int,
        about: int | None = None,
        across: bool = False,
        fragment_ids: list[int] | None = None,
    ) -> None:
        """Queue an answer about ``about`` (an article ID) or the chat's current article; with
        neither, or ``across`` (``/ask``), a question across all of the chat's articles.

        The article is fixed now, so a paste sent after the question does not change what
        it is about; the answer is a job (its cost weighed against the quota), so it follows
        the chat's pending digest, whose article a question across articles may need, and
        survives a restart. A question across names the chat's newest article because every
        job names one; its reply is not linked to it (``JobSteps.across``).
        """
        kind, article = await asyncio.to_thread(self._asked_about, chat_id, about, across)
        cost = 0  # counting tokens is CPU work: off the event loop
        if article is not None and self.quota.limit and kind == ACROSS:
            cost = await asyncio.to_thread(self.quota.across_cost, question)
        elif article is not None and self.quota.limit:
            cost = await asyncio.to_thread(self.quota.answer_cost, article.text, question)
        handed = self.jobs.hand_in_question(
            chat_id, user_id, article.id if article else None, reply_to, fragment_ids or [],
            kind=kind, question=question, cost=cost, quota=self.quota.limit,
            used_today=self.quota.used_today(user_id),
        )  # fmt: skip
        if handed == "queued":
            self.runner.claim(own=True)
        elif handed != "gone":  # "gone": another replica took this question first, and answers
            line = NO_ARTICLES if handed == "dropped" else self.quota.message()
            await self.steps.say(chat_id, line, reply_to)

    def _asked_about(
        self, chat_id: int, about: int | None, across: bool
    ) -> tuple[str, StoredArticle | None]:
        """("answer", the article) for a question about one; else (ACROSS, the chat's newest
        article, None when it has none)."""
        scope = chat_scope(chat_id)
        article_id = None if across else about or self.memory.current_article(chat_id)
        article = self.service.article(article_id, scope) if article_id else None
        if article is not None:
            return "answer", article
        newest = self.service.recent_articles(scope, 1)
        return ACROSS, newest[0] if newest else None
