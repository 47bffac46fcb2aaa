"""How a pydantic schema is put in front of a server, for each output format.

The strict schema comes from the openai SDK's own conversion (``to_strict_json_schema``, what
``client.chat.completions.parse`` sends), so it follows OpenAI's rules as the SDK's authors
read them; we only move the keywords a server refuses into the description, where the model
still reads them and pydantic still does not enforce them. Servers that do not enforce a
schema get it in the prompt instead.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from bot.core.models.llm import Capabilities, OutputFormat

OPENAI_UNSUPPORTED_KEYWORDS = frozenset(
    {"minLength", "maxLength", "patternProperties", "unevaluatedProperties", "propertyNames",
     "minProperties", "maxProperties", "uniqueItems", "contains", "allOf", "oneOf", "not",
     "if", "then", "else", "dependentRequired", "dependentSchemas", "default"}
)  # fmt: skip
"""What OpenAI's strict mode answers "... is not permitted" to (its structured-output guide)."""

_SAYS = {
    "maxLength": "At most {} characters.",
    "minLength": "At least {} characters.",
    "maxItems": "At most {} items.",
    "minItems": "At least {} items.",
}


def strict_json_schema(schema: type[BaseModel], unsupported: frozenset[str] = frozenset()) -> Any:
    """The strict-mode schema of ``schema``, with ``unsupported`` keywords turned into words."""
    # Imported here: the openai package takes most of a second to import, and commands that
    # never call a model (a cached digest, --version, the register) should not pay for it.
    from openai.lib._pydantic import to_strict_json_schema  # pinned by openai>=3,<4

    return _move_into_description(to_strict_json_schema(schema), unsupported)


def _move_into_description(node: Any, unsupported: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_move_into_description(item, unsupported) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in node.items():
        if key in unsupported:
            if key in _SAYS:
                notes.append(_SAYS[key].format(value))
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            # Property names are data here, not keywords: a property called "title" stays.
            kept[key] = {k: _move_into_description(v, unsupported) for k, v in value.items()}
        else:
            kept[key] = _move_into_description(value, unsupported)
    if notes:
        kept["description"] = " ".join([kept.get("description", ""), *notes]).strip()
    return kept


def response_format(
    schema: type[BaseModel], output_format: OutputFormat, capabilities: Capabilities
) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``output_format``; None sends none."""
    if output_format == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {
                "name": schema.__name__,
                "schema": strict_json_schema(schema, capabilities.unsupported_keywords),
                "strict": True,
            },
        }
    if output_format == "json_object":
        if capabilities.grammar_in_json_object:
            # llama.cpp's extension: the schema becomes a grammar, length limits included.
            return {"type": "json_object", "schema": schema.model_json_schema()}
        return {"type": "json_object"}
    return None


def schema_in_prompt(
    schema: type[BaseModel], output_format: OutputFormat, capabilities: Capabilities
) -> str | None:
    """Words that carry the schema when the server will not enforce it; None when it will."""
    if output_format == "json_schema" or (
        output_format == "json_object" and capabilities.grammar_in_json_object
    ):
        return None
    compact = json.dumps(_without_annotations(schema.model_json_schema()), ensure_ascii=False)
    return f"Reply with one JSON object, and nothing else, valid for this JSON schema: {compact}"


def _without_annotations(node: Any) -> Any:
    """Drop schema *titles* (annotations, strings) to save tokens; never a property named so."""
    if isinstance(node, list):
        return [_without_annotations(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {k: _without_annotations(v) for k, v in value.items()}
        else:
            out[key] = _without_annotations(value)
    return out
