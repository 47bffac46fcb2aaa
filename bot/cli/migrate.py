"""``digestbot migrate-store``: move an existing SQLite store into PostgreSQL.

The copy itself is the core's (``copy_sqlite_store``, through the front door); this command
adds the application's own tables to it and prints what was copied.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser is built for every command; the store only for this one
    from bot.core.settings import Settings


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate-store", help="copy the SQLite store into the PostgreSQL of BOT_DATABASE_URL"
    )
    migrate.add_argument(
        "--from", dest="source", type=Path, help="the SQLite file (default: the data folder's)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Copy every row; print what was copied."""
    from bot.app.tables import install  # the application's own tables
    from bot.core.errors import StoreError
    from bot.core.service import copy_sqlite_store

    if settings.database_url is None:
        raise StoreError("set BOT_DATABASE_URL to the PostgreSQL database to copy into")
    source_path = args.source or settings.store_path
    url = settings.database_url.get_secret_value()
    copied = copy_sqlite_store(source_path, url, install=[install])
    for table, rows in copied.items():
        print(f"{table}: {rows} rows")
    print(f"copied {sum(copied.values())} rows from {source_path} into PostgreSQL")
    return 0
