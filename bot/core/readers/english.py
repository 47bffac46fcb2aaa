"""What code reads from English text: titles beside names, dignitary lists, bylines, pledges.

English puts a title right before a name ("Lt. Gov. Darnell Pettigrew", "Ashcombe Mayor
Harlan Beaumont") or in the clause right after it ("Pan Ruoxi, vice-governor of Jiangxi"),
and a release may open with the title in its own clause ("Mayor of the Pennine Valleys, Tom
Gadsby, said:"). A neighbour's title in a roll-call is never borrowed: only the words that
touch the name, or the clause that starts the sentence, count.
"""

from __future__ import annotations

import re

from bot.core.matching import normalize
from bot.core.readers import Role

# fmt: off
TITLE_WORDS = frozenset(
    "mayor governor minister secretary director president chairman chairwoman chair chief "
    "head member professor academician manager officer inspector commissioner ambassador "
    "spokesperson spokesman spokeswoman deputy vice general leader representative delegate "
    "founder ceo cto cfo coo executive premier chancellor senator mp mps councillor councilor "
    "judge president-elect editor-in-chief dean rector principal partner adviser advisor "
    "consultant lecturer researcher scientist engineer expert lieutenant collector magistrate "
    "speaker whip treasurer comptroller attorney sheriff alderman mla mep superintendent "
    "provost trustee vice-governor vice-premier vice-president vice-chairman vice-chair "
    "vice-mayor co-chair co-sponsor sponsor ranking commissioners board-member congressman "
    "congresswoman assemblyman assemblywoman selectman administrator registrar controller "
    "secretary-general director-general deputy-director second-level pm "
    "cllr chairperson envoy counsellor counselor auditor ombudsman governor-general".split()
)
# Abbreviated titles that are also surnames ("Dr. Anirudh Sen"): titles only with their dot.
DOTTED_TITLES = frozenset("gov. lt. sen. rep. sens. reps. supt. sec. cmdr. gen. col. capt.".split())
# Words a title cannot end with: it goes on to a noun ("Commissioner for ... and Grids").
_MODIFIERS = frozenset(
    "and of for the & on in at to regional national provincial municipal federal local global "
    "international public rural urban economic social digital foreign chief deputy vice "
    "executive people's state".split()
)
ORG_WORDS = frozenset(
    "committee society university association branch center centre ministry department agency "
    "group company government city district province county bureau office council institute "
    "academy school college bank party union federation court police army corporation fund "
    "partnership zone engineering authority assembly commission taskforce task force cpc "
    "congress parliament senate board alliance foundation trust network mission programme "
    "program project initiative facility act bill plan regulation energy storage technology "
    "technologies industry industries heavy robotics composites systems solutions materials "
    "holdings partners capital media news daily times post dispatch courier press wire "
    "railway rail line airport port estate state states region valley valleys falls river "
    "lake mountain mountains island islands bay street road highway avenue hall tower building "
    "station market exchange inc ltd llc plc co corp sa ag gmbh commerce transportation "
    "transport health education treasury defence defense justice affairs services service "
    "works utilities cooperative coalition consortium chamber forum conference summit "
    "secretariat directorate division unit team administration republic kingdom nation "
    "people's people national provincial municipal federal regional local global international "
    "capitol centre town village township community communities computing".split()
)
# fmt: on
HONORIFICS = frozenset(
    "mr mrs ms miss mx dr prof sir dame lord lady shri sri smt shrimati kumari hon honble "
    "hon'ble honourable honorable rt right the cllr his her excellency h.e excellencies".split()
)
_POSTNOMINALS = frozenset("mp mla mep ias ips ifs qc kc obe mbe cbe phd md jr sr ii iii".split())
_PARTICLES = frozenset("de da di du van von der den del dos das la le bin binti al el ibn".split())
_CONNECTORS = frozenset("of the and for & on in at".split())
_CREDIT_WORDS = frozenset(
    "reporter reporters correspondent correspondents photographer photographers photo photos "
    "editor editors review reviewer writer writers contact contacts intern compiled translated "
    "text graphics video enquiries inquiries by".split()
)
_REPORTING = frozenset("said says told tells added noted stated asked urged".split())
_SEGMENT_BREAK = re.compile(r"[,;:]")
_WILL_SUBJECT = re.compile(
    r"^(?:[^,]{0,100}, )?(?:the |The )?((?:[A-Z][\w'’-]*)(?: (?:of|and|for|the|[A-Z][\w'’-]*))"
    r"{0,10}) will\b"
)
_PLEDGE_END = re.compile(r"[,;]\s")
# Words that state a pledge, a plan or a call on others, in the ways press releases, news
# stories and translated government releases all write them: "will/would <do>", "plans to",
# "committed to", "pledged that", "urged X to", "must/should <do>", "announced $N".
_PLEDGE_MARK = re.compile(
    r"\b(?:will|would|shall)\s+(?:also\s+|now\s+|soon\s+|further\s+)?(?!not\b)[a-z]+"
    r"|\b(?:plans?|planned|expects?|intends?|aims?|seeks?|pledged|pledges|promised|promises|"
    r"vowed|vows|committed|commits|agreed|undertakes|is\s+set|are\s+set|has\s+decided)\s+to\s+"
    r"(?:[a-z]+ing\b|[a-z]+)"
    r"|\b(?:pledged|promised|vowed|guaranteed|assured)\s+(?:that\b|[a-z]+\s+that\b)"
    r"|\b(?:urged|urges|urge|called\s+on|calls\s+on|call\s+on|appealed\s+to|asked|required|"
    r"requires|directed|instructed)\s+(?:[\w'’.-]+\s+){1,8}?to\s+[a-z]+"
    r"|\b(?:must|should)\s+(?:also\s+|further\s+)?[a-z]+"
    r"|\b(?:announced|announces|invests|allocates|earmarks|commits|sanctioned|approved)\s+"
    r"(?:an?\s+|the\s+|plans\s+|that\s+|funding\s+|grants?\s+)?(?:[$€£₹¥]|Rs\.?\s|\d)"
)
_INITIAL = re.compile(r"[A-Z]\.")
_QUOTE_CLOSE = re.compile(r"[,.!?]?[\"”](?:\s|$)")
# A headline's "Ministry to train 25,000 women", "£2.4bn to transform buses".
_HEADLINE_PLEDGE = re.compile(r"^[^.!?]{3,120}?\bto\s+[a-z]{3,}")
_SAID_THAT = re.compile(
    r"\b(?:said|says|told\s+[^,]{1,60}?|added|announced|stated)\s+(?:that\s+)?$"
)
_NAME_WORD = re.compile(r"(?:[A-Z][a-zà-öø-ÿ]*\.|[A-ZÀ-ÖØ-Þ][\w'’-]*[\w])$")
_ROLE_EDGES = re.compile(
    r"^(?:(?:and|the|with|as|is|was|a|an|who|its|their|his|her|now)\s+)+|[\s,;:()]+$",
    re.IGNORECASE,
)
_ABBREVIATION_END = re.compile(r"\b(?:Co|Ltd|Inc|Corp|Bros|Dept|Univ)\.$")


