"""The store behaves the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.core.schemas import Answer, Digest
from bot.core.service import DigestService
from bot.core.storage.database import Migration, postgres_sql
from bot.core.storage.register import Register
from bot.core.storage.store import CORE_MIGRATIONS, Store
from tests.conftest import make_settings, process_env
from tests.fakes.openai_server import FakeOpenAIServer


def test_articles_digests_questions_and_usage(store: Store) -> None:
    article = store.save_article("chat:1", "Some text.", "Title")
    assert store.save_article("chat:1", "Some text.", "Title").id == article.id
    assert store.article(article.id, "chat:1") == article
    assert store.article(article.id, "chat:2") is None  # another chat never sees it
    other = store.save_article("chat:2", "Some text.", "Title")
    assert other.id != article.id
    assert [a.id for a in store.recent_articles("chat:1")] == [article.id]

    digest = Digest(summary="s", key_points=[], officials=[], commitments=[])
    store.save_digest(article.sha256, "m", "v1", digest)
    store.save_digest(article.sha256, "m", "v1", digest.model_copy(update={"summary": "t"}))
    found = store.cached_digest(article.sha256, "m", "v1")
    assert found is not None and found.summary == "t"  # replaced, not doubled
    assert store.cached_digest(article.sha256, "m", "v2") is None

    store.save_exchange(article.id, "Q1?", Answer(answer="A1.", quotes=[], stated=False))
    store.save_exchange(article.id, "Q2?", Answer(answer="A2.", quotes=["q"], stated=True))
    assert [e.question for e in store.exchanges(article.id)] == ["Q1?", "Q2?"]
    store.record_usage("u", "answer", 1, 10, 5)
    store.record_usage("u", "digest", 2, 100, 50)
    assert store.tokens_used("u") == 165 and store.tokens_used("v") == 0


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.record_usage("u", "answer", 1, 10, 5)
        raise RuntimeError("boom")
    assert store.tokens_used("u") == 0


def test_migrations_run_once_per_component(store: Store) -> None:
    steps: list[Migration | str] = [
        Migration("CREATE TABLE extra (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"),
        "INSERT INTO extra (n) VALUES (1)",
    ]
    store.migrate("extra", steps)
    store.migrate("extra", steps)
    assert store.schema_version("extra") == 2
    assert store.execute("SELECT COUNT(*) AS c FROM extra").fetchone()["c"] == 1
    store.migrate("extra", [*steps, "INSERT INTO extra (n) VALUES (2)"])
    assert [r[0] for r in store.execute("SELECT n FROM extra ORDER BY n").fetchall()] == [1, 2]


def test_big_telegram_ids_fit(store: Store) -> None:
    store.migrate("ids", ["CREATE TABLE chats (chat_id INTEGER PRIMARY KEY, title TEXT)"])
    store.execute("INSERT INTO chats VALUES (?, ?)", (-1001234567890, "100% group"))
    row = store.execute("SELECT * FROM chats WHERE chat_id = ?", (-1001234567890,)).fetchone()
    assert row["title"] == "100% group" and row[0] == -1001234567890


def test_replicas_starting_together_migrate_once(postgres_url: str, tmp_path: Path) -> None:
    """Four processes' worth of stores racing to migrate one database: no error, one run."""
    errors: list[BaseException] = []
    stores: list[Store] = []

    def start() -> None:
        try:
            stores.append(Store.connect(postgres_url, tmp_path / "unused"))
        except BaseException as error:  # collected, then asserted empty
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(s.schema_version("core") == len(CORE_MIGRATIONS) for s in stores)
    for opened in stores:
        opened.close()


def test_placeholders_translate_outside_literals_only() -> None:
    assert postgres_sql("SELECT '?' , ? WHERE a LIKE '%x'") == "SELECT '?' , %s WHERE a LIKE '%%x'"
    assert postgres_sql("x = ? AND y = ?") == "x = %s AND y = %s"


