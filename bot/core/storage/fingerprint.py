"""What a cached digest depends on besides its article and prompts: the code that made it.

The package version alone is not enough: it rarely changes between commits, and a grounding
fix must not be hidden behind digests the old code cached. Hashing the core's own source
(about 150 kB, once per process) changes the key whenever that code does.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from bot import __version__


@functools.cache
def code_fingerprint() -> str:
    """The package version plus a short hash of every module of the core."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parents[1].rglob("*.py")):  # the whole core
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