_FUNCTION = frozenset(
    "by with from to the and of for on in at as or but if when while after before said says "
    "told during under over into".split()
)
_PRONOUNS = frozenset("i we he she it they you this that these those our us".split())


_NOT_NAME = TITLE_WORDS | ORG_WORDS | _FUNCTION | HONORIFICS | _POSTNOMINALS


def _plain(word: str) -> str:
    return normalize(word).strip(".,;:()[]\"'")


def _is_name_word(word: str) -> bool:
    plain = _plain(word)
    if plain in _PARTICLES:
        return True
    if not _NAME_WORD.match(word) or any(c.isdigit() for c in word):
        return False
    if word.isupper() and len(word.strip(".")) <= 5 and "." not in word[:-1]:
        return len(word) == 2 and word.endswith(".")  # an initial, not an acronym (CPPCC, EIB)
    if normalize(word) in DOTTED_TITLES:
        return False
    return plain not in _NOT_NAME


def _is_title_word(word: str) -> bool:
    return _plain(word) in TITLE_WORDS or normalize(word) in DOTTED_TITLES


def clean_role(text: str) -> str:
    role = _ROLE_EDGES.sub("", " ".join(text.split()))
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
            w.strip("()'.,") in TITLE_WORDS or w.strip("().,") + "." in DOTTED_TITLES for w in found
        )
        and not any(w in _REPORTING for w in found)
    )


