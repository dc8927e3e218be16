"""Every argument is bounded, and a bad one gets a short error that names it.

Through the real server, in memory and over stdio as hosts run it: a 1 MB value in any string
argument of any tool, the `since` and `where` values that used to end in "internal error", and
condition strings that look like operators but are not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, stdio_params, text_of

pytestmark = pytest.mark.anyio

MEGABYTE = "x" * 1_000_000
MAX_MESSAGE = 700  # characters: a few sentences; what matters is that it does not grow with the input

# A call each tool accepts; the sweep puts the oversized value into one string slot of it at a time.
BASE: dict[str, dict[str, Any]] = {
    "record_task": {"task_id": "T1", "task_type": "test", "status": "complete"},
    "find_completed": {},
    "check_prerequisites": {"task_id": "T1"},
    "get_trace": {},
    "query_spans": {"sql": "SELECT 1"},
    "list_gates": {},
    "run_check": {"check": "ruff", "task_id": "T1"},
    "submit_gate_evidence": {"gate": "security", "task_id": "T1", "evidence": ["00f067aa0ba902b7"]},
    "claim_task": {"task_id": "T1"},
    "release_task": {"task_id": "T1"},
    "find_ready": {},
}
# Required members of objects inside arrays (the gate evidence's citations).
FILL = {"span_id": "00f067aa0ba902b7"}


@pytest.fixture(params=["memory", "stdio"])
async def any_client(request: pytest.FixtureRequest, runtime: Runtime, db_path: Path) -> AsyncIterator[Client]:
    """The real server, in memory or as a host runs it: `otel-mcp serve` over stdio."""
    target: Any = create_server(runtime) if request.param == "memory" else stdio_params(db_path, "agent-a")
    async with Client(target) as c:
        yield c


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        resolved: dict[str, Any] = defs[node["$ref"].rsplit("/", 1)[-1]]
        return resolved
    return node


def _nodes(node: dict[str, Any], defs: dict[str, Any], path: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every schema node under `node` with the argument path it describes."""
    node = _resolve(node, defs)
    yield path, node
    for alternative in node.get("anyOf", []):
        yield from _nodes(alternative, defs, path)
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], defs, (*path, 0))
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, defs, (*path, name))


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


def _unbounded(schema: dict[str, Any]) -> list[str]:
    problems = []
    for path, node in _nodes(schema, schema.get("$defs", {})):
        where = ".".join(map(str, path)) or "(arguments)"
        kinds = _types(node)
        if "string" in kinds and "maxLength" not in node and "enum" not in node and "const" not in node:
            problems.append(f"{where}: string without maxLength")
        if "array" in kinds and "maxItems" not in node:
            problems.append(f"{where}: array without maxItems")
        if path and "object" in kinds and node.get("additionalProperties") and "maxProperties" not in node:
            problems.append(f"{where}: open object without maxProperties")
    return problems


def _string_slots(schema: dict[str, Any]) -> list[tuple[str | int, ...]]:
    return [path for path, node in _nodes(schema, schema.get("$defs", {})) if path and "string" in _types(node)]


