"""Text normalisation and matching: the one place that decides when two strings agree.

Grounding compares a model's claims with the article, so every comparison goes through the
same normal form (case, accents, quotes, dashes, interpuncts, white space). Titles are
compared after expanding abbreviations and honorifics ("Gov." = "Governor", "MP" = "Member
of Parliament"), short titles only as whole words, longer ones with rapidfuzz so "authority"
matches "authorities" without crude stems. ``SentenceIndex`` normalises an article once and
finds the sentences naming a person through a word index, so grounding stays linear.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.core.reading.chunking import Sentence
from bot.core.reading.script import CJK as CJK  # where the code outside reading finds it

_QUOTES = str.maketrans(
    {c: "'" for c in '‘’‚‛`´′“”„‟″«»「」『』"'} | {"•": "·", "・": "·", "‧": "·"}
)
_DASHES = re.compile(r"[\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*")
# fmt: off
STOPWORDS = frozenset(
    "the and for with that this from will are was were has have had its their his her our "
    "not but all any can into onto upon than then them they who whom which what when where "
    "also more most such other each been being over under about of to in on at by an a as "
    "is be or it we he she".split()
)
# fmt: on

# Abbreviations and honorifics written out, so a title matches however the text spells it.
_EXPANSIONS = {
    "gov": "governor", "lt": "lieutenant", "sen": "senator", "rep": "representative",
    "reps": "representatives", "cllr": "councillor", "coun": "councillor",
    "mp": "member of parliament", "mps": "members of parliament", "pm": "prime minister",
    "ceo": "chief executive officer",
    "coo": "chief operating officer", "cfo": "chief financial officer",
    "cto": "chief technology officer", "vp": "vice president", "evp": "executive vice president",
    "dept": "department", "govt": "government", "sec": "secretary",
    "secy": "secretary", "dir": "director", "asst": "assistant", "supt": "superintendent",
    "chmn": "chairman", "pres": "president", "commr": "commissioner",
    "mla": "member of the legislative assembly", "mep": "member of the european parliament",
    "rt": "right", "hon": "honourable", "hon'ble": "honourable", "honble": "honourable",
    "dr": "doctor", "prof": "professor", "intl": "international", "natl": "national",
    "assn": "association", "univ": "university",
}  # fmt: skip
_EXPANSION = re.compile(
    r"(?<![\w'])("
    + "|".join(re.escape(k) for k in sorted(_EXPANSIONS, key=len, reverse=True))
    + r")\.?(?![\w'])"
)
_CJK_EXPANSIONS = {
    "常委": "常务委员",
    "发改委": "发展改革委",
    "人大": "人民代表大会",
    "政协": "政治协商会议",
}


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Case-, accent-, space-, quote- and dash-insensitive form used for every comparison."""
    text = _DASHES.sub("-", text.translate(_QUOTES))
    if not text.isascii():  # ASCII is already in every normal form: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
        text = unicodedata.normalize("NFKC", unicodedata.normalize("NFC", text))
    return _SPACE.sub(" ", _DASHES.sub("-", text)).strip().casefold()


@lru_cache(maxsize=8192)
def aligned(text: str) -> str:
    """A case- and accent-folded copy of the same length, so offsets stay valid."""
    if text.isascii():
        return text.translate(_QUOTES).lower()
    out = []
    for char in text.translate(_QUOTES):
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        folded = base.casefold()
        out.append(folded if len(folded) == 1 else char.lower()[:1] or char)
    return "".join(out)


@lru_cache(maxsize=65536)
def expand(text: str) -> str:
    """Normal form with abbreviations written out and hyphens as spaces, for titles."""
    text = _EXPANSION.sub(lambda m: _EXPANSIONS[m.group(1)], normalize(text).replace("&", " and "))
    for short, full in _CJK_EXPANSIONS.items():
        text = text.replace(short, full)
    return _SPACE.sub(" ", re.sub(r"[-/]", " ", text)).strip()


_CJK_RUN = re.compile(CJK.pattern + "+")


def words(text: str) -> list[str]:
    """Content words of the normal form; CJK runs as character pairs (a lone one as itself)."""
    normalized = normalize(text)
    found = [w for w in _WORD.findall(_CJK_RUN.sub(" ", normalized)) if w not in STOPWORDS]
    for run in _CJK_RUN.findall(normalized):
        found += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return found


def terms(text: str) -> frozenset[str]:
    """Content words (crudely stemmed) and CJK pairs: retrieval keys for question answering.
    A sentence's are kept (questions rank the same sentences again); a long text's are not."""
    return _terms(text) if len(text) <= _CACHED_CHARS else _terms.__wrapped__(text)


