"""``LLM`` over Chat Completions, through an ``openai.AsyncOpenAI`` client handed in.

The client may be handed in as a factory, called at the first request: the openai package
takes most of a second to import, which a cached digest or the register never needs.

The output format and request parameters come from the declared ``Capabilities``. Three
refusals a server states precisely are acted on once, each logged at WARNING with the server's
words: ``max_tokens`` refused (reasoning models want ``max_completion_tokens``), a
``temperature`` refused, and, only where the format was not configured, a refusal of the format
*type*. A refusal of our own schema is a bug and is raised, never hidden by a fallback.
Output is validated with pydantic; the errors go back to the model once, then a typed error
carries both attempts and the usage. Cut-off output is never parsed.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from bot.core.errors import (
    ContextTooLong,
    LLMAuthError,
    LLMError,
    LLMRefused,
    LLMUnavailable,
    ModelNotFound,
    OutputTruncated,
    SchemaRejected,
    ServerUnreachable,
    StructuredOutputError,
)
from bot.core.models.llm import LLM, Capabilities, ChatMessage, Completion, OutputFormat, T
from bot.core.models.output_formats import response_format, schema_in_prompt
from bot.core.schemas import Usage

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_STEP_DOWN: dict[OutputFormat, OutputFormat] = {
    "json_schema": "json_object",
    "json_object": "prompt",
}


def extract_json_text(content: str) -> str:
    """The JSON object inside a reply that may wrap it in fences or chatter."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


