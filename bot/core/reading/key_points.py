"""Key points read from the article's own sentences, for a draft with fewer than three.

A small model's draft has none, so every digest of a short article had none. Press writing
puts its facts in sentences that hold an amount (money, a count of things, a share), a date
or deadline, and a project or decision ("approved", "signed", "will build", 签约, 项目);
the more of these a sentence holds the more it tells, and news puts the most important
first. Never a key point: the headline (the summary says it), a byline, photo credit or
contact line, and whatever follows an "About X", "Forward-looking statements" or "Media
contact" heading. Points keep the article's words and order; a long sentence is cut at a
clause break.
"""

from __future__ import annotations

import re

from bot.core.reading.chunking import NumberedArticle, Sentence
from bot.core.reading.matching import words
from bot.core.reading.script import CJK, Script, clause_marks, ends_sentence, script_of

MIN_POINTS = 3
MAX_POINTS = 5
MAX_WORDS = 45
MAX_CJK_CHARS = 120
# A point sharing this much of its words (of the shorter) with another says the same.
SAME_WORDS = 0.6

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_DATE = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}\b|\b{_MONTH}(?:,?\s+)(?:19|20)\d\d\b|\b(?:19|20)\d\d\b"
    r"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"|\b(?:first|second|third|fourth)\s+quarter\b|\bend\s+of\s+(?:the\s+)?(?:year|month)\b"
    r"|\d{4}年|\d{1,2}月\d{1,2}日|\d{1,2}月(?:底|中旬|上旬|下旬)|年底|年内"
)
_AMOUNT = re.compile(
    r"[$€£₹¥]\s?\d|\b(?:Rs|KSh|NOK|SEK|EUR|GBP|CAD|USD|AUD|A\$)\.?\s?\d"
    r"|\d(?:[\d,.]*\d)?\s*(?:million|billion|trillion|crore|lakh|bn|m|percent|per\s+cent|%)\b"
    r"|\b(?!(?:19|20)\d\d\b)\d(?:[\d,.]*\d)?\s+(?:new\s+|more\s+)?[a-z]{3,}"  # "600 jobs"
    r"|\d+(?:\.\d+)?(?:亿|万)?(?:元|美元|欧元|个|家|人|吨|亩|台|套|公里|平方米|%|％)"
)
_PROJECT = re.compile(
    r"\b(?:approved?|approves|signed|signs|launched|launches|announced|announces|unveiled|"
    r"voted|votes|passed|adopted|awarded|awards|established|opened|released|agreed|pledged|"
    r"committed|allocated|invests?|invested|investing|investment|build|builds|built|"
    r"construction|project|projects|plant|programme|program|fund|funding|grants?|agreement|"
    r"memorandum|initiative|bill|act|plan|scheme|alliance|corridor|facility|centre|center|"
    r"park|cluster|expansion)\b"
    r"|项目|签约|基地|产业园|园区|基金|方案|措施|协议|倡议|联盟|发布|启动|通过|成立|揭牌|投资|"
    r"建设|开工|投产",
    re.IGNORECASE,
)
_CREDIT = re.compile(
    r"^(?:By|Photo|Photos|Pictures?|Image|Video|Written\s+by|Reporting\s+by|Edited\s+by)\b"
    r"|\b(?:reporter|correspondent|photographer|staff\s+writer|contributed\s+to\s+this)\b"
    r"|\|\s*China\s+Daily|记者|通讯员|摄影|编辑|责编|审核|校对|来源[:：]|供稿",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"@\w|https?://|www\.|\+?\d[\d ()-]{7,}\d|\bcontacts?\b\s*:|for\s+more\s+information"
    r"|\brelease\s+id\b|联系电话|联系人",
    re.IGNORECASE,
)
_LEGAL = re.compile(
    r"forward[- ]looking|safe\s+harbor|Private\s+Securities\s+Litigation", re.IGNORECASE
)
# Headings after which a release is boilerplate to its end.
_BOILERPLATE = re.compile(
    r"^(?:About\s+(?:the\s+)?[A-Z][\w&.,'’() -]{0,60}|Forward[- ]Looking\s+Statements?"
    r"|Safe\s+Harbor\b.*|(?:Media|Press|Investor)\s+[Cc]ontacts?:?|Contacts?:?"
    r"|Notes?\s+to\s+[Ee]ditors:?|#{3}|关于[\u4e00-\u9fff]{1,20})\s*$"
)
_DATELINE = re.compile(
    r"^[A-Z]{3,}[A-Z .'-]*(?:,\s*[\w.' ]{1,30}?)?\s*(?:--|—|–)\s*(?:\([A-Z ]+\)\s*(?:--|—|–)\s*)?"
)
_BULLET = re.compile(r"^[\s\-–—•*·]+")


