"""What a client sees of every tool: clean descriptions, compact text, portable and cheap schemas.

The portability rules are the MCP Inspector's `--strict` schema lint (`core/json/schemaLint.ts`,
Inspector 2.x): no `type` arrays, no schema that constrains nothing, no bare boolean schema outside
`additionalProperties` and its kin, no `$ref` outside the document. On top of them, ours: no `$ref`
at all (inlined, so clients resolve nothing per array element) and no property title that only
repeats the property's name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.server._schema import portable_schema
from tests.conftest import call

pytestmark = pytest.mark.anyio

_BOOLEAN_ALLOWED = {"additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems"}
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_ONES = ("items", "contains", "not", "propertyNames", "if", "then", "else", *_BOOLEAN_ALLOWED)
_CONSTRAINING = {
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "format", "maxItems", "minItems", "uniqueItems", "maxProperties",
    "minProperties", "required", "allOf", "anyOf", "oneOf", "not", "items", "prefixItems", "contains",
    "properties", "patternProperties", "additionalProperties", "propertyNames", "$ref",
}  # fmt: skip


def portability_problems(node: Any, path: str = "", keyword: str | None = None) -> list[str]:
    """Every place `node` breaks a rule above, as 'path: what'."""
    if isinstance(node, bool):
        return [] if keyword in _BOOLEAN_ALLOWED else [f"{path}: bare {node} where a schema is expected"]
    if not isinstance(node, dict):
        return [f"{path}: not a schema"]
    problems = []
    if isinstance(node.get("type"), list):
        problems.append(f"{path}: type is an array {node['type']}")
    if not _CONSTRAINING & set(node) and keyword != "not":
        problems.append(f"{path}: constrains nothing")
    if "$ref" in node:
        problems.append(f"{path}: $ref {node['$ref']} (inline it)")
    for key, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get("title") == key.replace("_", " ").title():
            problems.append(f"{path}.properties.{key}: title repeats the name")
    for key in _MAPS:
        for name, sub in (node.get(key) or {}).items():
            problems += portability_problems(sub, f"{path}.{key}.{name}", key)
    for key in _LISTS:
        for i, sub in enumerate(node.get(key) or []):
            problems += portability_problems(sub, f"{path}.{key}[{i}]", key)
    for key in _ONES:
        if key in node:
            problems += portability_problems(node[key], f"{path}.{key}", key)
    return problems


async def test_every_tool_schema_input_and_output_is_portable(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) >= 11
    for tool in tools:
        assert tool.output_schema is not None, tool.name
        for kind, schema in (("inputSchema", tool.input_schema), ("outputSchema", tool.output_schema)):
            assert portability_problems(schema, kind) == [], tool.name


async def test_nullable_fields_are_typed_branches_and_query_rows_are_typed_arrays(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    claim = tools["claim_task"].output_schema
    assert claim is not None
    assert claim["properties"]["holder"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    rows = tools["query_spans"].output_schema["properties"]["rows"]  # type: ignore[index]
    # A row is an array of cells; a cell is any JSON value, which an absent `items` says exactly.
    assert rows["items"] == {"type": "array"}


def test_the_lint_catches_what_it_is_meant_to() -> None:
    # The rules above, each on a schema that breaks it: a test that cannot fail proves nothing.
    bad = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"]},
            "b": {"type": "array", "items": {}},
            "c": True,
            "d": {"$ref": "#/$defs/D"},
            "e_f": {"type": "string", "title": "E F"},
        },
        "additionalProperties": True,
        "$defs": {"D": {"type": "string"}},
    }
    found = portability_problems(bad)
    assert [p.split(":")[0] for p in found] == [
        ".properties.e_f",
        ".properties.a",
        ".properties.b.items",
        ".properties.c",
        ".properties.d",
    ]
    assert portability_problems(portable_schema(bad)) == []


def test_portable_schema_keeps_the_meaning_of_what_it_rewrites() -> None:
    from jsonschema import Draft202012Validator

    schema = {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "maxLength": 3, "description": "kept"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "cells": {"type": "array", "items": {"type": "array", "items": {}}},
        },
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
    }
    portable = portable_schema(schema)
    assert portable["properties"]["name"] == {
        "description": "kept",
        "anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}],
    }
    assert "$defs" not in portable and schema["$defs"]  # the input is not changed
    instances = [
        {"name": "abc", "items": [{"n": 1}], "cells": [["x", 1, None, [1], {"k": True}]]},
        {"name": None},
        {"name": "abcd"},
        {"name": 3},
        {"items": [{"n": "1"}]},
        {"items": [{}]},
        {"cells": ["not a row"]},
    ]
    for instance in instances:
        assert Draft202012Validator(schema).is_valid(instance) == Draft202012Validator(portable).is_valid(instance)


def test_a_recursive_model_keeps_its_definition_and_the_rest_is_inlined() -> None:
    schema = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}, "leaf": {"$ref": "#/$defs/Leaf"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            },
            "Leaf": {"type": "string"},
        },
    }
    portable = portable_schema(schema)
    assert portable["properties"]["leaf"] == {"type": "string"}
    assert portable["properties"]["root"] == {"$ref": "#/$defs/Node"}
    assert list(portable["$defs"]) == ["Node"]


async def test_tool_descriptions_have_no_docstring_indentation(client: Client) -> None:
    tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description, tool.name
        lines = tool.description.splitlines()
        assert [line for line in lines if line[:1].isspace()] == [], tool.name
        assert tool.description == tool.description.strip(), tool.name
    multi = next(t for t in tools if t.name == "record_task")
    assert "\n\nCall it when you plan a task" in (multi.description or "")
    for prompt in (await client.list_prompts()).prompts:
        assert prompt.description and not any(line[:1].isspace() for line in prompt.description.splitlines())


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_text_copy_of_a_result_is_the_structured_result_as_compact_json(runtime: Runtime, mode: str) -> None:
    async with Client(create_server(runtime), mode=mode) as c:
        await call(c, "record_task", task_id="T", task_type="test", status="planned", summary="a, b: c")
        for tool, arguments in (
            ("record_task", {"task_id": "T/a", "task_type": "test", "status": "complete", "parent_task_id": "T"}),
            ("get_trace", {"task_id": "T"}),
            ("claim_task", {"task_id": "T/b", "lease_seconds": 60}),
            ("query_spans", {"sql": "SELECT name, duration_ms, task_parent_id FROM spans LIMIT 3"}),
        ):
            result = await c.call_tool(tool, arguments)
            assert not result.is_error, tool
            [block] = result.content
            text = getattr(block, "text", "")
            assert json.loads(text) == result.structured_content, tool
            assert text == json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False), tool


def test_every_server_of_a_process_gets_its_own_copy_of_the_same_tools(runtime: Runtime) -> None:
    first, second = create_server(runtime), create_server(runtime)
    tools_a = {t.name: t for t in first._tool_manager.list_tools()}
    tools_b = {t.name: t for t in second._tool_manager.list_tools()}
    assert tools_a.keys() == tools_b.keys() and len(tools_a) >= 11
    for name, tool in tools_a.items():
        other = tools_b[name]
        assert tool is not other  # built once, copied per server: what one server changes, the other never sees
        assert tool.parameters == other.parameters
        assert tool.fn_metadata.output_schema == other.fn_metadata.output_schema
    tools_a["record_task"].description = "changed on one server only"
    assert tools_b["record_task"].description != "changed on one server only"
