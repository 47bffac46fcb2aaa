"""Text that every part of the core can store, hash, send and print.

Text reaches the core from places that do not promise valid Unicode: bytes that are not
UTF-8 arrive as lone surrogates (Python's ``surrogateescape`` for argv and stdin), and pastes
carry control characters (NUL, escape sequences, bells) that PostgreSQL refuses, SQLite's
encoder and JSON requests choke on, and a terminal obeys. The core's front door
(``DigestService``) passes every article, title and question through ``clean`` once, so
nothing downstream has to guard against them.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# Lone surrogates (a str never holds a valid pair) and C0/C1 controls other than tab and
# newline. Line-like controls (CR, VT, FF, the file/group/record separators, NEL) end a line
# rather than vanish, so the words on either side stay apart.
_DIRTY = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_WORD = re.compile(r"\w")


def clean(text: str) -> str:
    """``text`` with lone surrogates as U+FFFD and control characters other than newline and
    tab removed (line-ending ones become newlines); clean text is returned as it is."""
    if _DIRTY.search(text) is None:  # the usual case: one scan, no copy
        return text
    text = _SURROGATE.sub(REPLACEMENT, text)
    text = _LINE_BREAK.sub("\n", text)
    return _CONTROL.sub("", text)


def undecodable(text: str) -> bool:
    """Whether cleaned ``text`` holds replaced bytes and nothing else to read."""
    return REPLACEMENT in text and _WORD.search(text) is None
