"""The application's tables (bot.app): they migrate in place, keep fragments and jobs across
restarts, and (on both backends) give replicas claims, leases, per-chat order and a shared quota."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.app.errors import OverQuota, PasteGone
from bot.app.jobs import JobQueue
from bot.app.memory import ChatMemory
from bot.app.pastes import Fragments
from bot.app.tables import APP_MIGRATIONS
from bot.app.updates import SeenUpdates
from bot.core.storage.store import Store


def test_old_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    old = Store.open(path)
    old.migrate("telegram", APP_MIGRATIONS[:1])  # a database from the first release
    old.execute(
        "INSERT INTO tg_fragments (chat_id, user_id, message_id, text) VALUES (1, 2, 3, 'x')"
    )
    old.close()
    fragments = Fragments(Store.open(path))
    assert fragments.store.schema_version("telegram") == len(APP_MIGRATIONS)
    assert [(f.text, f.forwarded) for f in fragments.of(1, 2)] == [("x", False)]


def test_fragments_and_jobs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    fragments = Fragments(Store.open(path))
    fragments.add(7, 8, 1, "first", forwarded=True)
    fragments.add(7, 8, 2, "second")
    article = fragments.store.save_article("chat:7", "Some text.", "T")
    fragments.store.close()

    store = Store.open(path)
    again, jobs = Fragments(store), JobQueue(store)
    assert again.pending_pastes() == [(7, 8)]
    job = jobs.create(7, 8, article.id, reply_to=1, fragment_ids=[1, 2])
    assert again.of(7, 8) == []  # consumed together with the job's creation
    assert [j.id for j in jobs.pending()] == [job.id]
    jobs.finish(job.id, "done")
    assert jobs.pending() == []
    updates = SeenUpdates(store)
    assert updates.first_sight(100) and not updates.first_sight(100)


def test_the_edge_state_on_both_backends(store: Store) -> None:
    """The same application state on SQLite and PostgreSQL (store fixture: both)."""
    updates, fragments, jobs = SeenUpdates(store), Fragments(store), JobQueue(store)
    memory = ChatMemory(store)
    chat = -1001234567890  # a supergroup id: beyond 32 bits
    assert updates.first_sight(5) and not updates.first_sight(5)
    assert updates.prune(days=0) >= 0
    fragments.add(chat, 8, 1, "first", forwarded=True, origin='{"type": "channel"}')
    fragments.add(chat, 8, 1, "again")  # a redelivery is ignored
    fragments.add(chat, 8, 2, "second")
    assert fragments.replace(chat, 8, 2, "second, edited")
    assert [f.text for f in fragments.of(chat, 8)] == ["first", "second, edited"]
    article = store.save_article(f"chat:{chat}", "Some text.", "T")
    job = jobs.create(chat, 8, article.id, reply_to=1, fragment_ids=[1, 2])
    assert fragments.of(chat, 8) == [] and [j.id for j in jobs.pending()] == [job.id]
    memory.link_messages(chat, [1, 2, 3], article.id)
    memory.link_messages(chat, [3], article.id)
    assert memory.article_of_message(chat, 3) == article.id
    memory.set_current_article(chat, article.id)
    memory.set_current_article(chat, article.id)
    assert memory.current_article(chat) == article.id
    jobs.finish(job.id, "done")
    assert jobs.pending() == [] and jobs.status(job.id) == "done"
    memory.forget_chat(chat)
    assert memory.current_article(chat) is None


# --- shared work (issue 12), on both backends: what replicas rely on -----------------------


def _article(store: Store, chat: int, text: str = "Some text.") -> int:
    return store.save_article(f"chat:{chat}", text, "T").id


def test_jobs_are_claimed_in_chat_order_and_delivered_once(store: Store) -> None:
    state = JobQueue(store)
    a, b = _article(store, 1), _article(store, 2)
    digest = state.create(1, 9, a, 5)
    question = state.create(1, 9, a, 6, kind="answer", question="Who?")
    other = state.create(2, 9, b, 7)
    first = state.claim("r1", lease=30)
    assert first is not None and first.id == digest.id
    second = state.claim("r2", lease=30)  # the question waits for its chat's digest
    assert second is not None and second.id == other.id
    assert state.claim("r2", lease=30) is None
    assert state.renew("r1", [digest.id, other.id], lease=30) == {digest.id}
    assert not state.deliver(digest, "r2", [11])  # not r2's job: not marked done by it
    assert state.deliver(digest, "r1", [11]) and state.status(digest.id) == "done"
    assert state.memory.article_of_message(1, 11) == a and state.memory.current_article(1) == a
    assert not state.deliver(digest, "r1", [11])  # a retry sees it is done
    answer = state.claim("r2", lease=30)
    assert answer is not None and (answer.kind, answer.question) == ("answer", "Who?")
    assert answer.id == question.id


def test_an_expired_lease_is_claimed_again_and_the_old_owner_cannot_finish(store: Store) -> None:
    state = JobQueue(store)
    job = state.create(1, 9, _article(store, 1), None)
    assert state.claim("dead", lease=0.05) is not None
    assert state.claim("alive", lease=30) is None  # the lease still holds
    time.sleep(0.1)
    taken = state.claim("alive", lease=30)
    assert taken is not None and taken.id == job.id
    assert state.renew("dead", [job.id], lease=30) == set()  # the dead one learns it lost it
    assert not state.finish(job.id, "failed", "dead") and state.status(job.id) == "pending"
    assert state.release("alive") == 1  # a graceful stop: claimable again at once
    assert state.claim("next", lease=30) is not None


def test_concurrent_claimers_never_take_a_job_twice(store: Store) -> None:
    state = JobQueue(store)
    for chat in range(40):
        state.create(chat, 9, _article(store, chat), None)
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := state.claim(name, lease=30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed) == [j.id for j in state.pending()] and len(claimed) == 40


def test_a_paste_is_closed_by_one_replica_and_consumed_once(store: Store) -> None:
    fragments, jobs = Fragments(store), JobQueue(store)
    fragments.add(1, 9, 1, "first")
    fragments.add(1, 9, 2, "second")
    assert fragments.claim(1, 9, "r1", time.time() + 30)
    assert not fragments.claim(1, 9, "r2", time.time() + 30)
    fragments.release(1, 9, "r2")  # not its claim: nothing happens
    assert not fragments.claim(1, 9, "r2", time.time() + 30)
    fragments.release(1, 9, "r1")
    assert fragments.claim(1, 9, "r2", time.time() - 1)  # ...a claim that ran out at once
    assert fragments.claim(1, 9, "r1", time.time() + 30)  # is taken over
    article = _article(store, 1)
    jobs.create(1, 9, article, 1, fragment_ids=[1, 2])
    with pytest.raises(PasteGone):  # the same fragments, closed again elsewhere
        jobs.create(1, 9, article, 1, fragment_ids=[1, 2])
    assert len(jobs.pending()) == 1 and not fragments.collecting(1, 9)
    assert not jobs.take_fragments(1, 9, [1], None)


def test_the_quota_counts_pending_costs_and_two_replicas_take_turns(store: Store) -> None:
    state = JobQueue(store)
    article = _article(store, 1)
    state.create(1, 9, article, None, cost=400, quota=1000, used_today=lambda: 500)
    assert state.pending_cost(9) == 400
    with pytest.raises(OverQuota):
        state.create(1, 9, article, None, cost=200, quota=1000, used_today=lambda: 500)
    assert state.pending_cost(9) == 400  # the refused job left nothing behind

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def slow_usage() -> int:
        time.sleep(0.3)  # both weigh at the same moment: only the user's row lock orders them
        return 0

    def paste(chat: int) -> None:
        start.wait()
        try:
            state.create(chat, 8, article, None, cost=600, quota=1000, used_today=slow_usage)
            outcomes.append("queued")
        except OverQuota:
            outcomes.append("refused")

    threads = [threading.Thread(target=paste, args=(chat,)) for chat in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["queued", "refused"]


def test_cancel_takes_the_oldest_pending_digest_of_the_chat(store: Store) -> None:
    state = JobQueue(store)
    article = _article(store, 1)
    answer = state.create(1, 9, article, None, kind="answer", question="Q")
    running = state.create(1, 9, article, None)
    queued = state.create(1, 9, article, None)
    cancelled = state.cancel_digest(1)
    assert cancelled is not None and cancelled.id == running.id
    assert state.status(running.id) == "cancelled"
    assert sorted(state.cancel_chat(1)) == sorted([answer.id, queued.id])
    assert state.pending() == []


def test_concurrent_reservations_never_overshoot_the_quota(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Twelve pastes of one user at once, from four replicas' connections, against 3,000
    tokens with 600 already spent: exactly four reservations of 600 fit."""
    JobQueue(store)
    article = _article(store, 1)
    store.record_usage("tg:5", "digest", 1, 400, 200)

    def replica() -> Store:
        if store.dialect == "sqlite":
            return Store.open(tmp_path / "store.sqlite3")
        return Store.connect(request.getfixturevalue("postgres_url"), tmp_path / "unused")

    replicas = [replica() for _ in range(4)]
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def paste(index: int) -> None:
        opened = replicas[index % 4]
        state = JobQueue(opened)

        def used() -> int:
            time.sleep(0.02)  # weighing takes a moment: a race would show here
            return opened.tokens_used("tg:5")

        start.wait()
        try:
            state.create(index, 5, article, None, cost=600, quota=3000, used_today=used)
            outcomes.append("queued")
        except OverQuota:
            outcomes.append("refused")

    try:
        threads = [threading.Thread(target=paste, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for opened in replicas:
            opened.close()
    assert outcomes.count("queued") == 4 and outcomes.count("refused") == 8
    assert JobQueue(store).pending_cost(5) == 2400
