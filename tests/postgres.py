"""A real, throwaway PostgreSQL server for the tests: no mocks of the database.

Debian's ``postgresql`` package (installed by ``.ci/run`` and ``scripts/test`` when missing)
gives ``initdb``; a cluster is made in a temp folder, on a free port of 127.0.0.1, run as a
non-root user when the tests run as root (PostgreSQL refuses root), and stopped at the end.
Each test gets a database of its own. When PostgreSQL is missing or cannot start, the tests
that need it are skipped with the reason: never reported as passed.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is missing or would not start; the message says why."""


@contextmanager
def throwaway_cluster(prefix: str = "digestbot-pg-") -> Iterator[str]:
    """A fresh cluster in a temp folder, on a free port of 127.0.0.1, run as ``nobody`` when
    we are root; the URL of its superuser ``postgres`` (trust auth). Removed at the end."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    owner = "nobody" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    data, port = folder / "data", _free_port()
    if owner:
        shutil.chown(folder, owner)
    env = {**os.environ, "LC_ALL": "C"}
    steps = [
        [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"],
        [
            pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "30",
            "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60",
            "start",
        ],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(
            _as_owner(step, owner), env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            reason = (done.stderr or log).strip()[-300:]
            raise PostgresUnavailable(f"PostgreSQL could not start: {reason}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_owner(stop, owner), env=env, capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running server, or the tests that need one skipped saying why."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[dev]'); skipped")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_cluster())
        except PostgresUnavailable as error:
            pytest.skip(f"{error}; skipped")
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
