"""Arguments a fuzzer or a confused model would send: huge, mistyped, deeply nested, odd unicode.

`HostileArguments(rng).for_tool(name, input_schema)` returns one argument object for one call:
each argument of the tool's schema is left out, given a plausible value, or given a hostile one,
and now and then the whole object is replaced or extended with names the tool does not have.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["HostileArguments"]


def _nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


STRINGS: list[str] = [
    "",
    " ",
    "\t\n",
    "x" * 1_000_000,  # a megabyte
    "y" * 100_000,
    "é" * 5000,
    "\u202eevil\u202c",  # right-to-left override
    "\u200b" * 200,  # zero-width spaces
    "a\x00b",  # NUL
    "😀" * 1000,
    "e\u0301" * 1000,  # combining accents
    "\ufeffBOM",
    "../../etc/passwd",
    "'; DROP TABLE spans; --",
    "%s%s%n",
    "${jndi:ldap://x/a}",
    "\n" * 1000,
    "\\",
    '"',
    "null",
    "NaN",
    "-0",
    "1e309",
    "0x10",
    "9" * 400 + "d",
    "1" * 30 + "s",
    "=< 0",
    "in " + "[" * 500,
    "in [" + ", ".join(str(i) for i in range(5000)) + "]",
    "2026-13-45T99:99:99Z",
    "0001-01-01T00:00:00+14:00",
    "SELECT * FROM sqlite_master",
    "SELECT length(printf('%.*c', 1000, 'x'))",
    "00F067AA0BA902B7",
    "0" * 16,
    "0" * 32,
]
NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**100,
    1.5,
    -0.0,
    1e308,
    5e-324,
    0.1 + 0.2,
]
OTHERS: list[Any] = [
    None,
    True,
    False,
    [],
    {},
    [1] * 10_000,
    ["x" * 10_000] * 100,
    _nested_list(150),
    _nested_dict(150),
    _nested_list(248),  # within the client's serialization limit, past the server's parse limit
    {"k" * 10_000: 1},
    {f"k{i}": i for i in range(10_000)},
    {"nested": {"a": {"b": 1}}},
    {"x": "=< 0"},
    {"x": list(range(5000))},
    {"x": "in " + "[" * 500},
    {"quality.score": ">= high"},
    {"otel_mcp.source": "runner"},
    [{"requirement": "x" * 1000, "span_id": "y" * 1000}],
    [{"span_id": None}],
]
PLAUSIBLE: dict[str, list[Any]] = {
    "task_id": ["T1", "auth/login", "fuzz/a", "x" * 200],
    "task_type": ["test", "security_scan", "review"],
    "status": ["planned", "started", "complete", "failed", "blocked"],
    "gate": ["security", "tests", "release", "nope"],
    "check": ["ruff", "bandit", "pytest", "nope"],
    "sql": ["SELECT count(*) FROM spans", "SELECT task_id FROM spans LIMIT 3"],
    "span_id": ["00f067aa0ba902b7"],
    "trace_id": ["4bf92f3577b34da6a3ce929d0e0e4736"],
    "since": ["30m", "24h", "2026-01-01T00:00:00Z"],
    "where": [{"quality.score": ">= 0.9"}, {"tests.failed": 0}, {"k": ["a", "b"]}],
    "attributes": [{"tests.failed": 0, "quality.score": 0.9}],
    "limit": [1, 50, 500],
    "lease_seconds": [1, 60, 86_400],
    "evidence": [["00f067aa0ba902b7"], [{"requirement": "scan", "span_id": "00f067aa0ba902b7"}]],
    "depends_on": [["T0"], []],
}


class HostileArguments:
    """Random argument objects, reproducible from the generator's seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hostile(self) -> Any:
        pool = self.rng.choice((STRINGS, NUMBERS, OTHERS))
        return self.rng.choice(pool)

    def for_tool(self, schema: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return {"unexpected": self.hostile()}
        arguments: dict[str, Any] = {}
        for name in schema.get("properties", {}):
            choice = rng.random()
            if choice < 0.25:
                continue  # left out, required or not
            if choice < 0.55 and name in PLAUSIBLE:
                arguments[name] = rng.choice(PLAUSIBLE[name])
            else:
                arguments[name] = self.hostile()
        if roll > 0.95:
            arguments[rng.choice(["extra", "x" * 300, "__proto__"])] = self.hostile()
        return arguments
