"""Shapes of a question asked across a chat's articles (``bot.core.desk.ask``).

The model-facing draft asks for a verbatim quote and the number the article was shown under,
not sentence numbers: passages of many articles are shown, and a quote checked against the
cited article's whole text is what proves the line came from that article. Field
descriptions are the model's instructions, sent inside the schema. The public shapes are
what the edges render: every line with its quote, the article's title and its date.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.core.schemas import AnswerStats, Usage

NOT_STATED = "Not stated in your articles."
MAX_LINES = 8


class CrossLineDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")

    article: int = Field(description="The number of the article the quote is from (Article n).")
    claim: str = Field(
        description="One short statement that answers part of the question, in plain words."
    )
    quote: str = Field(
        description="Words copied exactly from that article (one sentence or part of it) that "
        "state the claim."
    )


class CrossAnswerDraft(BaseModel):
    """What the model writes: lines, each backed by one article; none when nothing says."""

    model_config = ConfigDict(extra="ignore")

    answer: str = Field(
        description="A short, direct answer from the passages; if they do not say, state that."
    )
    lines: list[CrossLineDraft] = Field(
        description="One line per fact the answer needs, from every article that states part "
        "of it; an empty list when the articles do not answer the question.",
        json_schema_extra={"maxItems": MAX_LINES},
    )


class CrossLine(BaseModel):
    """One line of the answer: a claim, its checked quote, and the article it is from."""

    claim: str
    quote: str
    article_id: int
    title: str
    date: str  # ``bot.core.reading.dates.listed``: "2026-03-03", or "arrived 2026-03-05"


class CrossAnswer(BaseModel):
    question: str
    answer: str  # the claims, one a line; NOT_STATED when no line survived
    stated: bool
    lines: list[CrossLine]
    since: str | None = None  # the date filter the question named ("since March 2026")
    articles_searched: int = 0  # the scope's articles retrieval looked at
    articles_shown: list[int] = Field(default_factory=list)  # ids of those the model saw
    dropped: int = 0  # lines whose quote was not in the cited article
    stats: AnswerStats = Field(default_factory=AnswerStats)

    @property
    def usage(self) -> Usage:
        """What it cost, in the shape quotas count (``Store.record_usage``)."""
        return Usage(self.stats.llm_calls, self.stats.prompt_tokens, self.stats.completion_tokens)
