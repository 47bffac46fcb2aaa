"""The date an article reports, read from its text (and its page's metadata) by press rules.

An article's date is the event date its text gives, else its publication date, else the day
it arrived (``basis`` says which). Nothing is guessed: a date this module cannot pin down
stays unknown. The rules are facts of how news is written:

- **The publication date sits in the head**, above or at the start of the story: a line of
  its own ("12 March 2024", "Published: 2024-03-12 08:00", "Posted On: 05 JUN 2024 4:10PM
  by PIB Delhi", "Press release | 7 May 2024 | Luxembourg", "2024年3月12日 来源：南方日报") or
  a dateline opening the first paragraph ("WASHINGTON, D.C. — March 4, 2024 —",
  "ASHCOMBE, S.C.--(BUSINESS WIRE)--Mar. 12, 2024--", "Kampala, 2 July 2024 - "). A dated
  headline is a story's subject, not its date; a date after "by", "until", "before" (or
  followed by 前) is a deadline, never a date of the story.
- **The lede says when it happened**, with the first time word it uses: a date ("On the
  morning of March 14", "3月14日上午", "on 14 March 2024"), a weekday ("voted Tuesday night",
  "周三"), "today"/"yesterday (13)"/"今天"/"昨天", "last month". Only the lede (or, when it
  has none, the paragraph after it) is read: later paragraphs tell background and plans.
- **Relative words need the publication date.** A weekday is the latest such day on or
  before it (a story dated Tuesday saying "Tuesday" means that day), or the next one after
  it when the clause looks ahead ("will vote on Thursday"); "yesterday (13)" must agree
  with its day number. A date without a year takes the year that puts it nearest the
  publication date ("Dec. 30" in a story of Jan. 6 is the previous December). With no
  publication date, all of these stay unknown: the day the article arrived says nothing
  about when it was written.
- **Vague words are an answer**: "recently", "last week", 日前, 近日 say the text will not
  give the day, so the publication date stands; no later date is taken instead.

Dates are ISO: ``YYYY-MM-DD``, or ``YYYY-MM`` when only the month is known ("last month").
Not read: dates spelled in words ("the twelfth of March", 二〇二四年三月十二日).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bot.core.reading.script import CJK, SENTENCE_ENDS

Basis = Literal["event", "published", "arrived"]

# "May" only capitalised (or in capitals): lower-case "may" is the verb.
_MONTH_NAMES = (
    "january|jan|february|feb|march|mar|april|apr|(?-i:May|MAY)|june|jun|july|jul|august|aug|"
    "september|sept|sep|october|oct|november|nov|december|dec"
)
_MONTH_KEYS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = rf"(?P<month>{_MONTH_NAMES})\.?"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZH_WEEKDAYS = "一二三四五六日天"
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")

# Dates with a year, most specific first; each names its groups year, month and day.
_FULL = [
    re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})(?!\d)"),
    re.compile(r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]"),
    re.compile(
        rf"(?<!\d)(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(?P<year>\d{{4}})(?!\d)",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})(?!\d)",
        re.IGNORECASE,
    ),
]
# Dates without a year ("March 14", "14 March", "3月14日"); tried where no full date matched.
_YEARLESS = [
    re.compile(r"(?<![\d年])(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]"),
    re.compile(
        rf"(?<!\d)(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![a-z])", re.IGNORECASE
    ),
    re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)", re.IGNORECASE),
]
_RELATIVE = re.compile(
    r"\b(?P<today>today|tonight|this (?:morning|afternoon|evening))\b"
    r"|\b(?P<yesterday>yesterday)\b(?:\s*\((?P<yday>\d{1,2})\))?"
    r"|\b(?P<month_rel>last|this|earlier this) month\b"
    r"|\b(?:(?P<wmod>last|next|this|on)\s+)?(?P<weekday>" + "|".join(_WEEKDAYS) + r")\b"
    r"(?!,?\s+(?:\d|" + _MONTH_NAMES + r"))"
    r"|(?P<zh_today>今天|今日)|(?P<zh_yesterday>昨天|昨日)|(?P<zh_month>上月|上个月)"
    r"|(?P<zh_wmod>[上下本])?(?:星期|周)(?P<zh_weekday>[" + _ZH_WEEKDAYS + r"])(?![年末])",
    re.IGNORECASE,
)
_VAGUE = re.compile(
    r"\b(?:recently|last week|this week|earlier this week|in recent days|days ago)\b"
    r"|日前|近日|近期|前不久|不久前",
    re.IGNORECASE,
)
# A date right after these words (or right before 前/以前/之前) is a deadline or a span's end.
_DEADLINE_BEFORE = re.compile(
    r"(?:\b(?:by|until|till|before|after|since|through|ahead of|no later than|due|deadline)"
    r"(?:\s+(?:on|the end of))?\s+|截至|截止|到|至|于)$",
    re.IGNORECASE,
)
_DEADLINE_AFTER = re.compile(r"^\s*(?:前|以前|之前|起|以后|后)")
# Tense words of the clause before a weekday: the nearest one says which way it points.
_TENSE = re.compile(
    r"\b(?P<future>will|shall|is to|are to|to be|plans? to|expected to|scheduled|set to|next)\b"
    r"|\b(?P<past>said|met|held|told|spoke|gave|made|took|began|came|went|saw|won|led|sent|"
    r"brought|paid|sought|wrote|became|left|rose|fell|drew|broke|chose|struck|laid|cut|"
    r"[a-z]+[^e\W]ed)\b",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:--|—|–|-|\||:)")
_WORDS = re.compile(r"\S+")
_BULLET = re.compile(r"^\s*[-•*▲]")
_ISO = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_HEAD_PARAGRAPHS = 10
_NEAREST_YEAR_DAYS = 183


@dataclass(frozen=True)
class ReportedDate:
    """An article's date: ISO ``YYYY-MM-DD`` or ``YYYY-MM``, None when unknown; ``basis`` is
    where it came from ("arrived": unknown, the day it arrived stands in)."""

    date: str | None
    basis: Basis


def read_date(text: str, published: str | None = None) -> ReportedDate:
    """The article's date: its event date, else its publication date (``published``, from the
    page's metadata, first; else the text's head), else unknown."""
    paragraphs = [p.strip() for p in text.translate(_FULLWIDTH).split("\n") if p.strip()]
    pub = _iso_day(published) if published else None
    head_pub, lede_at, dateline_rest = _head(paragraphs)
    pub = pub or head_pub
    lede = _lede(paragraphs, lede_at, dateline_rest)
    event = _event(lede, pub)
    if event is not None:
        return ReportedDate(event, "event")
    if pub is not None:
        return ReportedDate(pub.isoformat(), "published")
    return ReportedDate(None, "arrived")


def parse_since(value: str) -> str:
    """A register filter's start: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, normalised."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", value.strip())
    if not match:
        raise ValueError(
            f"{value.strip() or 'nothing'} is not a date: write 2024, 2024-03 or 2024-03-12"
        )
    year, month, day = match.groups()
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ValueError(f"{value.strip()} is not a date in the calendar") from None
    return "-".join(
        [year, *([f"{int(month):02d}"] if month else []), *([f"{int(day):02d}"] if day else [])]
    )


