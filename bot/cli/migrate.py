"""``digestbot migrate-store``: move an existing SQLite store into PostgreSQL.

Every table of every component the target knows (core, register, Telegram) is copied row by
row, in one transaction, articles first so references hold; identity counters then continue
after the copied ids. The target must be empty of articles, so a second run cannot double a
store. The SQLite file is only read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser is built for every command; the store only for this one
    from bot.core.settings import Settings
    from bot.core.storage.store import Store

# Referenced tables first; any other table follows in name order.
_FIRST = ("articles", "digests", "exchanges", "usage", "reg_officials", "reg_commitments")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate-store", help="copy the SQLite store into the PostgreSQL of BOT_DATABASE_URL"
    )
    migrate.add_argument(
        "--from", dest="source", type=Path, help="the SQLite file (default: the data folder's)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Copy every row; print what was copied."""
    from bot.core.errors import StoreError
    from bot.core.storage.store import Store

    if settings.database_url is None:
        raise StoreError("set BOT_DATABASE_URL to the PostgreSQL database to copy into")
    source_path = args.source or settings.store_path
    if not source_path.is_file():
        raise StoreError(f"there is no SQLite store at {source_path}")
    source = Store.open(source_path)
    target = Store.connect(settings.database_url.get_secret_value(), source_path)
    try:
        for store in (source, target):
            _migrate_everything(store)
        if target.execute("SELECT COUNT(*) FROM articles").fetchone()[0]:
            raise StoreError("the PostgreSQL database already holds articles; use an empty one")
        copied = _copy(source, target)
    finally:
        source.close()
        target.close()
    for table, rows in copied.items():
        print(f"{table}: {rows} rows")
    print(f"copied {sum(copied.values())} rows from {source_path} into PostgreSQL")
    return 0


def _migrate_everything(store: Store) -> None:
    from bot.core.storage.register import Register

    Register(store)
    from bot.app.tables import install  # the application's own tables

    install(store)


def _copy(source: Store, target: Store) -> dict[str, int]:
    tables = [
        r[0]
        for r in target.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "AND table_name <> 'schema_versions'"
        ).fetchall()
    ]
    tables.sort(key=lambda t: (_FIRST.index(t) if t in _FIRST else len(_FIRST), t))
    copied: dict[str, int] = {}
    with target.transaction():
        for table in tables:
            wanted = [
                r[0]
                for r in target.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "AND table_schema = current_schema() AND is_generated = 'NEVER' "
                    "ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
            ]
            present = {r[1] for r in source.execute(f"PRAGMA table_info({table})").fetchall()}
            columns = [c for c in wanted if c in present]
            if not columns:
                continue
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            rows = source.execute(f"SELECT {names} FROM {table}").fetchall()
            for row in rows:
                target.execute(
                    f"INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE VALUES ({marks})",
                    tuple(row),
                )
            copied[table] = len(rows)
            if "id" in columns and rows:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
    return copied
