"""The brief: one view of what arrived in a chat over a period, assembled from the register.

It is built in code, with no model call: every line is a row of the register (an article, an
official, a pledge), so it is free, instant (milliseconds on a day of fifty articles) and
backed line by line by what the digests already grounded in their articles. A model would only
rephrase those rows, at the price of a call, its latency and a chance of saying what no
article does.

The period is by arrival ("what came in"): ``today`` since 00:00 UTC, ``week`` the last 7
days, or since a date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, from its first day's 00:00
UTC); each article still shows the date it reports. A new official is a person whose first
mention in the scope, by the register's person key, falls in the period: never named by an
earlier article of the chat, and listed once however many of the period's articles name them.
Places are what the register holds, not a gazetteer: the organisations and places the
officials belong to, as their digests give them. Every query is scoped in SQL.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from bot.core.reading.dates import human, parse_since
from bot.core.storage.register import person_key
from bot.core.storage.store import ARTICLE_DAY, Store


@dataclass(frozen=True)
class Period:
    """Arrivals at or after ``start`` (an ISO timestamp in UTC, as articles store theirs)."""

    label: str  # after "arrived": "today (since 00:00 UTC)", "in the last 7 days", "since ..."
    start: str


@dataclass(frozen=True)
class BriefArticle:
    number: int  # 1, 2, ... in order of arrival: how the brief's other lines refer to it
    article_id: int
    title: str
    date: str
    basis: str
    digested: bool  # a digest of it is kept; one that is not adds nothing else to the brief


@dataclass(frozen=True)
class NewOfficial:
    name: str
    title: str
    organization: str
    article_id: int  # the first article of the period naming them


@dataclass(frozen=True)
class NewCommitment:
    actor: str
    commitment: str
    deadline: str | None
    article_id: int


@dataclass(frozen=True)
class Named:
    """A person or place, and the period's articles that name it (first arrived first)."""

    name: str
    article_ids: tuple[int, ...]


@dataclass(frozen=True)
class Brief:
    scope: str
    period: Period
    articles: list[BriefArticle]
    places: list[Named]  # most articles first
    new_officials: list[NewOfficial]
    pledges: list[NewCommitment]
    repeated_people: list[Named]  # named in more than one of the period's articles
    repeated_places: list[Named]
    seconds: float  # how long building it took

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def period_of(name: str = "today", now: datetime | None = None) -> Period:
    """``today``, ``week`` or a date the period starts on; ValueError for anything else."""
    now = now or datetime.now(UTC)
    if name == "today":
        return Period("today (since 00:00 UTC)", _midnight(now.date().isoformat()))
    if name == "week":
        return Period("in the last 7 days", _iso(now - timedelta(days=7)))
    since = parse_since(name)
    return Period(f"since {human(since)}", _midnight(since))


def build_brief(store: Store, scope: str, when: Period) -> Brief:
    """The brief of ``scope`` for the period: a handful of scoped SQL queries, no model."""
    began = time.perf_counter()
    params = (scope, when.start)
    rows = store.execute(
        f"SELECT a.id, a.title, {ARTICLE_DAY} AS day, a.date_basis, "
        "EXISTS (SELECT 1 FROM digests d WHERE d.sha256 = a.sha256) AS digested "
        "FROM articles a WHERE a.scope = ? AND a.created_at >= ? ORDER BY a.created_at, a.id",
        params,
    ).fetchall()
    articles = [
        BriefArticle(n, r["id"], r["title"], r["day"], r["date_basis"], bool(r["digested"]))
        for n, r in enumerate(rows, start=1)
    ]
    if not articles:
        return Brief(scope, when, [], [], [], [], [], [], time.perf_counter() - began)
    # Each person's first mention in the whole scope; new when it falls in the period.
    key = person_key("o.name")
    officials = store.execute(
        "SELECT name, title, organization, article_id FROM ("
        "SELECT o.id, o.name, o.title, o.organization, o.article_id, a.created_at, "
        f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY a.created_at, a.id, o.id) AS nth "
        "FROM reg_officials o JOIN articles a ON a.id = o.article_id WHERE a.scope = ?"
        ") first_seen WHERE nth = 1 AND created_at >= ? ORDER BY created_at, article_id, id",
        params,
    ).fetchall()
    pledges = store.execute(
        "SELECT c.actor, c.commitment, c.deadline, c.article_id FROM reg_commitments c "
        "JOIN articles a ON a.id = c.article_id WHERE a.scope = ? AND a.created_at >= ? "
        "ORDER BY a.created_at, a.id, c.id",
        params,
    ).fetchall()
    place = "o.organization"
    return Brief(
        scope,
        when,
        articles,
        _named(store, place, person_key(place), params, at_least=1),
        [NewOfficial(r["name"], r["title"], r["organization"], r["article_id"]) for r in officials],
        [
            NewCommitment(r["actor"], r["commitment"], r["deadline"], r["article_id"])
            for r in pledges
        ],
        _named(store, "o.name", key, params, at_least=2),
        _named(store, place, person_key(place), params, at_least=2),
        time.perf_counter() - began,
    )


def _named(
    store: Store, column: str, key: str, params: tuple[str, str], at_least: int
) -> list[Named]:
    """Values of ``column`` of the period's officials named by ``at_least`` articles, grouped
    by ``key``, with those articles; most articles first, then first arrived first."""
    period = "FROM reg_officials o JOIN articles a ON a.id = o.article_id "
    period += f"WHERE a.scope = ? AND a.created_at >= ? AND TRIM({column}) <> ''"
    rows = store.execute(
        f"SELECT {key} AS k, MIN({column}) AS name, o.article_id, MIN(a.created_at) AS arrived "
        f"{period} AND {key} IN (SELECT {key} {period} GROUP BY {key} "
        "HAVING COUNT(DISTINCT o.article_id) >= ?) "
        f"GROUP BY {key}, o.article_id ORDER BY arrived, o.article_id",
        (*params, *params, at_least),
    ).fetchall()
    names: dict[str, str] = {}
    ids: dict[str, list[int]] = {}
    for r in rows:
        names.setdefault(r["k"], r["name"])
        ids.setdefault(r["k"], []).append(int(r["article_id"]))
    order = sorted(ids, key=lambda k: -len(ids[k]))  # stable: first arrived first within
    return [Named(names[k], tuple(ids[k])) for k in order]


def _midnight(day: str) -> str:
    """The first moment of an ISO year, month or day, in UTC."""
    parts = day.split("-")
    parts += ["01"] * (3 - len(parts))
    return f"{'-'.join(parts)}T00:00:00+00:00"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
