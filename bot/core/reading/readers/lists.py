"""A title shared by a list of names, in English: "Reps. A (D-N.M.), B (R-Minn.) and C",
"vice mayors A and B", "County leaders A and B", "leaders of X County, including A, B and C".

English writes a title that several people hold in the plural ("Reps.", "vice mayors",
"leaders") before a list of bare names joined by commas, "and", "&", semicolons (or 、 in
machine translations), each name perhaps followed by a party or state code in brackets; or
it names the position in a clause and opens the list with "including", "namely", "such as"
or a colon. Every member of such a list holds the position. A member with a title of its own
("Mayor Fang, Zhu and ...") breaks the list: a neighbour's title is never passed on, and a
singular title before one name is that name's only.
"""

from __future__ import annotations

import re

from bot.core.reading.readers import Role
from bot.core.reading.readers.english_names import (
    CONNECTORS,
    HONORIFICS,
    MODIFIERS,
    ORG_WORDS,
    REPORTING,
    is_person,
    is_plural_title,
    is_title_word,
    plain,
    singular,
)
from bot.core.reading.readers.words import word_list

LEVELS = MODIFIERS | ORG_WORDS

_OPENERS = sorted(word_list("english", "list_openers"), key=len, reverse=True)
# What joins two members: ", ", ", and ", " and ", " & ", "; ", "、".
_JOINER = re.compile(r"(?:\s*[,;]\s*(?:and\s+|&\s+)?|\s+(?:and|&)\s+|\s*、\s*)$")
# A code after a member: "(D-N.M.)", "(R-Minn.)", "D-(XX)", "(Lab)".
_CODE = re.compile(
    r"\s*(?:\([^()]{1,24}\)|[A-Z]{1,3}-\([A-Za-z. ]{1,12}\)|[A-Z]{1,3}-[A-Z][A-Za-z.]{0,10})$"
)
_OPENER = re.compile(
    r"(?:^|[,;:]\s*)([^,;:]{3,160}?)\s*(?:,\s*)?(?:"
    + "|".join(re.escape(o) for o in _OPENERS)
    + r"|:)\s*$",
    re.IGNORECASE,
)


def list_role(sentence: str, start: int, end: int) -> Role | None:
    """The plural title governing the list the name at ``start:end`` stands in, if any."""
    first = _first_member(sentence, start)
    if first is None:
        return None
    before = sentence[:first]
    title = _plural_title_before(before)
    if title is not None:
        return Role(*_singular_role(title[0]), (title[1], end))
    opened = _OPENER.search(before)
    if opened is not None:
        clause = opened.group(1).strip()
        words = clause.split()
        # "members of the public, including": a title cannot end with a modifier (it goes on
        # to a noun), so the clause names no position.
        complete = bool(words) and plain(words[-1]) not in MODIFIERS
        if complete and any(is_plural_title(w) for w in words) and not _has_verb(words):
            offset = before.rfind(clause)
            return Role(*_singular_role(_clean(clause)), (offset, end))
    return None


def _first_member(sentence: str, start: int) -> int | None:
    """Where the list the name at ``start`` belongs to begins: walk back over bare names."""
    position = start
    for _ in range(60):
        joined = _JOINER.search(sentence, 0, position)
        if joined is None:
            break
        member_end = joined.start()
        code = _CODE.search(sentence, 0, member_end)
        if code is not None:
            member_end = code.start()
        member = _member_ending_at(sentence, member_end)
        if member is None:
            break
        position = member
    return position


def _member_ending_at(sentence: str, end: int) -> int | None:
    """Start of a bare name (no title of its own) ending at ``end``, or None."""
    words = list(re.finditer(r"\S+", sentence[:end]))
    for size in (6, 5, 4, 3, 2):
        if len(words) < size:
            continue
        span = words[-size:]
        name = " ".join(w.group() for w in span)
        if is_person(name):
            lead = words[-size - 1].group() if len(words) > size else ""
            if plain(lead) in HONORIFICS and lead[:1].isupper():
                return None  # "Mr. X": a name with a form of address, not a bare member
            return span[0].start()
    return None


def _plural_title_before(before: str) -> tuple[str, int] | None:
    """The title phrase touching the first member, if its head word is plural."""
    words = list(re.finditer(r"\S+", before))
    taken: list[re.Match[str]] = []
    for word in reversed(words):
        text = word.group()
        if text.endswith((",", ";", ":")) or plain(text) in REPORTING:
            break
        if not (text[:1].isupper() or is_title_word(text) or plain(text) in CONNECTORS | LEVELS):
            break  # "deputy county magistrates": levels and places stay in the title
        taken.insert(0, word)
    while taken and plain(taken[0].group()) in CONNECTORS | HONORIFICS:
        taken = taken[1:]
    if not taken:
        return None
    head = _head(taken[-1].group() if len(taken) == 1 else " ".join(t.group() for t in taken))
    if not is_plural_title(head):
        return None
    return " ".join(t.group() for t in taken), taken[0].start()


