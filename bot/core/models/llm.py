"""The model boundary: what every backend promises, and the errors it may raise.

An ``LLM`` turns chat messages into a validated pydantic object. Each implementation declares
its ``Capabilities`` up front (how it constrains output, which schema keywords it refuses,
whether it is a reasoning model, its context and output limits, whether it is small), so the
pipeline plans from facts instead of discovering them from failures.

Every failure is an ``LLMError``: ``str()`` is a one-line detail for the log (it may name the
server), ``user_message`` is what a user may be shown, and ``usage`` carries the tokens the
failed attempt still cost, so quotas stay honest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

from bot.core.schemas import Usage

T = TypeVar("T", bound=BaseModel)
ChatMessage = dict[str, str]

OutputFormat = Literal["json_schema", "json_object", "prompt"]
"""How structured output is asked for.

``json_schema``: ``response_format: json_schema`` with ``strict: true`` (OpenAI, vLLM, Ollama).
``json_object``: ``response_format: json_object``; the schema travels inside it only where the
server turns it into a grammar (llama.cpp), otherwise in the prompt. ``prompt``: no
``response_format`` at all; the schema is in the prompt and the reply is parsed.
"""


@dataclass
class Completion(Generic[T]):
    value: T
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Capabilities:
    """What a backend is known to do; set from configuration, never sniffed from errors."""

    output_format: OutputFormat = "json_schema"
    # llama.cpp compiles a ``schema`` given inside ``json_object`` into a grammar; other
    # servers reject the key (OpenAI) or ignore it.
    grammar_in_json_object: bool = False
    # Schema keywords the server refuses in strict mode; they move into the description.
    unsupported_keywords: frozenset[str] = frozenset()
    # Reasoning models (o-series, gpt-5): ``max_completion_tokens``, no ``temperature``.
    reasoning: bool = False
    # True when the format was not configured or known: a refusal of the format *type* (not
    # of our schema) then moves one step down json_schema -> json_object -> prompt.
    may_fall_back: bool = False
    context_tokens: int = 128_000
    output_tokens: int = 16_384
    # A small model gets the small-model prompts and shapes (names only; titles read by code).
    small: bool = False
    # Requests the backend serves at once, when it is known (the embedded server: one). More
    # would queue there, each on its own timeout: a digest sends no more than this at a time.
    parallel: int | None = None


class LLM(ABC):
    """Anything that turns chat messages into a validated pydantic object.

    ``model`` names the weights (it is part of the digest cache key); ``server`` says where
    they run, for the log only; ``capabilities`` is what the backend is known to do.
    ``structured`` returns a ``Completion`` or raises an ``LLMError`` carrying the usage.
    """

    model: str
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    async def structured(
        self, messages: list[ChatMessage], schema: type[T], *, max_tokens: int | None = None
    ) -> Completion[T]: ...

    @property
    def server(self) -> str:
        """Where the model runs, for the log (never for users)."""
        return self.model

    async def aclose(self) -> None:  # noqa: B027 - most models hold nothing to release
        """Release connections or processes; the default has none."""
