"""OpenAI function-calling tool definitions for chat assistants (also usable as MCP tool schemas)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import CHANNELS

logger = logging.getLogger(__name__)

_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "recommend_products": (
        "Recommend products for an app user, optionally matching a free-text query.",
        {
            "type": "object",
            "properties": {
                "user_id": {"type": "string", "description": "The app user's id."},
                "query": {
                    "type": "string",
                    "description": "What the user asked for; empty for general picks.",
                },
                "k": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many products."},
                "locale": {
                    "type": "string",
                    "description": "The answer's language when the query shows none (en-US or zh-CN); "
                    "empty for the user's own.",
                },
            },
            "required": ["user_id"],
            "additionalProperties": False,
        },
    ),
    "get_user_profile": (
        "Get an app user's profile: lifecycle stage, locale, city, opt-ins and recent interests.",
        {
            "type": "object",
            "properties": {"user_id": {"type": "string", "description": "The app user's id."}},
            "required": ["user_id"],
            "additionalProperties": False,
        },
    ),
    "write_message": (
        "Write a marketing message for a user about one product on one channel.",
        {
            "type": "object",
            "properties": {
                "user_id": {"type": "string", "description": "The app user's id."},
                "item_id": {"type": "string", "description": "The product's id."},
                "channel": {"type": "string", "enum": list(CHANNELS), "description": "Delivery channel."},
            },
            "required": ["user_id", "item_id", "channel"],
            "additionalProperties": False,
        },
    ),
}


def tool_definitions() -> list[dict[str, Any]]:
    """The ``tools=`` argument of ``chat.completions.create`` (fresh copies, safe to mutate)."""
    return [
        {
            "type": "function",
            "function": {"name": name, "description": desc, "parameters": copy.deepcopy(params)},
        }
        for name, (desc, params) in _SCHEMAS.items()
    ]


def validate_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Check a model's tool call against its schema; returns arguments with defaults filled in.

    Models produce malformed calls; refusing them with a named field lets the caller feed the error
    back to the model instead of crashing.
    """
    if name not in _SCHEMAS:
        raise InvalidArgument(f"unknown tool {name!r}; known: {sorted(_SCHEMAS)}", field="name")
    schema = _SCHEMAS[name][1]
    props: dict[str, Any] = schema["properties"]
    unknown = set(arguments) - set(props)
    if unknown:
        raise InvalidArgument(f"{name}: unknown argument(s) {sorted(unknown)}", field=sorted(unknown)[0])
    for req in schema["required"]:
        if req not in arguments or arguments[req] in (None, ""):
            raise InvalidArgument(f"{name}: missing required argument {req!r}", field=req)
    out: dict[str, Any] = {}
    for key, spec in props.items():
        if key not in arguments:
            continue
        val = arguments[key]
        if spec["type"] == "string":
            if not isinstance(val, str):
                raise InvalidArgument(f"{name}: {key} must be a string", field=key)
            if "enum" in spec and val not in spec["enum"]:
                raise InvalidArgument(f"{name}: {key} must be one of {spec['enum']}", field=key)
        elif spec["type"] == "integer":
            if isinstance(val, bool) or not isinstance(val, int):
                raise InvalidArgument(f"{name}: {key} must be an integer", field=key)
            if not spec.get("minimum", val) <= val <= spec.get("maximum", val):
                raise InvalidArgument(
                    f"{name}: {key} must be in [{spec.get('minimum')}, {spec.get('maximum')}]", field=key
                )
        out[key] = val
    if name == "recommend_products":
        out.setdefault("query", "")
        out.setdefault("k", 10)
    return out