def _head(title: str) -> str:
    """The head word of a title: the last word before " of ", else the last word."""
    words = title.split(" of ")[0].split()
    return words[-1] if words else ""


def _singular_role(title: str) -> tuple[str, str]:
    """('vice mayor', '') from 'vice mayors'; ('leader', 'Baotan County') from 'leaders of
    Baotan County': what each member holds."""
    title = _clean(title)
    head, sep, organization = title.partition(" of ")
    words = head.split()
    if words:
        words[-1] = singular(words[-1])
    head = " ".join(words)
    if not sep:
        return head, ""
    return head, re.sub(r"^the\s+", "", organization.strip(), flags=re.IGNORECASE)


def _clean(text: str) -> str:
    return re.sub(r"^(?:(?:and|the|with|as|of|its|their)\s+)+", "", " ".join(text.split()),
                  flags=re.IGNORECASE).strip(" ,;:")  # fmt: skip


def _has_verb(words: list[str]) -> bool:
    """A clause with a reporting verb or a lower-case word ending in -ed is an event, not a
    position ("guests attended, including")."""
    return any(plain(w) in REPORTING or (w.islower() and w.endswith("ed")) for w in words)


def in_list(sentence: str, start: int) -> bool:
    """True if the name at ``start`` follows another bare name in a coordinated list."""
    first = _first_member(sentence, start)
    return first is not None and first < start


# What may stand right after a member before the next: a code, then a joiner.
_CODE_AFTER = re.compile(
    r"\s*(?:\([^()]{1,24}\)|[A-Z]{1,3}-\([A-Za-z. ]{1,12}\)|[A-Z]{1,3}-[A-Z][A-Za-z.]{0,10}(?!\w))"
)
_JOINER_AFTER = re.compile(r"\s*[,;]\s*(?:and\s+|&\s+)?|\s+(?:and|&)\s+|\s*、\s*")
_WORD = re.compile(r"[^\s,;:、()]+")


def list_members(sentence: str) -> list[str]:
    """Every member of a list a plural title or an opening clause governs ("Reps. A (D-N.M.),
    B (R-Minn.) and C", "municipal leaders A, B and C were present", "leaders of X County,
    including A, B and C"), read forward from the title to where the list stops. A member is
    kept only where ``list_role`` reads the same title back over it, so a member with a title
    of its own, or a name after a singular title, ends the list."""
    found: list[str] = []
    for start in _list_starts(sentence):
        position = start
        while (member := _member_at(sentence, position)) is not None:
            if list_role(sentence, *member) is None:
                break
            found.append(sentence[member[0] : member[1]])
            position = member[1]
            code = _CODE_AFTER.match(sentence, position)
            position = code.end() if code else position
            joiner = _JOINER_AFTER.match(sentence, position)
            if joiner is None:
                break
            position = joiner.end()
    return list(dict.fromkeys(found))


def _list_starts(sentence: str) -> list[int]:
    """Where a list may begin: right after a plural title word, an opener or a colon."""
    words = list(re.finditer(r"\S+", sentence))
    folded = [plain(w.group()) for w in words]
    starts = []
    for k in range(1, len(words)):
        last = words[k - 1].group()
        pair = f"{folded[k - 2]} {folded[k - 1]}" if k >= 2 else ""
        opened = last.endswith(":") or folded[k - 1] in _OPENERS or pair in _OPENERS
        if opened or is_plural_title(last):
            starts.append(words[k].start())
    return starts


def _member_at(sentence: str, position: int) -> tuple[int, int] | None:
    """The longest bare name (two to six words) starting at ``position``, or None."""
    words: list[re.Match[str]] = []
    for word in _WORD.finditer(sentence, position):
        gap = sentence[words[-1].end() if words else position : word.start()]
        if (words and not gap.isspace()) or (not words and gap) or len(words) == 6:
            break
        words.append(word)
    for size in range(len(words), 1, -1):
        last = words[size - 1]
        end = last.end()
        text = last.group()
        if text.endswith(".") and len(text) > 3 and text[-2].islower():
            end -= 1  # the sentence's full stop, not an initial's
        if is_person(sentence[words[0].start() : end]):
            return words[0].start(), end
    return None
