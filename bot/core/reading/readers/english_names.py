"""What a person's name looks like in English press writing, and what says a name is a body's.

A name is two to six words: given names and a surname, with initials dotted or not ("M.K.
Padmarajan", "Srikanth B Lokesh", "Ch. Venkata Rao"), particles ("Femke van der Brugge",
"Seán Ó Briain", "Mike O Sullivan" when a web page lost the apostrophe), hyphens and
apostrophes ("Okafor-Reyes", "O'Brien", "Da'Quan") and any diacritics. What is *not* a name
is read from the language (titles, generic body nouns, number words: ``words/english.toml``)
and from the article itself: a body is written "the X", as the object of "<title> of X", with
a company's legal form after it, always as the tail of the same longer name, or in words the
article also writes in lower case ("Development Cooperation"). No word list holds names.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.core.reading.matching import normalize
from bot.core.reading.readers.words import word_list

TITLE_WORDS = word_list("english", "titles")
DOTTED_TITLES = word_list("english", "dotted_titles")
MODIFIERS = word_list("english", "modifiers")
ORG_WORDS = word_list("english", "org_words")
HONORIFICS = word_list("english", "honorifics")
POSTNOMINALS = word_list("english", "postnominals")
PARTICLES = word_list("english", "particles")
CONNECTORS = word_list("english", "connectors")
REPORTING = word_list("english", "reporting")
FUNCTION = word_list("english", "function")
PRONOUNS = word_list("english", "pronouns")
_NUMBERS = word_list("english", "numbers")
_CALENDAR = word_list("english", "calendar")
_NOT_NAME_ABBREVIATIONS = word_list("english", "not_name_abbreviations")

_NOT_NAME = (
    TITLE_WORDS | ORG_WORDS | FUNCTION | HONORIFICS | POSTNOMINALS | _NUMBERS | _CALENDAR
) - PARTICLES
# A capital of any Latin letter (Ł, Đ, Ö...), then letters, apostrophes and hyphens.
_NAME_WORD = re.compile(r"[^\W\d_][\w'’-]*\w$")
# "M.K.", "H.R.P.", "S.", a bare "B" or "Ó"; "Ch.", "Md.": a given name cut to its first letters.
_DOTTED_INITIALS = re.compile(r"(?:[^\W\d_]\.){1,4}")
_SHORT_GIVEN = re.compile(r"[^\W\d_][^\W\d_]{1,2}\.")
_POSSESSIVE = re.compile(r"['’]s$")
_CORPORATE_FORM = re.compile(r"^,?\s+(?:Inc|Ltd|LLC|L\.L\.C|PLC|Plc|Co|Corp|GmbH|AG|S\.A)\b\.?")
_LETTERS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# A party and state code after a legislator's name: "(D-N.M.)", "(R-Wyo.)", "(D-Texas)".
_PARTY_CODE = re.compile(r"\([A-Z][A-Za-z]{0,2}-[A-Z][A-Za-z.]{0,12}\)")


def plain(word: str) -> str:
    return normalize(word).strip(".,;:()[]\"'")


def is_initial(word: str) -> bool:
    """An initial standing for a given name: "M.K.", "S.", "Ch.", or one capital ("B", "Ó")."""
    if _DOTTED_INITIALS.fullmatch(word) and word.isupper():
        return True
    if len(word) == 1 and word.isupper() and word not in "AI":  # "A" and "I" are words
        return True
    short = bool(_SHORT_GIVEN.fullmatch(word)) and word[0].isupper() and word[1:-1].islower()
    return short and not _is_abbreviation(word)


def _is_abbreviation(word: str) -> bool:
    folded = normalize(word)
    return (
        folded in _NOT_NAME_ABBREVIATIONS
        or folded in DOTTED_TITLES
        or folded.rstrip(".") in HONORIFICS
    )


def singular(word: str) -> str:
    """English plural to singular, for titles: mayors, deputies, chairmen, Reps."""
    dot = "." if word.endswith(".") else ""
    core = word[:-1] if dot else word
    lower = core.lower()
    if lower.endswith("ies") and len(core) > 4:
        return core[:-3] + ("Y" if core[-3:].isupper() else "y") + dot
    if lower.endswith("men") and len(core) > 4:
        return core[:-3] + core[-3] + "an" + dot
    if lower.endswith("s") and not lower.endswith("ss") and len(core) > 2:
        return core[:-1] + dot
    return word


@lru_cache(maxsize=8192)
def is_title_word(word: str) -> bool:
    """A word of a title, singular or plural; a hyphenated one by its head ("Under-Secretary-
    General", "Vice-President"); an abbreviated title only with its dot ("Gov.", "Reps.")."""
    folded = normalize(word).strip(",;:()[]\"'")
    if folded in DOTTED_TITLES:
        return True
    folded = folded.rstrip(".")
    for form in (folded, plain(singular(folded))):
        if form in TITLE_WORDS or form.rsplit("-", 1)[-1] in TITLE_WORDS - {"vice", "deputy"}:
            return True
    return False


@lru_cache(maxsize=8192)
def is_plural_title(word: str) -> bool:
    """A title word written in the plural: it can govern a list of names ("Reps.", "leaders")."""
    folded = normalize(word).strip(",;:()[]\"'")
    if folded in DOTTED_TITLES:
        return folded.rstrip(".").endswith("s") and folded.rstrip(".s") + "." in DOTTED_TITLES
    return singular(folded) != folded and is_title_word(singular(folded))


@lru_cache(maxsize=8192)
def is_name_word(word: str) -> bool:
    if plain(word) in PARTICLES:
        return True
    if is_initial(word):
        return True
    if not _NAME_WORD.match(word) or not word[0].isupper() or any(c.isdigit() for c in word):
        return False
    if word.isupper() and len(word.strip(".")) <= 5:
        return False  # an acronym (CPPCC, EIB), not a name
    if re.match(r"[^\W\d_]-", word):
        return False  # a party and state code ("R-Utah", "D-N.M."), not a name
    if _POSSESSIVE.search(word) or is_title_word(word) or normalize(word) in DOTTED_TITLES:
        return False  # "Governor's", "Vice-President", "Gov."
    return plain(word) not in _NOT_NAME


def is_person(name: str) -> bool:
    """Two to six name words, ending with a surname (not an initial or a particle)."""
    tokens = name.split()
    if not 2 <= len(tokens) <= 6 or not all(is_name_word(t) for t in tokens):
        return False
    last = tokens[-1]
    if is_initial(last) or not last[:1].isupper():
        return False  # a capitalised last word is the surname, even "Lê", "De", "Van"
    return any(not is_initial(t) and plain(t) not in PARTICLES for t in tokens[:-1]) or (
        is_initial(tokens[0])  # "S. Perera", "O Sullivan"
    )


def is_surname(name: str) -> bool:
    """One name word that can be a surname used alone ("said Sawatzky, the general manager")."""
    return (
        len(name.split()) == 1
        and is_name_word(name)
        and not is_initial(name)
        and plain(name) not in PARTICLES
        and len(name) >= 2
    )


def short_forms(name: str, text: str = "") -> list[str]:
    """The surname (with its particles: "van der brugge", "o sullivan"), and "Sir Malcolm".

    A name written family name first ("Gao Minghua", "Park Ji-hoon", "Nguyen Van An") is later
    written by its first word; the article shows which: with ``text``, the first word is a
    short form when the text writes it alone as a person ("Gao said", "Ms. Park") and never
    the last word so.
    """
    tokens = normalize(name).split()
    if len(tokens) < 2:
        return []
    written = name.split()
    family_first = text and len(written) == len(tokens) and _alone(text, written[0])
    if family_first and not _alone(text, written[-1]):
        return [tokens[0]]
    forms = [tokens[-1]] if len(tokens[-1]) >= 3 else []
    start = len(tokens) - 1
    while start > 1 and (tokens[start - 1] in PARTICLES or len(tokens[start - 1].strip(".")) == 1):
        start -= 1
    if start < len(tokens) - 1:
        forms.append(" ".join(tokens[start:]))
    forms += [f"{h} {tokens[0]}" for h in ("sir", "dame", "lord", "lady")]
    return forms


def _alone(text: str, word: str) -> bool:
    """The text writes ``word`` alone as a person: "Gao said", "said Gao", "Ms. Gao"."""
    if len(word) < 2 or not word[:1].isupper() or word.lower() in PRONOUNS | FUNCTION:
        return False  # "He said" is the pronoun's, whoever is named He
    # Where the word stands (a plain search: fast), then the few words around it.
    at = text.find(word)
    while at >= 0:
        start, end = at, at + len(word)
        at = text.find(word, end)
        if _WORD_CHAR.match(text[start - 1 : start]) or _WORD_CHAR.match(text[end : end + 1]):
            continue  # inside a longer word
        before, after = text[max(0, start - 20) : start], text[end : end + 20]
        if _SPEAKS_AFTER.match(after) or (
            (_SPEAKS_BEFORE.search(before) or _HONORIFIC_BEFORE.search(before))
            and not _NAME_AFTER.match(after)
        ):
            return True
    return False


_WORD_CHAR = re.compile(r"[\w'’-]")
_VERBS = "|".join(sorted(REPORTING))
_SPEAKS_AFTER = re.compile(rf"\s+(?:also\s+|then\s+)?(?:{_VERBS})\b")  # "Gao said"
_SPEAKS_BEFORE = re.compile(rf"\b(?:{_VERBS})\s+$")  # "said Gao"
_HONORIFIC_BEFORE = re.compile(r"\b(?:Mr|Ms|Mrs|Dr)\.?\s+$")  # "Ms. Gao"
_NAME_AFTER = re.compile(r"\s+[A-Z]")  # "said Gao Minghua": the full name, not the word alone


@lru_cache(maxsize=256)
def _lower_vocabulary(text: str) -> frozenset[str]:
    """Words the article writes in lower case (as ordinary words, not names)."""
    return frozenset(w for w in _LETTERS.findall(text) if w.islower())


def reads_as_body(text: str, name: str) -> bool:
    """True if the article writes ``name`` the way English writes a body or a thing, not a
    person: "the Northwoods Lakes Transit", "the State of Qatar", "chief executive officer of
    Corvane Medical",
    "Corvane Medical, Inc.", always as the tail of the same longer name ("Savanna Mutual Re"
    for "Mutual Re"), or every word of it also as an ordinary lower-case word."""
    tokens = name.split()
    pattern = r"\s+".join(re.escape(t) for t in tokens)
    found = list(re.finditer(rf"(?<![\w'’-]){pattern}(?![\w'’-])", text))
    if not found:
        return False
    leading: set[str] = set()
    for match in found:
        before = text[max(0, match.start() - 80) : match.start()]
        after = text[match.end() : match.end() + 40]
        if re.search(r"(?:^|[^\w])[Tt]he\s+$", before):
            return True
        if re.search(r"(?:^|[^\w])[Tt]he\s+[A-Z][a-z]+\s+of\s+(?:the\s+)?$", before):
            return True  # "the State of Qatar", "the Kingdom of Lesotho": a place or body
        of = re.search(r"(\S+)\s+of\s+(?:the\s+)?$", before)
        if of and is_title_word(of.group(1)):
            return True
        if _CORPORATE_FORM.match(after):
            return True
        nxt = re.match(r"\s+([A-Z][\w'’-]*)", after)
        if nxt and plain(nxt.group(1)) in ORG_WORDS and not re.match(r"\s*[,.;]", after):
            return True
        previous = re.search(r"(\S+) $", before)
        word = previous.group(1) if previous else ""
        # Only a word that could itself be part of a name makes the run one longer name
        # ("Savanna Mutual Re"); an acronym, a title or an initial ends what comes before.
        leading.add(word if is_name_word(word) and not is_initial(word) else "")
    if len(found) >= 2 and len(leading) == 1 and "" not in leading:
        return True  # always the tail of the same longer name
    words = [plain(t) for t in tokens if plain(t) not in PARTICLES and not is_initial(t)]
    lower = _lower_vocabulary(text)
    return bool(words) and all(w in lower for w in words)


def without_code(words: list[str]) -> list[str]:
    """A clause's words without what ends it after a name: a party and state code ("Sen.
    Ada Obi (D-Ga.)", "Rep. Tuan Pham (R-Texas)") or letters after a name ("Amina Yusuf MP",
    "Rohan Mehta IAS")."""
    while len(words) > 2 and (_PARTY_CODE.fullmatch(words[-1]) or plain(words[-1]) in POSTNOMINALS):
        words = words[:-1]
    return words


def names_after_title(words: list[str]) -> list[str]:
    """Names written after a title and followed by a lower-case word (the verb): right after
    it ("Chairman Dale Strickland said", "Sen. A (D-N.Y.) and"), or after the title's object
    ("President of Ghana Ama Serwaa said", "Commissioner for Refugees Ana Ruiz said",
    "Secretary of the Party Committee Li Na attended"). The object of "of" or "for", or of an
    adjective ("International"), takes the first capitalised word after it: "Ghana", not
    "Ghana Ama"; the name is the longest 2- to 4-word run after that."""
    found = []
    for i in range(1, len(words) - 2):
        previous = words[i - 1]
        if not is_name_word(words[i]) or (is_name_word(previous) and not is_title_word(previous)):
            continue  # not where a run of name words begins
        if not _after_title(words, i):
            continue
        object_word = not is_title_word(previous) and plain(previous) in CONNECTORS | MODIFIERS
        start = i + 1 if object_word else i
        for size in (4, 3, 2):
            rest = words[start + size :]
            while rest and rest[0].startswith("(") and not rest[0][1:2].islower():
                rest = rest[next((k for k, w in enumerate(rest) if w.endswith(")")), 0) + 1 :]
            after = rest[0] if rest else ""  # past a code: "Sen. A (D-N.Y.) and"
            name = " ".join(words[start : start + size])
            if after[:1].islower() and is_person(name) and not name.endswith("."):
                found.append(name)
                break
    return found


def _after_title(words: list[str], i: int) -> bool:
    """True if the words before ``i`` are a title phrase: capitalised words and connectors
    back to a title word ("Secretary of the Provincial Party Committee")."""
    for word in reversed(words[max(0, i - 15) : i]):
        if is_title_word(word):
            return True
        if word.endswith((",", ";", ":")) or not (word[:1].isupper() or plain(word) in CONNECTORS):
            return False
    return False
