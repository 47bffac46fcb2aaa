"""Two ``digestbot run`` replicas on one PostgreSQL, in webhook mode behind a round-robin proxy.

Real processes, a real PostgreSQL (skipped with the reason when it cannot start), the fake
Bot API pushing updates to the proxy, and the fake model. Each test proves one promise of
issue 12: a paste split across replicas is one digest (also when the replica holding its start
stops mid-paste); many chats at once are each answered
once, by both replicas; a replica killed mid-digest is replaced by the other within the lease
time plus one digest, with one reply; an update delivered to both replicas is handled once.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import process_env
from tests.fakes import openai_server, telegram_api
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.round_robin_proxy import RoundRobinProxy
from tests.fakes.telegram_api import FakeTelegramServer
from tests.test_bot_process import _free_port, _listening, start_bot
from tests.test_telegram_bot import CHAT, USER, digest_messages, fragments, texts

LEASE = 3.0  # seconds: short, so a takeover happens within the test
QUIET = 1.0
SECRET = "replica-secret-value"
PUBLIC_URL = "https://bot.example.com/telegram"


def _phrase(text: str) -> str:
    """Four words from the middle of ``text`` that no sentence break separates."""
    words = text.split()
    for start in range(len(words) // 2, len(words) - 4):
        if all(word.isalnum() for word in words[start : start + 4]):
            return " ".join(words[start : start + 4])
    raise AssertionError("no plain phrase in the text")


@pytest.fixture(autouse=True)
def _real_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes' default backlog of 5 drops SYNs in a burst (a 1 s client retry each)."""
    monkeypatch.setattr(openai_server._HTTPServer, "request_queue_size", 128)
    monkeypatch.setattr(telegram_api._Server, "request_queue_size", 128)


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        yield server


@dataclass
class Cluster:
    tg: FakeTelegramServer
    proxy: RoundRobinProxy
    database_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    upstreams: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def owners(self) -> dict[str, int]:
        """Jobs done per replica (by the pid in the owner column)."""
        import psycopg

        with psycopg.connect(self.database_url) as db:
            rows = db.execute(
                "SELECT owner, count(*) FROM tg_jobs WHERE status = 'done' GROUP BY owner"
            ).fetchall()
        return {str(owner): int(count) for owner, count in rows}

    def replica_of(self, owner: str) -> int:
        """Index of the process whose pid the owner id carries (host:pid:random)."""
        pid = int(owner.split(":")[-2])
        return next(i for i, p in enumerate(self.processes) if p.pid == pid)

    def running_owner(self) -> str | None:
        import psycopg

        with psycopg.connect(self.database_url) as db:
            row = db.execute(
                "SELECT owner FROM tg_jobs WHERE status = 'pending' AND owner IS NOT NULL"
            ).fetchone()
        return str(row[0]) if row else None

    def log_text(self) -> str:
        return "\n".join(log.read_text() for log in self.logs if log.exists())


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_url: str, llm_server: FakeOpenAIServer, tg: FakeTelegramServer
) -> Iterator[Cluster]:
    ports = [_free_port(), _free_port()]
    with RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports]) as proxy:
        found = Cluster(tg, proxy, postgres_url, upstreams=proxy.upstreams)
        try:
            for index, port in enumerate(ports):
                env = process_env(
                    tmp_path / f"data-{index}",
                    llm_server,
                    BOT_ALLOWED_USERS="*",
                    BOT_DAILY_TOKEN_QUOTA="0",
                    BOT_FRAGMENT_QUIET_SECONDS=str(QUIET),
                    BOT_JOB_LEASE_SECONDS=str(LEASE),
                    BOT_DATABASE_URL=postgres_url,
                    BOT_LOG_LEVEL="INFO",
                    TELEGRAM_BOT_TOKEN=tg.token,
                    TELEGRAM_BASE_URL=tg.base_url,
                    BOT_WEBHOOK_URL=PUBLIC_URL,
                    BOT_WEBHOOK_LISTEN="127.0.0.1",
                    BOT_WEBHOOK_PORT=str(port),
                    BOT_WEBHOOK_SECRET=SECRET,
                )
                log = tmp_path / f"bot-{index}.log"
                found.logs.append(log)
                found.processes.append(start_bot(env, log))
            deadline = time.monotonic() + 30
            while not all(_listening(port) for port in ports):
                if time.monotonic() > deadline or any(
                    p.poll() is not None for p in found.processes
                ):
                    pytest.fail(f"the replicas did not start:\n{found.log_text()[-3000:]}")
                time.sleep(0.1)
            tg.push_webhooks(f"{proxy.url}/telegram")
            yield found
        finally:
            for process in found.processes:
                process.kill()
            for process in found.processes:
                process.wait(10)


