"""The hostile suite's harness: run attacker's and careless user's inputs through every edge.

Each case runs what a user would: the real ``digestbot`` command (a subprocess) and the real
python-telegram-bot Application (in process, against the fake Bot API), both pointed at the
fake model server of ``tests/fakes/openai_server.py`` with a temp data folder and no network.
What a case asserts is the same everywhere: one clear line or a real digest, no traceback,
bounded time and memory, and the bot still answering afterwards (nothing lost).

Adding a case
-------------
Write a data builder (a function returning ``bytes`` or ``str``; keep big inputs generated,
not checked in) and a test in ``tests/hostile/test_<topic>.py``:

.. code-block:: python

    def test_my_bomb_on_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
        path = tmp_path / "bomb.docx"
        path.write_bytes(build_bomb())
        run = run_cli("digest", str(path), env=cli_env)
        assert_one_line(run)  # or assert_digested(run)
        assert_bounded(run, seconds=10, mb=500)

    async def test_my_bomb_in_telegram(hostile_bot: HostileBot) -> None:
        replies = await hostile_bot.send_document(build_bomb(), "bomb.docx", DOCX_TYPE)
        assert_one_reply_line(replies)
        await hostile_bot.assert_alive()

Fixtures (``tests/hostile/conftest.py``): ``cli_env`` (environment for ``run_cli``: the fake
model server, a temp data folder), ``hostile_bot`` (a running bot, a :class:`HostileBot`),
``llm_server`` (the fake model; ``llm_server.requests`` tells whether the model was asked).
Memory is the command's peak RSS, from ``os.wait4`` in a small launcher; the Telegram path
runs in the test process, so only its wall time is bounded there (``HostileBot.send_*``
return after ``timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.core.settings import Settings
from tests.fakes.telegram_api import FakeTelegramServer
from tests.test_telegram_bot import CHAT, USER, running

ROOT = Path(__file__).resolve().parents[2]
SERVER_WORDS = ("127.0.0.1", "localhost", "http://", "https://")
STATUS_PREFIXES = ("Reading", "Fetching", "Opening")
TELEGRAM_LIMIT = 4096


# The command runs as the child of this small launcher, which reports its exit code and peak
# memory. A child forked straight from pytest would carry pytest's resident set into its
# ru_maxrss (Linux keeps the high-water mark across exec), so it could not be measured.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


@dataclass(frozen=True)
class CliRun:
    """What one ``digestbot`` run did: its exit code, output, wall time and peak memory."""

    args: tuple[str, ...]
    code: int  # -9 (negative signal) when killed at the timeout
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float  # the child's peak resident set size (ru_maxrss), in MB
    timed_out: bool

    def __str__(self) -> str:  # what a failed assertion shows
        return (
            f"digestbot {' '.join(a[:60] for a in self.args)}: exit {self.code}, "
            f"{self.seconds:.1f} s, {self.peak_mb:.0f} MB, timed out: {self.timed_out}\n"
            f"--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[-1500:]}"
        )


def offline_env(data_dir: Path) -> dict[str, str]:
    """An environment with a model that cannot be reached: for inputs refused before any call."""
    own = ("BOT_", "OPENAI_", "TELEGRAM_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return base | {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "test-key",
        "BOT_MODEL": "fake-model",
        "BOT_DATA_DIR": str(data_dir),
        "BOT_LLM_MAX_RETRIES": "0",
    }


def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> CliRun:
    """Run ``python -m bot *args`` away from the checkout (no developer ``.env`` is read).

    ``env``: usually the ``cli_env`` fixture; None gives :func:`offline_env` with a fresh data
    folder. The command is killed at ``timeout`` (``timed_out`` is then True). Peak memory is
    the command's own (with the readers it waited for), measured by the launcher.
    """
    if env is None:
        env = offline_env(Path(tempfile.mkdtemp(prefix="hostile-")) / "data")
    cwd = Path(env.get("BOT_DATA_DIR", tempfile.gettempdir())).parent
    cwd.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report = Path(tempfile.mkdtemp(prefix="hostile-run-")) / "usage"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(report), sys.executable, "-m", "bot", *args],
        cwd=cwd, env=env, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [
        threading.Thread(target=_feed, args=(proc.stdin, stdin or b""), daemon=True),
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for thread in threads:
        thread.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    seconds = time.monotonic() - started
    for thread in threads:
        thread.join(5)
    try:
        code, max_rss = (int(n) for n in report.read_text().split())
    except (OSError, ValueError):  # the launcher was killed with the command
        code, max_rss = proc.returncode, 0
    finally:
        shutil.rmtree(report.parent, ignore_errors=True)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    peak_mb = max_rss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return CliRun(
        args=args, code=code,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        seconds=seconds, peak_mb=peak_mb, timed_out=killed.is_set(),
    )  # fmt: skip


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # the command stopped reading: a refusal before the end of the input is fine
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _drain(pipe: IO[bytes], into: list[bytes]) -> None:
    while chunk := pipe.read(65536):
        into.append(chunk)


def assert_one_line(run: CliRun) -> str:
    """The run failed in one clear line: exit 1 or 2, one non-empty stderr line with no
    traceback and no server URL. Returns that line."""
    assert not run.timed_out, str(run)
    assert run.code in (1, 2), str(run)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(run)
    assert "Traceback" not in run.stderr, str(run)
    assert not any(word in lines[0] for word in SERVER_WORDS), str(run)
    return lines[0]


def assert_digested(run: CliRun) -> dict[str, Any]:
    """The run digested the input (``--json`` expected): exit 0, JSON on stdout, no traceback."""
    assert not run.timed_out and run.code == 0, str(run)
    assert "Traceback" not in run.stderr, str(run)
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def assert_refused_or_digested(run: CliRun) -> None:
    """Either outcome is fine; a traceback, a hang or a crash is not."""
    if run.code == 0:
        assert_digested(run)
    else:
        assert_one_line(run)


def assert_bounded(run: CliRun, seconds: float = 20, mb: float = 500) -> None:
    """Generous bounds: the point is catching a bomb (GBs, minutes), not a slow machine."""
    assert not run.timed_out and run.seconds <= seconds, str(run)
    assert run.peak_mb <= mb, str(run)


# --- Telegram --------------------------------------------------------------------------------


class HostileBot:
    """A running bot on the fake Bot API; each ``send_*`` returns the bot's settled replies."""

    def __init__(self, tg: FakeTelegramServer, chat: int = CHAT, user: int = USER) -> None:
        self.tg, self.chat, self.user = tg, chat, user
        self.last_seconds = 0.0  # wall time of the last send_* until its replies settled

    def texts(self) -> list[str]:
        """The chat's bot messages as they read now (status lines already edited)."""
        return [m.text for m in self.tg.bot_messages(self.chat)]

    async def send_text(self, text: str, timeout: float = 30) -> list[str]:  # noqa: ASYNC109
        """A pasted message (or a link): the bot's new replies once they settle. Text over
        Telegram's 4096 characters is sent in 4096-character pieces, as a client splits it."""
        before = self._seen()
        started = time.monotonic()
        for start in range(0, max(len(text), 1), TELEGRAM_LIMIT):
            self.tg.user_sends_text(self.chat, self.user, text[start : start + TELEGRAM_LIMIT])
        return await self._settle(before, started, timeout)

    async def send_document(
        self, content: bytes, file_name: str, mime_type: str = "text/plain", *,
        file_size: bool = True, timeout: float = 30,  # noqa: ASYNC109
    ) -> list[str]:  # fmt: skip
        """An uploaded file; ``file_size=False`` leaves the size out, as Telegram may."""
        before = self._seen()
        started = time.monotonic()
        self.tg.user_sends_document(
            self.chat, self.user, file_name, content, mime_type=mime_type, file_size=file_size
        )
        return await self._settle(before, started, timeout)

    async def assert_alive(self, timeout: float = 15) -> None:  # noqa: ASYNC109
        """The bot still answers a following plain message: it neither hung nor died."""
        replies = await self.send_text("Who is the mayor?", timeout=timeout)
        assert replies, f"no answer to a plain message after the case; chat: {self.texts()}"

    def _seen(self) -> set[int]:
        """The bot messages there are now (a reply is new when its id is not among them; a
        status line deleted meanwhile does not shift the count)."""
        return {m.message_id for m in self.tg.bot_messages(self.chat)}

    async def _settle(
        self, before: set[int], started: float, limit: float, quiet: float = 0.6
    ) -> list[str]:
        """Wait until there is a new reply, none is a status line, and nothing changed for
        ``quiet`` seconds; fail with what the chat shows after ``limit`` seconds."""

        def snapshot() -> list[tuple[str, int, int]]:
            return [(m.text, len(m.edits), m.message_id) for m in self.tg.bot_messages(self.chat)]

        last, since = snapshot(), time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = snapshot()
            if now != last:
                last, since = now, time.monotonic()
            new = [text for text, _, mid in now if mid not in before]
            settled = new and not any(_is_status(t) for t in new)
            if settled and time.monotonic() - since >= quiet:
                self.last_seconds = since - started
                return new
            if time.monotonic() - started > limit:
                raise AssertionError(f"no settled reply within {limit}s; chat shows {now}")


def _is_status(text: str) -> bool:
    return text.endswith("…") and text.startswith(STATUS_PREFIXES)


def assert_one_reply_line(replies: list[str]) -> str:
    """The bot refused in one line: one reply, one line, no server URL, no apology for a crash."""
    assert len(replies) == 1, replies
    (reply,) = replies
    assert "\n" not in reply.strip(), replies
    assert not any(word in reply for word in SERVER_WORDS), replies
    assert "went wrong on my side" not in reply, replies
    return reply


@asynccontextmanager
async def hostile_bot(settings: Settings, tg: FakeTelegramServer) -> AsyncIterator[HostileBot]:
    """A bot started the way ``digestbot run`` starts it (polling), wrapped in a HostileBot."""
    async with running(settings):
        yield HostileBot(tg)
