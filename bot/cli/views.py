"""Plain-text views of digests and answers for the terminal."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from bot.cli.evaluation import CorpusReport, CorpusRow, EvalReport
from bot.core.schemas import Answer, Digest, role_text

if TYPE_CHECKING:
    from bot.core.service import CrossAnswer

_WIDTH = 88


def _wrap(text: str, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=_WIDTH,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
    )


def digest_text(
    digest: Digest,
    *,
    max_officials: int = 25,
    max_commitments: int = 15,
    date: str | None = None,
) -> str:
    """The digest for the terminal; ``date`` is the article's date line, shown first."""
    lines = [date, ""] if date else []
    lines += ["SUMMARY", _wrap(digest.summary, "  "), ""]
    if digest.key_points:
        lines.append("KEY POINTS")
        lines += [_wrap(p, "    ", "  • ") for p in digest.key_points]
        lines.append("")
    lines.append(f"OFFICIALS ({len(digest.officials)})")
    for official in digest.officials[:max_officials]:
        role = role_text(official.title, official.organization)
        lines.append(_wrap(f"{official.name} — {role}", "    ", "  • "))
        lines.append(_wrap(f'"{official.quote}"', "      "))
    if len(digest.officials) > max_officials:
        lines.append(f"  … and {len(digest.officials) - max_officials} more (see --json)")
    lines.append("")
    lines.append(f"COMMITMENTS ({len(digest.commitments)})")
    for item in digest.commitments[:max_commitments]:
        when = f" (by {item.deadline})" if item.deadline else ""
        lines.append(_wrap(f"{item.actor}: {item.commitment}{when}", "    ", "  • "))
        lines.append(_wrap(f'"{item.quote}"', "      "))
    if len(digest.commitments) > max_commitments:
        lines.append(f"  … and {len(digest.commitments) - max_commitments} more (see --json)")
    stats = digest.stats
    lines += [
        "",
        f"[{stats.article_tokens} article tokens, {stats.chunks} chunk(s), {stats.llm_calls} "
        f"LLM call(s), {stats.prompt_tokens}+{stats.completion_tokens} tokens, "
        f"{stats.seconds:.1f}s{', cached' if stats.cached else ''}]",
    ]
    return "\n".join(lines)


def answer_text(answer: Answer) -> str:
    lines = [_wrap(answer.answer)]
    if not answer.stated:
        lines.append("(The article does not state this.)")
    lines += [_wrap(f'"{quote}"', "    ", "  > ") for quote in answer.quotes]
    return "\n".join(lines)


def cross_answer_text(answer: CrossAnswer) -> str:
    """Each line: the claim, its quote, and the article's number, title and date."""
    lines = []
    for line in answer.lines:
        if line.claim != line.quote:  # a line that is its quote (a small model's) shows once
            lines.append(_wrap(line.claim, "  ", "• "))
        lines.append(_wrap(f'"{line.quote}"', "    "))
        lines.append(_wrap(f"#{line.article_id} {line.title} · {line.date}", "    ", "    — "))
    if not answer.lines:
        lines.append(answer.answer)
    since = f" dated {answer.since} or later" if answer.since else ""
    stats = answer.stats
    lines += [
        "",
        f"[{answer.articles_searched} article(s){since} searched, "
        f"{len(answer.articles_shown)} shown, {stats.llm_calls} LLM call(s), "
        f"{stats.prompt_tokens}+{stats.completion_tokens} tokens, {stats.seconds:.1f}s]",
    ]
    return "\n".join(lines)