def split_role(role: str) -> tuple[str, str]:
    """'deputy director of the X Center' -> ('deputy director', 'X Center')."""
    title, sep, organization = role.partition(" of ")
    second_role = re.search(r"\band\s+([\w-]+)", organization)
    if not sep or len(title.split()) > 4 or (second_role and second_role[1].lower() in TITLE_WORDS):
        return role, ""  # "secretary of X and president of Y" stays whole
    return title.strip(), re.sub(r"^the\s+", "", organization.strip(), flags=re.IGNORECASE)


def _segments(text: str) -> list[tuple[int, int]]:
    """Clause spans of a sentence, split at commas and semicolons, without the separators."""
    bounds = [0, *(m.end() for m in _SEGMENT_BREAK.finditer(text)), len(text) + 1]
    spans = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1] - 1
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
        while tokens and _plain(tokens[-1]) in _POSTNOMINALS:
            tokens.pop()
        start = len(tokens)
        while start > 0 and _is_name_word(tokens[start - 1]):
            start -= 1
        bare = tokens[start:]
        while bare and _plain(bare[0]) in _PARTICLES:
            bare = bare[1:]
        prefix = tokens[: len(tokens) - len(bare)]
        while prefix and _plain(prefix[0]) in HONORIFICS:
            prefix = prefix[1:]  # "The Rt Hon", "Shri", "Dr."
        while len(bare) > 2 and (
            (prefix and _plain(prefix[-1]) in _MODIFIERS) or _plain(bare[0]) + "." in DOTTED_TITLES
        ):
            prefix.append(bare.pop(0))  # "... Energy and" + "Grids": the title goes on
        title = " ".join(prefix)
        if not bare or (
            title
            and not looks_like_role(title)
            and (len(bare) < 2 or _plain(prefix[-1]) in _MODIFIERS)
        ):
            return "", " ".join(t for t in name.split() if _plain(t) not in HONORIFICS) or name
        return title, " ".join(bare)

    def is_person(self, name: str) -> bool:
        tokens = name.split()
        if not 2 <= len(tokens) <= 5 or not all(_is_name_word(t) for t in tokens):
            return False
        return not all(_plain(t) in _PARTICLES for t in tokens) and tokens[-1][:1].isupper()

    def short_forms(self, name: str) -> list[str]:
        tokens = normalize(name).split()
        if len(tokens) < 2:
            return []
        forms = [tokens[-1]] if len(tokens[-1]) >= 3 else []
        forms += [f"{h} {tokens[0]}" for h in ("sir", "dame", "lord", "lady")]
        return forms

    def role_beside(self, sentence: str, start: int, end: int, others: list[str]) -> Role | None:
        segments = _segments(sentence)
        index = next((i for i, (s, e) in enumerate(segments) if s <= start < e + 1), None)
        if index is None:
            return None
        seg_start, seg_end = segments[index]
        before = sentence[seg_start:start].split()
        taken: list[str] = []
        while before:
            word = before[-1]
            plain = _plain(word)
            if plain in _REPORTING or (word[:1].islower() and not _is_title_word(word)
                                       and plain not in _CONNECTORS):  # fmt: skip
                break
            taken.insert(0, before.pop())
        while taken and _plain(taken[-1]) in HONORIFICS:
            taken.pop()  # "Union Minister of Jal Shakti Shri Raghavendra Patil"
        plain = normalize(" ".join(taken))
        cut = max((plain.rfind(o) + len(o) for o in others if o and o in plain), default=-1)
        if cut >= 0:  # "Sen. A (D-N.Y.) and Rep. B": only what follows the other name
            rest = len(plain[cut:].split())
            taken = taken[len(taken) - rest :] if rest else []
        # "Callum Ainsworth MP and The Rt Hon Priya ...": the MP is the other name's.
        while taken and (
            _plain(taken[0]) in _CONNECTORS | _POSTNOMINALS or taken[0].startswith("(")
        ):
            taken = taken[1:]
        prefix = clean_role(" ".join(taken))
        if looks_like_role(prefix) and not self._names_other(prefix, others):
            title, organization = split_role(prefix)
            return Role(title, organization, (sentence.rfind(taken[0], seg_start, start), end))
        after = sentence[end:seg_end].strip(" ()")
        following = segments[index + 1 :]
        if following and (not after or after.startswith("(")):
            candidates = following[:2]
            first = sentence[candidates[0][0] : candidates[0][1]]
            if _plain(first) in _POSTNOMINALS and len(candidates) > 1:
                candidates = candidates[1:]
            role_start, role_end = candidates[0]
            role = clean_role(sentence[role_start:role_end])
            if looks_like_role(role) and not self._names_other(role, others):
                title, organization = split_role(role)
                return Role(title, organization, (seg_start, role_end))
        if index == 1 and not sentence[seg_start:start].strip() and not after.strip():
            # "Mayor of the Pennine Valleys, Tom Gadsby, said:": the opening clause is the role.
            role = clean_role(sentence[segments[0][0] : segments[0][1]])
            if looks_like_role(role) and not self._names_other(role, others):
                title, organization = split_role(role)
                return Role(title, organization, (segments[0][0], seg_end))
        return None

    @staticmethod
    def _names_other(text: str, others: list[str]) -> bool:
        plain = normalize(text)
        return any(o in plain for o in others)

    def listed_names(self, sentence: str) -> list[str]:
        """Names written with their role: in a list ("Mayor Xu Xiaoxiong", "Sun Xing,
        director", "Mayor of the Pennine Valleys, Tom Gadsby, said"), or inside a clause
        right after a title ("Council Member Phil Gantz cast", "said EIB Vice-President
        Jörg Altenhöfer.")."""
        segments = _segments(sentence)
        found = []
        for index, (start, end) in enumerate(segments):
            words = _without_final_stop(sentence[start:end].split())
            found += self._titled_names(words)
            name = self._trailing_name(words)
            if name is None or name in found:
                continue
            lead = words[: -len(name.split())]
            said = [i for i, w in enumerate(lead) if _plain(w) in _REPORTING]
            role = clean_role(" ".join(lead[said[-1] + 1 :] if said else lead))  # said EIB ...
            if role:
                if len(role.split()) <= 20 and looks_like_role(role):
                    found.append(name)
                continue
            # A bare name, its role in the next clause or the one before.
            beside = [segments[i] for i in (index + 1, index - 1) if 0 <= i < len(segments)]
            if any(looks_like_role(clean_role(sentence[s:e])) for s, e in beside):
                found.append(name)
        return list(dict.fromkeys(found))

    def _titled_names(self, words: list[str]) -> list[str]:
        """Names standing right after a title word and followed by a lower-case word (the
        verb: "Chairman Dale Strickland said"): the longest 2- to 4-word name there."""
        found = []
        for i in range(1, len(words) - 2):
            if not _is_title_word(words[i - 1]) or not words[i][:1].isupper():
                continue
            for size in (4, 3, 2):
                after = words[i + size] if i + size < len(words) else ""
                name = " ".join(words[i : i + size])
                if after[:1].islower() and self.is_person(name) and not name.endswith("."):
                    found.append(name)
                    break
        return found

    def _trailing_name(self, words: list[str]) -> str | None:
        """The longest 2- to 4-word name that ends a clause, after a role or an organisation."""
        if not words or not words[-1][:1].isupper() or not _is_name_word(words[-1]):
            return None  # every candidate ends with this word: most clauses stop here
        for size in (4, 3, 2):
            if len(words) < size:
                continue
            candidate, before = words[-size:], words[:-size]
            name = " ".join(candidate)
            dotted = [w for w in candidate if w.endswith(".") and not _INITIAL.fullmatch(w)]
            if not self.is_person(name) or dotted:  # "J. Tomas Whitfield", not "St. Louis"
                continue
            if not before or before[-1][:1].isupper() or _is_title_word(before[-1]):
                return name
        return None

    def is_credit(self, before: str, sentence: str, start: int, end: int) -> bool:
        lead = normalize(sentence[:start]).replace("|", " ").replace("[", " ").split()
        if lead == ["by"] or (lead and lead[-1] == "by" and len(lead) <= 2):
            return True
        near = [w.strip(":,()") for w in lead[-5:]]
        for i, word in enumerate(near):
            if word in _CREDIT_WORDS - {"by"} and not (i and near[i - 1] in _REPORTING | {"to"}):
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
        found = _WILL_SUBJECT.match(sentence)
        if found is None:
            return None
        subject = found.group(1)
        return subject, subject.lower() in _PRONOUNS

    def pledges(self, sentence: str) -> list[tuple[str, str]]:
        """(subject, what) of the sentence's first pledge; the subject is "" when the text
        does not name one before the pledge ("he would", "the city will", "I call on")."""
        found = _WILL_SUBJECT.match(sentence)
        if found is not None and found.group(1).lower() not in _PRONOUNS:
            return [(found.group(1), _clause(sentence[found.end() - len("will") :]))]
        mark = _PLEDGE_MARK.search(sentence)
        if mark is None:
            headline = not sentence.rstrip().endswith((".", '"', "”", "?", "!"))
            if headline and len(sentence.split()) <= 25 and _HEADLINE_PLEDGE.search(sentence):
                return [("", _clause(sentence))]
            return []
        return [(self._named_subject(sentence[: mark.start()]), _clause(sentence[mark.start() :]))]

    def _named_subject(self, before: str) -> str:
        """A body or place named right before the pledge ("said that the Commission")."""
        tail = before.rstrip()
        said = _SAID_THAT.search(tail)
        lead = tail[said.end() :] if said else tail
        found = re.fullmatch(
            r"(?:the |The )?((?:[A-Z][\w'’-]*)(?: (?:of|and|for|the|[A-Z][\w'’-]*)){0,10})", lead
        )
        if found is None or found.group(1).lower() in _PRONOUNS or self.is_person(found.group(1)):
            return ""  # a person is attributed by grounding, from the names it knows
        return found.group(1)


def _clause(text: str) -> str:
    """The pledge itself: its first 25 words, cut at a clause break after six of them."""
    clause = " ".join(text.split()[:25])
    if quoted := _QUOTE_CLOSE.search(clause):  # 'will last 50 years," she said'
        clause = clause[: quoted.start()]
    if (cut := _PLEDGE_END.search(clause)) and len(clause[: cut.start()].split()) >= 6:
        clause = clause[: cut.start()]
    return clause.rstrip(".,; ")


def _without_final_stop(words: list[str]) -> list[str]:
    """The clause's words with a sentence's full stop off its last word ("Altenhöfer."), but
    not an initial's or an abbreviation's ("J.", "Jr.")."""
    if words and words[-1].endswith(".") and len(words[-1]) > 3 and words[-1][-2].islower():
        return [*words[:-1], words[-1][:-1]]
    return words