def date_line(reported: str | None, basis: str, arrived_at: str) -> str:
    """One line for a digest: "Reported: 12 March 2024", "Published: ...", "Arrived: ..."."""
    label = {"event": "Reported", "published": "Published"}.get(basis, "Arrived")
    shown = reported if reported and basis != "arrived" else arrived_at[:10]
    return f"{label}: {human(shown)}"


def listed(reported: str, basis: str) -> str:
    """A register line's date: the article's, marked when it is only the day it arrived."""
    return f"arrived {reported}" if basis == "arrived" else reported


def human(iso: str) -> str:
    """``2024-03-12`` as "12 March 2024", ``2024-03`` as "March 2024"; other text as is."""
    match = _ISO.match(iso)
    if not match:
        return iso
    year, month, day = match.groups()
    name = date(2000, int(month), 1).strftime("%B")
    return f"{int(day)} {name} {year}" if day else f"{name} {year}"


# --- the head: publication date and where the lede starts -------------------------------------


def _head(paragraphs: list[str]) -> tuple[date | None, int, str | None]:
    """The publication date, the index the lede search starts from, and the rest of a
    dateline paragraph (which is then the lede itself)."""
    for index, paragraph in enumerate(paragraphs[:_HEAD_PARAGRAPHS]):
        if _BULLET.match(paragraph):
            continue
        words = len(_WORDS.findall(paragraph))
        if index == 0 and "|" not in paragraph and words > 6:
            continue  # the headline: a date there is the story's subject
        for found in _full_dates(paragraph):
            start, end, day = found
            if start > 100:
                break
            short = words <= 16 and len(paragraph) <= 120
            if short:
                return day, index + 1, None
            if _SEPARATOR.match(paragraph[end:]):  # a dateline opening the lede
                return day, index, paragraph[end:].lstrip(" -—–|:")
            break
    return None, 1, None


def _lede(paragraphs: list[str], start: int, dateline_rest: str | None) -> list[str]:
    """The lede and the paragraph after it: the first long paragraphs from ``start``."""
    found = [dateline_rest] if dateline_rest is not None else []
    first = paragraphs[0] if paragraphs else ""
    for paragraph in paragraphs[start + (1 if dateline_rest is not None else 0) :]:
        if len(found) == 2:
            break
        if _BULLET.match(paragraph) or paragraph == first:
            continue
        long = (
            len(paragraph) >= 30 if CJK.search(paragraph) else len(_WORDS.findall(paragraph)) >= 12
        )
        if long:
            found.append(paragraph)
    return found


# --- the lede: the event date -----------------------------------------------------------------


def _event(lede: list[str], pub: date | None) -> str | None:
    """The first time word of the lede (or of the next paragraph when the lede has none),
    resolved; None when it is vague or cannot be resolved."""
    for paragraph in lede:
        candidates = [c for c in _candidates(paragraph, pub) if c is not None]
        if candidates:
            return min(candidates, key=lambda c: c[0])[1]
    return None


