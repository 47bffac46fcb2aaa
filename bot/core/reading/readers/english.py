"""What code reads from English text: titles beside names, dignitary lists, bylines, commitments.

English puts a title right before a name ("Lt. Gov. Darnell Pettigrew", "Ashcombe Mayor
Harlan Beaumont") or in the clause right after it ("Pan Ruoxi, vice-governor of Jiangxi"),
and a release may open with the title in its own clause ("Mayor of the Pennine Valleys, Tom
Gadsby, said:"). A neighbour's title in a roll-call is never borrowed: only the words that
touch the name, or the clause that starts the sentence, count.
"""

from __future__ import annotations

import re

from bot.core.reading.matching import names_another, normalize
from bot.core.reading.readers import Role
from bot.core.reading.readers.english_commitments import (
    is_kind_only,
    read_commitments,
    will_subject,
)
from bot.core.reading.readers.english_names import (
    CONNECTORS,
    DOTTED_TITLES,
    HONORIFICS,
    MODIFIERS,
    PARTICLES,
    POSTNOMINALS,
    REPORTING,
    TITLE_WORDS,
    is_initial,
    is_name_word,
    is_person,
    is_plural_title,
    is_surname,
    is_title_word,
    names_after_title,
    plain,
    reads_as_body,
    short_forms,
    singular,
    without_code,
)
from bot.core.reading.readers.lists import in_list, list_members, list_role
from bot.core.reading.readers.words import word_list
from bot.core.reading.script import clauses

__all__ = ["DOTTED_TITLES", "HONORIFICS", "TITLE_WORDS", "EnglishReader"]

_CREDIT_WORDS = word_list("english", "credit_words")
_NOT_OFFICE = word_list("english", "not_office")
_ROLE_EDGES = re.compile(
    r"^(?:(?:and|the|with|as|is|was|a|an|who|its|their|his|her|now)\s+)+|[\s,;:()]+$",
    re.IGNORECASE,
)
# What a hyphenated title is read by: its head ("Vice-Minister", "Under-Secretary").
_HEADS = TITLE_WORDS - {"vice", "deputy"}
_ABBREVIATION_END = re.compile(r"\b(?:Co|Ltd|Inc|Corp|Bros|Dept|Univ)\.$")


def clean_role(text: str) -> str:
    role = _ROLE_EDGES.sub("", " ".join(text.split()))
    if text.rstrip(" ,;:").endswith(")") and role.count("(") > role.count(")"):
        role += ")"  # "Additional Secretary (Planning)" keeps its closing bracket
    role = re.sub(r"^(?:hon'?ble|honourable|the rt hon|rt hon)\s+", "", role, flags=re.IGNORECASE)
    last = normalize(role.split()[-1]) if role else ""
    if _ABBREVIATION_END.search(role) or last in DOTTED_TITLES or re.fullmatch(r"\w\.", last):
        return role
    return role.rstrip(".")


def looks_like_role(role: str) -> bool:
    found = normalize(role).split()
    return (
        0 < len(found) <= 25
        and any(
            w.strip("()'.,") in TITLE_WORDS
            or w.strip("()'.,").rsplit("-", 1)[-1] in _HEADS  # "Vice-Minister", "Under-Secretary"
            or w.strip("().,") + "." in DOTTED_TITLES
            for w in found
        )
        and not any(w in REPORTING for w in found)
    )


def split_role(role: str) -> tuple[str, str]:
    """'deputy director of the X Center' -> ('deputy director', 'X Center')."""
    title, sep, organization = role.partition(" of ")
    second_role = re.search(r"\band\s+([\w-]+)", organization)
    if not sep or len(title.split()) > 4 or (second_role and second_role[1].lower() in TITLE_WORDS):
        return role, ""  # "secretary of X and president of Y" stays whole
    return title.strip(), re.sub(r"^the\s+", "", organization.strip(), flags=re.IGNORECASE)


def _singular_head(role: str) -> str:
    """A plural title before one name is that member's, in the singular ("Sens. X" -> "Sen.")."""
    head, sep, rest = role.partition(" of ")
    words = head.split()
    if words and is_plural_title(words[-1]):
        words[-1] = singular(words[-1])
    return " ".join(words) + sep + rest


def _title_first(clause: str) -> bool:
    """A clause that opens with a title: "The Minister of ...", "Norway's Minister ...";
    every word before the first title word is capitalised (not "After meeting Governor")."""
    for word in clause.split():
        if is_title_word(word):
            return True
        if not (word[:1].isupper() or plain(word) in CONNECTORS):
            return False
    return False


