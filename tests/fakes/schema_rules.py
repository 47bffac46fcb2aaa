"""What real servers do with a JSON schema, for the fake OpenAI server.

``openai_strict_problem``: OpenAI's strict-mode checks of a ``json_schema`` response format,
with OpenAI's 400 wording (see tests/fakes/recorded/). ``conform``: what a server that
enforces the schema lets a model write: keys the schema lacks are never written, required
keys always are, lengths and item counts are cut to the limits. The result is validated with
``jsonschema`` before it is sent, so the fake can never answer what the request forbids.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

# OpenAI's structured-output guide: the keywords strict mode accepts; any other is refused.
OPENAI_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "anyOf", "enum",
     "const", "description", "title", "$defs", "definitions", "$ref", "pattern", "format",
     "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems",
     "maxItems"}
)  # fmt: skip
OPENAI_MAX_PROPERTIES = 5000
OPENAI_MAX_DEPTH = 10
OPENAI_MAX_ENUM = 1000
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SchemaProblem(ValueError):
    """The request's schema is one the real server refuses; ``str()`` is its wording."""


def openai_strict_problem(name: str, schema: Any) -> str | None:
    """OpenAI's 400 message for a strict ``json_schema`` it refuses, or None if it takes it."""
    if not _NAME.match(name or ""):
        return (
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
        )
    prefix = f"Invalid schema for response_format '{name}': "
    if not isinstance(schema, dict) or schema.get("type") != "object":
        got = schema.get("type") if isinstance(schema, dict) else None
        return (
            prefix + f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
        )
    counts = {"properties": 0}
    try:
        _check(schema, (), 1, counts)
    except SchemaProblem as problem:
        return prefix + str(problem)
    if counts["properties"] > OPENAI_MAX_PROPERTIES:
        return prefix + f"too many properties (at most {OPENAI_MAX_PROPERTIES} are allowed)."
    return None


def _check(node: Any, context: tuple[str, ...], depth: int, counts: dict[str, int]) -> None:
    where = f"In context={context!r}, "
    if not isinstance(node, dict):
        raise SchemaProblem(where + "schema must be an object.")
    if depth > OPENAI_MAX_DEPTH:
        raise SchemaProblem(where + f"nesting depth exceeds {OPENAI_MAX_DEPTH}.")
    for key in node:
        if key not in OPENAI_KEYWORDS:
            raise SchemaProblem(where + f"'{key}' is not permitted.")
    if "$ref" in node and len(node) > 1:
        others = sorted(k for k in node if k != "$ref")
        raise SchemaProblem(where + f"$ref cannot have keywords {set(others)!r}.")
    if len(node.get("enum") or []) > OPENAI_MAX_ENUM:
        raise SchemaProblem(where + f"enum has more than {OPENAI_MAX_ENUM} values.")
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types:
        properties = node.get("properties")
        if node.get("additionalProperties") is not False:
            raise SchemaProblem(
                where + "'additionalProperties' is required to be supplied and to be false."
            )
        if isinstance(properties, dict):
            counts["properties"] += len(properties)
            required = node.get("required")
            missing = [k for k in properties if not isinstance(required, list) or k not in required]
            if missing:
                raise SchemaProblem(
                    where + "'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            extra = [k for k in required or [] if k not in properties]
            if extra:
                raise SchemaProblem(where + f"'required' includes unknown property '{extra[0]}'.")
            for key, child in properties.items():
                _check(child, (*context, "properties", key), depth + 1, counts)
    if isinstance(node.get("items"), dict):
        _check(node["items"], (*context, "items"), depth + 1, counts)
    for index, variant in enumerate(node.get("anyOf") or []):
        _check(variant, (*context, "anyOf", str(index)), depth + 1, counts)
    for key, child in (node.get("$defs") or node.get("definitions") or {}).items():
        _check(child, (*context, "$defs", key), depth, counts)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema at all (what every enforcing server checks)."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        return f"invalid JSON schema: {error.message}"
    return None


def conform(value: Any, schema: dict[str, Any]) -> Any:
    """What a schema-enforcing server lets a model write, starting from what it wanted to."""
    out = _conform(value, schema, schema)
    jsonschema.Draft202012Validator(schema).validate(out)  # the fake must never break it
    return out


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _conform(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    node = _resolve(node, root)
    if "anyOf" in node:
        variants = [_resolve(v, root) for v in node["anyOf"]]
        for variant in variants:
            if _valid(value, variant, root):
                return _conform(value, variant, root)
        if value is None:
            nullable = [v for v in variants if v.get("type") == "null"]
            if nullable:
                return None
        return _conform(value, variants[0], root)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return value if value in node["enum"] else node["enum"][0]
    kind = node.get("type")
    if isinstance(kind, list):
        if value is None and "null" in kind:
            return None
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        given = value if isinstance(value, dict) else {}
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        out: dict[str, Any] = {}
        for key, child in properties.items():
            if key in given:
                out[key] = _conform(given[key], child, root)
            elif key in required:
                out[key] = _conform(None, child, root)  # the grammar makes the model write it
        if node.get("additionalProperties", True) is not False:
            out.update({k: v for k, v in given.items() if k not in properties})
        return out
    if kind == "array":
        items = value if isinstance(value, list) else []
        child = node.get("items", {})
        out_items = [_conform(item, child, root) for item in items]
        if "maxItems" in node:
            out_items = out_items[: node["maxItems"]]
        while len(out_items) < node.get("minItems", 0):
            out_items.append(_conform(None, child, root))
        return out_items
    if kind == "string":
        text = value if isinstance(value, str) else ("" if value is None else str(value))
        if "maxLength" in node:
            text = text[: node["maxLength"]]
        return text.ljust(node.get("minLength", 0), "x")
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    if kind == "null":
        return None
    return value


def _valid(value: Any, node: dict[str, Any], root: dict[str, Any]) -> bool:
    if value is None:
        return node.get("type") == "null"
    kind = node.get("type")
    checks: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "object": dict,
        "array": list,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
    }
    wanted = checks.get(kind) if isinstance(kind, str) else None
    return wanted is not None and isinstance(value, wanted)
