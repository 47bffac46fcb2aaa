"""``digestbot who|pledges|search|export|brief``: the desk's commands, over the register.

They read the register only, through the front door's desk (``open_desk``), so they work
without a model configured and start without loading one; the CLI's articles are its own
scope, as a chat's are in Telegram.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.schemas import role_text

if TYPE_CHECKING:  # the parser is built for every command; the register only for these
    from bot.core.service import (
        Brief,
        Desk,
        RegisteredCommitment,
        RegisteredOfficial,
        RegisterHit,
    )
    from bot.core.settings import Settings

COMMANDS = ("who", "pledges", "search", "export", "brief")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The desk's sub-commands, on the CLI's parser."""
    who = commands.add_parser("who", help="articles that name a person, with titles and pledges")
    who.add_argument("name", nargs="+")
    pledges = commands.add_parser("pledges", help="every commitment by a person, body or city")
    pledges.add_argument("actor", nargs="+")
    search = commands.add_parser("search", help="find digested articles by their words")
    search.add_argument("words", nargs="+")
    for sub in (who, pledges, search):
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.add_argument(
            "--since",
            metavar="DATE",
            help="only articles dated then or later (2024, 2024-03 or 2024-03-12); an article "
            "that gives no date counts by the day it arrived",
        )
    export = commands.add_parser("export", help="the whole register as CSV or JSON")
    export.add_argument("--format", choices=("csv", "json"), default="json")
    brief = commands.add_parser(
        "brief", help="what arrived today: articles, places, new officials and pledges"
    )
    period = brief.add_mutually_exclusive_group()
    period.add_argument("--week", action="store_true", help="the last 7 days")
    period.add_argument(
        "--since", metavar="DATE", help="what arrived since then (2024, 2024-03 or 2024-03-12)"
    )
    brief.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args: argparse.Namespace, settings: Settings, scope: str) -> int:
    """Print what the register holds for the query; 1 when it holds nothing, 2 for a ``--since``
    that is not a date."""
    from bot.core.service import clean, open_desk, parse_since

    since = None
    if getattr(args, "since", None) is not None:
        try:
            since = parse_since(args.since)
        except ValueError as error:
            print(f"digestbot: --since: {error}", file=sys.stderr)
            return 2
    desk = open_desk(settings)
    try:
        if args.command == "brief":
            return _brief(args, desk, scope, since)
        if args.command == "export":
            print(desk.export([scope], args.format), end="")
            return 0
        found: Sequence[RegisteredOfficial | RegisteredCommitment | RegisterHit]
        if args.command == "who":
            query = clean(" ".join(args.name))  # argv: undecodable bytes as U+FFFD
            found = desk.who(query, [scope], since=since)
        elif args.command == "pledges":
            query = clean(" ".join(args.actor))  # argv: undecodable bytes as U+FFFD
            found = desk.pledges(query, [scope], since=since)
        else:
            query = clean(" ".join(args.words))  # argv: undecodable bytes as U+FFFD
            found = desk.search(query, [scope], since=since)
    finally:
        desk.close()
    if args.json:
        print(json.dumps([dataclasses.asdict(f) for f in found], ensure_ascii=False, indent=2))
    elif not found:
        print(f"Nothing in the register for {query!r}{f' since {since}' if since else ''}.")
    else:
        print("\n".join(_line(item) for item in found))
    return 0 if found else 1


def _line(item: RegisteredOfficial | RegisteredCommitment | RegisterHit) -> str:
    from bot.core.service import RegisteredCommitment, RegisteredOfficial, RegisterHit, listed

    when = listed(item.date, item.basis)
    title = item.title if isinstance(item, RegisterHit) else item.article_title
    where = f"#{item.article_id} {title}"
    if isinstance(item, RegisteredOfficial):
        role = role_text(item.title, item.organization)
        pledged = "".join(f"\n    pledged: {p}" for p in item.pledges)
        return f"{when}  {item.name} ({role}) in {where}{pledged}"
    if isinstance(item, RegisteredCommitment):
        due = f" (by {item.deadline})" if item.deadline else ""
        return f'{when}  {item.actor}: {item.commitment}{due}\n    "{item.quote}" ({where})'
    return f"{when}  {where}\n    {item.snippet}"


def _brief(args: argparse.Namespace, desk: Desk, scope: str, since: str | None) -> int:
    """What arrived in the CLI's scope over the period, from the register (no model call)."""
    brief = desk.brief(scope, since or ("week" if args.week else "today"))
    if args.json:
        print(json.dumps(brief.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(_brief_text(brief))
    return 0


def _brief_text(brief: Brief) -> str:
    """Every article, then its new officials and all its pledges; the repeated names."""
    from bot.core.service import listed

    if not brief.articles:
        return f"Nothing arrived {brief.period.label}."
    number = {a.article_id: a.number for a in brief.articles}
    lines = [f"{len(brief.articles)} article(s) arrived {brief.period.label}."]
    for label, items in (
        ("Named in more than one", brief.repeated_people),
        ("Places in more than one", brief.repeated_places),
    ):
        if items:
            named = (f"{i.name} [{', '.join(str(number[a]) for a in i.article_ids)}]"
                     for i in items)  # fmt: skip
            lines.append(f"{label}: " + "; ".join(named))
    for article in brief.articles:
        waiting = "" if article.digested else "  (not digested yet)"
        lines += ["", f"{article.number}. #{article.article_id} {article.title}  "
                      f"{listed(article.date, article.basis)}{waiting}"]  # fmt: skip
        for o in brief.new_officials:
            if o.article_id == article.article_id:
                lines.append(f"   new: {o.name} ({role_text(o.title, o.organization)})")
        for p in brief.pledges:
            if p.article_id == article.article_id:
                due = f" (by {p.deadline})" if p.deadline else ""
                lines.append(f"   pledge: {p.actor}: {p.commitment}{due}")
    return "\n".join(lines)
