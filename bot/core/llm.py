"""The model boundary: a small abstract class and its OpenAI-compatible implementation.

Structured output is asked for with a strict JSON schema; servers that only take
``json_object`` (llama.cpp's, some proxies) are detected on the first refusal and served that
way from then on. Output is validated with pydantic; a validation error goes back to the
model once, then a typed error carries both attempts. Cut-off output is never parsed.
"""

from __future__ import annotations

import copy
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
ChatMessage = dict[str, str]
Mode = Literal["auto", "json_schema", "json_object"]


class LLMError(RuntimeError):
    """Base of every model failure; ``str()`` is one line fit to show a user."""

    usage: Usage | None = None  # tokens the failed attempt still cost, when known


class LLMUnavailable(LLMError):
    """Unreachable, timing out, rate-limited or failing server, after the client's retries."""


class LLMAuthError(LLMError):
    """The server refused the credentials."""


class LLMRefused(LLMError):
    """The model declined to answer (refusal or content filter)."""


class OutputTruncated(LLMError):
    """The model hit its output limit; the JSON is cut and must not be used."""


class ContextTooLong(LLMError):
    """The prompt does not fit the model's context window."""


class StructuredOutputError(LLMError):
    """The model's output did not validate, even after being shown its errors."""

    def __init__(self, message: str, attempts: list[str], errors: list[str]) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.errors = errors


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion(Generic[T]):
    value: T
    usage: Usage = field(default_factory=Usage)


class LLM(ABC):
    """Anything that turns chat messages into a validated pydantic object."""

    model: str
    small: bool = False  # a small model gets the compact prompts (see DigestConfig.compact)

    @abstractmethod
    async def structured(
        self, messages: list[ChatMessage], schema: type[T], *, max_tokens: int | None = None
    ) -> Completion[T]: ...

    @property
    def server(self) -> str:
        """Where the model runs, for messages."""
        return self.model

    async def aclose(self) -> None:  # noqa: B027 - most models hold nothing to release
        """Release connections or processes; the default has none."""


def strict_json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """Pydantic's schema in the subset OpenAI's strict mode accepts."""

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: visit(v) for k, v in node.items() if k not in _STRICT_UNSUPPORTED}
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            return node
        if isinstance(node, list):
            return [visit(v) for v in node]
        return node

    return dict(visit(schema.model_json_schema()))


