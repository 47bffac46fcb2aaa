"""What a question across articles says besides its topic (``bot.core.desk.ask``): the date
filter it names ("since March 2026"), the kind of answer it wants (a date for "when", a figure
for "how many"; a number of what it counts, for code-read lines), the names it asks about,
and the words that only say how it is asked. Kept apart from retrieval, so each reads on its
own."""

from __future__ import annotations

import re

from bot.core.cleaning import clean
from bot.core.reading.bilingual import english_keys
from bot.core.reading.dates import parse_since
from bot.core.reading.matching import CJK, terms

# Words of how a question is asked, not of what it is about (cut as ``terms`` cuts them).
ASKING = frozenset(
    w[:6]
    for w in "how many much did does according article articles story stories say said tell "
    "there were".split()
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAME = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_SINCE = re.compile(
    rf"\bsince\s+(?:(?P<month>{_MONTH_NAME})\.?\s+)?(?P<year>\d{{4}})"
    r"(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?)?\b",
    re.IGNORECASE,
)
_SINCE_ZH = re.compile(r"(?P<year>\d{4})\s*年\s*(?:(?P<m>\d{1,2})\s*月份?)?\s*(?:以来|起)")
_DATE_IN_TEXT = re.compile(
    rf"(?<!\d)(?:19|20)\d\d(?!\d)|\b(?:{_MONTH_NAME})\b|\d\s*[年月]|季度|月底|年底",
    re.IGNORECASE,
)
_FIGURE_IN_TEXT = re.compile(r"\d")
_ANSWER_KINDS = (
    (
        re.compile(
            r"\b(?:when|by when|what date|which year|what year|deadline|how soon|how long)\b"
            r"|何时|什么时候|哪一?年|多久",
            re.IGNORECASE,
        ),
        _DATE_IN_TEXT,
    ),
    (
        re.compile(
            r"\bhow (?:much|many|large|big)\b|\bwhat (?:amount|number|share|percentage|sum)\b"
            r"|\bwhat votes?\b|\bby what\b|\bcost\b|多少|几",
            re.IGNORECASE,
        ),
        _FIGURE_IN_TEXT,
    ),
)


# "How many" takes a plural count noun ("how many new stops", "how many of the signed
# projects"), and a sentence answering it states a number of that noun. English plurals end
# in -s, but for these, which count people.
_IRREGULAR_PLURALS = frozenset("people children men women staff personnel police".split())
_HOW_MANY = re.compile(r"\bhow many((?:\s+[\w'’-]+){1,5})", re.IGNORECASE)
_NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|hundred|thousand|dozens?|hundreds|thousands)"
)


def counted(question: str) -> re.Pattern[str] | None:
    """For a "how many X" question, what a sentence answering it holds: a number followed,
    within four words, by X (singular or plural); None for any other question. With two
    ("how many people ... and how many jobs"), either."""
    nouns = []
    for found in _HOW_MANY.finditer(question):
        head = next(
            (
                w.lower()
                for w in found.group(1).split()
                if w.lower() in _IRREGULAR_PLURALS or re.search(r"[^s']s$", w)
            ),
            None,
        )
        if head is not None:  # its stem: "stop", "hom(e)", "bus(es)", "compan(ies)"
            stem = head[:-3] if head.endswith("ies") else re.sub(r"e?s$", "", head)
            nouns.append(re.escape(stem))
    if not nouns:
        return None
    noun = "|".join(dict.fromkeys(nouns))
    return re.compile(rf"\b{_NUMBER}\b(?:[\s-]+[\w'’,-]+){{0,4}}?[\s-]+(?:{noun})\w*", re.I)


def tidy(question: str, limit: int) -> str:
    """One line of clean text: control characters gone, white space collapsed, length capped."""
    return " ".join(clean(question).split())[:limit]


def question_since(question: str) -> tuple[str | None, str]:
    """The date filter a question names ("since March 2026", "since 2024-03", "2025年以来"),
    normalised as ``parse_since`` does, and the question without it (what is searched)."""
    for pattern in (_SINCE, _SINCE_ZH):
        found = pattern.search(question)
        if found is None:
            continue
        month = found.groupdict().get("month")
        value = found["year"]
        if month:
            value += f"-{_MONTHS.index(month[:3].lower()) + 1:02d}"
        elif found["m"]:
            value += f"-{found['m']}"
            if found.groupdict().get("d"):
                value += f"-{found['d']}"
        try:
            since = parse_since(value)
        except ValueError:
            continue
        return since, " ".join(f"{question[: found.start()]} {question[found.end() :]}".split())
    return None, question


def answer_kind(question: str) -> re.Pattern[str] | None:
    """What a sentence answering the question holds, by how it is asked: a date for "when",
    a figure for "how much"/"how many"; None when the question does not say."""
    for asking, holds in _ANSWER_KINDS:
        if asking.search(question):
            return holds
    return None


# A capitalised word inside an English question is a name (a person, place, body or project),
# unless it opens the question or a clause, or says when: "How much did Brazil pledge?",
# "What did Ashcombe County approve?". Question words are capitalised only at the start.
_CAPITALISED = re.compile(r"(?<![.?!:;]\s)(?<!^)\b[A-Z][\w'’.-]*[\w]")
_NOT_NAMES = frozenset(
    "I How What When Where Which Who Whom Whose Why Since Did Does Do Is Are Was Were Has Have "
    "Mr Mrs Ms Dr".split()
)
_WEEKDAY = re.compile(r"^(?:mon|tues|wednes|thurs|fri|satur|sun)day$", re.IGNORECASE)


# A nationality is capitalised too, as the adjective before its noun ("the new American
# factories", "which Kenyan officials", "Chinese cities"), and an article may not write it;
# after an auxiliary the same shape is a subject, a name ("did Sudan pledge", "has Japan").
_NATIONALITY = re.compile(r"[A-Z][a-z]+(?:an|ese|ish|ic)$")
_AUXILIARY = re.compile(
    r"\b(?:did|does|do|will|would|has|have|had|can|could|should|is|are|was|were)\s+$", re.I
)


def question_names(question: str, *, with_adjectives: bool = False) -> list[str]:
    """The names an English question asks about: an article that writes none of them cannot
    answer it ("How much did Brazil pledge?" is not answered by Norway's pledge). A word
    shaped like a nationality before its noun ("American factories", but also "the Baotan
    conference") is left out unless ``with_adjectives``: it may be either."""
    names = []
    question = question.strip()
    for found in _CAPITALISED.finditer(question):
        word = re.sub(r"['’]s$", "", found.group())  # "Sri Lanka's": the name is "Lanka"
        if word in _NOT_NAMES or _WEEKDAY.match(word) or re.fullmatch(_MONTH_NAME, word, re.I):
            continue
        before, after = question[: found.start()], question[found.end() :]
        if (
            not with_adjectives
            and _NATIONALITY.match(word)
            and re.match(r"\s+[a-z]", after)
            and not _AUXILIARY.search(before)
        ):
            continue  # "American factories": an adjective
        names.append(word)
    return list(dict.fromkeys(names))


def writes_any(text: str, names: list[str]) -> bool:
    """True if the text writes one of the names as a whole word (case as written), or, in
    Chinese, in characters read so (澜江 "Lanjiang", 德国 "Germany": ``english_keys``)."""
    if any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) for name in names):
        return True
    keys = english_keys(text) if CJK.search(text) else frozenset()
    return any(key in keys for name in names for key in terms(name))
