"""Copy a SQLite store into PostgreSQL: every table of every component, in one transaction.

Articles come first so references hold; identity counters then continue after the copied ids.
The target must be empty of articles, so a second run cannot double a store. The SQLite file
is only read. Components outside the core (the application's tables) are installed by the
caller's ``install`` hooks before copying, so their tables exist on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from bot.core.errors import StoreError
from bot.core.storage.register import Register
from bot.core.storage.store import Store

# Referenced tables first; any other table follows in name order.
_FIRST = ("articles", "digests", "exchanges", "usage", "reg_officials", "reg_commitments")


def copy_sqlite_store(
    source_path: Path, database_url: str, install: Iterable[Callable[[Store], None]] = ()
) -> dict[str, int]:
    """Copy every row of the SQLite store at ``source_path``; the rows copied, per table."""
    if not source_path.is_file():
        raise StoreError(f"there is no SQLite store at {source_path}")
    hooks = list(install)
    source = Store.open(source_path)
    target = Store.connect(database_url, source_path)
    try:
        for store in (source, target):
            Register(store)
            for hook in hooks:
                hook(store)
        if target.execute("SELECT COUNT(*) FROM articles").fetchone()[0]:
            raise StoreError("the PostgreSQL database already holds articles; use an empty one")
        return _copy(source, target)
    finally:
        source.close()
        target.close()


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
