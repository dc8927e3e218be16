"""Read a check's attributes from what it produced: JSON output, a structured report, or text.

Kinds: `json:` (a JSON Pointer into stdout), `count:` (array length, optionally filtered with
`?field=value&...`), `report:` (a JSON Pointer into the `{report}` file), `junit:` (a count summed
over a JUnit XML report) and `regex:` (one group, over the output or only its last line, the
tool's own summary). Structured documents are parsed in a worker thread; regexes run in a separate
process stopped at the check's time limit, because a backtracking pattern cannot be interrupted
inside this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

import anyio

from otel_mcp.core.gates.checks.process import CommandOutcome
from otel_mcp.core.gates.definitions.checkspec import Check, Extractor
from otel_mcp.model import MAX_STRING_VALUE, AttrValue

_SUITE_FIELDS = ("tests", "failures", "errors", "skipped")
_MAX_REASONS = 20

__all__ = ["MISSING", "extract_attributes", "resolve_pointer"]

MISSING: Any = object()  # what resolve_pointer returns for a step that does not exist

_REGEX_SCRIPT = (
    "import json, re, sys\n"
    "data = json.load(sys.stdin)\n"
    "out = []\n"
    "for pattern, scope in data['patterns']:\n"
    "    m = re.compile(pattern, re.M).search(data[scope])\n"
    "    out.append(None if m is None or m.group(1) is None else m.group(1))\n"
    "json.dump(out, sys.stdout)\n"
)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON Pointer; returns `MISSING` when a step does not exist."""
    if pointer == "":
        return document
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return MISSING
            node = node[int(token)]
        else:
            return MISSING
    return node


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attr_value(name: str, value: Any) -> tuple[AttrValue | None, str | None]:
    if isinstance(value, bool | int | float):
        return value, None
    if isinstance(value, str):
        return value[:MAX_STRING_VALUE], None
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        kinds = {type(v) for v in value}
        if len(kinds) <= 1:
            return tuple(value[:100]), None
    kind = "an object" if isinstance(value, dict) else "null" if value is None else "a mixed or nested list"
    return None, f"{name}: the JSON value is {kind}; point at a number, string or boolean, or use count:"


def _coerce(text: str) -> AttrValue:
    stripped = text.strip()
    with contextlib.suppress(ValueError):
        return int(stripped)
    with contextlib.suppress(ValueError):
        number = float(stripped)
        if number == number and abs(number) != float("inf"):
            return number
    return text[:MAX_STRING_VALUE]


def _parse_json(data: bytes, what: str, cut: bool, max_bytes: int) -> Any:
    if cut:
        return ValueError(f"the {what} exceeded max_output_bytes ({max_bytes}) and was cut; raise max_output_bytes")
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except (json.JSONDecodeError, RecursionError) as exc:
        head = data[:120].decode("utf-8", "replace").strip() or "(empty)"
        detail = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return ValueError(f"the {what} is not JSON ({detail}); it starts with {head!r}")


def _parse_junit(
    data: bytes | None, max_bytes: int, allowed: Sequence[str] = ()
) -> dict[str, int | tuple[str, ...]] | ValueError:
    if data is None:
        return ValueError("the check wrote no report at {report}")
    if len(data) > max_bytes:
        return ValueError(f"the report is larger than max_output_bytes ({max_bytes})")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return ValueError("the report declares a DOCTYPE or entities, which a JUnit report never needs")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        return ValueError(f"the report is not XML ({exc})")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites") or not suites:
        return ValueError(f"the report is not JUnit XML (its root element is <{root.tag[:40]}>)")
    totals: dict[str, int | tuple[str, ...]] = {}
    for key in _SUITE_FIELDS:
        try:
            totals[key] = sum(int(suite.get(key, "0")) for suite in suites)
        except ValueError:
            return ValueError(f"the report's {key}= is not a number")
    xfailed, unallowed = 0, 0
    reasons: list[str] = []
    for suite in suites:
        for case in suite.iter("testcase"):
            skipped = case.find("skipped")
            if skipped is None:
                continue
            xfailed += skipped.get("type") == "pytest.xfail"
            reason = (skipped.get("message") or "").strip()
            test_id = ".".join(p for p in (case.get("classname", ""), case.get("name", "")) if p)
            if not any(
                fnmatchcase(test_id, g) or fnmatchcase(_pytest_id(case), g) or fnmatchcase(reason, g) for g in allowed
            ):
                unallowed += 1
                if len(reasons) < _MAX_REASONS:
                    reasons.append(f"{test_id}: {reason or '(no reason)'}"[:200])
    totals.update({"xfailed": xfailed, "skipped.unallowed": unallowed, "skip_reasons": tuple(reasons)})
    return totals


