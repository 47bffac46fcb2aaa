"""Data shapes: what the model is asked to write, and what the bot hands out.

The model-facing shapes (``*Draft``, ``Cited*``) cite sentence numbers instead of copying
quotes: the model writes fewer tokens and cannot misquote; grounding turns the numbers into
verbatim quotes. Field descriptions are the model's instructions, sent inside the schema.
Public shapes (``Digest``, ``Answer``) keep stable field names that other tools read.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, JsonValue

JsonDict = dict[str, JsonValue]

_SENTENCES = (
    "Numbers of the article sentences ([n] markers) that state this; at most 3, most direct first."
)
# Small models can loop on a list of numbers; a grammar-enforcing server stops them at 3.
_FEW: JsonDict = {"maxItems": 3}
# What a summary must say, for every model: the event, not a roster of the people present.
_NEWS = (
    "Two to four plain sentences that report the news: what happened, who acted, where and "
    "when, and the main figure or outcome."
)


class _Draft(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CitedOfficial(_Draft):
    name: str = Field(description="The person's full name exactly as the article writes it.")
    title: str = Field(
        description="Their position exactly as the article gives it for THIS person, "
        "e.g. 'Mayor' or 'deputy director'. Never borrow a title from a neighbouring name."
    )
    organization: str = Field(
        description="The body, company or place the position belongs to; '' if none is given."
    )
    sentences: list[int] = Field(description=_SENTENCES, json_schema_extra=_FEW)


class CitedCommitment(_Draft):
    actor: str = Field(
        description="Who commits, pledges, calls for or announces it: an official's name or "
        "an organisation or city as the article names it."
    )
    commitment: str = Field(
        description="What they will do or support, in at most 25 words, close to the "
        "article's own words."
    )
    deadline: str | None = Field(description="When, if the article says; otherwise null.")
    sentences: list[int] = Field(description=_SENTENCES, json_schema_extra=_FEW)


class ChunkExtraction(_Draft):
    """What the model reads out of one chunk of a long article."""

    officials: list[CitedOfficial] = Field(
        description="Every official, executive, academic or other named person acting in an "
        "official role in the NEW sentences. Not reporters, photographers or correspondents "
        "credited for the article. Each person once.",
        json_schema_extra={"maxItems": 100},
    )
    commitments: list[CitedCommitment] = Field(
        description="Pledges, plans, promises and calls to action stated in the NEW sentences.",
        # A bound against runaway lists, above what a long conference release holds (31).
        json_schema_extra={"maxItems": 100},
    )
    key_points: list[str] = Field(
        description="The most important facts of these sentences, each under 25 words.",
        json_schema_extra={"maxItems": 5},
    )


class DigestDraft(ChunkExtraction):
    """The whole digest in one call, for an article that fits one chunk."""

    summary: str = Field(description=_NEWS)


# Small models copy whole sentences into short fields; llama.cpp's grammar enforces these
# lengths (pydantic does not: a longer value from another server is still valid).
_SHORT: JsonDict = {"maxLength": 60}
SMALL_SUMMARY_CHARS = 300  # the grammar stops a small model's summary here, mid-sentence


def _named(names: list[str]) -> list[CitedOfficial]:
    # Grounding finds the sentences naming each person itself.
    return [CitedOfficial(name=n, title="", organization="", sentences=[]) for n in names]


_NAMES = "Full names, exactly as written, of the people named in an official role."


class SmallChunkExtraction(_Draft):
    """Small models: names only; the code finds where each stands and reads the title, and
    reads the commitments itself (on the 21 dev articles the embedded model's own found none
    that code missed, and cost about half its output tokens)."""

    officials: list[str] = Field(
        description=_NAMES,
        json_schema_extra={"maxItems": 30, "items": {"type": "string", **_SHORT}},
    )
    key_points: list[str] = Field(json_schema_extra={"maxItems": 3})

    def full(self) -> ChunkExtraction:
        return ChunkExtraction(
            officials=_named(self.officials), commitments=[], key_points=self.key_points
        )


class SmallDigestDraft(_Draft):
    # The summary comes first: llama.cpp's grammar writes the keys in this order, and a small
    # model that has just listed the names writes "X, Y and Z are officials who pledge ...".
    summary: str = Field(description=_NEWS, json_schema_extra={"maxLength": SMALL_SUMMARY_CHARS})
    officials: list[str] = Field(
        description=_NAMES,
        json_schema_extra={"maxItems": 30, "items": {"type": "string", **_SHORT}},
    )

    def full(self) -> DigestDraft:
        # Commitments are read by code, as for a chunk (``SmallChunkExtraction``).
        return DigestDraft(
            officials=_named(self.officials), commitments=[], key_points=[], summary=self.summary
        )


class SummaryDraft(_Draft):
    """The final call for a long article: a summary written from the chunk notes."""

    summary: str = Field(description=_NEWS)
    key_points: list[str] = Field(
        description="The 3 to 7 most important points of the whole article, each under 25 "
        "words, most important first.",
        json_schema_extra={"maxItems": 7},
    )


class AnswerDraft(_Draft):
    answer: str = Field(
        description="A short, direct answer using only the article. If the article does not "
        "say, state that plainly."
    )
    stated: bool = Field(description="true only if the article states the answer.")
    sentences: list[int] = Field(
        description="Numbers of the sentences the answer relies on.", json_schema_extra=_FEW
    )


# --- public results ------------------------------------------------------------------------


class Official(BaseModel):
    name: str
    title: str
    organization: str
    quote: str = Field(description="Verbatim words from the article naming this person.")
    sentences: list[int]


class Commitment(BaseModel):
    actor: str
    commitment: str
    deadline: str | None
    quote: str = Field(description="Verbatim words from the article stating the commitment.")
    sentences: list[int]


class DigestStats(BaseModel):
    article_tokens: int = 0
    chunks: int = 0
    llm_calls: int = 0
    round_trips: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    dropped_officials: int = 0
    dropped_commitments: int = 0
    cached: bool = False


class Digest(BaseModel):
    summary: str
    key_points: list[str]
    officials: list[Official]
    commitments: list[Commitment]
    stats: DigestStats = Field(default_factory=DigestStats)


class AnswerStats(BaseModel):
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class Answer(BaseModel):
    answer: str
    quotes: list[str]
    stated: bool
    stats: AnswerStats = Field(default_factory=AnswerStats)


MODEL_FACING: tuple[type[BaseModel], ...] = (
    DigestDraft,
    ChunkExtraction,
    SmallDigestDraft,
    SmallChunkExtraction,
    SummaryDraft,
    AnswerDraft,
)
"""Every shape a model is asked to fill: each must pass the strict-schema contract test."""


@functools.cache
def schema_version() -> str:
    """A short hash of the model-facing schemas, part of the digest cache key."""
    text = json.dumps([m.model_json_schema() for m in MODEL_FACING], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


NO_TITLE = "title not stated"


def role_text(title: str, organization: str) -> str:
    """An official's role as a reader sees it: "title, organisation". Grounding keeps a person
    whose title it cannot tie to the name with none; every view says so ("title not stated,
    Valmora Port Authority"), so a body is never read as the title and nothing dangles."""
    return ", ".join(x for x in (title.strip() or NO_TITLE, organization.strip()) if x)


@dataclass
class Usage:
    """The calls and tokens a piece of work cost."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage | None) -> None:
        if other is None:
            return
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens
