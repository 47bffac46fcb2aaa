"""Fast tests of bot.core.models.llama_server and of LocalLLM restarting it: no real llama.cpp.

The server is a small stand-in module speaking ``GET /v1/models`` and a canned
``POST /v1/chat/completions``, started through the same bootstrap as the real one. For
``LocalLLM`` it is installed as ``llama_cpp.server`` on the child's PYTHONPATH, so the
production command line is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.core.errors import LeaseHeld, LLMUnavailable, LocalModelError
from bot.core.models.lease import Lease
from bot.core.models.llama_child import CHOSEN_ENV, SKIP_ENV
from bot.core.models.llama_server import (
    AttachedServer,
    LocalModelServer,
    llama_cpp_available,
    usable_cpus,
)
from bot.core.models.local_llm import LocalLLM

FAKE_SERVER = textwrap.dedent(
    """
    import argparse, json, os, signal, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--model")
    parser.add_argument("--mode", default="ok")
    args, rest = parser.parse_known_args()
    if args.mode == "crash":
        print("ValueError: Model path does not exist: " + args.model, file=sys.stderr)
        sys.exit(3)
    if args.mode == "hang":
        time.sleep(600)
    if args.mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.mode == "chatty":  # llama.cpp prints long lines and thousands of them
        print("x" * 300_000, flush=True)
        for i in range(3000):
            print(f"log line {i}", file=sys.stderr)
    # Files in FAKE_LLAMA_DIR make a chat request kill the server before it answers.
    flags = os.environ.get("FAKE_LLAMA_DIR", "")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "argv": sys.argv[1:]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            for flag in ("crash-next", "crash-always"):
                if flags and os.path.exists(os.path.join(flags, flag)):
                    if flag == "crash-next":
                        os.remove(os.path.join(flags, flag))
                    print(f"fake server {os.getpid()} crashing on a request", flush=True)
                    os._exit(1)
            slow = os.path.join(flags, "slow") if flags else ""
            if slow and os.path.exists(slow):  # a long digest: GET /v1/models waits behind it
                time.sleep(float(open(slow).read() or 5))
            facts = {"pid": os.getpid(), "argv": sys.argv[1:]}
            body = json.dumps({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                "model": "local",
                "choices": [{
                    "index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": json.dumps(facts)},
                }],
                "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    print(f"fake server {os.getpid()} listening on {args.port}", file=sys.stderr, flush=True)
    HTTPServer((args.host, args.port), Handler).serve_forever()
    """
)


def _fake_server(tmp_path: Path, mode: str, **kwargs: float) -> LocalModelServer:
    (tmp_path / "fake_llama_server.py").write_text(FAKE_SERVER)
    return LocalModelServer(
        tmp_path / "model.gguf",
        server_module="fake_llama_server",
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        extra_args=["--mode", mode],
        **kwargs,  # type: ignore[arg-type]
    )


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_server_ready_passes_settings_and_stops(tmp_path: Path) -> None:
    server = _fake_server(tmp_path, "ok")
    async with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        answer = await asyncio.to_thread(_get, server.base_url + "/models")
        argv = answer["argv"]
        assert isinstance(argv, list)
        for flag in ("--n_ctx", "--n_threads", "--n_batch", "--model_alias", "--host", "--port"):
            assert flag in argv
        assert argv[argv.index("--n_threads") + 1] == "2"
        assert server._process is not None
        pid = server._process.pid
    assert not _alive(pid)


async def test_long_and_plentiful_output_does_not_block_the_server(tmp_path: Path) -> None:
    server = _fake_server(tmp_path, "chatty", startup_timeout=20.0)
    async with server:
        await asyncio.to_thread(_get, server.base_url + "/models")
        assert "log line 2999" in server.output_tail().splitlines()


def test_cache_flags() -> None:
    on = LocalModelServer(Path("m.gguf"), cache_size=123)._args
    assert on[on.index("--cache") + 1] == "True"
    assert on[on.index("--cache_size") + 1] == "123"
    off = LocalModelServer(Path("m.gguf"), cache=False)._args
    assert off[off.index("--cache") + 1] == "False"
    assert "--cache_size" not in off
    # Not the server's default, which keeps every prompt token's logits (5 GB at n_ctx 8192).
    assert off[off.index("--logits_all") + 1] == "False"


async def test_server_that_exits_early_reports_its_output(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match=r"(?s)exited with code 3.*Model path does not exist"):
        async with _fake_server(tmp_path, "crash"):
            pass


async def test_server_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    server = _fake_server(tmp_path, "hang", startup_timeout=1.0)
    with pytest.raises(LocalModelError, match="did not answer within 1 s"):
        await server.start()
    assert server._process is None


async def test_server_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    server = _fake_server(tmp_path, "stubborn", stop_timeout=0.5)
    await server.start()
    assert server._process is not None
    pid = server._process.pid
    await server.stop()
    assert not _alive(pid)


async def test_server_exits_when_the_parent_pipe_closes(tmp_path: Path) -> None:
    """What happens when the bot is SIGKILLed: its end of the child's stdin closes."""
    server = _fake_server(tmp_path, "ok")
    await server.start()
    process = server._process
    assert process is not None and process.stdin is not None
    process.stdin.close()
    await asyncio.wait_for(process.wait(), 10)
    await server.stop()


@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python[server] not installed")
async def test_real_llama_server_with_a_missing_model_quotes_its_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(LocalModelError, match=r"(?s)exited with code.*no-such-model\.gguf"):
        async with LocalModelServer(missing, startup_timeout=60):
            pass


async def test_running_and_returncode_follow_a_killed_child(tmp_path: Path) -> None:
    server = _fake_server(tmp_path, "ok")
    assert not server.running and server.returncode is None
    await server.start()
    try:
        assert server.running and not await server.exited()
        assert server._process is not None
        os.kill(server._process.pid, signal.SIGKILL)
        assert await server.exited(within=10)
        assert not server.running
        assert server.returncode == -signal.SIGKILL
    finally:
        await server.stop()
    assert server.returncode == -signal.SIGKILL  # kept for the log after stop()
    assert await server.exited()


# --- thread count ---------------------------------------------------------------------------


def test_usable_cpus_counts_the_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cpus() == 2


def test_usable_cpus_falls_back_to_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert usable_cpus() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1


def test_usable_cpus_survives_a_failing_affinity_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int) -> set[int]:
        raise OSError("not permitted")

    monkeypatch.setattr(os, "sched_getaffinity", refuse, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert usable_cpus() == 3


# --- LocalLLM restarting a dead server ------------------------------------------------------


class ServerFacts(BaseModel):
    """What the fake server answers: who answered, started with which arguments."""

    pid: int
    argv: list[str]


MESSAGES = [{"role": "user", "content": "Who are you?"}]


@pytest.fixture
def fake_llama_cpp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake as ``llama_cpp.server`` for the child processes; returns its flag folder."""
    package = tmp_path / "site" / "llama_cpp"
    (package / "server").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server" / "__init__.py").write_text("")
    (package / "server" / "__main__.py").write_text(FAKE_SERVER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("FAKE_LLAMA_DIR", str(flags))
    return flags


def _local_llm(tmp_path: Path) -> LocalLLM:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return LocalLLM(tmp_path, model, max_output_tokens=64)


def _restart_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "exited unexpectedly" in r.getMessage()
    ]


async def test_threads_follow_the_affinity_mask(
    tmp_path: Path, fake_llama_cpp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    llm = _local_llm(tmp_path)
    try:
        argv = (await llm.structured(MESSAGES, ServerFacts)).value.argv
    finally:
        await llm.aclose()
    assert argv[argv.index("--n_threads") + 1] == "3"
    assert argv[argv.index("--n_threads_batch") + 1] == "3"


async def test_a_server_that_died_between_calls_is_replaced(
    tmp_path: Path, fake_llama_cpp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    llm = _local_llm(tmp_path)
    try:
        first = (await llm.structured(MESSAGES, ServerFacts)).value
        os.kill(first.pid, signal.SIGKILL)  # what the OOM killer does
        assert llm._server is not None and await llm._server.exited(within=10)
        with caplog.at_level(logging.WARNING, logger="bot.core.models.local_llm"):
            second = (await llm.structured(MESSAGES, ServerFacts)).value
        third = (await llm.structured(MESSAGES, ServerFacts)).value
    finally:
        await llm.aclose()
    assert second.pid != first.pid
    assert third.pid == second.pid  # one restart, then the new server is kept
    [warning] = _restart_warnings(caplog)
    assert f"code {-signal.SIGKILL}" in warning
    assert f"fake server {first.pid} listening" in warning  # the tail of its output
    assert not _alive(first.pid) and not _alive(second.pid)


async def test_a_server_that_dies_during_a_call_is_restarted_and_the_call_retried(
    tmp_path: Path, fake_llama_cpp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    llm = _local_llm(tmp_path)
    try:
        first = (await llm.structured(MESSAGES, ServerFacts)).value
        (fake_llama_cpp / "crash-next").touch()
        with caplog.at_level(logging.WARNING, logger="bot.core.models.local_llm"):
            retried = await llm.structured(MESSAGES, ServerFacts)
    finally:
        await llm.aclose()
    assert retried.value.pid != first.pid
    assert retried.usage.calls == 1  # the crashed attempt cost nothing
    [warning] = _restart_warnings(caplog)
    assert "code 1" in warning
    assert f"fake server {first.pid} crashing on a request" in warning


async def test_calls_in_flight_when_the_server_dies_share_one_restart(
    tmp_path: Path, fake_llama_cpp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sibling chunk requests fail together when the server dies; one new server serves all."""
    llm = _local_llm(tmp_path)
    try:
        first = (await llm.structured(MESSAGES, ServerFacts)).value
        (fake_llama_cpp / "crash-next").touch()  # the first request kills it, the rest queue
        with caplog.at_level(logging.WARNING, logger="bot.core.models.local_llm"):
            answers = await asyncio.gather(
                *(llm.structured(MESSAGES, ServerFacts) for _ in range(4))
            )
    finally:
        await llm.aclose()
    assert len({a.value.pid for a in answers}) == 1
    assert answers[0].value.pid != first.pid
    assert len(_restart_warnings(caplog)) == 1


async def test_a_server_that_keeps_dying_fails_the_call_after_one_retry(
    tmp_path: Path, fake_llama_cpp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    llm = _local_llm(tmp_path)
    try:
        await llm.structured(MESSAGES, ServerFacts)
        (fake_llama_cpp / "crash-always").touch()
        with caplog.at_level(logging.WARNING, logger="bot.core.models.local_llm"):
            with pytest.raises(LLMUnavailable):
                await llm.structured(MESSAGES, ServerFacts)
            assert len(_restart_warnings(caplog)) == 1
            (fake_llama_cpp / "crash-always").unlink()
            # The next call finds the second server dead too and starts a third.
            recovered = (await llm.structured(MESSAGES, ServerFacts)).value
    finally:
        await llm.aclose()
    assert len(_restart_warnings(caplog)) == 2
    assert _alive(recovered.pid) is False


# --- keep-alive: a server the next command finds ---------------------------------------------

_ONE_COMMAND = """
import asyncio, sys
from pathlib import Path
from pydantic import BaseModel
from bot.core.models.llama_child import CHOSEN_ENV, SKIP_ENV
from bot.core.models.local_llm import LocalLLM

class Facts(BaseModel):
    pid: int
    argv: list[str]

async def main():
    folder = Path(sys.argv[1])
    keep_alive = float(sys.argv[2])
    llm = LocalLLM(folder, folder / "model.gguf", max_output_tokens=64, keep_alive=keep_alive)
    try:
        facts = await llm.structured([{"role": "user", "content": "hi"}], Facts)
    finally:
        await llm.aclose()
    print(facts.value.pid)

asyncio.run(main())
"""


async def _one_command(tmp_path: Path, keep_alive: float) -> int:
    """Run one command in a process of its own, as `digestbot digest` does; its server's pid."""
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ONE_COMMAND, str(tmp_path), str(keep_alive),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    assert child.returncode == 0
    return int(out.decode().split()[-1])


async def _gone(pid: int, within: float) -> bool:
    for _ in range(int(within / 0.1)):
        if not _alive(pid) or _zombie(pid):
            return True
        await asyncio.sleep(0.1)
    return False


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    return False


async def test_the_next_command_finds_the_server_and_it_stops_when_the_lease_lapses(
    tmp_path: Path, fake_llama_cpp: Path
) -> None:
    first = await _one_command(tmp_path, keep_alive=4)
    assert _alive(first)  # the command has exited; its server has not
    llm = LocalLLM(tmp_path, tmp_path / "model.gguf", max_output_tokens=64, keep_alive=4)
    try:
        second = (await llm.structured(MESSAGES, ServerFacts)).value.pid
        await asyncio.sleep(6)  # longer than the lease: this process renews it meanwhile
        third = (await llm.structured(MESSAGES, ServerFacts)).value.pid
    finally:
        await llm.aclose()
    assert first == second == third
    assert await _gone(first, within=10)  # nobody renews it any more
    assert not _alive(first) or _zombie(first)


async def test_a_live_server_with_other_settings_is_left_alone(
    tmp_path: Path, fake_llama_cpp: Path
) -> None:
    """Issue 18: a command never takes over the lease of a server that is alive; with other
    settings it runs a server of its own, which stops with it."""
    first = await _one_command(tmp_path, keep_alive=60)
    llm = LocalLLM(tmp_path, tmp_path / "model.gguf", max_output_tokens=64, keep_alive=60,
                   threads=7)  # fmt: skip
    try:
        facts = (await llm.structured(MESSAGES, ServerFacts)).value
    finally:
        await llm.aclose()
    assert facts.pid != first
    assert facts.argv[facts.argv.index("--n_threads") + 1] == "7"
    assert await _gone(facts.pid, within=10)  # its own server stopped with it
    assert (
        _alive(first)
        and (Lease(tmp_path / "local-model-server.json", 60).read() or {}).get("pid") == first
    )
    (tmp_path / "local-model-server.json").unlink()  # what ends the first one
    assert await _gone(first, within=10)


async def test_without_keep_alive_the_server_stops_with_the_command(
    tmp_path: Path, fake_llama_cpp: Path
) -> None:
    pid = await _one_command(tmp_path, keep_alive=0)
    assert await _gone(pid, within=10)
    assert not (tmp_path / "local-model-server.json").exists()


# --- a busy server is not a dead one (issue 18) ----------------------------------------------

# Accepts TCP at once (the kernel's backlog) but answers each HTTP request only after DELAY
# seconds, one at a time: the embedded server while it reads an article.
SLOW_SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
delay = float(sys.argv[2])
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"""
CONFIG = {"model": "/models/m.gguf", "threads": 2, "bot": "test"}


@contextlib.asynccontextmanager
async def slow_server(delay: float) -> AsyncIterator[tuple[int, int]]:
    """A stand-in server process answering HTTP after ``delay`` s; yields (pid, port)."""
    port = _free_tcp_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SLOW_SERVER, str(port), str(delay), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        assert await asyncio.wait_for(child.stdout.readline(), 20) == b"ready\n"
        yield child.pid, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lease(tmp_path: Path, pid: int, port: int, **config: object) -> Lease:
    lease = Lease(tmp_path / "local-model-server.json", 60)
    lease.write(pid=pid, port=port, model_alias="local", **(config or CONFIG))
    return lease


async def test_a_busy_server_is_found_at_once(tmp_path: Path) -> None:
    """Its GET /v1/models waits behind the request it is answering: still alive."""
    async with slow_server(delay=30) as (pid, port):
        lease = _lease(tmp_path, pid, port)
        started = asyncio.get_running_loop().time()
        found = await AttachedServer.find(lease, CONFIG)
        assert found is not None and found.pid == pid and found.running
        assert asyncio.get_running_loop().time() - started < 3


async def test_a_dead_or_impostor_server_is_not_found(tmp_path: Path) -> None:
    async with slow_server(delay=0) as (pid, port):
        pass  # exited and reaped
    assert await AttachedServer.find(_lease(tmp_path, pid, port), CONFIG) is None
    async with slow_server(delay=0) as (pid, port):
        # The pid is alive but it is another process now (a reused pid): its start differs.
        lease = _lease(tmp_path, pid, port)
        info = lease.read() or {}
        lease.write(**{**info, "pid_started": int(info.get("pid_started") or 0) + 1})
        assert await AttachedServer.find(lease, CONFIG) is None
        # Alive but not listening on the recorded port.
        assert await AttachedServer.find(_lease(tmp_path, pid, _free_tcp_port()), CONFIG) is None
    zombie = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await asyncio.sleep(1.0)  # exited; not reaped yet: a zombie
    try:
        found = await AttachedServer.find(_lease(tmp_path, zombie.pid, port), CONFIG)
        assert found is None
    finally:
        await zombie.wait()


async def test_a_live_server_with_other_settings_keeps_its_lease(tmp_path: Path) -> None:
    other = {**CONFIG, "threads": 7}
    for delay in (30, 0):  # busy, or idle between two of its user's requests
        async with slow_server(delay=delay) as (pid, port):
            lease = _lease(tmp_path, pid, port)
            with pytest.raises(LeaseHeld):
                await AttachedServer.find(lease, other)
            assert _alive(pid) and (lease.read() or {}).get("pid") == pid


async def test_a_second_command_attaches_to_a_busy_server(
    tmp_path: Path, fake_llama_cpp: Path
) -> None:
    """Issue 18: two commands side by side; the first's server must not die mid-request."""
    (fake_llama_cpp / "slow").write_text("8")  # the first command's request takes 8 s
    first = asyncio.create_task(_one_command(tmp_path, keep_alive=60))
    lease = Lease(tmp_path / "local-model-server.json", 60)
    for _ in range(200):  # the first command's server is up, and its request on the way
        if isinstance(started := (lease.read() or {}).get("pid"), int):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    (fake_llama_cpp / "slow").write_text("0.1")
    llm = LocalLLM(tmp_path, tmp_path / "model.gguf", max_output_tokens=64, keep_alive=60)
    try:
        second = (await llm.structured(MESSAGES, ServerFacts)).value.pid
    finally:
        await llm.aclose()
    # One server: the first command's answer came from the server it started, not a new one.
    assert await first == started == second
    os.kill(second, signal.SIGTERM)


def test_a_cpu_backend_killed_by_an_illegal_instruction_is_skipped(tmp_path: Path) -> None:
    """A VM may advertise an instruction set it traps (AMX killed the server with SIGILL):
    the backend the crashed server chose is named to every later server as one to skip."""

    class Crashed:
        returncode = -signal.SIGILL

    llm = LocalLLM(tmp_path, tmp_path / "model.gguf", max_output_tokens=64)
    assert llm._cpu_env()[SKIP_ENV] == ""
    Path(llm._cpu_env()[CHOSEN_ENV]).write_text("sapphirerapids")
    llm._skip_crashed_backend(Crashed())  # type: ignore[arg-type]
    assert llm._cpu_env()[SKIP_ENV] == "sapphirerapids"
    Crashed.returncode = -signal.SIGKILL  # killed for another reason: not the backend's fault
    Path(llm._cpu_env()[CHOSEN_ENV]).write_text("zen4")
    llm._skip_crashed_backend(Crashed())  # type: ignore[arg-type]
    assert llm._cpu_env()[SKIP_ENV] == "sapphirerapids"


def test_the_child_skips_the_backends_it_is_told_to(monkeypatch: pytest.MonkeyPatch) -> None:
    if not llama_cpp_available():
        pytest.skip("needs the local extra (scripts/install-local)")
    import subprocess

    code = "from bot.core.models.llama_child import load_cpu_backends; print(load_cpu_backends())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    best = run.stdout.split()[-1]
    skipped = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, SKIP_ENV: best},
    ).stdout.split()[-1]  # fmt: skip
    assert skipped != best


def test_loading_a_cpu_backend_leaves_no_folder_behind(tmp_path: Path) -> None:
    """The folder ggml loads one backend from goes once it is loaded (each server start
    left one in /tmp before)."""
    if not llama_cpp_available():
        pytest.skip("needs the local extra (scripts/install-local)")
    import subprocess

    code = "from bot.core.models.llama_child import load_cpu_backends; print(load_cpu_backends())"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)  # fmt: skip
    assert run.stdout.split()[-1] not in ("", "None")
    assert list(tmp_path.iterdir()) == []