def _pytest_id(case: ElementTree.Element) -> str:
    """`tests/test_app.py::test_x` from classname `tests.test_app` and name `test_x` (a best guess)."""
    module = case.get("classname", "").replace(".", "/")
    return f"{module}.py::{case.get('name', '')}" if module else case.get("name", "")


def _one(extractor: Extractor, document: Any) -> tuple[AttrValue | None, str | None]:
    name = extractor.attribute
    if isinstance(document, Exception):
        return (extractor.default, None) if extractor.default is not None else (None, f"{name}: {document}")
    if extractor.kind == "junit":
        return document[extractor.pointer], None
    node = resolve_pointer(document, extractor.pointer)
    if node is MISSING:
        if extractor.default is not None:
            return extractor.default, None
        where = "report" if extractor.kind == "report" else "output"
        return None, f"{name}: the {where} has nothing at JSON Pointer {extractor.pointer or '(root)'}"
    if extractor.kind in ("json", "report"):
        return _attr_value(name, node)
    if not isinstance(node, list | dict):
        return None, f"{name}: count: needs an array at {extractor.pointer or '(root)'}, found {type(node).__name__}"
    items = list(node.values()) if isinstance(node, dict) else node
    if extractor.filters:
        items = [
            item
            for item in items
            if isinstance(item, dict) and all(k in item and _field_text(item[k]) == v for k, v in extractor.filters)
        ]
    return len(items), None


def _structured(check: Check, outcome: CommandOutcome, report: bytes | None) -> dict[str, tuple[Any, Any]]:
    """attribute -> (value, error) for every non-regex extractor; parses each document once."""
    cap = check.max_output_bytes
    kinds = {e.kind for e in check.extractors}
    documents: dict[str, Any] = {}
    if kinds & {"json", "count"}:
        cut = outcome.truncated and len(outcome.stdout) >= cap
        documents["json"] = documents["count"] = _parse_json(outcome.stdout, "output", cut, cap)
    if "report" in kinds:
        documents["report"] = (
            ValueError("the check wrote no report at {report}")
            if report is None
            else _parse_json(report, "report", len(report) > cap, cap)
        )
    if "junit" in kinds:
        documents["junit"] = _parse_junit(report, cap, check.allowed_skips)
    return {e.attribute: _one(e, documents[e.kind]) for e in check.extractors if e.kind != "regex"}


async def _regexes(extractors: Sequence[Extractor], outcome: CommandOutcome, timeout_s: float) -> list[str | None]:
    stdout = outcome.stdout.decode("utf-8", "replace")
    lines = [line for line in stdout.splitlines() if line.strip()]
    payload = {
        "patterns": [(e.pattern.pattern if e.pattern else "", e.scope) for e in extractors],
        "output": outcome.text,
        "last_line": lines[-1] if lines else "",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-c",
        _REGEX_SCRIPT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={"LC_ALL": "C.UTF-8"},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), timeout=max(timeout_s, 1.0))
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    result = json.loads(out or b"null")
    if not isinstance(result, list) or len(result) != len(extractors):
        raise ValueError("the regex worker failed")
    return result


async def extract_attributes(
    check: Check, outcome: CommandOutcome, report: bytes | None = None, *, timeout_s: float = 60.0
) -> tuple[dict[str, AttrValue], list[str]]:
    """Attributes read from the output and report, and a sentence per attribute that could not be read."""
    found = await anyio.to_thread.run_sync(_structured, check, outcome, report)
    regexes = [e for e in check.extractors if e.kind == "regex"]
    if regexes:
        try:
            matches = await _regexes(regexes, outcome, timeout_s)
        except TimeoutError:
            return {}, [
                f"reading the output with the check's regexes took longer than its time limit ({timeout_s:.0f}s "
                "left) and was stopped; an admin must simplify the pattern (nested repetition backtracks)"
            ]
        except (OSError, ValueError) as exc:
            return {}, [f"reading the output with the check's regexes failed: {exc}"]
        for extractor, text in zip(regexes, matches, strict=True):
            assert extractor.pattern is not None
            if text is not None:
                found[extractor.attribute] = (_coerce(text), None)
            elif extractor.default is not None:
                found[extractor.attribute] = (extractor.default, None)
            else:
                where = "the last line of the output" if extractor.scope == "last_line" else "the output"
                why = f"{extractor.attribute}: the pattern {extractor.pattern.pattern!r} did not match {where}"
                found[extractor.attribute] = (None, why)
    attrs: dict[str, AttrValue] = {}
    errors: list[str] = []
    for extractor in check.extractors:  # in the order the admin wrote them
        value, error = found[extractor.attribute]
        if error is not None:
            errors.append(error)
        elif value is not None:
            attrs[extractor.attribute] = value
    return attrs, errors
