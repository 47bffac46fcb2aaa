"""Telegram HTML views of digests and answers.

Every piece of model or article text goes through ``html.escape``; tags are only ever
written here, balanced, around one paragraph. Messages are packed paragraph by paragraph
under Telegram's 4096-character limit; a paragraph too long for one message is cut in its
plain text (at a sentence or word) and each piece gets its own tags, so no cut is ever
inside a tag or an entity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from bot.core.schemas import Answer, Commitment, Digest, Official, role_text
from bot.core.service import (
    Brief,
    CrossAnswer,
    Named,
    RegisteredCommitment,
    RegisteredOfficial,
    RegisterHit,
    Watched,
    listed,
    normalize,
)

MESSAGE_LIMIT = 4096
_PIECE_LIMIT = 3000
_FOLD_QUOTE = (
    300  # characters  # plain text per paragraph piece; escaping can grow it by a third at most
)
_BREAK = re.compile(r"(?<=[.!?。！？])\s+|\s+")
# Sentence numbers a model copies from the numbered article: "[3]", "[2, 5]", "[4-6]".
_MARKER = re.compile(r"\s*\[\s*\d+(?:\s*[-–,;]\s*\d+)*\s*\]")


def strip_markers(text: str) -> str:
    """Model text without the sentence markers it may have copied from its prompt."""
    return _MARKER.sub("", text).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word, with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def display_title(article_text: str, limit: int = 80) -> str:
    """An article's title for the chat: its first line, cut at a word."""
    first = next((line for line in article_text.splitlines() if line.strip()), "untitled")
    return shorten(first, limit)


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: plain text, with an optional bold lead and a style for the rest."""

    text: str
    lead: str = ""
    style: str = "plain"  # plain | quote | italic
    gap: bool = True  # a blank line before it; bullets of one list have none

    def html(self, text: str, lead: str) -> str:
        body = escape(text, quote=False)
        if self.style == "quote":
            # Long quotes fold, so the answer itself stays in view.
            tag = "blockquote expandable" if len(text) > _FOLD_QUOTE else "blockquote"
            body = f"<{tag}>{body}</blockquote>"
        elif self.style == "italic":
            body = f"<i>{body}</i>"
        return f"<b>{escape(lead, quote=False)}</b>{body}" if lead else body


def _cut(text: str, limit: int) -> int:
    """Where to cut plain text near ``limit``: after a sentence, else at a space."""
    cuts = [m.start() for m in _BREAK.finditer(text, 0, limit) if m.start() > limit // 2]
    return cuts[-1] if cuts else limit


def _blocks(paragraph: Paragraph, limit: int) -> list[str]:
    """The paragraph as one or more HTML blocks, each within ``limit`` once escaped."""
    blocks: list[str] = []
    text, lead = paragraph.text, paragraph.lead
    while True:
        html = paragraph.html(text, lead)
        if len(html) <= limit:
            return [*blocks, html]
        size = min(len(text), _PIECE_LIMIT)
        while len(paragraph.html(text[: _cut(text, size)], lead)) > limit:
            size //= 2  # text full of & or < grows when escaped
        cut = _cut(text, size)
        blocks.append(paragraph.html(text[:cut].rstrip(), lead))
        text, lead = text[cut:].lstrip(), ""


def pack(paragraphs: list[Paragraph], limit: int = MESSAGE_LIMIT) -> list[str]:
    """HTML messages, each at most ``limit`` characters, split only between paragraphs."""
    messages: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for index, block in enumerate(_blocks(paragraph, limit)):
            joint = "\n\n" if paragraph.gap or index else "\n"
            candidate = f"{current}{joint}{block}" if current else block
            if len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = block
    if current:
        messages.append(current)
    return messages


def _role(official: Official) -> str:
    return role_text(official.title, official.organization)


def _pledge(item: Commitment) -> str:
    when = f" (by {item.deadline})" if item.deadline else ""
    return f"{strip_markers(item.commitment)}{when}"


def _bullets(title: str, items: list[tuple[str, str]], limit: int) -> list[Paragraph]:
    """A heading and up to ``limit`` bullets; the rest are behind the button of that name."""
    if not items:
        return []
    result = [Paragraph("", lead=f"{title} ({len(items)})")]
    result += [Paragraph(text, lead=lead, gap=False) for lead, text in items[:limit]]
    if len(items) > limit:
        more = f"…and {len(items) - limit} more (tap {title})"
        result.append(Paragraph(more, style="italic", gap=False))
    return result


def digest_paragraphs(
    digest: Digest,
    *,
    title: str,
    max_officials: int = 12,
    max_commitments: int = 8,
    date: str | None = None,
) -> list[Paragraph]:
    """The digest message; ``date`` is the article's date line ("Reported: 12 March 2024")."""
    paragraphs = [Paragraph(title, lead="📰 ", style="italic")]
    if date:
        paragraphs.append(Paragraph(date, style="italic", gap=False))
    paragraphs.append(Paragraph(strip_markers(digest.summary)))
    if digest.key_points:
        paragraphs.append(Paragraph("", lead="Key points"))
        paragraphs += [
            Paragraph(strip_markers(point), lead="• ", gap=False) for point in digest.key_points
        ]
    paragraphs += _bullets(
        "Officials", [(f"• {o.name}", f" — {_role(o)}") for o in digest.officials], max_officials
    )
    paragraphs += _bullets(
        "Commitments",
        [(f"• {c.actor}", f": {_pledge(c)}") for c in digest.commitments],
        max_commitments,
    )
    if not digest.officials and not digest.commitments:
        paragraphs.append(Paragraph("No officials or commitments found.", style="italic"))
    paragraphs.append(Paragraph("Ask me anything about this article.", style="italic"))
    return paragraphs