async def test_a_paste_split_across_replicas_is_one_article_and_one_digest(
    cluster: Cluster, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    llm_server.latency = 2 * LEASE + 1  # the digest outlives its lease: renewals must hold it
    pieces = fragments(article_text, 3)
    for piece in pieces:
        tg.user_sends_text(CHAT, USER, piece)
    await tg.wait_for(lambda: len(cluster.proxy.served) >= 3, timeout=10)
    assert set(cluster.proxy.served[:3]) == set(cluster.upstreams)  # both replicas got some
    await tg.wait_for(lambda: digest_messages(tg), timeout=30)
    await asyncio.sleep(QUIET + 1)  # a second digest, had one been started, shows by now
    assert len(digest_messages(tg)) == 1 and len(llm_server.requests) == 1
    prompt = llm_server.requests[0].body["messages"][1]["content"]
    assert all(_phrase(piece) in prompt for piece in pieces)  # every fragment is in the article
    assert not any(t.startswith("Reading") for t in texts(tg))


async def test_fifty_chats_at_once_are_each_answered_once_by_both_replicas(
    cluster: Cluster, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    llm_server.latency = 1.0
    chats = [1000 + i for i in range(50)]
    for chat in chats:  # a different article in each chat: no digest comes from the cache
        text = f"{article_text}\n\nFiled from desk {chat}. The desk checked the quotes."
        for piece in fragments(text, 2):
            tg.user_sends_text(chat, chat, piece)
    await tg.wait_for(lambda: all(digest_messages(tg, c) for c in chats), timeout=150)
    await asyncio.sleep(QUIET + 1)
    assert [len(digest_messages(tg, c)) for c in chats] == [1] * 50
    assert len(llm_server.requests) == 50
    done = cluster.owners()
    assert sum(done.values()) == 50
    per_replica = [0, 0]
    for owner, count in done.items():
        per_replica[cluster.replica_of(owner)] += count
    print(f"jobs per replica: {per_replica}")
    assert min(per_replica) >= 5, per_replica  # the work is spread over both replicas


async def test_a_replica_killed_mid_digest_is_replaced_and_the_reply_sent_once(
    cluster: Cluster, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    latency = 2.0
    llm_server.latency = latency
    for piece in fragments(article_text, 2):
        tg.user_sends_text(CHAT, USER, piece)
    await tg.wait_for(lambda: llm_server.requests, timeout=20)  # the model is working
    await tg.wait_for(lambda: any(t.startswith("Reading") for t in texts(tg)), timeout=10)
    owner = await tg.wait_for(cluster.running_owner, timeout=10)
    victim = cluster.processes[cluster.replica_of(owner)]
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.wait(10)
    await tg.wait_for(lambda: digest_messages(tg), timeout=LEASE + 30)
    took = time.monotonic() - killed
    # The lease time plus one digest (the model's latency and the bot's own work), with slack.
    assert took < LEASE + latency + 8, took
    print(f"taken over and delivered {took:.1f} s after the kill")
    await asyncio.sleep(LEASE + 1)  # time for a duplicate, were the dead one's job taken twice
    assert len(digest_messages(tg)) == 1 and len(llm_server.requests) == 2
    assert not any(t.startswith("Reading") for t in texts(tg))  # its status line taken over
    llm_server.latency = 0.0
    before = len(texts(tg))
    tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
    await tg.wait_for(lambda: len(texts(tg)) > before, timeout=20)
    await asyncio.sleep(0.5)
    assert len(texts(tg)) == before + 1 and len(llm_server.requests) == 3  # one answer
    assert "Xu Xiaoxiong" in texts(tg)[-1]


async def test_an_update_delivered_to_both_replicas_is_handled_once(
    cluster: Cluster, tg: FakeTelegramServer
) -> None:
    message = tg.user_sends_text(CHAT, USER, "/help")
    await tg.wait_for(lambda: texts(tg), timeout=20)
    update = {"update_id": 1_000_000, "message": {**message, "message_id": message["message_id"]}}
    for upstream in cluster.upstreams:  # Telegram retried it, and each copy hit a replica

        def post(url: str = f"{upstream}/telegram") -> int:
            request = urllib.request.Request(
                url, json.dumps(update).encode(),
                {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)

        assert await asyncio.to_thread(post) == 200
    await asyncio.sleep(1.5)
    assert len([t for t in texts(tg) if "Paste an article" in t]) == 2  # the first, and one
    assert re.search(r"ready", cluster.log_text()) and SECRET not in cluster.log_text()


async def test_a_replica_stopped_mid_paste_leaves_the_paste_to_the_other(
    cluster: Cluster, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    """A rolling restart: the replica holding the start of a paste stops (SIGTERM) while the
    rest is still arriving. It must not close the paste as it goes, or the paste would be two
    articles: the other replica closes it, whole, once it is quiet."""
    first, *rest = fragments(article_text, 3)
    tg.user_sends_text(CHAT, USER, first)
    await tg.wait_for(lambda: cluster.proxy.served, timeout=10)
    index = cluster.upstreams.index(cluster.proxy.served[0])
    holder, port = cluster.processes[index], int(cluster.upstreams[index].rsplit(":", 1)[1])
    holder.send_signal(signal.SIGTERM)
    await tg.wait_for(lambda: not _listening(port), timeout=QUIET / 2)  # within the paste
    for piece in rest:  # the proxy skips the stopped replica
        tg.user_sends_text(CHAT, USER, piece)
    holder.wait(15)
    await tg.wait_for(lambda: digest_messages(tg), timeout=30)
    await asyncio.sleep(QUIET + 1)
    assert len(digest_messages(tg)) == 1 and len(llm_server.requests) == 1
    prompt = llm_server.requests[0].body["messages"][1]["content"]
    assert all(_phrase(piece) in prompt for piece in [first, *rest])
