"""Hostile storage and text (issue 18): what must never cost a crash or a finished digest.

Undecodable bytes and lone surrogates on stdin and argv, control characters, a large register
of another chat, a full disk and a database outage. Each ends in a digest of what is really
there or one clear line naming the cause, with no traceback, within bounds, and nothing lost.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ArticleError, EncodingUnavailable
from bot.core.reading.chunking import CountTokens
from bot.core.schemas import Commitment, Digest, Official
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.core.storage.register import Register
from bot.core.storage.store import Store, article_hash
from tests.conftest import DATA, make_settings
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people
from tests.fakes.telegram_api import FakeTelegramServer
from tests.hostile.harness import assert_bounded, assert_digested, assert_one_line, run_cli
from tests.postgres import PostgresUnavailable, _as_owner, _bin, throwaway_cluster
from tests.test_telegram_bot import CHAT, GROUP, USER, running

ARTICLE = DATA / "zhaoqing-die-casting-summit.txt"
SHORT = "City news. Mayor Xu Xiaoxiong spoke on Monday. The city will repair the bridge this year."

# --- undecodable bytes, lone surrogates, control characters ------------------------------------


def test_undecodable_stdin_is_digested_not_a_crash(cli_env: dict[str, str]) -> None:
    """``printf 'Mayor \\xc3\\x28 Zhang' | digestbot digest -``: the cache lookup hashed the
    surrogate-escaped text and crashed (UnicodeEncodeError in article_hash)."""
    run = run_cli("digest", "-", "--json", stdin=b"Mayor \xc3\x28 Zhang", env=cli_env)
    assert_digested(run)
    assert_bounded(run, seconds=20, mb=500)
    again = run_cli("digest", "-", "--json", stdin=b"Mayor \xc3\x28 Zhang", env=cli_env)
    assert assert_digested(again)["stats"]["cached"] is True  # the same article, cleaned alike


@pytest.mark.parametrize("data", [b"\xff\xfe\xfd", b"\xff\xfe\n\x80\x81\t\xc3"])
def test_stdin_of_undecodable_bytes_only_is_one_line(
    cli_env: dict[str, str], llm_server: FakeOpenAIServer, data: bytes
) -> None:
    run = run_cli("digest", "-", stdin=data, env=cli_env)
    line = assert_one_line(run)
    assert "UTF-8" in line and run.code == 1
    assert not llm_server.requests


def test_an_undecodable_question_is_one_line_and_no_model_call(
    cli_env: dict[str, str], llm_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """``digestbot ask seed.txt $'\\xff\\xfe\\xfd'`` said the model could not be reached."""
    seed = tmp_path / "seed.txt"
    seed.write_text(SHORT, encoding="utf-8")
    question = b"\xff\xfe\xfd".decode("utf-8", "surrogateescape")  # argv, as Python decodes it
    run = run_cli("ask", str(seed), question, env=cli_env)
    line = assert_one_line(run)
    assert "question" in line and "UTF-8" in line and "model" not in line
    assert not llm_server.requests


def test_a_question_with_some_undecodable_bytes_is_answered(
    cli_env: dict[str, str], llm_server: FakeOpenAIServer
) -> None:
    question = b"Who is the \xff mayor of Zhaoqing?".decode("utf-8", "surrogateescape")
    run = run_cli("ask", str(ARTICLE), question, "--json", env=cli_env)
    assert run.code == 0 and "Traceback" not in run.stderr, str(run)
    assert "Xu Xiaoxiong" in json.loads(run.stdout)["answer"]
    assert llm_server.requests and "\ufffd mayor" in json.dumps(
        llm_server.requests[-1].body, ensure_ascii=False
    )


async def test_every_text_is_cleaned_at_the_front_door(service: DigestService) -> None:
    """Lone surrogates become U+FFFD, control characters go (line-ending ones end a line)."""
    dirty = "Mayor \ud800 Zhang\x00 spoke\x1b[31m.\r\nThe\x0ccity\x07 \udcc3 acts.\x85End."
    article = service.save_article("cli", dirty, title="Title\x00 \udcff here")
    assert article.text == "Mayor \ufffd Zhang spoke[31m.\nThe\ncity \ufffd acts.\nEnd."
    assert article.title == "Title \ufffd here"
    assert service.save_article("cli", article.text).id == article.id  # cleaned alike: once
    assert service.check_article(dirty).sentences
    assert not service.is_digested(dirty)  # the cache lookup no longer crashes
    with pytest.raises(ArticleError, match="UTF-8"):
        service.check_article("\udcff\udcfe \n\udcfd")
    with pytest.raises(ArticleError, match=r"question .*UTF-8"):
        await service.ask(article, "\udcff\udcfe\udcfd")


def test_article_hash_takes_any_str() -> None:
    assert article_hash("Mayor \udcc3( Zhang") != article_hash("Mayor \ufffd( Zhang")
    assert article_hash(" text ") == article_hash("text")


# --- a large register in another chat ----------------------------------------------------------

OTHER_NAMES = 260_000


def _fill_other_chat(store: Store, count: int) -> None:
    """``count`` officials (all Smiths) and as many pledges in another chat, in a few
    statements: a recursive series, so the register is built in seconds on both backends."""
    other = store.save_article("chat:2", "Another chat's article.", "Other")
    series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
    with store.transaction():
        store.execute(
            series + "INSERT INTO reg_officials (article_id, name, title, organization, quote) "
            "SELECT ?, 'Person' || i || ' Smith', 'clerk', 'office', 'q' FROM n",
            (count, other.id),
        )
        store.execute(
            series + "INSERT INTO reg_commitments (article_id, actor, commitment, deadline, "
            "quote) SELECT ?, 'Person' || i || ' Smith', 'will act', NULL, 'q' FROM n",
            (count, other.id),
        )
        for table, kind in (("reg_officials", "official"), ("reg_commitments", "commitment")):
            column = "name" if kind == "official" else "actor"
            store.execute(
                f"INSERT INTO reg_names (name, kind, row_id, article_id) "
                f"SELECT {column}, '{kind}', id, article_id FROM {table} WHERE article_id = ?",
                (other.id,),
            )


def test_who_and_pledges_in_a_chat_beside_a_huge_register(store: Store) -> None:
    """260,000 Smiths in another chat made ``/who Smith`` here fail: "too many SQL variables"
    (every chat's matching ids were collected into one IN list before the scope filter)."""
    register = Register(store)
    mine = store.save_article("chat:1", "Mayor Adam Smith will repair the bridge.", "Mine")
    digest = Digest(
        summary="",
        key_points=[],
        officials=[Official(name="Adam Smith", title="Mayor", organization="City",
                            quote="Mayor Adam Smith", sentences=[1])],
        commitments=[Commitment(actor="Adam Smith", commitment="repair the bridge",
                                deadline=None, quote="will repair the bridge", sentences=[1])],
    )  # fmt: skip
    register.record(mine, digest)
    _fill_other_chat(store, OTHER_NAMES)

    started = time.monotonic()
    found = register.who("Smith", ["chat:1"])
    assert [(m.name, m.article_id, m.pledges) for m in found] == [
        ("Adam Smith", mine.id, ("repair the bridge",))
    ]
    assert [(p.actor, p.article_id) for p in register.pledges("Smith", ["chat:1"])] == [
        ("Adam Smith", mine.id)
    ]
    assert [m.name for m in register.who("Adam Smith", ["chat:1"])] == ["Adam Smith"]
    assert register.who("Person1", ["chat:1"]) == []  # only in the other chat
    assert len(register.who("Smith", ["chat:2"], limit=5)) == 5  # that chat sees its own
    assert time.monotonic() - started < 20


# --- PostgreSQL away just as a digest finishes -------------------------------------------------


@contextmanager
def restartable_postgres() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A throwaway server (tests/postgres.py) with ``stop`` and ``start`` for an outage."""
    pytest.importorskip("psycopg")
    prefix = f"digestbot-pg-outage-{uuid.uuid4().hex[:8]}-"
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_cluster(prefix))
        except PostgresUnavailable as error:
            pytest.skip(f"{error}; skipped")
        (folder,) = Path(tempfile.gettempdir()).glob(prefix + "*")
        port = url.rsplit(":", 1)[1].split("/")[0]
        owner = "nobody" if os.geteuid() == 0 else None
        pg_ctl = _bin("pg_ctl")
        assert pg_ctl is not None

        def ctl(*args: str) -> None:
            command = _as_owner([pg_ctl, "-D", str(folder / "data"), *args], owner)
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
            )
            assert done.returncode == 0, done.stderr

        def stop() -> None:
            ctl("-m", "fast", "-w", "stop")

        def start() -> None:
            options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            ctl("-l", str(folder / "log"), "-w", "-t", "30", "-o", options, "start")

        yield url, stop, start


def _texts(tg: FakeTelegramServer, chat: int) -> list[str]:
    return [m.text for m in tg.bot_messages(chat)]


def _bot_settings(
    tmp_path: Path, llm: FakeOpenAIServer, tg: FakeTelegramServer, url: str
) -> Settings:
    """The bot on the fake Telegram and model servers, storing in PostgreSQL at ``url``."""
    return make_settings(
        tmp_path, llm, telegram_bot_token=tg.token, telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url, allowed_users=str(USER),
        fragment_quiet_seconds=0.3, database_url=url,
    )  # fmt: skip


def _paste(tg: FakeTelegramServer, text: str) -> None:
    """The article pasted in Telegram-sized messages."""
    for start_at in range(0, len(text), 4000):
        tg.user_sends_text(CHAT, USER, text[start_at : start_at + 4000])


async def _until(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_a_digest_finished_while_postgres_is_down_is_delivered_and_kept(
    tmp_path: Path, tg: FakeTelegramServer, count_tokens: CountTokens, article_text: str
) -> None:
    """PostgreSQL stops while the model writes the digest and stays away 12 s: the digest
    reaches the chat during the outage, another chat's /help is answered meanwhile, and once
    the server is back the digest, its register rows, its tokens and the delivery are written;
    the model is asked once. (Before: "Something went wrong", tokens spent twice on Retry, and
    the whole bot stalled 10 s on every database call.)"""
    asked, release = threading.Event(), threading.Event()
    model = ScriptedModel(people=zhaoqing_people())

    def responder(body: dict[str, Any]) -> str:
        asked.set()
        release.wait(60)
        return model(body)

    with (
        restartable_postgres() as (url, stop, start),
        FakeOpenAIServer(responder=responder, count_tokens=count_tokens) as llm,
    ):
        async with running(_bot_settings(tmp_path, llm, tg, url)):
            _paste(tg, article_text)
            await _until(asked.is_set, 30, "the model is asked for the digest")
            await asyncio.to_thread(stop)
            down_at = time.monotonic()
            release.set()

            await _until(lambda: any("Xu Xiaoxiong" in t for t in _texts(tg, CHAT)), 15,
                         "the digest reaches the chat while the database is down")  # fmt: skip
            asked_at = time.monotonic()
            tg.user_sends_text(GROUP, USER, "/help")
            await _until(lambda: _texts(tg, GROUP), 6, "another chat's /help is answered")
            assert time.monotonic() - asked_at < 5
            await asyncio.sleep(max(0.0, 12 - (time.monotonic() - down_at)))
            await asyncio.to_thread(start)

            check = Store.connect(url, tmp_path / "unused")
            try:

                def written() -> bool:
                    jobs = check.execute("SELECT status FROM tg_jobs").fetchall()
                    return [r[0] for r in jobs] == ["done"] and check.tokens_used(f"tg:{USER}") > 0

                await _until(written, 20, "the kept digest and delivery reach the database")
                assert check.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1
                found = Register(check).who("Xu Xiaoxiong", [f"chat:{CHAT}"])
                assert [m.name for m in found] == ["Xu Xiaoxiong"]
            finally:
                check.close()
            await asyncio.sleep(1.5)  # a poll or two: nothing is claimed or sent again
        texts = _texts(tg, CHAT)
        assert sum("Xu Xiaoxiong" in t for t in texts) == 1, texts
        assert not any("went wrong" in t for t in texts), texts
        assert len(llm.requests) == 1  # never recomputed


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_an_answer_made_while_postgres_is_down_is_sent_once_and_paid_once(
    tmp_path: Path, tg: FakeTelegramServer, count_tokens: CountTokens, article_text: str
) -> None:
    """PostgreSQL stops while the model writes a follow-up's answer: the answer reaches the
    chat during the outage and is recorded once the server is back; the model is asked once
    for it. (Before: the lease check before sending failed, the chat heard "My storage is not
    answering", and the question was answered, and paid for, again after the outage.)"""
    asked, release = threading.Event(), threading.Event()
    model = ScriptedModel(people=zhaoqing_people())

    def responder(body: dict[str, Any]) -> str:
        if "question" in json.dumps(body).lower() and asked_question.is_set():
            asked.set()
            release.wait(60)
        return model(body)

    asked_question = threading.Event()
    with (
        restartable_postgres() as (url, stop, start),
        FakeOpenAIServer(responder=responder, count_tokens=count_tokens) as llm,
    ):
        async with running(_bot_settings(tmp_path, llm, tg, url)):
            _paste(tg, article_text)
            await _until(lambda: any("Xu Xiaoxiong" in t for t in _texts(tg, CHAT)), 30,
                         "the digest")  # fmt: skip
            digested = len(llm.requests)
            asked_question.set()
            tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
            await _until(asked.is_set, 30, "the model is asked the question")
            await asyncio.to_thread(stop)
            release.set()
            before = len(_texts(tg, CHAT))
            await _until(lambda: len(_texts(tg, CHAT)) > before, 15,
                         "the answer reaches the chat while the database is down")  # fmt: skip
            await asyncio.to_thread(start)
            check = Store.connect(url, tmp_path / "unused")
            try:

                def done() -> bool:
                    jobs = check.execute("SELECT status FROM tg_jobs ORDER BY id").fetchall()
                    return [r[0] for r in jobs] == ["done", "done"]

                await _until(done, 25, "the answer's delivery reaches the database")
            finally:
                check.close()
            await asyncio.sleep(1.5)  # a poll or two: nothing is claimed or sent again
        texts = _texts(tg, CHAT)
        assert not any("not answering" in t or "went wrong" in t for t in texts), texts
        assert len(llm.requests) == digested + 1  # the question was answered once


# --- a full disk ---------------------------------------------------------------------------------

# The real CLI, with the SQLite file capped at the pages it has when opened (PRAGMA
# max_page_count): any write that needs a new page fails as on a full disk ("database or disk
# is full"), the way a full tmpfs fails it, without needing the privileges to mount one.
FULL_AT_OPEN = """
import sys
from bot.core.storage import store

_connect = store.Store.connect.__func__
def connect(cls, url, path):
    opened = _connect(cls, url, path)
    db = opened.database.db
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    return opened
store.Store.connect = classmethod(connect)
from bot.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_on_a_full_disk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FULL_AT_OPEN, *args], cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_full_disk_before_the_model_is_one_line_naming_the_folder(
    cli_env: dict[str, str], llm_server: FakeOpenAIServer
) -> None:
    assert run_cli("who", "Nobody", env=cli_env).code == 1  # makes the store, saves nothing
    done = _cli_on_a_full_disk(cli_env, "digest", str(ARTICLE))
    line = _one_line(done.stderr)
    assert done.returncode == 1 and "is full" in line and cli_env["BOT_DATA_DIR"] in line, line
    assert not llm_server.requests  # nothing was spent


def test_a_full_disk_after_the_model_still_shows_the_digest(
    cli_env: dict[str, str], llm_server: FakeOpenAIServer
) -> None:
    """Before: a 35-line traceback from save_digest or register.record; the tokens lost."""
    llm_server.fail_next("500")
    assert run_cli("digest", str(ARTICLE), env=cli_env).code == 1  # the article is stored
    done = _cli_on_a_full_disk(cli_env, "digest", str(ARTICLE), "--json")
    line = _one_line(done.stderr)
    assert done.returncode == 0 and "not saved" in line and "is full" in line, done.stderr
    assert cli_env["BOT_DATA_DIR"] in line
    assert len(json.loads(done.stdout)["officials"]) == 12  # the model's work is shown
    assert len(llm_server.requests) == 2
    kept = list((Path(cli_env["BOT_DATA_DIR"]) / "unsaved").glob("*.json"))
    assert kept  # room for the small files here (only the database was capped): kept there
    again = run_cli("digest", str(ARTICLE), "--json", env=cli_env)  # space again: written
    assert assert_digested(again)["stats"]["cached"] is True and len(llm_server.requests) == 2
    assert not list((Path(cli_env["BOT_DATA_DIR"]) / "unsaved").glob("*.json"))
    who = run_cli("who", "Xu Xiaoxiong", env=cli_env)
    assert who.code == 0 and "Xu Xiaoxiong" in who.stdout  # the register was written too


def test_a_full_disk_leaves_no_half_copied_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``tiktoken/<sha1>.<pid>.tmp`` (2-3 MB) stayed, and the line was only
    "[Errno 28] No space left on device"."""
    from bot.core.models import encodings

    def write_half_then_fail(path: Path, data: bytes) -> int:
        with open(path, "wb") as sink:
            sink.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", write_half_then_fail)
    folder = tmp_path / "data" / "tiktoken"
    with pytest.raises(EncodingUnavailable) as caught:
        encodings.seed_cache(folder, "o200k_base")
    assert str(folder) in str(caught.value) and "disk is full" in str(caught.value)
    assert "4 MB" in str(caught.value)
    assert list(folder.iterdir()) == []


class _FullDisk:
    """A SQLite connection on a full disk: reads work, every write fails as SQLite says."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        if sql.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            raise sqlite3.OperationalError("database or disk is full")
        return self._connection.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_a_full_disk_in_the_bot_is_one_sorry(
    bot_settings: Settings, tg: FakeTelegramServer
) -> None:
    """Before: the guard's update-id write and the paste's each said "Sorry" (two lines)."""
    async with running(bot_settings) as app:
        database = app.bot_data["edge"].app.jobs.store.database
        database.db = _FullDisk(database.db)
        tg.user_sends_text(CHAT, USER, SHORT)
        await _until(lambda: _texts(tg, CHAT), 10, "a reply")
        await asyncio.sleep(1.5)
        texts = _texts(tg, CHAT)
        assert sum("Sorry" in t for t in texts) == 1 and len(texts) == 1, texts


# --- the daily quota -----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_a_question_never_overshoots_the_daily_quota(
    tmp_path: Path, tg: FakeTelegramServer, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    """Answers reserved nothing and were weighed only before they ran: with 500 tokens left,
    a question still ran and spent about 1,500 (the 3,587 of 3,000 seen with pastes sent
    together). Now a question is weighed with its estimate, like a paste, before any call."""
    quota = 100_000
    settings = make_settings(
        tmp_path, llm_server, telegram_bot_token=tg.token, telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url, allowed_users=str(USER),
        fragment_quiet_seconds=0.3, daily_token_quota=quota,
    )  # fmt: skip
    async with running(settings) as app:
        store = app.bot_data["edge"].app.service.store
        for start_at in range(0, len(article_text), 4000):
            tg.user_sends_text(CHAT, USER, article_text[start_at : start_at + 4000])
        await _until(lambda: any("Xu Xiaoxiong" in t for t in _texts(tg, CHAT)), 20, "digest")
        left = 500
        store.record_usage(
            f"tg:{USER}", "digest", 1, quota - left - store.tokens_used(f"tg:{USER}"), 0
        )
        calls = len(llm_server.requests)
        before = len(_texts(tg, CHAT))
        tg.user_sends_text(CHAT, USER, "Who is the mayor of Zhaoqing?")
        await _until(lambda: len(_texts(tg, CHAT)) > before, 10, "a reply to the question")
        await asyncio.sleep(0.5)
        assert store.tokens_used(f"tg:{USER}") <= quota
        assert len(llm_server.requests) == calls
        assert "limit" in _texts(tg, CHAT)[-1]
