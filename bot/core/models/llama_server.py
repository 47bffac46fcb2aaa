"""llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) as a child process.

A child rather than in-process: loading llama.cpp into the bot would pin a GIL-holding native
library and 1+ GB of memory in the bot process, and a crash there would take the bot down
with it. A crashed child is visible (``running``) so its owner can start a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from bot.core.errors import LeaseHeld, LocalModelError
from bot.core.models.lease import Lease, server_alive

__all__ = [
    "AttachedServer", "LocalModelServer", "accepts", "answers", "llama_cpp_available", "log_tail",
    "usable_cpus",
]  # fmt: skip

_TAIL_LINES = 40  # lines of the server's output kept for error messages
_LINE_CHARS = 2000  # longest line kept; llama.cpp can print very long ones

_SERVER_EXTRA_MODULES = (
    "llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings",
)  # fmt: skip

# Runs the server module in the child, plus a thread that exits when our stdin pipe closes:
# if the bot dies without cleaning up (SIGKILL, OOM), the server does not linger holding
# a port and a gigabyte of memory; a leased server watches its lease instead.
# ``llama_child.install`` picks the CPU backend and the sampling before the model loads.
_BOOTSTRAP = """\
import os, runpy, sys, threading
def _watch_parent():
    while os.read(0, 4096):  # raw fd: a buffered read would abort interpreter shutdown
        pass
    os._exit(0)
from bot.core.models.lease import watch_lease
if not watch_lease():  # a leased server outlives its parent; see bot/core/models/lease.py
    threading.Thread(target=_watch_parent, daemon=True).start()