def _quoted_list(title: str, items: list[tuple[str, str, str]]) -> list[Paragraph]:
    """A heading, then each entry's lead and text with its quote beneath."""
    if not items:
        return [Paragraph(f"No {title.lower()} found in this article.", style="italic")]
    result = [Paragraph("", lead=f"{title} ({len(items)})")]
    for lead, text, quote in items:
        result.append(Paragraph(text, lead=lead))
        result.append(Paragraph(quote, style="quote", gap=False))
    return result


def officials_paragraphs(digest: Digest) -> list[Paragraph]:
    return _quoted_list(
        "Officials", [(o.name, f" — {_role(o)}", o.quote) for o in digest.officials]
    )


def commitments_paragraphs(digest: Digest) -> list[Paragraph]:
    return _quoted_list(
        "Commitments", [(c.actor, f": {_pledge(c)}", c.quote) for c in digest.commitments]
    )


def answer_paragraphs(answer: Answer) -> list[Paragraph]:
    result = [Paragraph(strip_markers(answer.answer))]
    if not answer.stated:
        result.append(Paragraph("The article does not state this.", style="italic"))
    said = normalize(answer.answer)
    result += [
        Paragraph(quote, style="quote") for quote in answer.quotes[:3] if normalize(quote) != said
    ]
    return result


def watch_paragraphs(title: str, found: Sequence[Watched], per_watch: int = 3) -> list[Paragraph]:
    """The watch alert after a digest: each watch that matched, with at most ``per_watch`` of
    its lines (official with role, pledge with actor and deadline, or sentence) and quotes."""
    paragraphs = [Paragraph(title, lead="👁 Your watchlist in: ", style="italic")]
    for watched in found:
        hits = watched.hits
        paragraphs.append(Paragraph(f" ({len(hits)})", lead=f"“{watched.watch}”"))
        for hit in hits[:per_watch]:
            if hit.kind != "sentence":
                lead = f"• {hit.lead}"
                paragraphs.append(Paragraph(strip_markers(hit.text), lead=lead, gap=False))
            paragraphs.append(Paragraph(hit.quote, style="quote", gap=False))
        if len(hits) > per_watch:
            more = f"…and {len(hits) - per_watch} more"
            paragraphs.append(Paragraph(more, style="italic", gap=False))
    return paragraphs


def digest_markdown(digest: Digest, title: str) -> str:
    lines = [f"# {title}", "", strip_markers(digest.summary), ""]
    if digest.key_points:
        lines += ["## Key points", "", *[f"- {strip_markers(p)}" for p in digest.key_points], ""]
    lines += ["## Officials", ""]
    for official in digest.officials:
        lines += [f"- **{official.name}** — {_role(official)}", f"  > {official.quote}"]
    lines += ["", "## Commitments", ""]
    for item in digest.commitments:
        lines += [f"- **{item.actor}**: {_pledge(item)}", f"  > {item.quote}"]
    return "\n".join(lines) + "\n"