_STRICT_UNSUPPORTED = {"maxItems", "minItems", "maxLength", "minLength", "default", "title"}
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def extract_json_text(content: str) -> str:
    """The JSON object inside a reply that may wrap it in fences or chatter."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


class OpenAICompatibleLLM(LLM):
    """Chat Completions through an ``openai.AsyncOpenAI`` client handed in by the caller."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        *,
        mode: Mode = "auto",
        max_output_tokens: int = 4096,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.mode: Mode = mode
        self.max_output_tokens = max_output_tokens
        self._count_tokens = count_tokens or (lambda text: len(text) // 4)

    @property
    def server(self) -> str:
        return str(self.client.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self.client.close()

    async def structured(
        self, messages: list[ChatMessage], schema: type[T], *, max_tokens: int | None = None
    ) -> Completion[T]:
        usage = Usage()
        conversation = list(messages)
        attempts: list[str] = []
        errors: list[str] = []
        for _ in range(2):
            try:
                content = await self._complete(conversation, schema, max_tokens, usage)
            except LLMError as error:
                error.usage = usage
                raise
            attempts.append(content)
            try:
                return Completion(schema.model_validate_json(extract_json_text(content)), usage)
            except ValidationError as error:
                errors.append(_short_errors(error))
            conversation += [
                {"role": "assistant", "content": content},
                {
                    "role": "user",
                    "content": "That reply was not valid for the schema: "
                    f"{errors[-1]}. Reply again with the corrected JSON object only.",
                },
            ]
        failure = StructuredOutputError(
            f"the model at {self.server} returned invalid {schema.__name__} JSON twice "
            f"({errors[-1]})",
            attempts,
            errors,
        )
        failure.usage = usage
        raise failure

    async def _complete(
        self,
        messages: list[ChatMessage],
        schema: type[BaseModel],
        max_tokens: int | None,
        usage: Usage,
    ) -> str:
        mode = "json_schema" if self.mode == "auto" else self.mode
        try:
            response = await self._create(messages, schema, mode, max_tokens)
        except openai.BadRequestError as error:
            if self.mode != "auto" or not _rejects_json_schema(error):
                raise self._translate(error) from error
            log.info("%s rejects json_schema; using json_object from now on", self.server)
            self.mode = "json_object"
            return await self._complete(messages, schema, max_tokens, usage)
        except openai.OpenAIError as error:
            raise self._translate(error) from error
        except ValueError as error:  # a 200 whose JSON body is broken
            raise LLMError(f"the server at {self.server} sent a broken response") from error
        if not isinstance(response, ChatCompletion) or not response.choices:
            # openai returns the raw text when a 200 is not JSON (a proxy's error page...).
            raise LLMError(f"the server at {self.server} did not answer like a chat model")

        choice = response.choices[0]
        content = choice.message.content or ""
        if response.usage is not None:
            usage.prompt_tokens += response.usage.prompt_tokens
            usage.completion_tokens += response.usage.completion_tokens
        else:
            usage.prompt_tokens += sum(self._count_tokens(m["content"]) for m in messages)
            usage.completion_tokens += self._count_tokens(content)
        usage.calls += 1
        if choice.message.refusal or choice.finish_reason == "content_filter":
            raise LLMRefused(f"the model declined: {choice.message.refusal or 'content filter'}")
        if choice.finish_reason == "length":
            raise OutputTruncated(
                f"the model's answer was cut at its output limit ({max_tokens or 'default'} tokens)"
            )
        return content

    async def _create(
        self,
        messages: list[ChatMessage],
        schema: type[BaseModel],
        mode: str,
        max_tokens: int | None,
    ) -> Any:
        if mode == "json_schema":
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.__name__,
                    "schema": strict_json_schema(schema),
                    "strict": True,
                },
            }
        else:
            # llama.cpp and others turn a schema given here into a grammar; others ignore it.
            response_format = {"type": "json_object", "schema": schema.model_json_schema()}
        request: dict[str, Any] = {
            "model": self.model,
            "messages": copy.deepcopy(messages),
            "response_format": response_format,
            "temperature": 0,
            "max_tokens": max_tokens or self.max_output_tokens,
        }
        return await self.client.chat.completions.create(**request)

    def _translate(self, error: openai.OpenAIError) -> LLMError:
        where = self.server
        if isinstance(error, openai.APITimeoutError):
            return LLMUnavailable(f"the model at {where} did not answer in time")
        if isinstance(error, openai.APIConnectionError):
            return LLMUnavailable(f"cannot reach the model at {where} (check OPENAI_BASE_URL)")
        if isinstance(error, openai.AuthenticationError):
            return LLMAuthError(f"the model at {where} rejected the key (check OPENAI_API_KEY)")
        if isinstance(error, openai.RateLimitError):
            return LLMUnavailable(f"the model at {where} is rate-limiting us; try again shortly")
        if isinstance(error, openai.NotFoundError):
            return LLMError(f"the model {self.model!r} was not found at {where} (check BOT_MODEL)")
        if isinstance(error, openai.APIStatusError):
            if error.status_code == 400 and _is_context_error(error):
                return ContextTooLong(f"the prompt is too long for {self.model!r}")
            if error.status_code >= 500:
                return LLMUnavailable(f"the model at {where} failed ({error.status_code})")
            return LLMError(f"the model at {where} refused the request: {error.message[:200]}")
        return LLMError(f"the model call failed: {error}")


def _rejects_json_schema(error: openai.BadRequestError) -> bool:
    text = f"{error.message} {error.body}".lower()
    return "json_schema" in text or "response_format" in text or "schema" in text


def _is_context_error(error: openai.APIStatusError) -> bool:
    text = f"{error.message} {error.body}".lower()
    return "context_length" in text or "context length" in text or "maximum context" in text


def _short_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