def _with(base: dict[str, Any], path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    arguments = dict(base)
    name = str(path[0])
    if len(path) == 1:
        arguments[name] = value
    elif len(path) == 2:  # a list of strings
        arguments[name] = [value]
    else:  # a list of objects, one member oversized
        assert len(path) == 3, path
        arguments[name] = [{**FILL, str(path[2]): value}]
    return arguments


async def test_every_string_array_and_open_object_in_every_tool_schema_has_a_bound(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == set(BASE), "a new tool: add a call it accepts to BASE"
    problems = {t.name: _unbounded(t.input_schema) for t in tools}
    assert {name: p for name, p in problems.items() if p} == {}


async def test_a_megabyte_in_any_string_argument_gets_a_short_error_naming_it(any_client: Client) -> None:
    tools = (await any_client.list_tools()).tools
    swept = 0
    for tool in tools:
        for path in _string_slots(tool.input_schema):
            result = await any_client.call_tool(tool.name, _with(BASE[tool.name], path, MEGABYTE))
            message = text_of(result)
            label = f"{tool.name}({'.'.join(map(str, path))})"
            assert result.is_error, label
            assert len(message) <= MAX_MESSAGE, f"{label}: {len(message):,} characters"
            assert "x" * 80 not in message, f"{label} repeats the input"
            assert str(path[0]) in message, f"{label} does not name the argument: {message[:200]}"
            assert "internal error" not in message, label
            swept += 1
    assert swept >= 20  # every tool's strings, nested ones included


# Inside `where` and `attributes`, which the schema cannot type: the core bounds them.
OVERSIZED_INSIDE: list[tuple[str, dict[str, Any], str]] = [
    ("find_completed", {"where": {"k": MEGABYTE}}, "where"),
    ("find_completed", {"where": {MEGABYTE: 1}}, "where"),
    ("find_completed", {"where": {"k": [MEGABYTE]}}, "where"),
    ("find_completed", {"where": {"k": ["a"] * 100_000}}, "where"),
    ("record_task", {**BASE["record_task"], "attributes": {"k": MEGABYTE}}, "attribute"),
    ("record_task", {**BASE["record_task"], "attributes": {MEGABYTE: 1}}, "attribute"),
    ("record_task", {**BASE["record_task"], "attributes": {"k": [MEGABYTE]}}, "attribute"),
    ("record_task", {**BASE["record_task"], "attributes": {"k": ["a"] * 100_000}}, "attribute"),
]


async def test_a_megabyte_inside_where_or_attributes_gets_a_short_error_naming_it(any_client: Client) -> None:
    for tool, arguments, named in OVERSIZED_INSIDE:
        message = await call_error(any_client, tool, **arguments)
        assert len(message) <= MAX_MESSAGE and "x" * 80 not in message, message[:200]
        assert named in message, message


# These answered "internal error (OverflowError)" / "(RecursionError)", or crashed on YAML's readings.
CRASHED: list[tuple[dict[str, Any], str | None]] = [
    ({"since": "9" * 400 + "d"}, "since"),
    ({"since": "9" * 60 + "d"}, "since"),
    ({"since": "1" * 30 + "s"}, "since"),
    ({"since": "1" * 12 + "w"}, "since"),
    ({"where": {"k": "in " + "[" * 500}}, "where"),
    ({"where": {"k": "in [" + "[" * 1000 + "]"}}, "where"),
    ({"where": {"k": "in [a, [b], c]"}}, "where"),
    ({"where": {"k": 10**30}}, "where"),
    ({"where": {"k": [10**30]}}, "where"),
    ({"where": {"k": [{"a": 1}]}}, "where"),
    ({"where": {"k": "in [2024-01-01, yes]"}}, None),  # plain text values now, not a YAML date and a boolean
]


async def test_since_and_where_values_that_crashed_are_argument_errors_naming_them(any_client: Client) -> None:
    for arguments, named in CRASHED:
        result = await any_client.call_tool("find_completed", arguments)
        message = text_of(result)
        assert "internal error" not in message, arguments
        if named is None:
            assert not result.is_error, message
            continue
        assert result.is_error, arguments
        assert named in message and len(message) <= MAX_MESSAGE, message


async def test_many_bad_items_give_a_short_error_listing_the_first_few(any_client: Client) -> None:
    # pydantic's own report listed all 150 problems, each with a URL: 31 KB.
    evidence = [{"span_id": None, "requirement": 5}] * 50
    message = await call_error(any_client, "submit_gate_evidence", gate="security", task_id="T1", evidence=evidence)
    assert "150 arguments do not fit the tool's input schema" in message
    assert message.count("\n") == 6 and "... and 145 more" in message
    assert "errors.pydantic.dev" not in message and "constrained-str" not in message
    assert len(message) < 1000


async def test_an_error_that_quotes_the_agents_sql_quotes_only_a_prefix(any_client: Client) -> None:
    # SQLite's 'unrecognized token: "<token>"' and 'no such column: <name>' repeated a 5,000-character token.
    for sql, says in (("SELECT '" + "é" * 5000, "unrecognized token"), ("SELECT " + "é" * 5000, "no such column")):
        message = await call_error(any_client, "query_spans", sql=sql)
        assert says in message and "é" * 61 not in message, message
        assert "5,00" in message and len(message) < 500, message  # the length is given instead


async def test_a_long_but_sane_since_still_works(any_client: Client) -> None:
    await call(any_client, "record_task", **BASE["record_task"])
    for since in ("36500d", "5200w", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        found = await call(any_client, "find_completed", since=since)
        assert found["count"] == (0 if since.startswith("9999") else 1), since


async def test_a_condition_that_starts_like_an_operator_but_is_none_is_refused(any_client: Client) -> None:
    for spec in ("=< 0", "=> 1", "<> 2", "!", "! 3", "!3", "==> 4", "===", "!== 5", ">=< 1", "=="):
        message = await call_error(any_client, "find_completed", where={"x": spec})
        assert "where" in message and "'x'" in message, message
        if spec != "==":
            assert "== != < <= > >=" in message, message


async def test_operators_and_quoted_values_that_start_like_one_still_work(any_client: Client) -> None:
    await call(any_client, "record_task", **BASE["record_task"], attributes={"x": 0, "note": "!important"})
    for where in (
        {"x": "= 0"},
        {"x": "== 0"},
        {"x": "<= 0"},
        {"x": ">= 0"},
        {"x": "!= 1"},
        {"x": "in [0, 1]"},
        {"note": "== '!important'"},
        {"note": "in ['!important', '=x']"},
    ):
        found = await call(any_client, "find_completed", where=where)
        assert found["count"] == 1, where


async def test_an_in_list_is_bounded_in_items_and_item_length(any_client: Client) -> None:
    await call(any_client, "record_task", **BASE["record_task"], attributes={"k": "v99"})
    hundred = [f"v{i}" for i in range(100)]
    assert (await call(any_client, "find_completed", where={"k": hundred}))["count"] == 1
    assert (await call(any_client, "find_completed", where={"k": "in [" + ", ".join(hundred[90:]) + "]"}))["count"]
    message = await call_error(any_client, "find_completed", where={"k": [*hundred, "v100"]})
    assert "101" in message and "100" in message
    message = await call_error(any_client, "find_completed", where={"k": ["v" * 257]})
    assert "257" in message and "256" in message
    message = await call_error(any_client, "find_completed", where={"k": "in [" + ",".join(["a"] * 101) + "]"})
    assert "100" in message


def test_the_error_helper_quotes_a_short_prefix_of_anything() -> None:
    from otel_mcp.errors import excerpt

    assert excerpt("x" * 1_000_000) == repr("x" * 60) + "... (1,000,000 characters)"
    assert len(excerpt(10**5000)) < 80  # Python refuses to print it at all
    assert len(excerpt([MEGABYTE] * 3)) < 90
    assert len(excerpt({"k": {"k": {"k": MEGABYTE}}})) < 90
    assert json.loads(json.dumps(excerpt("\ud800")))  # a lone surrogate stays printable
