"""The slow part of the application: jobs run as tasks, so no chat waits on another.

A replica claims a job (``bot.app.jobs``) with a lease, runs it as a task, and renews the
lease while it works; a job is claimable only when no older job of its chat is pending, so
one chat's digest and the question after it stay in order across replicas while other chats
proceed. A replica claims right after writing a job (no delay on a lone bot), after finishing
one, and on a poll, which also finds other replicas' jobs and those whose owner died (its
lease ran out). A job interrupted by a stop is released for another replica or the next
start; cancelled elsewhere, it is stopped at the next poll. The status line's message id is
kept on the job, so whoever runs it edits the same line. A job that fails says so in its
chat, with a Retry button.
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
from typing import Any

from bot.app.errors import JobLost
from bot.app.jobs import Job, JobQueue
from bot.app.replies import Replies
from bot.app.steps import ACROSS, JobSteps
from bot.core.errors import ArticleError, DatabaseUnavailable, LLMError
from bot.core.service import DigestService, StoredArticle

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 8.0  # under Docker's 10 s between SIGTERM and SIGKILL
POLL_INTERVAL = 0.5  # seconds between looks for claimable jobs, cancellations, quiet pastes
PAUSED = "Paused for a restart: the digest follows as soon as I am back."


def replica_id() -> str:
    """This process among the replicas: host, pid and a random part (pids repeat in containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    """This replica's share of the work: the jobs it claimed, their leases, and the poll."""

    def __init__(
        self, service: DigestService, jobs: JobQueue, steps: JobSteps, replies: Replies
    ) -> None:
        self.service, self.jobs, self.steps, self.replies = service, jobs, steps, replies
        self.replica = steps.replica
        self.lease = service.settings.job_lease_seconds
        self.capacity = service.settings.job_concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[int, tuple[Job, asyncio.Task[None]]] = {}  # job id -> job, task
        self._stopped: dict[int, str] = {}  # job id -> why we stop it: "cancelled" or "lost"
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._claiming = asyncio.Lock()
        self._renewed = 0.0
        self._loop_error = ""
        # Run on every poll (the paste sweep): work that any replica may pick up.
        self.ticks: list[Callable[[], Awaitable[None]]] = []

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
        if not self.jobs.shared:  # the only process on this store: every claim is a dead run's
            self.jobs.release_all()
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
            self.jobs.release(self.replica)

    # --- claiming and leases -------------------------------------------------------------

    def claim(self, *, own: bool = False) -> int:
        """Claim and start jobs while this replica has room; how many it started.

        While stopping, only ``own`` claims (right after writing a job) still take one.
        """
        started = 0
        while (own or not self._stopping) and len(self._running) < self.capacity:
            job = self.jobs.claim(self.replica, self.lease)
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
                job = await asyncio.to_thread(self.jobs.claim, self.replica, self.lease)
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
            held = await asyncio.to_thread(self.jobs.renew, self.replica, ids, self.lease)
            self._renewed = time.monotonic()
        else:
            held = await asyncio.to_thread(self.jobs.held, self.replica, ids)
        for job_id in set(ids) - held:
            if job_id in self._running:
                status = await asyncio.to_thread(self.jobs.status, job_id)
                if job_id in self._running:
                    self._stop(job_id, "lost" if status == "pending" else "cancelled")

    def _stop(self, job_id: int, why: str) -> None:
        if job_id in self._running and job_id not in self._stopped:
            self._stopped[job_id] = why
            self._running[job_id][1].cancel()

    # --- cancelling ------------------------------------------------------------------------

    def cancel(self, chat_id: int) -> StoredArticle | None:
        """Stop the chat's running digest (else its oldest queued one); its article, or None.

        Recorded in the store first, so neither a crash now nor a restart resumes it; a
        replica running it elsewhere stops at its next poll.
        """
        job = self.jobs.cancel_digest(chat_id)
        if job is None:
            return None
        self._stop(job.id, "cancelled")
        self.claim()  # the chat's next job may go
        return self.service.article(job.article_id, job.scope)

    def cancel_chat(self, chat_id: int) -> None:
        """Stop every digest and answer of a chat (``/forget``)."""
        for job_id in self.jobs.cancel_chat(chat_id):
            self._stop(job_id, "cancelled")

    # --- one job ---------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        status = self.replies.status_line(job.chat_id, job.reply_to, job.status_message)
        try:
            if job.kind == "answer":
                await self.steps.answer(job)
            elif job.kind == ACROSS:
                await self.steps.across(job)
            else:
                await self.steps.digest(job, status)
        except (JobLost, asyncio.CancelledError) as stop:
            why = self._stopped.get(job.id)
            if why is None and isinstance(stop, JobLost):
                why = "lost" if self.jobs.status(job.id) == "pending" else "cancelled"
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
                await self.steps.say(job.chat_id, text, job.reply_to)
        except Exception as error:
            if isinstance(error, LLMError | ArticleError):
                log.warning("digest job %s for chat %s failed: %s", job.id, job.chat_id, error)
            else:
                log.error("digest job %s for chat %s failed", job.id, job.chat_id, exc_info=True)
            with contextlib.suppress(DatabaseUnavailable):
                if await asyncio.to_thread(self.jobs.held, self.replica, [job.id]):
                    await self.steps.tell_failure(job, status, error)
                    await asyncio.to_thread(self.jobs.finish, job.id, "failed", self.replica)
        finally:
            self._running.pop(job.id, None)
            self._stopped.pop(job.id, None)
            if not self._stopping:  # e.g. the question that waited for this digest
                self.spawn(self._claim_off_loop())
