"""Every model-facing schema, as each kind of server receives it, passes that server's rules.

The bug this guards against: the strict schema once dropped every key named ``title``,
including the ``title`` *property* of an official, so strict servers never let a model
write one.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bot.core.models.capabilities import PROFILES
from bot.core.models.llm import Capabilities
from bot.core.models.output_formats import (
    OPENAI_UNSUPPORTED_KEYWORDS,
    response_format,
    schema_in_prompt,
    strict_json_schema,
)
from bot.core.schemas import MODEL_FACING, CitedOfficial
from tests.fakes.schema_rules import conform, openai_strict_problem, schema_problem

NAMES = [m.__name__ for m in MODEL_FACING]


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and every model nested in its fields."""
    found = [model]
    for field in model.model_fields.values():
        for arg in getattr(field.annotation, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found += _models(arg)
    return found


def _object_nodes(node: Any, root: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [n for item in node for n in _object_nodes(item, root)]
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") == "object" else []
    for key, value in node.items():
        if key in ("properties", "$defs"):
            found += [n for child in value.values() for n in _object_nodes(child, root)]
        else:
            found += _object_nodes(value, root)
    return found


@pytest.mark.parametrize("model", MODEL_FACING, ids=NAMES)
def test_every_field_is_a_required_property_of_the_strict_schema(model: type[BaseModel]) -> None:
    schema = strict_json_schema(model, OPENAI_UNSUPPORTED_KEYWORDS)
    objects = _object_nodes(schema, schema)
    for nested in _models(model):
        fields = set(nested.model_fields)
        matching: list[dict[str, Any] | None] = [
            o for o in objects if set(o.get("properties", {})) == fields
        ]
        [node] = matching or [None]
        assert node is not None, f"{nested.__name__}: fields {sorted(fields)} not all in schema"
        assert set(node["required"]) == fields
        assert node["additionalProperties"] is False


@pytest.mark.parametrize("model", MODEL_FACING, ids=NAMES)
def test_openai_takes_every_schema_as_the_bot_sends_it(model: type[BaseModel]) -> None:
    fmt = response_format(model, "json_schema", PROFILES["openai"])
    assert fmt is not None
    spec = fmt["json_schema"]
    assert spec["strict"] is True
    assert openai_strict_problem(spec["name"], spec["schema"]) is None


@pytest.mark.parametrize("model", MODEL_FACING, ids=NAMES)
def test_enforcing_servers_get_the_length_limits(model: type[BaseModel]) -> None:
    """vLLM and Ollama enforce maxItems/maxLength: the small-model guards rely on them."""
    schema = strict_json_schema(model)  # the vllm/ollama profile: nothing removed
    assert schema_problem(schema) is None
    full = model.model_json_schema()
    assert ('"maxItems"' in str(full).replace("'", '"')) == ("maxItems" in str(schema))
    assert ("maxLength" in str(full)) == ("maxLength" in str(schema))


def test_an_unsupported_keyword_becomes_words_for_openai() -> None:
    from bot.core.schemas import SmallDigestDraft

    schema = strict_json_schema(SmallDigestDraft, OPENAI_UNSUPPORTED_KEYWORDS)
    assert "maxLength" not in str(schema)
    assert "At most 300 characters." in schema["properties"]["summary"]["description"]
    assert schema["properties"]["officials"]["maxItems"] == 30  # OpenAI takes maxItems


def test_the_title_property_survives_and_is_written() -> None:
    schema = strict_json_schema(CitedOfficial, OPENAI_UNSUPPORTED_KEYWORDS)
    assert "title" in schema["properties"] and "title" in schema["required"]
    written = conform(
        {"name": "Li Wei", "title": "Mayor", "organization": "", "sentences": [1]}, schema
    )
    assert written["title"] == "Mayor"


def test_fake_rules_refuse_what_openai_refuses() -> None:
    """The fake's checker itself, on the mistakes of the first version."""
    good = strict_json_schema(CitedOfficial)
    no_title = {
        **good,
        "properties": {k: v for k, v in good["properties"].items() if k != "title"},
    }  # the old bug: the property gone, yet still required
    assert "'required' includes unknown property 'title'" in str(
        openai_strict_problem("CitedOfficial", no_title)
    )
    loose = {k: v for k, v in good.items() if k != "additionalProperties"}
    assert "'additionalProperties' is required to be supplied and to be false" in str(
        openai_strict_problem("CitedOfficial", loose)
    )
    partial = {**good, "required": ["name"]}
    assert "Missing 'title'" in str(openai_strict_problem("CitedOfficial", partial))
    limited = {
        **good,
        "properties": {**good["properties"], "name": {"type": "string", "maxLength": 9}},
    }
    assert "'maxLength' is not permitted" in str(openai_strict_problem("CitedOfficial", limited))


def test_schema_goes_in_the_prompt_only_where_no_server_holds_the_model_to_it() -> None:
    model = MODEL_FACING[0]
    assert schema_in_prompt(model, "json_schema", PROFILES["openai"]) is None
    assert schema_in_prompt(model, "json_object", PROFILES["llamacpp"]) is None
    words = schema_in_prompt(model, "json_object", Capabilities())
    assert words is not None and '"title": {' in words  # the property, not an annotation
    assert response_format(model, "json_object", Capabilities()) == {"type": "json_object"}
    assert response_format(model, "prompt", PROFILES["plain"]) is None
