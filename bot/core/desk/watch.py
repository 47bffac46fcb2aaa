"""The watchlist's matching: which of a chat's watches a new digest answers, and with what.

A watch is a name, a place or a word a reader follows. After a digest, each watch is looked
for, as whole words, case- and accent-insensitively (``matching.normalize``), in the officials
(name, title, organisation: a surname alone finds the full name, a place or body finds the
officials whose role names it), the commitments (actor or text) and the article's sentences.
Every hit carries the digest's line and its verbatim quote from the article, so an alert can
be trusted the way a digest is; a sentence already quoted by an official's or commitment's
hit is not listed again. Whole words: "Lee" never matches "Leeds"; "die casting" and
"die-casting" are the same watch. A Chinese name is found in either script, as English
press writes it in pinyin: the watch "Xining" alerts on a release in Chinese that writes
西宁, and the watch 西宁 on one in English that writes "Xining".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.core.reading.bilingual import pinyin_pattern, spells
from bot.core.reading.chunking import Sentence
from bot.core.reading.matching import CJK, normalize
from bot.core.schemas import Digest, role_text

MAX_WATCH_CHARS = 60  # a name, a place or a phrase: not a sentence
_EDGES = re.compile(r"^[\s\"'.,;:!?()\[\]{}<>«»“”‘’]+|[\s\"'.,;:!?()\[\]{}<>«»“”‘’]+$")
_JOINS = re.compile(r"[\s-]+")


def watch_key(text: str) -> str:
    """A watch in its stored, compared form: normal form, no quotes or stray punctuation
    around it, hyphens read as spaces ("die-casting" is "die casting"), single spaces.
    Empty when nothing is left to watch."""
    return " ".join(p for p in _JOINS.split(_strip(text)) if p)


def _strip(text: str) -> str:
    return _EDGES.sub("", normalize(text)).strip()


@lru_cache(maxsize=4096)
def _pattern(key: str) -> re.Pattern[str]:
    """Whole words of the key, a hyphen and a space alike between them (CJK: no edges)."""
    parts = [re.escape(p) for p in _JOINS.split(key) if p]
    if CJK.search(key):
        return re.compile(r"\s?".join(parts))
    body = r"[\s-]".join(parts)
    return re.compile(rf"(?<![\w'-]){body}(?![\w]|-\w)")


def mentions(key: str, text: str) -> bool:
    """True if the watch ``key`` stands in ``text`` as whole words (any case or accents), or
    a Chinese name in the other script: "Xining" in 西宁市, 西宁 in "Xining's" (``bilingual``)."""
    if not key:
        return False
    normalized = normalize(text)
    if _pattern(key).search(normalized) is not None:
        return True
    if CJK.search(key):
        pattern = pinyin_pattern(key.replace(" ", ""))
        return pattern is not None and pattern.search(normalized) is not None
    return CJK.search(normalized) is not None and spells(key, normalized)


@dataclass(frozen=True)
class Hit:
    """One place a watch matched: the digest's line (``lead`` and ``text``) and its quote."""

    kind: str  # "official", "commitment" or "sentence"
    lead: str
    text: str
    quote: str


@dataclass(frozen=True)
class Watched:
    """A watch and every hit it has in one digest, officials first, then pledges, sentences."""

    watch: str
    hits: tuple[Hit, ...]


def _name_hit(key: str, name: str) -> bool:
    """The watch in the name (a surname, a given name), or the name in the watch
    ("Mayor Xu Xiaoxiong" watches Xu Xiaoxiong), word-bounded both ways."""
    return mentions(key, name) or (len(name.split()) > 1 and mentions(normalize(name), key))


def find_hits(
    watches: Iterable[str], digest: Digest, sentences: Sequence[Sentence]
) -> list[Watched]:
    """The watches (as the chat wrote them) that the digest matches, in the given order."""
    found: list[Watched] = []
    for watch in watches:
        key = watch_key(watch)
        if not key:
            continue
        hits: list[Hit] = []
        quoted: set[int] = set()
        for official in digest.officials:
            role = role_text(official.title, official.organization)
            if _name_hit(key, official.name) or mentions(key, role):
                hits.append(Hit("official", official.name, f" — {role}", official.quote))
                quoted.update(official.sentences)
        for item in digest.commitments:
            if _name_hit(key, item.actor) or mentions(key, item.commitment):
                when = f" (by {item.deadline})" if item.deadline else ""
                hits.append(Hit("commitment", item.actor, f": {item.commitment}{when}", item.quote))
                quoted.update(item.sentences)
        for sentence in sentences:
            if sentence.number not in quoted and mentions(key, sentence.text):
                hits.append(Hit("sentence", "", "", sentence.text.strip()))
        if hits:
            found.append(Watched(watch, tuple(hits)))
    return found
