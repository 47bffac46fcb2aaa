"""The date an article reports: the reader's rules on many styles, and the dev corpus."""

# ruff: noqa: E501  (each example is one article line, kept whole so it reads as printed)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.reading.dates import ReportedDate, date_line, parse_since, read_date

DATA = Path(__file__).parent / "data"


def _article(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)


LEDE = "The council approved the plan after three hours of public comment and one amendment."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A dateline: the place, then the date, then the story.
        (
            "Senators unveil rural bridge bill\n\nWASHINGTON, D.C. — March 4, 2024 — " + LEDE,
            ReportedDate("2024-03-04", "published"),
        ),
        (
            "Plant to open\n\nASHCOMBE, S.C.--(BUSINESS WIRE)--Mar. 12, 2024--" + LEDE,
            ReportedDate("2024-03-12", "published"),
        ),
        (
            "Forum opens\n\nKampala, 2 July 2024 - Ministers met in Kampala on Tuesday and "
            "agreed a new water fund for the region's dry districts and their herders.",
            ReportedDate("2024-07-02", "event"),  # 2 July 2024 was a Tuesday
        ),
        # A date line of its own under the headline, in several styles.
        ("Headline here\n\n12 March 2024\n\n" + LEDE, ReportedDate("2024-03-12", "published")),
        (
            "Headline here\n\nPublished: 2024-03-12 08:00\n\n" + LEDE,
            ReportedDate("2024-03-12", "published"),
        ),
        (
            "Headline\n\nPosted On: 05 JUN 2024 4:10PM by PIB Delhi\n\n" + LEDE,
            ReportedDate("2024-06-05", "published"),
        ),
        (
            "Press release | 7 May 2024 | Luxembourg\n\nTitle\n\n" + LEDE,
            ReportedDate("2024-05-07", "published"),
        ),
        (
            "标题\n\n2024年3月12日 来源：南方日报\n\n"
            + "会议听取了各地关于营商环境建设的工作汇报，研究部署下一步重点工作，要求各部门抓好落实。",
            ReportedDate("2024-03-12", "published"),
        ),
    ],
)
def test_publication_dates_in_the_head(text: str, expected: ReportedDate) -> None:
    assert read_date(text) == expected


@pytest.mark.parametrize(
    ("lede", "expected"),
    [
        # Press style names a weekday for what happened within the week: the latest such day.
        (
            "The board voted on Wednesday to close the plant at the end of the year, ending decades of work.",
            "2024-03-13",
        ),
        (
            "The council voted 6-1 Friday night to approve the budget after a long public hearing at city hall.",
            "2024-03-15",
        ),
        (
            "Officials said at the opening of the fair on Friday that exports had doubled in a year.",
            "2024-03-15",
        ),
        # ... and the same day when the story is dated that day.
        (
            "The agency announced Saturday that it would award grants to 40 towns across the region.",
            "2024-03-16",
        ),
        # A weekday after "will" is ahead of the publication date.
        (
            "The council will vote on Tuesday on the budget, which raises fees for water and sewer.",
            "2024-03-19",
        ),
        (
            "The minister today inaugurated 410 water schemes and laid the foundation of 830 more.",
            "2024-03-16",
        ),
        (
            "The ministry yesterday (15) commissioned 120 water plants built with a foreign grant.",
            "2024-03-15",
        ),
        (
            "On the morning of March 14, the conference was held in the city's convention centre.",
            "2024-03-14",
        ),
        (
            "On 14 March the mayor signed the agreement with the developer in front of the press.",
            "2024-03-14",
        ),
        (
            "The deal was signed on March 14, 2024 in the presence of the provincial governor.",
            "2024-03-14",
        ),
        (
            "Exports rose last month by a fifth, the statistics office said, led by machinery.",
            "2024-02",
        ),
        ("3月14日上午，全市重大项目集中签约活动在会展中心举行，市委书记出席并讲话。", "2024-03-14"),
        (
            "本报讯（记者 王芳）昨天，全市优化营商环境大会召开，市长出席会议并讲话，部署重点任务。",
            "2024-03-15",
        ),
        (
            "周三上午，全市优化营商环境大会召开，市长出席会议并讲话，部署今年的重点任务。",
            "2024-03-13",
        ),
        (
            "2024年3月14日，全市优化营商环境大会召开，市长出席会议并讲话，部署今年的重点任务。",
            "2024-03-14",
        ),
    ],
)
def test_event_dates_resolve_against_the_publication_date(lede: str, expected: str) -> None:
    text = _article("Headline", "Published 16 March 2024", lede)  # a Saturday
    assert read_date(text) == ReportedDate(expected, "event")


