"""What a summary call is shown of the article, and what is kept of the summary it writes.

News says what happened, where and when in its headline and lede: a small model is shown
that opening again beside the summary's instruction (else it reports the second paragraph),
and a long article's summary call gets it beside the parts' notes. A summary cut off at the
grammar's length cap is kept up to its last full sentence.
"""

from __future__ import annotations

from bot.core.reading.chunking import NumberedArticle, Sentence, sentence_spans
from bot.core.reading.script import ends_sentence

# Tokens of the article's opening shown beside a summary's instruction (`opening`).
OPENING_TOKENS = 160


def whole_sentences(text: str, cap: int | None = None) -> str:
    """The summary, up to its last full sentence when it reached the grammar's ``cap`` and
    was cut mid-sentence (a small model's "... promises technological breakthroughs and
    industry"); an ellipsis marks the cut when no sentence ended well before it."""
    text = text.strip()
    # An ellipsis already at the end marks a cut: a second one is never added.
    if cap is None or len(text) < cap - 10 or ends_sentence(text) or text.endswith("…"):
        return text
    ends = [end for _, end in sentence_spans(text)[:-1]]  # the last one is the cut one
    if ends and ends[-1] >= len(text) // 3:
        return text[: ends[-1]].rstrip()
    return text.rstrip(" ,") + "…"


def opening(article: NumberedArticle, budget: int = OPENING_TOKENS) -> str:
    """The headline and lede, each sentence once: where news says what happened, where and
    when."""
    kept: list[Sentence] = []
    used = 0
    for sentence in article.sentences:
        if any(sentence.text == k.text for k in kept):
            continue  # a headline repeated as the first line of the body
        if kept and used + sentence.tokens > budget:
            break
        kept.append(sentence)
        used += sentence.tokens
    return "".join(
        ("\n" if i and s.paragraph != kept[i - 1].paragraph else " " if i else "") + s.text
        for i, s in enumerate(kept)
    )


def clean_points(points: list[str], limit: int) -> list[str]:
    """The points with their white space made single, each once, at most ``limit``."""
    unique = dict.fromkeys(" ".join(p.split()) for p in points if p.strip())
    return list(unique)[:limit]
