"""GitHub's REST description (the trimmed subset in openapi-subset.json), and objects built
to its schemas: the emulator states what it knows (numbers, titles, SHAs, states) and every
other required field is filled with a value of the declared type, so its answers always
have GitHub's shape."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parent / "openapi-subset.json"
STAMP = "2026-01-01T00:00:00Z"


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SUBSET.read_text())
    return data


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, _, kind, name = node["$ref"].split("/", 3)
        node = spec()["components"][kind][name]
    return node


def schema(name: str) -> dict[str, Any]:
    return resolve({"$ref": f"#/components/schemas/{name}"})


def _merged(node: dict[str, Any]) -> dict[str, Any]:
    """allOf flattened into one object schema."""
    node = resolve(node)
    if "allOf" not in node:
        return node
    out: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for part in node["allOf"]:
        part = _merged(part)
        out["properties"].update(part.get("properties", {}))
        out["required"] += part.get("required", [])
    return out


def build(node: dict[str, Any], given: Any = None) -> Any:
    """A value valid for schema `node`, keeping what `given` says."""
    node = _merged(node)
    for key in ("oneOf", "anyOf"):
        if key in node:
            options = [resolve(o) for o in node[key]]
            if given is None and any(o.get("nullable") for o in options):
                return None
            if isinstance(given, dict):
                options = [o for o in options if _merged(o).get("type", "object") == "object"]
            elif given is not None:
                kind = {str: "string", bool: "boolean", int: "integer", float: "number"}
                options = [o for o in options if o.get("type") == kind.get(type(given))] or options
            return build(options[0], given)
    if given is None and node.get("nullable"):
        return None
    kind = node.get("type", "object")
    if kind == "object":
        value = dict(given or {})
        props = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                value[name] = build(props.get(name, {"type": "string"}))
        for name, sub in props.items():
            if name in value and isinstance(value[name], dict | list) and sub:
                value[name] = build(sub, value[name])
        return value
    if kind == "array":
        items = node.get("items", {})
        return [build(items, v) for v in (given or [])]
    if given is not None:
        return given
    if "enum" in node:
        return next((e for e in node["enum"] if e is not None), None)
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return STAMP
        if fmt == "uri":
            return "https://github.invalid/"
        if fmt == "email":
            return "bot@example.invalid"
        return ""
    if kind == "integer":
        return int(node.get("minimum", 0))
    if kind == "number":
        return float(node.get("minimum", 0))
    if kind == "boolean":
        return False
    return None