class OpenAICompatibleLLM(LLM):
    """Chat Completions on any OpenAI-compatible server, as its ``Capabilities`` describe."""

    def __init__(
        self,
        client: openai.AsyncOpenAI | Callable[[], openai.AsyncOpenAI],
        model: str,
        *,
        capabilities: Capabilities | None = None,
        max_output_tokens: int = 4096,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self._client: openai.AsyncOpenAI | None = None
        self._make_client: Callable[[], openai.AsyncOpenAI] | None = None
        if hasattr(client, "chat"):
            self._client = cast("openai.AsyncOpenAI", client)
        else:
            self._make_client = client
        self.model = model
        self.capabilities = capabilities or Capabilities()
        self.output_format: OutputFormat = self.capabilities.output_format
        self.max_output_tokens = min(max_output_tokens, self.capabilities.output_tokens)
        reasoning = self.capabilities.reasoning
        self._token_param = "max_completion_tokens" if reasoning else "max_tokens"
        self._temperature: float | None = None if reasoning else 0.0
        self._count_tokens = count_tokens or (lambda text: len(text) // 4)

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            assert self._make_client is not None
            self._client = self._make_client()
        return self._client

    @property
    def server(self) -> str:
        return str(self.client.base_url).rstrip("/")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

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
        raise StructuredOutputError(
            f"the model at {self.server} returned invalid {schema.__name__} JSON twice "
            f"({errors[-1]})",
            attempts,
            errors,
            usage=usage,
        )

    async def _complete(
        self,
        messages: list[ChatMessage],
        schema: type[BaseModel],
        max_tokens: int | None,
        usage: Usage,
    ) -> str:
        import openai
        from openai.types.chat import ChatCompletion

        for _ in range(4):  # each pass may fix one stated refusal; more means a loop
            try:
                response = await self._create(messages, schema, max_tokens)
                break
            except (
                openai.BadRequestError,
                openai.UnprocessableEntityError,
                openai.InternalServerError,  # llama.cpp servers refuse a format with a 500
            ) as error:
                if not self._adapt(error, schema):
                    raise self._translate(error) from error
            except openai.OpenAIError as error:
                raise self._translate(error) from error
            except ValueError as error:  # a 200 whose JSON body is broken
                raise LLMError(f"the server at {self.server} sent a broken response") from error
        else:
            raise LLMError(f"the server at {self.server} kept refusing the request")
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
        self, messages: list[ChatMessage], schema: type[BaseModel], max_tokens: int | None
    ) -> Any:
        sent = copy.deepcopy(messages)
        caps = self.capabilities
        if (words := schema_in_prompt(schema, self.output_format, caps)) is not None:
            sent[-1]["content"] = f"{sent[-1]['content'].rstrip()}\n\n{words}"
        request: dict[str, Any] = {
            "model": self.model,
            "messages": sent,
            self._token_param: max_tokens or self.max_output_tokens,
        }
        if (fmt := response_format(schema, self.output_format, caps)) is not None:
            request["response_format"] = fmt
        if self._temperature is not None:
            request["temperature"] = self._temperature
        return await self.client.chat.completions.create(**request)

    def _adapt(self, error: openai.APIStatusError, schema: type[BaseModel]) -> bool:
        """Act on a refusal the server states precisely; False when there is nothing to do."""
        words = _server_words(error)
        if _refuses_our_schema(words):
            log.error(
                "%s refused the %s schema (a bug in the bot): %s",
                self.server,
                schema.__name__,
                words[:500],
            )
            raise SchemaRejected(f"{self.server} refused the {schema.__name__} schema: {words}")
        param = (error.param or "").lower()
        if self._token_param == "max_tokens" and (
            param == "max_tokens" or "max_completion_tokens" in words
        ):
            log.warning("%s: %s; sending max_completion_tokens from now on", self.server, words)
            self._token_param = "max_completion_tokens"
            return True
        if self._temperature is not None and (param == "temperature" or "'temperature'" in words):
            log.warning("%s: %s; sending no temperature from now on", self.server, words)
            self._temperature = None
            return True
        if self.capabilities.may_fall_back and (step := self._step_down(words)) is not None:
            log.warning(
                "%s refused response_format %s (%s); using %s from now on",
                self.server,
                self.output_format,
                words[:300],
                step,
            )
            self.output_format = step
            return True
        return False

    def _step_down(self, words: str) -> OutputFormat | None:
        """The next format after a refusal of the current one's type, if it was one."""
        text = words.lower()
        if self.output_format != "prompt" and _refuses_argument(text, "response_format"):
            return "prompt"  # the server takes no response_format at all
        current = self.output_format
        if current in _STEP_DOWN and current in text and _refusal_wording(text):
            return _STEP_DOWN[current]
        return None

    def _translate(self, error: openai.OpenAIError) -> LLMError:
        import openai

        where = self.server
        if isinstance(error, openai.APITimeoutError):
            return LLMUnavailable(f"the model at {where} did not answer in time")
        if isinstance(error, openai.APIConnectionError):
            return ServerUnreachable(
                f"cannot reach the model at {where}", setting="OPENAI_BASE_URL"
            )
        if isinstance(error, openai.AuthenticationError):
            return LLMAuthError(f"the model at {where} rejected the key", setting="OPENAI_API_KEY")
        if isinstance(error, openai.RateLimitError):
            return LLMUnavailable(f"the model at {where} is rate-limiting us; try again shortly")
        if isinstance(error, openai.NotFoundError):
            return ModelNotFound(
                f"the model {self.model!r} was not found at {where}", setting="BOT_MODEL"
            )
        if isinstance(error, openai.APIStatusError):
            words = _server_words(error)
            if error.status_code == 400 and _is_context_error(words):
                return ContextTooLong(f"the prompt is too long for {self.model!r}: {words[:200]}")
            if error.status_code >= 500:
                return LLMUnavailable(f"the model at {where} failed ({error.status_code})")
            return LLMError(f"the model at {where} refused the request: {words[:300]}")
        return LLMError(f"the model call failed: {type(error).__name__}")


def _server_words(error: openai.APIStatusError) -> str:
    """What the server said: its error message, else the body (FastAPI's 422 ``detail``)."""
    body = error.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
        if "detail" in body:
            return str(body["detail"])
    return str(body or error.message)


def _refuses_our_schema(words: str) -> bool:
    text = words.lower()
    return any(
        sign in text
        for sign in (
            "invalid schema for response_format",  # OpenAI's strict-mode checks
            "json schema contains features not supported",  # vLLM's xgrammar
            "invalid json schema",
            "the provided json schema is invalid",
            "json schema conversion failed",  # llama.cpp
            "failed to parse json schema",
        )
    )


_UNKNOWN_ARGUMENT = (
    "unrecognized request argument supplied",  # OpenAI
    "unknown parameter",
    "unsupported parameter",
    "extra inputs are not permitted",  # FastAPI/pydantic servers
)


def _refuses_argument(text: str, argument: str) -> bool:
    return argument in text and any(sign in text for sign in _UNKNOWN_ARGUMENT)


def _refusal_wording(text: str) -> bool:
    return any(
        sign in text
        for sign in (
            "not supported",
            "unsupported",
            "must be one of",
            "input should be",
            "invalid value",
            "not allowed",
        )
    )


def _is_context_error(words: str) -> bool:
    text = words.lower()
    return "context_length" in text or "context length" in text or "maximum context" in text


def _short_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
