"""The application a chat edge drives, assembled once: its stores, the quota, the job queue
and its runner, the intake (with its reading of links and files), the paste collector, and
the feeds the chats follow.

An edge builds it with its ``Replies`` (how it speaks in a chat) and calls it from its
handlers; nothing here knows which chat platform that is.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.feeds import Feeds
from bot.app.incoming import TextRouter
from bot.app.intake import Intake
from bot.app.jobs import JobQueue
from bot.app.memory import ChatMemory, chat_scope
from bot.app.pastes import Fragments, PasteCollector
from bot.app.quota import Quota
from bot.app.reading import Reading
from bot.app.replies import Replies
from bot.app.runner import JobRunner, replica_id
from bot.app.steps import JobSteps
from bot.app.updates import SeenUpdates
from bot.app.watchlist import Watchlist
from bot.core.service import DigestService


@dataclass
class ChatApp:
    """The application's parts, built once per process and shared by the edge's handlers."""

    service: DigestService
    updates: SeenUpdates
    memory: ChatMemory
    watchlist: Watchlist
    jobs: JobQueue
    quota: Quota
    steps: JobSteps
    runner: JobRunner
    intake: Intake
    reading: Reading
    pastes: PasteCollector
    feeds: Feeds
    texts: TextRouter  # where a message's text goes

    @classmethod
    def build(cls, service: DigestService, replies: Replies) -> ChatApp:
        store = service.store  # the application's tables live beside the core's
        settings = service.settings
        jobs = JobQueue(store)
        quota = Quota(service, store)
        steps = JobSteps(service, jobs, quota, replies, replica_id())
        runner = JobRunner(service, jobs, steps, replies)
        intake = Intake(service, jobs, quota, replies, runner)
        reading = Reading(service, replies, steps, runner, intake)
        pastes = PasteCollector(
            Fragments(store), settings.fragment_quiet_seconds, intake.paste_complete,
            runner.spawn, owner=runner.replica, claim_seconds=settings.job_lease_seconds,
        )  # fmt: skip
        runner.ticks.append(pastes.sweep)  # pastes whose timer is on another replica, or died
        runner.ticks.append(steps.sweep_watch_alerts)  # alerts whose replica stopped first
        feeds = Feeds(service, jobs, quota, replies, runner)
        runner.ticks.append(feeds.tick)  # due feeds, read by one replica each
        texts = TextRouter(pastes, jobs.memory, reading, intake)
        return cls(service, SeenUpdates(store), jobs.memory, jobs.watchlist, jobs, quota,
                   steps, runner, intake, reading, pastes, feeds, texts)  # fmt: skip

    def start(self) -> int:
        """Take up work: left by a previous run, or shared by replicas; how many jobs."""
        self.updates.prune()
        self.feeds.start()
        return self.runner.start()  # the poll that follows also closes pastes left quiet

    async def stop(self) -> None:
        """Updates have stopped: finish pastes and digests (or leave them pending for later).

        Alone on its SQLite file, the bot closes its pastes now, so none waits for the next
        start. Sharing PostgreSQL, it leaves them: the rest of a paste may still arrive at
        another replica, which closes the paste once it is quiet, as one article. Feeds
        being read stop first: their items not yet queued wait for the next poll.
        """
        await self.feeds.stop()
        if not self.jobs.shared:
            await self.pastes.flush_all()
        await self.runner.drain()

    def forget(self, chat_id: int, user_id: int) -> int:
        """Delete the chat's articles, digests, questions and work in progress; how many
        articles (its language, watches and feeds stay)."""
        self.runner.cancel_chat(chat_id)
        self.pastes.discard(chat_id, user_id)
        self.memory.forget_chat(chat_id)
        return self.service.forget(chat_scope(chat_id))