def digest_json(digest: Digest) -> str:
    return json.dumps(digest.model_dump(), ensure_ascii=False, indent=2) + "\n"


# --- the register: /who, /pledges, /search ---------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One result of a register command: its paragraphs and the article it comes from."""

    paragraphs: list[Paragraph]
    article_id: int
    article_title: str


@dataclass(frozen=True)
class Page:
    """One message of a register listing and the articles it names (for its buttons)."""

    html: str
    articles: list[tuple[int, str]]


def _source_line(title: str, date: str, basis: str) -> Paragraph:
    line = f"{shorten(title, 90)} · {listed(date, basis)}"
    return Paragraph(line, lead="📰 ", style="italic", gap=False)


def who_entries(mentions: list[RegisteredOfficial], pledge_limit: int = 3) -> list[Entry]:
    entries = []
    for m in mentions:
        paragraphs = [
            Paragraph(f" — {role_text(m.title, m.organization)}", lead=f"• {m.name}"),
            _source_line(m.article_title, m.date, m.basis),
        ]
        for pledge in m.pledges[:pledge_limit]:
            paragraphs.append(Paragraph(strip_markers(pledge), lead="  pledged: ", gap=False))
        if len(m.pledges) > pledge_limit:
            more = f"…and {len(m.pledges) - pledge_limit} more pledges (/pledges {m.name})"
            paragraphs.append(Paragraph(more, style="italic", gap=False))
        entries.append(Entry(paragraphs, m.article_id, m.article_title))
    return entries


def pledge_entries(pledges: list[RegisteredCommitment]) -> list[Entry]:
    entries = []
    for p in pledges:
        when = f" (by {p.deadline})" if p.deadline else ""
        paragraphs = [
            Paragraph(f": {strip_markers(p.commitment)}{when}", lead=f"• {p.actor}"),
            Paragraph(p.quote, style="quote", gap=False),
            _source_line(p.article_title, p.date, p.basis),
        ]
        entries.append(Entry(paragraphs, p.article_id, p.article_title))
    return entries


def found_entries(found: list[RegisterHit]) -> list[Entry]:
    return [
        Entry(
            [
                Paragraph(f" · {listed(f.date, f.basis)}", lead=f"• {shorten(f.title, 120)}"),
                Paragraph(" ".join(f.snippet.split()), style="italic", gap=False),
            ],
            f.article_id,
            f.title,
        )
        for f in found
    ]


def pack_entries(
    heading: str,
    entries: list[Entry],
    limit: int = MESSAGE_LIMIT,
    head: Sequence[Paragraph] = (),
) -> list[Page]:
    """A heading (and ``head``, paragraphs under it) and the entries as messages under
    ``limit``; an entry is never split between two messages unless it alone is too long, and
    each message names its entries' articles."""
    opening = pack([Paragraph("", lead=heading), *head], limit)
    pages: list[Page] = [Page(html, []) for html in opening[:-1]]
    current = opening[-1]
    articles: list[tuple[int, str]] = []
    for entry in entries:
        parts = pack(entry.paragraphs, limit)
        first = f"{current}\n\n{parts[0]}"
        if len(parts) == 1 and len(first) <= limit:
            current = first
        else:
            pages.append(Page(current, articles))
            for part in parts[:-1]:  # an entry longer than a message: its own messages
                pages.append(Page(part, []))
            current, articles = parts[-1], []
        if entry.article_id not in [a for a, _ in articles]:
            articles.append((entry.article_id, entry.article_title))
    pages.append(Page(current, articles))
    return pages


# --- a question across the chat's articles: /ask -------------------------------------------------