def _candidates(paragraph: str, pub: date | None) -> list[tuple[int, str | None] | None]:
    """Every time word of the paragraph as (position, resolved date or None)."""
    found: list[tuple[int, str | None] | None] = []
    taken: list[tuple[int, int]] = []
    for start, end, day in _full_dates(paragraph):
        taken.append((start, end))
        found.append((start, day.isoformat()))
    for pattern in _YEARLESS:
        for m in pattern.finditer(paragraph):
            if any(s < m.end() and m.start() < e for s, e in taken) or _is_deadline(paragraph, m):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), _with_year(_month(m["month"]), int(m["day"]), pub)))
    for m in _RELATIVE.finditer(paragraph):
        if any(s < m.end() and m.start() < e for s, e in taken) or _is_deadline(paragraph, m):
            continue
        found.append((m.start(), _relative(m, paragraph, pub)))
    for m in _VAGUE.finditer(paragraph):
        found.append((m.start(), None))
    return found


def _full_dates(paragraph: str) -> list[tuple[int, int, date]]:
    """Dates with a year, not deadlines, in order, as (start, end, date)."""
    dates: list[tuple[int, int, date]] = []
    for pattern in _FULL:
        for m in pattern.finditer(paragraph):
            if any(s < m.end() and m.start() < e for s, e, _ in dates):
                continue
            if _is_deadline(paragraph, m):
                continue
            try:
                dates.append(
                    (m.start(), m.end(), date(int(m["year"]), _month(m["month"]), int(m["day"])))
                )
            except ValueError:
                continue
    return sorted(dates, key=lambda d: d[0])


def _is_deadline(paragraph: str, m: re.Match[str]) -> bool:
    before = paragraph[max(m.start() - 30, 0) : m.start()]
    return bool(_DEADLINE_BEFORE.search(before) or _DEADLINE_AFTER.match(paragraph[m.end() :]))


def _relative(m: re.Match[str], paragraph: str, pub: date | None) -> str | None:
    if pub is None:
        return None
    if m["today"] or m["zh_today"]:
        return pub.isoformat()
    if m["yesterday"] or m["zh_yesterday"]:
        day = pub - timedelta(days=1)
        if m["yday"] and int(m["yday"]) != day.day:
            return None  # "yesterday (13)" that is not the 13th: the text contradicts itself
        return day.isoformat()
    if m["month_rel"] or m["zh_month"]:
        if (m["month_rel"] or "").lower() in ("this", "earlier this"):
            return f"{pub.year}-{pub.month:02d}"
        first = pub.replace(day=1) - timedelta(days=1)
        return f"{first.year}-{first.month:02d}"
    if m["weekday"]:
        weekday = _WEEKDAYS.index(m["weekday"].lower())
        modifier = (m["wmod"] or "").lower()
        ahead = modifier == "next" or (modifier != "last" and _looks_ahead(paragraph[: m.start()]))
        return _weekday(pub, weekday, ahead, strictly=modifier == "last").isoformat()
    weekday = _ZH_WEEKDAYS.index(m["zh_weekday"])
    weekday = min(weekday, 6)  # 日 and 天 are both Sunday
    if m["zh_wmod"] in ("上", "下", "本"):  # a named week: 上周三 is Wednesday of last week
        monday = pub - timedelta(days=pub.weekday())
        shift = {"上": -7, "下": 7, "本": 0}[m["zh_wmod"]]
        return (monday + timedelta(days=shift + weekday)).isoformat()
    return _weekday(pub, weekday, ahead=False, strictly=False).isoformat()


def _looks_ahead(clause_before: str) -> bool:
    """Whether the nearest tense word before a weekday, in its sentence, looks ahead."""
    sentence = re.split(rf"[{SENTENCE_ENDS};；]\s", clause_before)[-1]
    tenses = list(_TENSE.finditer(sentence))
    return bool(tenses and tenses[-1]["future"])


def _weekday(pub: date, weekday: int, ahead: bool, strictly: bool) -> date:
    if ahead:
        return pub + timedelta(days=(weekday - pub.weekday() - 1) % 7 + 1)
    back = (pub.weekday() - weekday) % 7
    return pub - timedelta(days=back or (7 if strictly else 0))


def _with_year(month: int, day: int, pub: date | None) -> str | None:
    """A year-less date in the year that puts it nearest the publication date; None without
    one, or when no year is within half a year of it."""
    if pub is None:
        return None
    for year in (pub.year, pub.year - 1, pub.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if abs((candidate - pub).days) <= _NEAREST_YEAR_DAYS:
            return candidate.isoformat()
    return None


def _month(value: str) -> int:
    if value.isdigit():
        return int(value)
    return _MONTH_KEYS.index(value.lower()[:3]) + 1


def _iso_day(value: str) -> date | None:
    """A metadata date (``2024-03-12``, maybe with a time) as a date; None if it is not one."""
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