def test_unreachable_postgres_is_one_clear_line(tmp_path: Path) -> None:
    from bot.core.errors import StoreError

    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL \(postgresql://u:\*\*\*@"):
        Store.connect("postgresql://u:secret@127.0.0.1:9/db", tmp_path / "unused")


async def test_migrate_store_copies_sqlite_into_postgres(
    postgres_url: str, tmp_path: Path, llm_server: FakeOpenAIServer, article_text: str
) -> None:
    service = DigestService.from_settings(make_settings(tmp_path, llm_server))
    try:
        article = service.save_article("chat:1", article_text)
        digest = await service.digest(article)
        await service.ask(article, "Who is the mayor of Zhaoqing?")
    finally:
        await service.aclose()
    env = process_env(tmp_path, llm_server, BOT_DATABASE_URL=postgres_url)
    command = [sys.executable, "-m", "bot", "migrate-store"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "articles: 1 rows" in done.stdout
    again = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 1 and "already holds articles" in again.stderr  # never doubled

    moved = Store.connect(postgres_url, tmp_path / "unused")
    try:
        copied = moved.article(article.id, "chat:1")
        assert copied is not None and copied.text == article_text
        assert moved.exchanges(article.id)[0].question == "Who is the mayor of Zhaoqing?"
        assert moved.tokens_used("cli") > 0
        register = Register(moved)
        name = digest.officials[0].name
        assert [m.article_id for m in register.who(name, ["chat:1"])] == [article.id]
        later = moved.save_article("chat:1", "Another article entirely.", "t")
        assert later.id > article.id  # identity counters continue after the copied ids
    finally:
        moved.close()


def test_an_article_keeps_the_link_or_file_it_came_from(store: Store) -> None:
    fetched = store.save_article("chat:1", "Page text.", "Page", origin="https://example.org/a")
    assert fetched.origin == "https://example.org/a"
    pasted = store.save_article("chat:1", "Page text.", "Page")  # the same text pasted later
    assert pasted.id == fetched.id and pasted.origin == "https://example.org/a"
    assert store.save_article("chat:2", "Pasted.", "P").origin is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_reported_date_migration_keeps_old_articles_as_arrived(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Articles stored before dates were read: date unknown, their arrival stands in."""
    from bot.core.storage.database import SQLiteDatabase, open_database

    path = tmp_path / "store.sqlite3"
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    database = SQLiteDatabase.open(path) if url is None else open_database(url, path)
    database.migrate("core", CORE_MIGRATIONS[:2])  # the schema before dates
    database.execute(
        "INSERT INTO articles (scope, sha256, title, text, created_at) VALUES (?, ?, ?, ?, ?)",
        ("chat:1", "abc", "Old", "Old text.", "2024-01-02T03:04:05+00:00"),
    )
    store = Store(database)
    try:
        assert store.schema_version("core") == len(CORE_MIGRATIONS)
        (old,) = store.recent_articles("chat:1")
        assert (old.reported_date, old.date_basis) == (None, "arrived")
        assert old.day == "2024-01-02"
    finally:
        store.close()


def test_an_article_keeps_the_date_it_reports(store: Store) -> None:
    dated = store.save_article(
        "chat:1", "Text.", "T", reported_date="2024-03-12", date_basis="event"
    )
    assert (dated.reported_date, dated.date_basis, dated.day) == (
        "2024-03-12",
        "event",
        "2024-03-12",
    )
    assert store.article(dated.id, "chat:1") == dated
    undated = store.save_article("chat:1", "Other.", "O")
    assert (undated.reported_date, undated.date_basis) == (None, "arrived")
    assert undated.day == undated.created_at[:10]
    # The same text again, now with a date (a link's metadata): the unknown date is filled in.
    again = store.save_article(
        "chat:1", "Other.", "O", reported_date="2024-02", date_basis="published"
    )
    assert (again.id, again.reported_date, again.date_basis) == (undated.id, "2024-02", "published")


def test_sqlite_commits_while_other_threads_read(tmp_path: Path) -> None:
    """The bot runs database calls in threads on one shared SQLite connection: a statement
    another thread has not read to its end ("INSERT ... RETURNING" after fetchone) must not
    fail this thread's COMMIT with "SQL statements in progress" (20 chats at once lost one
    digest to it)."""
    import threading
    import time

    from bot.core.storage.database import SQLiteDatabase

    db = SQLiteDatabase.open(tmp_path / "race.sqlite3")
    db.execute("CREATE TABLE t (n INTEGER)")
    errors: list[str] = []

    def half_read() -> None:
        for _ in range(100):
            try:
                result = db.execute("INSERT INTO t VALUES (7) RETURNING n")
                result.fetchone()
                time.sleep(0.001)  # the result still held, as a caller would between calls
                del result
            except Exception as error:
                errors.append(repr(error))

    def commit() -> None:
        for n in range(100):
            try:
                with db.transaction():
                    db.execute("INSERT INTO t VALUES (?)", (n,))
            except Exception as error:
                errors.append(repr(error))

    threads = [threading.Thread(target=f) for f in (half_read, half_read, commit, commit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