_CACHED_CHARS = 2000


@lru_cache(maxsize=65536)
def _terms(text: str) -> frozenset[str]:
    normalized = normalize(text)
    found = {w[:6] for w in _WORD.findall(normalized) if len(w) > 2 and w not in STOPWORDS}
    cjk = "".join(CJK.findall(normalized))
    found.update(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return frozenset(t for t in found if not CJK.search(t) or len(t) == 2)


def _has_word(word: str, vocabulary: set[str]) -> bool:
    if word in vocabulary:
        return True
    if CJK.search(word) or len(word) < 4:
        return False  # "MP", "PM" and CJK pairs: exact only
    found = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=84)
    return found is not None


def coverage(claim: str, evidence: str | set[str]) -> float:
    """Share of the claim's content words the evidence holds (fuzzily: plural, inflection)."""
    wanted = set(words(claim))
    if not wanted:
        return 0.0
    vocabulary = evidence if isinstance(evidence, set) else set(words(evidence))
    return sum(_has_word(w, vocabulary) for w in wanted) / len(wanted)


def has_phrase(phrase: str, text: str) -> bool:
    """True if the (expanded) phrase stands in the text as a run of whole words.

    Short phrases ("MP", "PM", "CEO", "主任") must match exactly; longer ones may differ by an
    inflection or a letter (rapidfuzz alignment, then checked at word edges).
    """
    wanted, haystack = expand(phrase), expand(text)
    if not wanted or not haystack:
        return False
    if CJK.search(wanted):
        return wanted.replace(" ", "") in haystack.replace(" ", "")
    if len(wanted) <= 5:
        return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", haystack) is not None
    if re.search(rf"(?<!\w){re.escape(wanted)}", haystack):
        return True
    found = fuzz.partial_ratio_alignment(wanted, haystack, score_cutoff=90)
    if found is None:
        return False
    start, end = found.dest_start, found.dest_end
    while start > 0 and haystack[start - 1].isalnum():
        start -= 1
    while end < len(haystack) and haystack[end].isalnum():
        end += 1
    found_words = haystack[start:end].split()
    return fuzz.ratio(wanted, haystack[start:end]) >= 88 and _inflections(
        wanted.split(), found_words
    )


def _inflections(wanted: list[str], found: list[str]) -> bool:
    """True if the words differ at most by their endings ("authority"/"authorities"), never
    at the start ("Under-Secretary-General" is not "UN Secretary-General")."""
    if len(wanted) != len(found):
        return False
    for a, b in zip(wanted, found, strict=True):
        if a == b:
            continue
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
        common = common or min(len(a), len(b))
        if common < 4 or common < max(len(a), len(b)) - 3:
            return False
    return True


def names_another(text: str, others: Iterable[str]) -> bool:
    """True if the text names one of ``others`` (normalised names of other people): a title
    written beside someone else's name is never passed on."""
    folded = normalize(text)
    return any(other and other in folded for other in others)


def name_pattern(key: str) -> re.Pattern[str]:
    """A normalised name as a whole-word pattern (CJK names have no word edges)."""
    if CJK.search(key):
        return re.compile(re.escape(key))
    return _word_pattern(key)


@lru_cache(maxsize=16384)
def _word_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w'-]){re.escape(key)}(?![\w]|-\w)")


class SentenceIndex:
    """An article's sentences normalised once, with a word index to find names fast."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.sentences = list(sentences)
        self.normalized = {s.number: normalize(s.text) for s in self.sentences}
        self._by_token: dict[str, set[int]] = defaultdict(set)
        for number, text in self.normalized.items():
            for token in _tokens(text):
                self._by_token[token].add(number)
        self._naming: dict[str, list[int]] = {}

    def naming(self, key: str) -> list[int]:
        """Numbers of the sentences holding the normalised name ``key`` as whole words."""
        if key in self._naming:
            return self._naming[key]
        tokens = _tokens(key)
        if not tokens:
            found: list[int] = []
        else:
            candidates = set.intersection(*(self._by_token.get(t, set()) for t in tokens))
            pattern = name_pattern(key)
            found = sorted(n for n in candidates if pattern.search(self.normalized[n]))
        self._naming[key] = found
        return found

    def names_in(self, number: int, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if number in self.naming(k)]


def _tokens(text: str) -> set[str]:
    """Index keys: whole words, and single CJK characters."""
    found = set(re.findall(r"[^\W\d_]+", CJK.sub(" ", text)))
    found.update(CJK.findall(text))
    return found