def eval_text(report: EvalReport) -> str:
    rows = [
        ("officials found", f"{report.officials_found} / {report.officials_expected}"),
        ("titles right", f"{report.titles_right} / {report.officials_found}"),
        ("people invented", str(len(report.invented_people))),
        ("reporters listed as officials", str(len(report.reporters_listed))),
        ("other people listed", str(len(report.other_people))),
        ("commitments found", f"{report.commitments_matched} / {report.commitments_expected}"),
        (
            "commitment actors right",
            f"{report.commitment_actors_right} / {report.commitments_matched}",
        ),
        ("commitments listed", str(report.commitments_listed)),
        (
            "listed that match a reference",
            f"{report.commitments_precise} / {report.commitments_listed}",
        ),
        ("duplicate commitments", str(len(report.duplicate_commitments))),
        ("commitments with new words", str(len(report.new_word_commitments))),
        ("summary points covered", f"{report.summary_covered} / {report.summary_points}"),
        ("key points", str(report.key_points)),
        ("follow-up answers right", f"{report.answers_right} / {len(report.questions)}"),
        ("digest seconds", f"{report.digest_seconds:.1f}"),
        ("digest tokens (prompt + output)", f"{report.prompt_tokens} + {report.completion_tokens}"),
        ("digest LLM calls", str(report.llm_calls)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    details = [
        ("missed", report.missed_officials),
        ("wrong titles", report.wrong_titles),
        ("invented", report.invented_people),
        ("reporters", report.reporters_listed),
        ("others", report.other_people),
        ("summary misses", report.summary_missed),
    ]
    lines += [f"  {label}: {', '.join(names)}" for label, names in details if names]
    lines += [f"  duplicate: {item}" for item in report.duplicate_commitments]
    lines += [f"  new words: {item}" for item in report.new_word_commitments]
    lines.append("")
    for q in report.questions:
        mark = "right" if q.right else "WRONG"
        answer = q.answer if len(q.answer) <= 160 else q.answer[:159] + "…"
        lines.append(_wrap(f"[{mark}, {q.seconds:.1f}s] {q.question} -> {answer}", "    "))
    return "\n".join(lines)


_CORPUS_COLUMNS = (
    "officials", "titles", "invented", "reporters", "non-persons",
    "commitments", "actors", "listed", "precise", "dupes", "new-words", "summary", "key-pts",
    "follow-ups", "digest s", "total s",
)  # fmt: skip


def _corpus_cells(row: CorpusRow) -> list[str]:
    if row.error is not None:
        return ["error", *[""] * (len(_CORPUS_COLUMNS) - 1)]
    return [
        f"{row.officials_found}/{row.officials_expected}",
        f"{row.titles_right}/{row.officials_found}",
        str(row.invented),
        str(row.reporters),
        str(row.non_persons),
        f"{row.commitments_found}/{row.commitments_expected}",
        f"{row.actors_right}/{row.commitments_found}",
        str(row.commitments_listed),
        f"{row.commitments_precise}/{row.commitments_listed}",
        str(row.duplicates),
        str(row.new_words),
        f"{row.summary_covered}/{row.summary_points}",
        str(row.key_points),
        f"{row.answers_right}/{row.questions}",
        f"{row.digest_seconds:.1f}",
        f"{row.seconds:.1f}",
    ]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def corpus_text(report: CorpusReport) -> str:
    """One line per article and a total: found / expected, right / found, counts, seconds."""
    total = report.total
    done = [row for row in report.rows if row.error is None]
    table = [["article", *_CORPUS_COLUMNS]]
    table += [[row.article, *_corpus_cells(row)] for row in report.rows]
    table.append(["total", *_corpus_cells(total)])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    lines = [line(table[0]), line(["-" * w for w in widths])]
    lines += [line(cells) for cells in table[1:-1]]
    lines += [line(["-" * w for w in widths]), line(table[-1])]
    lines += [
        "",
        f"officials found {_percent(total.officials_found, total.officials_expected)}, titles "
        f"right {_percent(total.titles_right, total.officials_found)} of those found, "
        f"commitments found {_percent(total.commitments_found, total.commitments_expected)}, "
        f"actors right {_percent(total.actors_right, total.commitments_found)} of those, "
        f"follow-ups right {_percent(total.answers_right, total.questions)}",
        f"commitments listed {total.commitments_listed}, precision "
        f"{_percent(total.commitments_precise, total.commitments_listed)}, duplicates "
        f"{total.duplicates}, with words the article does not have {total.new_words}; summary "
        f"points {_percent(total.summary_covered, total.summary_points)}; 3 to 5 key points on "
        f"{sum(3 <= row.key_points <= 5 for row in done)} of {len(done)} digests",
    ]
    errors = [f"  {row.article}: {row.error}" for row in report.rows if row.error is not None]
    if errors:
        lines += ["", "failed:", *errors]
    misses = [
        f"  {slug}: {label} {', '.join(names)}"
        for slug, r in report.reports.items()
        for label, names in (
            ("missed", r.missed_officials),
            ("wrong titles", r.wrong_titles),
            ("invented", r.invented_people),
            ("reporters", r.reporters_listed),
            ("non-persons", r.other_people),
            ("summary misses", r.summary_missed),
            ("duplicates", r.duplicate_commitments),
            ("new words", r.new_word_commitments),
        )
        if names
    ]
    if misses:
        lines += ["", "details:", *misses]
    return "\n".join(lines)
