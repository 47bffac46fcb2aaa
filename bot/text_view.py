"""Plain-text views of digests and answers for the terminal."""

from __future__ import annotations

import textwrap

from bot.core.schemas import Answer, Digest

_WIDTH = 88


def _wrap(text: str, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=_WIDTH,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
    )


def digest_text(digest: Digest, *, max_officials: int = 25, max_commitments: int = 15) -> str:
    lines = ["SUMMARY", _wrap(digest.summary, "  "), ""]
    if digest.key_points:
        lines.append("KEY POINTS")
        lines += [_wrap(p, "    ", "  • ") for p in digest.key_points]
        lines.append("")
    lines.append(f"OFFICIALS ({len(digest.officials)})")
    for official in digest.officials[:max_officials]:
        role = ", ".join(x for x in (official.title, official.organization) if x)
        lines.append(_wrap(f"{official.name} — {role or 'title not stated'}", "    ", "  • "))
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