def with_article_points(points: list[str], article: NumberedArticle, language: str) -> list[str]:
    """The model's points, then, when it gave fewer than three, the article's own: up to
    three from any fact-holding sentence, up to five from those holding two kinds of fact.

    Not for an article in Chinese script digested in another language (or the reverse): its
    sentences would be in a language the reader did not ask for.
    """
    points = points[:MAX_POINTS]
    if len(points) >= MIN_POINTS:
        return points
    cjk_article = script_of(article.text) is Script.CJK
    cjk_language = bool(CJK.search(language)) or "chinese" in language.lower()
    if cjk_article != cjk_language:
        return points
    return [*points, *article_points(article, known=points)][:MAX_POINTS]


def article_points(article: NumberedArticle, known: list[str] | None = None) -> list[str]:
    """The article's most factual sentences, in its order, none saying what ``known`` says."""
    known = list(known or [])
    ranked = sorted(
        (candidate for candidate in _candidates(article) if candidate[0] > 0),
        key=lambda c: (-c[0], c[1]),
    )
    chosen: list[tuple[int, str]] = []
    for score, position, text in ranked:
        have = len(known) + len(chosen)
        if have >= MAX_POINTS or (have >= MIN_POINTS and score < 2):
            continue
        if any(_same(text, other) for other in [*known, *(t for _, t in chosen)]):
            continue
        chosen.append((position, text))
    return [text for _, text in sorted(chosen)]


def _candidates(article: NumberedArticle) -> list[tuple[int, int, str]]:
    """(facts held, position, text) of every sentence that may be a key point."""
    found: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for sentence in article.sentences:
        line = sentence.text.strip()
        if _BOILERPLATE.match(line):
            break  # "About Corvex", "Media contact:": the release is over
        text = _point_text(sentence)
        if text is None or text in seen:
            continue
        seen.add(text)
        score = sum(bool(p.search(text)) for p in (_AMOUNT, _DATE, _PROJECT))
        found.append((score, sentence.number, text))
    return found


def _point_text(sentence: Sentence) -> str | None:
    """The sentence as a point (dateline and bullet mark off, cut if long), or None."""
    text = " ".join(sentence.text.split())
    is_bullet = bool(_BULLET.match(text)) and not text.startswith(("--", "——"))
    if sentence.number == 1 and not ends_sentence(text):
        return None  # the headline
    if _CREDIT.search(text) or _CONTACT.search(text) or _LEGAL.search(text):
        return None
    text = _BULLET.sub("", _DATELINE.sub("", text)).strip()
    if not is_bullet and not ends_sentence(text):
        return None  # a heading, a caption, a line of a list of names
    if script_of(text) is Script.CJK:
        if len(text) < 12:
            return None
        return text if len(text) <= MAX_CJK_CHARS else _cut(text, MAX_CJK_CHARS, cjk=True)
    count = len(text.split())
    if count < 6:
        return None
    return text if count <= MAX_WORDS else _cut(text, MAX_WORDS, cjk=False)


def _cut(text: str, limit: int, *, cjk: bool) -> str | None:
    """The text up to its last clause break within the limit, or None if there is none."""
    end = limit if cjk else next(m.end() for i, m in enumerate(re.finditer(r"\S+", text))
                                 if i == limit - 1)  # fmt: skip
    breaks = clause_marks(text, end=end)
    least = 30 if cjk else 12
    good = [b for b in breaks if (b if cjk else len(text[:b].split())) >= least]
    return text[: good[-1]].rstrip() if good else None


def _same(a: str, b: str) -> bool:
    first, second = set(words(a)), set(words(b))
    smaller = min(len(first), len(second))
    return bool(smaller) and len(first & second) >= SAME_WORDS * smaller
