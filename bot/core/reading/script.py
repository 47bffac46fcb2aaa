"""The writing systems reading knows: which one a text is in, where it ends a sentence and a clause.

Every module of reading asks here, so the prompt, the language reader, the sentence splitter and
the key points agree on an article. The rules are facts of the writing systems:

- Latin script ends a sentence with ". ! ?" and parts clauses with ", ; :", each followed by a
  space: a comma or colon between two digits is part of a number ("1,200", "10:30").
- Chinese, Japanese and Korean end a sentence with 。！？ and part clauses with ，；：、 (the
  enumeration comma joins the items of a list), with no space after them.
- Quotes and brackets that close a sentence stand after its end mark ("... he said.”").
"""

from __future__ import annotations

import enum
import re

# Han, kana and Hangul: the characters of Chinese, Japanese and Korean writing.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

# The opening tells the script; a long article costs no more to tell.
OPENING_CHARS = 5_000

# Letters, and letters of no Latin alphabet: Latin runs to U+024F, plus Latin Extended
# Additional (U+1E00-U+1EFF: Vietnamese).
_LETTER = re.compile(r"[^\W\d_]")
_NOT_LATIN = re.compile(r"[^\W\d_\u0000-\u024f\u1e00-\u1eff]")


class Script(enum.Enum):
    """The writing system a text is read in."""

    LATIN = "latin"  # English and every language written in Latin letters
    CJK = "cjk"  # Chinese, Japanese, Korean: the Chinese reader reads it
    OTHER = "other"  # Cyrillic, Greek, Arabic...: names stay in their own script


def script_of(text: str) -> Script:
    """The script of the text's opening: Latin unless a fifth or more of its letters are not
    Latin (a text naming people in their own script is read in that script); then CJK when at
    least half of those are CJK characters, else another script."""
    sample = text[:OPENING_CHARS]
    if _NOT_LATIN.search(sample) is None:  # the common case, without counting every letter
        return Script.LATIN
    letters = len(_LETTER.findall(sample))
    not_latin = len(_NOT_LATIN.findall(sample))
    if not letters or not_latin * 5 < letters:
        return Script.LATIN
    return Script.CJK if len(CJK.findall(sample)) * 2 >= not_latin else Script.OTHER


def not_latin_script(text: str) -> bool:
    """True when the text is not read in the Latin script (Chinese, Cyrillic...)."""
    return script_of(text) is not Script.LATIN


# --- sentences -----------------------------------------------------------------------------------

LATIN_SENTENCE_ENDS = ".!?"
CJK_SENTENCE_ENDS = "。！？"
SENTENCE_ENDS = LATIN_SENTENCE_ENDS + CJK_SENTENCE_ENDS
# Quotes and brackets that close a sentence after its end mark (CJK too: 」』）).
CLOSERS = "\"'”’)]」』»）"
# A CJK sentence ends right after its marks and what closes it; no space follows.
CJK_SENTENCE_END = re.compile(rf"[{CJK_SENTENCE_ENDS}]+[{re.escape(CLOSERS)}]*")
# The last character of a finished sentence: its end mark, or the double quote, closing single
# quote or round bracket a Latin sentence closes with.
_FINAL = (*SENTENCE_ENDS, '"', "”", "’", ")")


def ends_sentence(text: str) -> bool:
    """True if the text ends as a sentence does (not a heading, a caption or a cut line)."""
    return text.endswith(_FINAL)


# --- clauses -------------------------------------------------------------------------------------

# A comma, semicolon or colon before white space ("1,200" and "10:30" are numbers), or a CJK
# comma, semicolon, colon or enumeration comma (、 joins the items of a list).
_CLAUSE_MARK = re.compile(r"[,;:](?=\s)|[，；：、]")


def clause_marks(text: str, end: int | None = None) -> list[int]:
    """Where the clause marks of ``text[:end]`` stand: the one clause splitter of reading."""
    return [m.start() for m in _CLAUSE_MARK.finditer(text, 0, len(text) if end is None else end)]


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of every clause, the marks between them left out: ``end`` is where the
    clause's mark stands, or the end of the text. Empty clauses are kept, so the text at
    ``end`` tells which mark closed a clause."""
    bounds = [0, *(at + 1 for at in clause_marks(text)), len(text) + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(len(bounds) - 1)]
