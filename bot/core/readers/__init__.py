"""Language readers: what code reads from an article's text, one module per writing system.

Grounding asks a reader where a person's title stands, whether a string is a person's name,
whether a mention is a credit line (byline, photo credit, press contact), and what a plain
pledge's subject is. English and Chinese write these differently (titles after names in
commas vs. titles glued before names), so each has its own reader, chosen by the script of
the article. Injected instructions are recognised the same way in every language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from bot.core.matching import CJK


@dataclass(frozen=True)
class Role:
    """A position the text writes beside a name; ``span`` is relative to the sentence."""

    title: str
    organization: str
    span: tuple[int, int]


class Reader(Protocol):
    def split_title(self, name: str) -> tuple[str, str]:
        """(title, bare name) of a name field that may carry a title or honorifics."""
        ...

    def is_person(self, name: str) -> bool: ...

    def short_forms(self, name: str) -> list[str]:
        """Normalised shorter forms the text may use later (surname, "Sir Malcolm")."""
        ...

    def role_beside(
        self, sentence: str, start: int, end: int, others: list[str]
    ) -> Role | None: ...

    def listed_names(self, sentence: str) -> list[str]: ...

    def is_credit(self, before: str, sentence: str, start: int, end: int) -> bool:
        """True if the mention at ``start:end`` credits a reporter, photographer or contact.

        ``before`` is the text of the lines just before this sentence (for "Media contact:").
        """
        ...

    def subject(self, sentence: str) -> tuple[str, bool] | None:
        """The "<subject> will" of a sentence and whether it is generic ("the city", "we")."""
        ...

    def pledges(self, sentence: str) -> list[tuple[str, str]]:
        """(actor, what) for sentences that plainly state a pledge."""
        ...


_INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|preceding) (?:instructions|prompts?"
    r"|messages|rules)|system prompt|</?\s*article\s*>|disregard (?:all|any|the|previous|your)"
    r"|you are now\b|new instructions|developer mode|忽略(?:之前|以上|前面)|系统提示",
    re.IGNORECASE,
)


def is_injected(paragraph: str) -> bool:
    """A paragraph that talks to the model rather than reporting news: not evidence."""
    return _INJECTION.search(paragraph) is not None


def reader_for(text: str) -> Reader:
    """The Chinese reader for mostly-CJK articles, the English reader otherwise."""
    from bot.core.readers.chinese import ChineseReader
    from bot.core.readers.english import EnglishReader

    letters = sum(c.isalpha() for c in text[:20000])
    if letters and len(CJK.findall(text[:20000])) * 2 >= letters:
        return ChineseReader()
    return EnglishReader()