def test_a_year_less_date_takes_the_year_nearest_the_publication_date() -> None:
    lede = "The bill was introduced on Dec. 30, the last sitting day before the recess, by both parties."
    assert read_date(_article("Headline", "Published Jan. 6, 2025", lede)).date == "2024-12-30"


@pytest.mark.parametrize(
    "lede",
    [
        # Vague on purpose: the publication date stands, nothing is guessed.
        "日前，全市优化营商环境大会召开，市长出席会议并讲话，部署今年的重点任务和分工。",
        "近日，全市重大项目集中签约活动在会展中心举行，市委书记出席并讲话，客商代表发言。",
        "The council recently approved the plan after three hours of public comment and one amendment.",
        # A date that is a deadline is not the event's.
        "The council must submit its plan by March 30, 2024 or lose the grant, the ministry said.",
        "各部门要于3月15日前报送任务清单，明确责任人和完成时限，确保各项工作落到实处。",
    ],
)
def test_no_event_date_where_the_lede_gives_none(lede: str) -> None:
    text = _article("Headline", "Published 16 March 2024", lede)
    assert read_date(text) == ReportedDate("2024-03-16", "published")


@pytest.mark.parametrize(
    "lede",
    [
        "On Wednesday, the board voted to close the plant at the end of the year, ending decades.",
        "On March 14 the mayor signed the agreement with the developer in front of the press.",
        "3月14日上午，全市重大项目集中签约活动在会展中心举行，市委书记出席并讲话。",
        "The council voted last month to approve the budget after a long public hearing at city hall.",
    ],
)
def test_without_a_publication_date_relative_and_year_less_dates_stay_unknown(lede: str) -> None:
    assert read_date(_article("Headline", lede)) == ReportedDate(None, "arrived")


def test_page_metadata_gives_the_publication_date() -> None:
    text = _article(
        "Headline", "The board voted on Wednesday to close the plant at the end of the year."
    )
    assert read_date(text, published="2024-03-16") == ReportedDate("2024-03-13", "event")
    assert read_date(_article("Headline", LEDE), published="2024-03-16") == ReportedDate(
        "2024-03-16", "published"
    )
    assert read_date(_article("Headline", LEDE), published="not a date") == ReportedDate(
        None, "arrived"
    )


def test_a_headline_with_a_date_is_not_the_publication_date() -> None:
    text = _article("Council to vote on budget on 30 March 2024 after long delay", LEDE)
    assert read_date(text) == ReportedDate(None, "arrived")


def test_since_is_a_year_a_month_or_a_day() -> None:
    assert parse_since("2024") == "2024"
    assert parse_since("2024-3") == "2024-03"
    assert parse_since(" 2024-03-05 ") == "2024-03-05"
    for bad in ("March", "2024-13", "2024-02-30", "24-03", ""):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_the_date_line() -> None:
    assert (
        date_line("2024-03-12", "event", "2024-04-01T10:00:00+00:00") == "Reported: 12 March 2024"
    )
    assert date_line("2024-03", "event", "2024-04-01T10:00:00+00:00") == "Reported: March 2024"
    assert date_line("2024-03-12", "published", "x") == "Published: 12 March 2024"
    assert date_line(None, "arrived", "2024-04-01T10:00:00+00:00") == "Arrived: 1 April 2024"


# --- the dev corpus ---------------------------------------------------------------------------