from bot.core.models.llama_child import install
install(sys.argv[1])
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def llama_cpp_available() -> bool:
    """True when llama-cpp-python and its ``[server]`` extra are installed.

    Checked with ``find_spec`` because importing ``llama_cpp`` loads a large native library.
    """
    return all(importlib.util.find_spec(name) is not None for name in _SERVER_EXTRA_MODULES)


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, else every CPU of the machine.

    llama.cpp slows down sharply with more threads than CPUs, and ``os.cpu_count()`` counts
    the CPUs a ``taskset`` or container cpuset keeps us off.
    """
    if hasattr(os, "sched_getaffinity"):  # Linux; not macOS or Windows
        with contextlib.suppress(OSError):
            return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# What the embedded server is started with; LocalLLM declares the same to the planner.
LOCAL_CONTEXT_TOKENS = 8192


class LocalModelServer:
    """llama.cpp's OpenAI-compatible server as a child process, for one ``async with`` block.

    Defaults suit a 2-core CPU: one thread per core (more threads than cores slows llama.cpp
    down sharply), a context of 8192 tokens (a 3,000-token chunk plus instructions plus a
    4,096-token answer), and no interruption of a streaming request by the next one.

    ``cache`` keeps the state of recent prompts in RAM. Without it only the prompt of the
    *last* request is reused, so one unrelated request in between makes a follow-up re-read
    the whole article (~35 s on 2 cores instead of ~2 s). ``cache_size`` counts only the KV
    part of an entry (about 29 KB a token, 60 MB for a 2,000-token prompt), but each entry also
    holds a copy of the logits (up to ``n_batch`` x 152k vocab x 4 B, 311 MB at 512), so the
    real memory is several times the setting: 256 MiB is about four article-sized entries,
    1.6 GB. The server answers one request at a time; others queue.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = LOCAL_CONTEXT_TOKENS,
        n_threads: int = 2,
        n_batch: int = 512,
        cache: bool = True,
        cache_size: int = 256 << 20,
        model_alias: str = "local",
        port: int | None = None,
        startup_timeout: float = 180.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
        log: Callable[[str], None] | None = None,
        server_module: str = "llama_cpp.server",
        env: Mapping[str, str] | None = None,
        lease: Lease | None = None,
    ) -> None:
        self._model_path = model_path
        self._host = "127.0.0.1"
        self._port = port
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._log = log or (lambda _message: None)
        self._server_module = server_module
        self._env = dict(env) if env is not None else None
        self.lease = lease
        self.model_alias = model_alias
        self._args = [
            "--model", str(model_path),
            "--model_alias", model_alias,
            "--n_ctx", str(n_ctx),
            "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads),
            "--n_batch", str(n_batch),
            "--interrupt_requests", "False",
            # The server's default keeps the logits of every prompt token (for logprobs, which
            # we never ask for): an n_ctx x 152k-vocab array, 5 GB at 8192, and the output
            # layer run over the whole prompt.
            "--logits_all", "False",
            "--cache", str(cache),
            *(["--cache_type", "ram", "--cache_size", str(cache_size)] if cache else []),
            *extra_args,
        ]  # fmt: skip
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._output: deque[str] = deque(maxlen=_TAIL_LINES)
        self._exit_code: int | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``openai.AsyncOpenAI(base_url=...)``."""
        if self._port is None:
            raise LocalModelError("the local model server has not been started")
        return f"http://{self._host}:{self._port}/v1"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()`` while the child has not exited.

        A child that crashed or was killed (OOM) turns this False once asyncio has reaped it;
        ``exited()`` waits for that.
        """
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit code of the last child once it has exited (negative: killed by a signal).

        Kept after ``stop()``, so the cause of a crash can still be told.
        """
        return self._process.returncode if self._process is not None else self._exit_code

    async def exited(self, within: float = 0.0) -> bool:
        """True once the started child has exited, waiting up to ``within`` seconds for it.

        A connection error can reach the client a moment before asyncio reaps the child.
        """
        process = self._process
        if process is None:
            return self._exit_code is not None
        if process.returncode is None and within > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), within)
        return process.returncode is not None

    def output_tail(self) -> str:
        """The last lines the server printed (llama.cpp's load log and per-request timings)."""
        if self.lease is not None:
            return log_tail(self.lease.log_path)
        return "\n".join(self._output)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the child and return once ``GET /v1/models`` answers 200."""
        if self._process is not None:
            raise LocalModelError("the local model server is already running")
        self._exit_code = None
        if self._port is None:
            self._port = _free_port(self._host)
        command = [
            sys.executable, "-c", _BOOTSTRAP, self._server_module,
            *self._args, "--host", self._host, "--port", str(self._port),
        ]  # fmt: skip
        self._log(f"Starting the local model server on port {self._port} ...")
        started = time.monotonic()
        try:
            if self.lease is None:
                self._process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    env=self._env,
                )
            else:  # outlives us: its own session, output to a file, no pipe to us
                env = {**(self._env if self._env is not None else os.environ)}
                env.update(self.lease.child_env())
                with self.lease.log_path.open("wb") as output:
                    self._process = await asyncio.create_subprocess_exec(
                        *command,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=output,
                        stderr=asyncio.subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )
        except OSError as exc:
            raise LocalModelError(f"could not start the local model server: {exc}") from exc
        if self._process.stdout is not None:
            self._reader = asyncio.create_task(self._keep_output(self._process.stdout))
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self.stop()
            raise
        self._log(f"Local model server ready in {time.monotonic() - started:.1f} s")

    async def stop(self) -> None:
        """SIGTERM the child, SIGKILL it after the grace period; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self._stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process is not None:
            self._exit_code = process.returncode
        if process is not None and process.stdin is not None:
            process.stdin.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            # The pipe ends when the child has gone; on timeout wait_for cancels the reader.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, 2.0)

    async def _keep_output(self, stream: asyncio.StreamReader) -> None:
        """Drain the child's output (a full pipe would block it) and keep the last lines.

        Reads chunks, not ``readline()``: a line over the stream limit would raise, stop the
        draining and so hang the server.
        """
        pending = b""
        while chunk := await stream.read(1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > _LINE_CHARS:
                lines.append(pending)
                pending = b""
            for line in lines:
                self._output.append(line[:_LINE_CHARS].decode("utf-8", "replace").rstrip())
        if pending:
            self._output.append(pending[:_LINE_CHARS].decode("utf-8", "replace").rstrip())

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        assert self._port is not None
        deadline = time.monotonic() + self._startup_timeout
        exited = asyncio.create_task(process.wait())
        try:
            while not await answers(self._host, self._port, "/v1/models"):
                done, _ = await asyncio.wait({exited}, timeout=0.25)
                if done:
                    if self._reader is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(self._reader), 2.0)
                    raise LocalModelError(
                        f"the local model server exited with code {process.returncode}"
                        f" before it was ready ({self._model_path}):\n{self.output_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise LocalModelError(
                        f"the local model server did not answer within"
                        f" {self._startup_timeout:.0f} s ({self._model_path}):\n"
                        f"{self.output_tail()}"
                    )
        finally:
            exited.cancel()


class AttachedServer:
    """A leased server another process started, with the surface ``LocalLLM`` uses."""

    def __init__(
        self, lease: Lease, pid: int, port: int, model_alias: str, started: int | None = None
    ) -> None:
        self.lease, self.pid, self.port, self.model_alias = lease, pid, port, model_alias
        self.started = started  # the process's start time, when the lease recorded it
        self.returncode: int | None = None  # not our child: its exit code is not ours to read

    @classmethod
    async def find(cls, lease: Lease, config: Mapping[str, object]) -> AttachedServer | None:
        """The server the lease names, if it runs with ``config``; None when there is none to
        use (the caller then starts one and takes the lease over).

        Alive is asked of the process and the port (``server_alive``, a TCP connect), never of
        an HTTP call: the server answers one request at a time, so a busy server's
        ``GET /v1/models`` waits in line, and taking such a server for dead started a second
        one whose lease made the first exit mid-request. A live server with other settings
        raises ``LeaseHeld``: a command never takes over the lease of a server that is alive.
        """
        info = lease.read() or {}
        pid, port, started = info.get("pid"), info.get("port"), info.get("pid_started")
        if not isinstance(pid, int) or not isinstance(port, int):
            return None
        if not server_alive(pid, started) or not await accepts("127.0.0.1", port):
            return None  # dead, or not the server any more: starting a new one loses nothing
        if all(info.get(key) == value for key, value in config.items()):
            return cls(lease, pid, port, str(info.get("model_alias", "local")),
                       started if isinstance(started, int) else None)  # fmt: skip
        # Another model or thread count: its lease is not ours to take (whoever uses it, busy
        # or between two requests, would lose it); the caller runs a server of its own.
        raise LeaseHeld(pid)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return server_alive(self.pid, self.started)

    async def exited(self, within: float = 0.0) -> bool:
        for _ in range(int(within / 0.1)):  # not our child: no wait() to await
            if not self.running:
                break
            await asyncio.sleep(0.1)
        return not self.running

    def output_tail(self) -> str:
        return log_tail(self.lease.log_path)

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)


def log_tail(path: Path) -> str:
    """The last lines of a leased server's output file."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - _TAIL_LINES * 200))
            data = file.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()[-_TAIL_LINES:]
    return "\n".join(line[:_LINE_CHARS].rstrip() for line in lines)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def accepts(host: str, port: int, within: float = 2.0) -> bool:
    """True when the port takes a TCP connection: a busy server's does (the kernel accepts it
    into the backlog); a dead server's, or a port nobody listens on, does not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def answers(host: str, port: int, path: str, within: float = 5.0) -> bool:
    """True when ``GET path`` answers 200 within ``within`` s; a raw request so no HTTP
    client is needed. Only for readiness and idleness: a busy server answers late."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), within)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status_line.split(b" ")[1:2] == [b"200"]
