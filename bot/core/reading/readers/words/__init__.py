"""The word lists the language readers use, kept as data with the reason for every entry.

Each ``<language>.toml`` holds named lists; a list is a sequence of groups, each group a
``reason`` (a fact of the language that puts these words there) and its ``words``. A word is
on a list because the language works that way, never because one article has it. Files ship
inside the package (``bot/core/reading/readers/words``), so a wheel carries them.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


@cache
def _lists(language: str) -> dict[str, list[dict[str, object]]]:
    text = resources.files(__package__).joinpath(f"{language}.toml").read_text(encoding="utf-8")
    data: dict[str, list[dict[str, object]]] = tomllib.loads(text)
    for name, groups in data.items():
        for group in groups:
            if not str(group.get("reason", "")).strip() or not group.get("words"):
                raise ValueError(f"{language}.toml [{name}]: every group needs a reason and words")
    return data


def word_list(language: str, name: str) -> frozenset[str]:
    """Every word of one list (lower case for Latin script, as written for CJK)."""
    return frozenset(str(w) for group in _lists(language)[name] for w in group["words"])  # type: ignore[attr-defined]


def reasons(language: str, name: str) -> dict[str, str]:
    """word -> why it is on the list (for tests and for whoever edits the list)."""
    found: dict[str, str] = {}
    for group in _lists(language)[name]:
        for word in group["words"]:  # type: ignore[attr-defined]
            found.setdefault(str(word), str(group["reason"]))
    return found


def list_names(language: str) -> list[str]:
    return list(_lists(language))