# Each article's gold ``facts.date`` read as a date: resolved against the publication date the
# text gives, None where the text gives no year (a month and day only, no publication date).
CORPUS_DATES = {
    "chinadaily-fenghe-green-hydrogen": "2025-11-05",  # Wednesday (5 November 2025)
    "d2-baotan-camellia-oil-conference-mt": "2025-11-06",  # November 6 (release 2025-11-07)
    "d2-fta-bus-grants-trade-press": "2025-09-09",
    "d2-nairobi-dryland-forum-long": "2025-11-24",
    "d2-srilanka-ro-water-plants": "2025-10-13",
    "d2-wuchuan-business-environment-zh": None,  # 2月6日上午, no year anywhere
    "d3-canada-westhaven-water-plant": "2026-02-20",
    "d3-chinadaily-shandong-port-kellard-mou": "2026-04-14",  # Tuesday (updated 2026-04-16)
    "d3-corvane-tillman-expansion-businesswire": "2026-04-14",
    "d3-tv-carrow-springs-harmon-yards": "2026-03-09",  # Monday night (published March 9)
    "d3-un-lake-chad-pledging-conference": "2026-03-24",
    "eu-commission-cef-energy-grids": "2026-03-03",
    "hunan-manufacturing-conference-long": None,  # October 21 to 23, no year given
    "lanjiang-project-signing-zh": None,  # 4月18日上午, no year given
    "millbrook-falls-council-stormwater": "2026-03-10",  # Tuesday night (published March 11)
    "nc-governor-rural-grants": "2025-10-16",
    "pib-jal-shakti-bhimgarh": "2026-02-14",
    "uk-northern-connectivity-fund": "2026-02-12",
    "us-congress-rural-bridges": "2026-01-05",  # Jan. 5 (published Jan. 6, 2026)
    "voltaris-ashcombe-battery-plant": "2026-03-03",
    "zhaoqing-die-casting-summit": None,  # March 28, no year given
}


def test_the_table_covers_the_corpus_and_agrees_with_the_gold() -> None:
    slugs = {p.name.removesuffix(".gold.json") for p in DATA.glob("*.gold.json")}
    assert slugs == set(CORPUS_DATES)
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]  # fmt: skip
    for slug, expected in CORPUS_DATES.items():
        gold = json.loads((DATA / f"{slug}.gold.json").read_text())["facts"]["date"]
        if expected is None:
            assert not any(str(y) in gold for y in range(2000, 2100)), slug
            continue
        _, month, day = (int(x) for x in expected.split("-"))
        # The gold names the day and month (or only a weekday, resolved here by hand).
        named = str(day) in gold and (
            months[month - 1][:3].lower() in gold.lower() or f"-{month:02d}-" in gold
        )
        weekday_only = "Tuesday" in gold or "Monday" in gold or "Wednesday" in gold
        assert named or weekday_only, slug


@pytest.mark.parametrize("slug", sorted(CORPUS_DATES))
def test_every_corpus_date_is_read_right_and_none_invented(slug: str) -> None:
    reading = read_date((DATA / f"{slug}.txt").read_text())
    assert reading.date == CORPUS_DATES[slug]
    assert (reading.basis == "arrived") == (CORPUS_DATES[slug] is None)


def test_a_page_date_gives_the_year_less_corpus_dates_their_year() -> None:
    text = (DATA / "lanjiang-project-signing-zh.txt").read_text()
    assert read_date(text, published="2025-04-19") == ReportedDate("2025-04-18", "event")
    text = (DATA / "zhaoqing-die-casting-summit.txt").read_text()
    assert read_date(text, published="2025-03-29T08:00:00") == ReportedDate("2025-03-28", "event")


def test_a_pages_metadata_date_reaches_the_source() -> None:
    from bot.core.sources.extract import read_bytes

    body = " ".join(["The council voted on Wednesday to rebuild the bridge over the river."] * 8)
    page = (
        "<html><head><title>Bridge vote</title>"
        '<meta property="article:published_time" content="2024-03-16T09:00:00+00:00">'
        f"</head><body><article><h1>Bridge vote</h1><p>{body}</p></article></body></html>"
    )
    source = read_bytes(page.encode(), filename="a.html", content_type="text/html")
    assert source.date == "2024-03-16"
    assert read_date(source.text, source.date) == ReportedDate("2024-03-13", "event")
    plain = read_bytes(b"Just text.\n\nNo page here.", filename="a.txt")
    assert plain.date is None


def test_the_date_crosses_the_readers_sandbox() -> None:
    """A page is read in a child process: its answer (JSON) carries the date back."""
    from dataclasses import asdict

    from bot.core.sources.base import Source
    from bot.core.sources.worker import _result

    sent = Source(text="T", title=None, kind="html", url="https://x.org/", date="2024-03-16")
    assert _result(json.dumps({"source": asdict(sent)}).encode(), 0, 1.0) == sent
