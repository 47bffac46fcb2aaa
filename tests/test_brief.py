"""The brief (issue 22): what arrived in a chat over a period, assembled from the register.

The 21 dev articles are digested into one chat by the gold model through the real service,
on SQLite and PostgreSQL; the brief must count each article once, name each official once as
new, keep other chats out, fit Telegram's messages and make no model request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.desk.brief import Brief, build_brief, period_of
from bot.core.reading.chunking import CountTokens
from bot.core.reading.grounding import ground_drafts
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.storage.register import Register
from bot.core.storage.store import Store
from bot.telegram_app import render
from tests.conftest import DATA, make_settings
from tests.fakes.gold_model import (
    CORPUS,
    GoldModel,
    commitment_drafts,
    fold,
    load,
    names_of,
    official_drafts,
)
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_api import parse_html


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


async def test_the_brief_of_the_21_articles(
    tmp_path: Path, count_tokens: CountTokens, database_url: str | None
) -> None:
    model = GoldModel(count_tokens)
    with FakeOpenAIServer(model, count_tokens=count_tokens) as fake:
        settings = make_settings(tmp_path, fake, database_url=database_url)
        service = DigestService.from_settings(settings)
        try:
            ids = []
            for slug in CORPUS:
                text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
                article = service.save_article("chat:1", text)
                await service.digest(article)
                ids.append(article.id)
            other = service.save_article("chat:2", (DATA / f"{CORPUS[0]}.txt").read_text())
            await service.digest(other)
            asked = len(fake.requests)
            began = time.perf_counter()
            brief = service.desk.brief("chat:1")
            seconds = time.perf_counter() - began
            pages = render.brief_pages(brief)
            week = service.desk.brief("chat:1", "week")
            theirs = service.desk.brief("chat:2")
            assert len(fake.requests) == asked  # the brief asks the model nothing
        finally:
            await service.aclose()

    # Every article once, and none of another chat's.
    assert [a.article_id for a in brief.articles] == ids
    assert [a.number for a in brief.articles] == list(range(1, 22))
    assert all(a.digested for a in brief.articles)
    assert [a.article_id for a in week.articles] == ids
    assert [a.article_id for a in theirs.articles] == [other.id]
    # Every official of the 21 gold files named once among the new officials.
    new = [fold(o.name) for o in brief.new_officials]
    gold_officials = [
        entry for slug in CORPUS for entry in load(slug, count_tokens)[1]["officials"]
    ]
    for entry in gold_officials:
        named = [n for n in new if n in {fold(name) for name in names_of(entry)}]
        assert len(named) == 1, (entry["name"], named)
    assert len(new) == len(gold_officials) == 215
    assert {o.article_id for o in brief.new_officials} <= set(ids)
    assert {p.article_id for p in brief.pledges} == set(ids)
    assert other.id not in {o.article_id for o in brief.new_officials}
    # The other chat's officials are new to it, whatever chat:1 has seen.
    assert len(theirs.new_officials) == len(load(CORPUS[0], count_tokens)[1]["officials"])

    # Telegram: messages of at most 4096 characters, valid HTML, every article's button.
    assert all(len(page.html) <= 4096 for page in pages)
    for page in pages:
        parse_html(page.html)
    shown = "\n".join(parse_html(page.html)[0] for page in pages)
    assert shown.startswith("Brief: 21 articles arrived today (since 00:00 UTC)")
    buttons = [article_id for page in pages for article_id, _ in page.articles]
    assert sorted(buttons) == sorted(ids)  # each article's button once, with its entry
    size = sum(len(page.html) for page in pages)
    print(f"\nbrief of 21 articles: {size} characters in {len(pages)} messages, {seconds:.3f}s")


def _gold_digest(slug: str, count_tokens: CountTokens) -> tuple[str, Digest]:
    article, gold = load(slug, count_tokens)
    officials, commitments, _ = ground_drafts(
        article, official_drafts(article, gold), commitment_drafts(article, gold)
    )
    return article.text, Digest(
        summary="", key_points=[], officials=officials, commitments=commitments
    )


def _arrived(store: Store, article_id: int, when: datetime) -> None:
    store.execute(
        "UPDATE articles SET created_at = ? WHERE id = ?",
        (when.isoformat(timespec="seconds"), article_id),
    )


def test_a_person_seen_in_an_earlier_period_is_not_new(
    store: Store, count_tokens: CountTokens
) -> None:
    register = Register(store)
    now = datetime.now(UTC)
    text, digest = _gold_digest("zhaoqing-die-casting-summit", count_tokens)
    names = [o.name for o in digest.officials]
    earlier = store.save_article("chat:1", text, "earlier")
    register.record(earlier, digest)
    _arrived(store, earlier.id, now - timedelta(days=3))
    again = store.save_article("chat:1", text + "\nAgain.", "again")  # the same people, today
    register.record(again, digest)
    elsewhere = store.save_article("chat:2", text, "another chat's")  # names them, elsewhere
    register.record(elsewhere, digest)
    _arrived(store, elsewhere.id, now - timedelta(days=3))
    nc_text, nc = _gold_digest("nc-governor-rural-grants", count_tokens)
    register.record(store.save_article("chat:1", nc_text, "nc"), nc)

    today = build_brief(store, "chat:1", period_of("today"))
    assert [a.title for a in today.articles] == ["again", "nc"]
    assert [o.name for o in today.new_officials] == [o.name for o in nc.officials]
    assert today.repeated_people == []  # only one of today's articles names them
    assert {p.article_id for p in today.pledges} == {again.id, today.articles[1].article_id}

    week = build_brief(store, "chat:1", period_of("week"))
    assert [a.title for a in week.articles] == ["earlier", "again", "nc"]
    firsts = {o.name: o.article_id for o in week.new_officials}
    assert [o.name for o in week.new_officials][: len(names)] == names  # each named once
    assert {firsts[n] for n in names} == {earlier.id}
    repeated = {p.name: p.article_ids for p in week.repeated_people}
    assert repeated == {n: (earlier.id, again.id) for n in names}

    # A person first named in another chat is still new to this one.
    theirs = build_brief(store, "chat:2", period_of("week"))
    assert [o.name for o in theirs.new_officials] == names
    assert build_brief(store, "chat:2", period_of("today")).articles == []
    since = (now - timedelta(days=1)).date().isoformat()
    assert [a.title for a in build_brief(store, "chat:1", period_of(since)).articles] == [
        "again",
        "nc",
    ]


def test_places_are_what_the_register_holds(store: Store, count_tokens: CountTokens) -> None:
    register = Register(store)
    text, digest = _gold_digest("zhaoqing-die-casting-summit", count_tokens)
    first = store.save_article("chat:1", text, "first")
    register.record(first, digest)
    second = store.save_article("chat:1", text + "\nAgain.", "second")
    register.record(second, digest)
    brief = build_brief(store, "chat:1", period_of("today"))
    organizations = {o.organization.lower() for o in digest.officials if o.organization.strip()}
    assert {p.name.lower() for p in brief.places} == organizations
    assert {p.name.lower() for p in brief.repeated_places} == organizations
    assert all(p.article_ids == (first.id, second.id) for p in brief.repeated_places)


def test_periods() -> None:
    now = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)
    assert period_of("today", now).start == "2026-03-12T00:00:00+00:00"
    assert period_of("week", now).start == "2026-03-05T15:30:00+00:00"
    assert period_of("2024-03", now).start == "2024-03-01T00:00:00+00:00"
    assert period_of("2024-03-09", now).label == "since 9 March 2024"
    with pytest.raises(ValueError, match="not a date"):
        period_of("yesterday", now)


def test_an_empty_period_is_one_line() -> None:
    empty = Brief("chat:1", period_of("today"), [], [], [], [], [], [], 0.0)
    (page,) = render.brief_pages(empty)
    assert page.html == "Nothing arrived today (since 00:00 UTC)." and page.articles == []


def test_a_hostile_brief_is_valid_html_in_messages_under_the_limit() -> None:
    from bot.core.desk.brief import BriefArticle, Named, NewCommitment, NewOfficial

    articles = [BriefArticle(i, i, f"T<{i}> & co " * 9, "2026-03", "published", True)
                for i in range(1, 60)]  # fmt: skip
    officials = [NewOfficial(f"A<{i}>", "t&" * 30, "o<b>", i % 59 + 1) for i in range(400)]
    pledges = [NewCommitment(f"B<{i}>", "do </i> " * 40, "2027", i % 59 + 1) for i in range(300)]
    places = [Named(f"P<{i}>", (1, 2)) for i in range(200)]
    brief = Brief("chat:1", period_of("week"), articles, places, officials, pledges,
                  places, places, 0.0)  # fmt: skip
    pages = render.brief_pages(brief)
    assert len(pages) > 3
    for page in pages:
        assert len(page.html) <= 4096
        parse_html(page.html)
    assert sorted(a for page in pages for a, _ in page.articles) == list(range(1, 60))
