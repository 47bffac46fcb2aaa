"""Digests per minute with one and with two bot replicas on one PostgreSQL; a claim's cost.

    python bench/replicas.py [--chats 40] [--latency 1.0] [--slots 4]

The fake model serves at most ``--slots`` calls at once, each taking ``--latency`` seconds (a
vLLM with ``--max-num-seqs``): its ceiling is slots / latency calls a second, and the shared
article is one call. Each replica's BOT_LLM_CONCURRENCY and BOT_JOB_CONCURRENCY are at least
the slots, so the model, not the bot, is what limits: one replica should already reach the
ceiling and two the same (replicas add availability, not model capacity). The table says how
close each gets, counted from the first paste to the last digest delivered (the quiet period
of 0.2 s included). Replicas are real ``digestbot run`` processes in webhook mode behind the
tests' round-robin proxy, with the fake Bot API pushing updates; PostgreSQL is a throwaway
cluster (as in the tests). The claim's cost: milliseconds per job to claim it and record its
delivery, with 500 jobs pending, from one claimer and from four at once.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app.jobs import JobQueue  # noqa: E402
from bot.core.storage.store import Store  # noqa: E402
from tests.conftest import process_env  # noqa: E402
from tests.fakes import openai_server, telegram_api  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402
from tests.fakes.round_robin_proxy import RoundRobinProxy  # noqa: E402
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramServer  # noqa: E402
from tests.postgres import PostgresUnavailable, _free_port, throwaway_cluster  # noqa: E402
from tests.test_bot_process import _listening, start_bot  # noqa: E402
from tests.test_telegram_bot import digest_messages  # noqa: E402

# A burst of connections must not lose SYNs to the fakes' default backlog of 5 (see bench.py).
openai_server._HTTPServer.request_queue_size = 128
telegram_api._Server.request_queue_size = 128

ARTICLE = (ROOT / "tests" / "data" / "zhaoqing-die-casting-summit.txt").read_text("utf-8")
SECRET = "bench-secret"


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (as the tests make one); its admin URL."""
    try:
        with throwaway_cluster("digestbot-bench-pg-") as url:
            yield url
    except PostgresUnavailable as error:
        raise SystemExit(str(error)) from None


def fresh_database(admin_url: str) -> str:
    import psycopg

    name = f"b_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def slot_limited(slots: int, latency: float) -> Any:
    """The scripted model behind ``slots`` serving slots of ``latency`` seconds each."""
    model, free = ScriptedModel(people=zhaoqing_people()), threading.Semaphore(slots)

    def respond(body: dict[str, Any]) -> Any:
        with free:
            time.sleep(latency)
            return model(body)

    return respond


async def digests_per_minute(
    replicas: int, chats: int, slots: int, latency: float, admin_url: str, work: Path
) -> tuple[float, int]:
    """(digests a minute, model calls) for ``chats`` chats pasting at once."""
    database = fresh_database(admin_url)
    ports = [_free_port() for _ in range(replicas)]
    processes: list[subprocess.Popen[bytes]] = []
    with (
        FakeOpenAIServer(slot_limited(slots, latency)) as model,
        FakeTelegramServer() as tg,
        RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports]) as proxy,
    ):
        try:
            for index, port in enumerate(ports):
                env = process_env(
                    work / f"data-{replicas}-{index}", model,
                    BOT_ALLOWED_USERS="*", BOT_DAILY_TOKEN_QUOTA="0",
                    BOT_FRAGMENT_QUIET_SECONDS="0.2", BOT_LOG_LEVEL="WARNING",
                    BOT_LLM_CONCURRENCY=str(slots), BOT_JOB_CONCURRENCY=str(2 * slots),
                    BOT_DATABASE_URL=database, TELEGRAM_BOT_TOKEN=tg.token,
                    TELEGRAM_BASE_URL=tg.base_url,
                    BOT_WEBHOOK_URL="https://bot.example.com/telegram",
                    BOT_WEBHOOK_LISTEN="127.0.0.1", BOT_WEBHOOK_PORT=str(port),
                    BOT_WEBHOOK_SECRET=SECRET,
                )  # fmt: skip
                processes.append(start_bot(env, work / f"bot-{replicas}-{index}.log"))
            deadline = time.monotonic() + 60
            while not all(_listening(port) for port in ports):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the replicas did not start; see the logs in {work}")
                await asyncio.sleep(0.1)
            tg.push_webhooks(f"{proxy.url}/telegram")
            ids = [2000 + i for i in range(chats)]
            started = time.monotonic()
            for chat in ids:  # a different article in each chat: nothing comes from the cache
                tg.user_sends_text(chat, chat, f"{ARTICLE}\n\nFiled from desk {chat}.")
            await tg.wait_for(lambda: all(digest_messages(tg, c) for c in ids), timeout=600)
            elapsed = time.monotonic() - started
            return chats / elapsed * 60, len(model.requests)
        finally:
            for process in processes:
                process.kill()
                process.wait(10)


def claim_cost(store: Store, claimers: int, jobs: int = 500) -> float:
    """Milliseconds per job to claim it and record its delivery, ``claimers`` at once."""
    queue = JobQueue(store)
    article = store.save_article("chat:1", "Some text.", "T").id
    for chat in range(jobs):
        queue.create(chat, 1, article, None)

    def claimer(name: str) -> None:
        while (job := queue.claim(name, lease=30)) is not None:
            queue.deliver(job, name, [job.id])

    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(claimers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (time.perf_counter() - started) * 1000 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    ceiling = args.slots / args.latency * 60
    with postgres() as admin, tempfile.TemporaryDirectory(prefix="digestbot-bench-") as folder:
        work = Path(folder)
        print(f"{args.chats} chats pasting at once; the model: {args.slots} slots of "
              f"{args.latency:g} s, a ceiling of {ceiling:.0f} digests/min")  # fmt: skip
        print(f"{'replicas':>8}  {'digests/min':>11}  {'of ceiling':>10}  {'model calls':>11}")
        for replicas in (1, 2):
            rate, calls = asyncio.run(
                digests_per_minute(replicas, args.chats, args.slots, args.latency, admin, work)
            )
            print(f"{replicas:>8}  {rate:>11.1f}  {rate / ceiling:>10.0%}  {calls:>11}")
        print()
        print(f"{'claim + delivery':<18}  {'1 claimer':>10}  {'4 at once':>10}")
        for name in ("postgres", "sqlite"):
            costs = []
            for claimers in (1, 4):
                if name == "postgres":
                    store = Store.connect(fresh_database(admin), work / "unused")
                else:
                    store = Store.open(work / f"claims-{claimers}.sqlite3")
                try:
                    costs.append(claim_cost(store, claimers))
                finally:
                    store.close()
            print(f"{name:<18}  {costs[0]:>7.2f} ms  {costs[1]:>7.2f} ms")


if __name__ == "__main__":
    main()