def cross_pages(answer: CrossAnswer) -> list[Page]:
    """The question, then each line with its quote and its article's title and date, under a
    button per article; "Not stated in your articles." when no line stood its check."""
    heading = f"❓ {shorten(answer.question, 300)}"
    searched = f"searched {_plural(answer.articles_searched, 'article')} of this chat"
    if answer.since:
        searched += f" dated {answer.since} or later"
    if not answer.lines:
        head = [Paragraph(answer.answer), Paragraph(f"I {searched}.", style="italic", gap=False)]
        return pack_entries(heading, [], head=head)
    entries = []
    for line in answer.lines:
        title = shorten(line.title, 90)
        paragraphs = [
            Paragraph(strip_markers(line.claim), lead="• "),
            Paragraph(line.quote, style="quote", gap=False),
            Paragraph(f"{title} · {line.date}", lead="📰 ", style="italic", gap=False),
        ]
        if line.claim == line.quote:  # a line that is its quote (a small model's) shows once
            del paragraphs[0]
        entries.append(Entry(paragraphs, line.article_id, title))
    cited = len({line.article_id for line in answer.lines})
    head = [Paragraph(f"From {_plural(cited, 'article')} ({searched})", style="italic", gap=False)]
    return pack_entries(heading, entries, head=head)


# --- the brief: what arrived in the chat over a period -----------------------------------------


def brief_pages(brief: Brief, pledge_limit: int = 3, list_limit: int = 12) -> list[Page]:
    """The brief as messages: the counts, places and what came up more than once, then one
    entry per article (its new officials and pledges) under its own button; one line when
    nothing arrived. Pledges beyond ``pledge_limit`` an article are in its digest."""
    if not brief.articles:
        return [Page(escape(f"Nothing arrived {brief.period.label}.", quote=False), [])]
    number = {a.article_id: a.number for a in brief.articles}
    waiting = sum(not a.digested for a in brief.articles)
    heading = f"Brief: {_plural(len(brief.articles), 'article')} arrived {brief.period.label}"
    head = [Paragraph(f"{waiting} not digested yet", style="italic", gap=False)] if waiting else []
    dated = sum(p.deadline is not None for p in brief.pledges)
    totals = f"{_plural(len(brief.new_officials), 'new official')} · "
    totals += f"{_plural(len(brief.pledges), 'pledge')} ({dated} with a deadline)"
    head.append(Paragraph(totals, style="italic", gap=False))
    for lead, items, counted in (
        ("Places: ", brief.places, True),
        ("Named in more than one: ", brief.repeated_people, False),
        ("Places in more than one: ", brief.repeated_places, False),
    ):
        if items:
            head.append(Paragraph(_named_list(items, number, list_limit, counted), lead=lead))
    entries = []
    for article in brief.articles:
        title = shorten(article.title, 100)
        paragraphs = [Paragraph(f" {title} · {listed(article.date, article.basis)}",
                                lead=f"{article.number}.")]  # fmt: skip
        if not article.digested:
            paragraphs.append(Paragraph("not digested yet", style="italic", gap=False))
        new = [o for o in brief.new_officials if o.article_id == article.article_id]
        if new:
            people = "; ".join(
                f"{o.name} ({shorten(role_text(o.title, o.organization), 60)})" for o in new
            )
            paragraphs.append(Paragraph(people, lead="New: ", gap=False))
        pledges = [p for p in brief.pledges if p.article_id == article.article_id]
        pledges.sort(key=lambda p: p.deadline is None)  # stable: those with a deadline first
        for p in pledges[:pledge_limit]:
            due = f" (by {p.deadline})" if p.deadline else ""
            text = f": {shorten(strip_markers(p.commitment), 120)}{due}"
            paragraphs.append(Paragraph(text, lead=f"• {shorten(p.actor, 60)}", gap=False))
        if len(pledges) > pledge_limit:
            more = f"…and {len(pledges) - pledge_limit} more pledges in its digest"
            paragraphs.append(Paragraph(more, style="italic", gap=False))
        entries.append(Entry(paragraphs, article.article_id, f"{article.number}. {title}"))
    return pack_entries(heading, entries, head=head)


def _named_list(items: list[Named], number: dict[int, int], limit: int, counted: bool) -> str:
    """Names with how many articles (``counted``) or which, by number; "…and N more"."""
    shown = []
    for item in items[:limit]:
        numbers = ", ".join(str(number[i]) for i in item.article_ids if i in number)
        many = len(item.article_ids) > 1
        shown.append(f"{item.name} ({len(item.article_ids)})" if counted and many else
                     item.name if counted else f"{item.name} [{numbers}]")  # fmt: skip
    more = f" …and {len(items) - limit} more" if len(items) > limit else ""
    return " · ".join(shown) + more


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
