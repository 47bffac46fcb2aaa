"""What every source of an article comes to: its text, title and origin, or a refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core.errors import SourceError

Kind = Literal["html", "text", "pdf", "docx"]


@dataclass(frozen=True)
class Source:
    """An article read from a page or a file.

    ``text`` is what gets digested: the headline (when the page or file has one) as its first
    line, then the body, one paragraph a line. ``url`` is the final address after redirects
    (None for a file); ``filename`` the file's or the link's last path segment; ``date`` the
    page's publication date from its metadata (ISO), when it gives one.
    """

    text: str
    title: str | None
    kind: Kind
    url: str | None = None
    filename: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Submission:
    """What a user handed in, one of: a pasted text, a link, a file's bytes (and its name)."""

    text: str | None = None
    url: str | None = None
    data: bytes | None = None
    filename: str | None = None
    content_type: str | None = None


def too_much_text(max_chars: int) -> SourceError:
    """A document holding far more text than an article (every reader refuses it alike)."""
    return SourceError(
        f"This file holds more text than an article (over {max_chars:,} characters); send "
        "just the article's text."
    )


def document_title(title: object) -> str | None:
    """A title from a file's properties, unless it is a tool's placeholder."""
    if not isinstance(title, str):
        return None
    title = title.strip()
    placeholder = re.compile(r"^(?:untitled|microsoft word\b.*|document\d*|.*\.(?:docx?|pdf))$")
    if not title or placeholder.match(title.lower()):
        return None
    return title
