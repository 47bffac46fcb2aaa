"""What each kind of server is known to do, as ``Capabilities``.

The bot is pointed at OpenAI, vLLM, Ollama, llama.cpp or some other OpenAI-compatible proxy.
Each gets the output format it is known to take (README, "Pointing it at a model"); only an
unknown server may fall back, and only when it refuses the format type itself.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal
from urllib.parse import urlparse

from bot.core.models.llm import Capabilities, OutputFormat
from bot.core.models.output_formats import OPENAI_UNSUPPORTED_KEYWORDS

ServerKind = Literal["auto", "openai", "openai-compatible", "vllm", "ollama", "llamacpp", "plain"]

PROFILES: dict[str, Capabilities] = {
    "openai": Capabilities(unsupported_keywords=OPENAI_UNSUPPORTED_KEYWORDS),
    # vLLM (xgrammar/outlines) and Ollama (llama.cpp grammars) enforce the whole schema.
    "vllm": Capabilities(),
    "ollama": Capabilities(),
    "llamacpp": Capabilities(
        output_format="json_object",
        grammar_in_json_object=True,
        context_tokens=32_768,
        output_tokens=4096,
    ),
    "plain": Capabilities(output_format="prompt", context_tokens=32_768, output_tokens=4096),
    # Anything else (a proxy such as LiteLLM or OpenRouter may sit in front of OpenAI): strict
    # json_schema within OpenAI's rules, falling back on a refusal of the type itself.
    "openai-compatible": Capabilities(
        unsupported_keywords=OPENAI_UNSUPPORTED_KEYWORDS, may_fall_back=True
    ),
}

# OpenAI's reasoning models: o1, o3, o4-mini, gpt-5 and its variants.
_REASONING = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)


def server_kind(kind: ServerKind, base_url: str | None) -> str:
    """The profile to use: the configured one, else OpenAI for OpenAI's own hosts."""
    if kind != "auto":
        return kind
    host = (urlparse(base_url).hostname or "") if base_url else "api.openai.com"
    official = host.endswith((".openai.com", ".openai.azure.com"))
    return "openai" if official else "openai-compatible"


def capabilities_for(
    kind: ServerKind,
    base_url: str | None,
    model: str,
    *,
    response_format: Literal["auto"] | OutputFormat = "auto",
    reasoning: bool | None = None,
    small: bool | None = None,
    context_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Capabilities:
    """The capabilities of ``model`` on that server, with the settings' overrides applied."""
    name = server_kind(kind, base_url)
    caps = PROFILES[name]
    if response_format != "auto":
        caps = replace(caps, output_format=response_format, may_fall_back=False)
    elif name == "openai":  # old OpenAI models (gpt-3.5) refuse json_schema by type
        caps = replace(caps, may_fall_back=True)
    if reasoning is None:
        reasoning = name == "openai" and bool(_REASONING.match(model))
    return replace(
        caps,
        reasoning=reasoning,
        small=caps.small if small is None else small,
        context_tokens=context_tokens or caps.context_tokens,
        output_tokens=output_tokens or caps.output_tokens,
    )