def _coordinated_to(sentence: str, segments: list[tuple[int, int]], at: int) -> int:
    """The last segment of a title whose comma-separated parts coordinate capitalised names
    of areas ("Minister of Housing, Infrastructure and Communities"): ``at`` if none."""
    for last in range(at + 1, len(segments)):
        gap = sentence[segments[last - 1][1] : segments[last][0]]
        if ";" in gap:
            break
        words = sentence[segments[last][0] : segments[last][1]].split()
        if (
            not words
            or is_person(" ".join(words[1:] if words[0] == "and" else words))  # "and B"
            or any(not (w[:1].isupper() or plain(w) in CONNECTORS) for w in words)
        ):
            break
        if "and" in words or "&" in words:
            return last
    return at


def _segments(text: str) -> list[tuple[int, int]]:
    """Clause spans of a sentence, without the marks and the space around them."""
    spans = []
    for start, end in clauses(text):
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip())
        end = start + len(text[start:end].rstrip(" ;:"))
        if end > start:
            spans.append((start, end))
    return spans


class EnglishReader:
    """Latin-script articles (English, and names with diacritics)."""

    def split_title(self, name: str) -> tuple[str, str]:
        tokens = name.replace(",", " ").split()
        while tokens and plain(tokens[-1]) in POSTNOMINALS:
            tokens.pop()
        start = len(tokens)
        while start > 0 and is_name_word(tokens[start - 1]):
            start -= 1
        bare = tokens[start:]
        while bare and bare[0].islower() and plain(bare[0]) in PARTICLES:
            bare = bare[1:]
        prefix = tokens[: len(tokens) - len(bare)]
        while prefix and plain(prefix[0]) in HONORIFICS:
            prefix = prefix[1:]  # "The Rt Hon", "Shri", "Dr."
        while len(bare) > 2 and (
            (prefix and plain(prefix[-1]) in MODIFIERS) or plain(bare[0]) + "." in DOTTED_TITLES
        ):
            prefix.append(bare.pop(0))  # "... Energy and" + "Grids": the title goes on
        title = " ".join(prefix)
        if not bare or (
            title
            and not looks_like_role(title)
            and (len(bare) < 2 or plain(prefix[-1]) in MODIFIERS)
        ):
            return "", " ".join(t for t in name.split() if plain(t) not in HONORIFICS) or name
        return title, " ".join(bare)

    def is_person(self, name: str) -> bool:
        return is_person(name)

    def is_surname(self, name: str) -> bool:
        return is_surname(name)

    def written_as_name(self, text: str, name: str) -> bool:
        return False  # an English name's shape is read by is_person alone

    def reads_as_body(self, text: str, name: str) -> bool:
        return reads_as_body(text, name)

    def short_forms(self, name: str, text: str = "") -> list[str]:
        return short_forms(name, text)

    def role_beside(self, sentence: str, start: int, end: int, others: list[str]) -> Role | None:
        """The title right before the name, in the clause right after it, or in the clause
        that opens the sentence with the name set off by commas."""
        segments = _segments(sentence)
        index = next((i for i, (s, e) in enumerate(segments) if s <= start < e + 1), None)
        if index is None:
            return None
        seg_start, seg_end = segments[index]
        found = self._prefix_role(sentence, seg_start, start, end, others)
        if found is not None:
            return found
        after = sentence[end:seg_end].strip(" ()")
        while after and plain(after.split()[0]) in POSTNOMINALS:  # "Daniel Ashworth-Reid MP"
            after = after.partition(" ")[2].strip()
        following = segments[index + 1 :]
        if following and (not after or after.startswith("(")):
            candidates = following[:2]
            first = sentence[candidates[0][0] : candidates[0][1]]
            if plain(first) in POSTNOMINALS and len(candidates) > 1:
                candidates = candidates[1:]
            at = segments.index(candidates[0])
            role_start, role_end = candidates[0]
            role_end = segments[_coordinated_to(sentence, segments, at)][1]
            role = clean_role(sentence[role_start:role_end])
            if looks_like_role(role) and not names_another(role, others):
                title, organization = split_role(role)
                return Role(title, organization, (seg_start, role_end))
        # "Mayor of the Pennine Valleys, Tom Gadsby, said:" and "The Minister of A, B and C of
        # Djibouti, Ahmed Houmed Daher, said": the opening clause is the role.
        alone = index >= 1 and not sentence[seg_start:start].strip() and not after.strip()
        opening = sentence[segments[0][0] : segments[0][1]]
        if alone and _title_first(opening) and _coordinated_to(sentence, segments, 0) >= index - 1:
            role = clean_role(sentence[segments[0][0] : segments[index - 1][1]])
            if looks_like_role(role) and not names_another(role, others):
                title, organization = split_role(role)
                return Role(title, organization, (segments[0][0], seg_end))
        return None

    def _prefix_role(
        self, sentence: str, seg_start: int, start: int, end: int, others: list[str]
    ) -> Role | None:
        """The title written right before the name: "Ashcombe Mayor", "President of Kenya"."""
        before = sentence[seg_start:start].split()
        taken: list[str] = []
        while before:
            word = before[-1]
            folded = plain(word)
            if folded in REPORTING or (word[:1].islower() and not is_title_word(word)
                                        and folded not in CONNECTORS):  # fmt: skip
                break
            taken.insert(0, before.pop())
        while taken and plain(taken[-1]) in HONORIFICS:
            taken.pop()  # "Union Minister of Jal Shakti Shri Raghavendra Patil"
        if taken and plain(taken[-1]) in CONNECTORS:
            return None  # "chief executive officer of Corvane Medical": the name is a body's
        joined = normalize(" ".join(taken))
        cut = max((joined.rfind(o) + len(o) for o in others if o and o in joined), default=-1)
        if cut >= 0:  # "Sen. A (D-N.Y.) and Rep. B": only what follows the other name
            rest = len(joined[cut:].split())
            taken = taken[len(taken) - rest :] if rest else []
        # "Callum Ainsworth MP and The Rt Hon Priya ...": the MP is the other name's.
        while taken and (plain(taken[0]) in CONNECTORS | POSTNOMINALS or taken[0].startswith("(")):
            taken = taken[1:]
        prefix = clean_role(" ".join(taken))
        if looks_like_role(prefix) and not names_another(prefix, others):
            title, organization = split_role(_singular_head(prefix))
            return Role(title, organization, (sentence.rfind(taken[0], seg_start, start), end))
        return None

    def list_role(self, sentence: str, start: int, end: int, others: list[str]) -> Role | None:
        """The plural title governing the list the name stands in (``readers.lists``)."""
        role = list_role(sentence, start, end)
        if role is None or names_another(role.title + " " + role.organization, others):
            return None
        return role

    def has_position(self, sentence: str) -> bool:
        """True if the sentence writes a title or position anywhere."""
        return any(is_title_word(w) for w in sentence.split())

    def is_not_office(self, sentence: str, start: int, end: int) -> bool:
        """True if the words beside the name say what someone without an office is ("Fatuma
        Abdi, a reporter for ...", "Mrs. K.A. Chandrawathie, a resident of ...")."""
        after = sentence[end : end + 60].lstrip(" ,(").split()[:4]
        before = sentence[max(0, start - 40) : start].split()[-3:]
        return any(plain(w) in _NOT_OFFICE for w in [*after, *before])

    def listed_names(self, sentence: str) -> list[str]:
        """Names written with their role: in a list ("Mayor Xu Xiaoxiong", "Sun Xing,
        director", "Mayor of the Pennine Valleys, Tom Gadsby, said"), or inside a clause
        right after a title ("Council Member Phil Gantz cast", "said EIB Vice-President
        Jörg Altenhöfer.", "President of Ghana A said"), set off by a code or letters
        ("Sen. A (D-Ga.), the ranking member", "A MP, said"), after a form of address in a
        roll ("in the presence of Smt. A, Minister of ...; Shri B, MP"), or as every member
        of a list under a shared title ("Reps. A (D-N.M.), B and C", ``lists.list_members``).
        Grounding keeps only those it can give the title the text writes for them."""
        segments = _segments(sentence)
        found = []
        for index, (start, end) in enumerate(segments):
            words = _without_final_stop(without_code(sentence[start:end].split()))
            found += names_after_title(words)
            name = self._trailing_name(words)
            if name is None or name in found:
                continue
            lead = words[: -len(name.split())]
            lead = lead[1:] if lead == ["and"] else lead  # "and B, mayor of Y": no role
            addressed = False  # "Shri", "Smt.", "Dr.": a form of address, not a role
            while lead and plain(lead[-1]) in HONORIFICS and lead[-1][:1].isupper():
                lead, addressed = lead[:-1], True
            said = [i for i, w in enumerate(lead) if plain(w) in REPORTING or w == "by"]
            role = clean_role(" ".join(lead[said[-1] + 1 :] if said else lead))  # said EIB ...
            if role:
                # "... officer of Corvane Medical": a role ending in "of" leads into a body.
                last = role.split()[-1].lower()
                if len(role.split()) <= 20 and looks_like_role(role) and last not in CONNECTORS:
                    found.append(name)
                    continue
                if not addressed:
                    continue  # "held at Nelumgama Maha Vidyalaya": a place after running words
            # A bare name, or one with a form of address after running words ("in the
            # presence of Smt. A, Minister of ...;"): its role in the next clause or the one
            # before, over its list, or in the clause opening the sentence.
            at = sentence.rfind(name, start, end + 1)
            beside = [segments[i] for i in (index + 1, index - 1) if 0 <= i < len(segments)]
            in_role = any(looks_like_role(clean_role(sentence[s:e])) for s, e in beside)
            opened = at >= 0 and self.role_beside(sentence, at, at + len(name), []) is not None
            if in_role or opened or in_list(sentence, start) or list_role(sentence, start, end):
                found.append(name)
        return list(dict.fromkeys([*found, *list_members(sentence)]))

    def _trailing_name(self, words: list[str]) -> str | None:
        """The longest 2- to 5-word name that ends a clause, after a role or an organisation."""
        if not words or not words[-1][:1].isupper() or not is_name_word(words[-1]):
            return None  # every candidate ends with this word: most clauses stop here
        for size in (5, 4, 3, 2):
            if len(words) < size:
                continue
            candidate, before = words[-size:], words[:-size]
            name = " ".join(candidate)
            dotted = [w for w in candidate if w.endswith(".") and not is_initial(w)]
            if not self.is_person(name) or dotted:  # "J. Tomas Whitfield", not "St. Louis"
                continue
            if (
                not before
                or before[-1][:1].isupper()
                or is_title_word(before[-1])
                or plain(before[-1]) in REPORTING | {"by"}  # "said A, president", "by A"
                or before == ["and"]  # "signed by A, mayor of X, and B, mayor of Y"
            ):
                return name
        return None

    def is_credit(self, before: str, sentence: str, start: int, end: int) -> bool:
        """A credit names its label right before the name ("Photo by reporter X", "Text: X |
        Photos: Y", "Author: X", "(Reporter A Correspondent B C)"): only names and labels
        stand between the label and the name, never running words ("In a video message,
        President of Finland X" is no credit)."""
        lead = normalize(sentence[:start]).replace("|", " ").replace("[", " ").split()
        if lead == ["by"] or (lead and lead[-1] == "by" and len(lead) <= 2):
            return True
        raw = sentence[:start].replace("|", " ").replace("[", " ").split()[-8:]
        for i, word in enumerate(raw):
            folded = plain(word)
            if folded not in _CREDIT_WORDS - {"by"}:
                continue
            if i and plain(raw[i - 1]) in REPORTING | {"to"}:
                continue
            between = raw[i + 1 :]
            if all(
                w[:1].isupper()
                or plain(w) in _CREDIT_WORDS
                or w in {":", "|", "-", "—"}
                or is_initial(w)
                for w in between
            ) and not any(is_title_word(w) for w in between):
                return True
        if len(sentence.split()) <= 8 and not lead:
            # A bare name line under "Media contact:" or "Press contacts:".
            heading = normalize(before)
            return heading.endswith(":") and any(
                w in heading for w in ("contact", "enquir", "inquir")
            )
        return False

    def subject(self, sentence: str) -> tuple[str, bool] | None:
        """The named "X will" subject; "the city would", "he would", "We'll" are generic."""
        return will_subject(sentence)

    def commitments(self, sentence: str) -> list[tuple[str, str]]:
        """(subject, what) of each commitment the sentence states (``read_commitments``)."""
        return read_commitments(sentence, self.is_person)

    def is_kind_only(self, subject: str) -> bool:
        """A body named only by its kind ("the Government", "the Ministry"): the speaker's."""
        return is_kind_only(subject)


def _without_final_stop(words: list[str]) -> list[str]:
    """The clause's words with a sentence's full stop off its last word ("Altenhöfer."), but
    not an initial's or an abbreviation's ("J.", "Jr.")."""
    if words and words[-1].endswith(".") and len(words[-1]) > 3 and words[-1][-2].islower():
        return [*words[:-1], words[-1][:-1]]
    return words
