"""The SQL behind the embedded store's reads, and the SQL function that evaluates predicates.

Values always travel as bound parameters. Attribute predicates run inside SQLite through
`otel_pred(value, op, operand_json, key)`, which calls the same `Predicate.check` the gates use, so
`find_completed(where=...)` and a gate agree on what "holds" means.
"""

from __future__ import annotations

import json
from typing import Any

from otel_mcp.store.base import CLAIM_ACTION_ATTR, CLAIM_LEASE_ATTR, CLAIM_SPAN_NAMES, SpanFilter
from otel_mcp.store.predicates import Predicate
from otel_mcp.store.sqlite.rows import dumps

__all__ = [
    "CHAIN_LINKS_SQL",
    "CHAIN_SUMMARY_SQL",
    "CLAIM_EVENTS_SQL",
    "CLAIM_NAMES_SQL",
    "NEWEST_STATUS_SEQ",
    "OLDEST_STATUS_SEQ",
    "PREDICATE_FUNCTION",
    "predicate_fn",
    "where_clauses",
]

# The name `where_clauses` calls; the store registers `predicate_fn` under it on its connection.
PREDICATE_FUNCTION = "otel_pred"

# A task's oldest / newest status record, by (start time, insertion order); one parameter: the task id.
OLDEST_STATUS_SEQ = (
    "SELECT seq FROM span_store WHERE task_id = ? AND task_status IS NOT NULL ORDER BY start_ns, seq LIMIT 1"
)
NEWEST_STATUS_SEQ = (
    "SELECT seq FROM span_store WHERE task_id = ? AND task_status IS NOT NULL ORDER BY start_ns DESC, seq DESC LIMIT 1"
)
CLAIM_NAMES_SQL = ", ".join(f"'{name}'" for name in CLAIM_SPAN_NAMES)
CLAIM_EVENTS_SQL = (
    f"SELECT task_id, json_extract(attributes, '$.\"{CLAIM_ACTION_ATTR}\"'), agent_id, start_ns, span_id, "
    f"coalesce(json_extract(attributes, '$.\"{CLAIM_LEASE_ATTR}\"'), 0) FROM span_store "
    # No condition on task_status here: it would steer the planner onto the status index.
    f"WHERE name IN ({CLAIM_NAMES_SQL}) AND task_id IS NOT NULL AND agent_id IS NOT NULL"
)


def _json_path(key: str) -> str:
    # Keys are validated to [A-Za-z0-9_.-/] by the predicate parser's callers; quoting makes the
    # dotted name one JSON member, and it travels as a bound parameter, never as SQL text.
    return '$."' + key + '"'


def predicate_fn(value: Any, op: str, operand_json: str, key: str) -> int:
    """`otel_pred(...)`: 1 when the predicate holds for the attribute value, else 0."""
    operand = json.loads(operand_json)
    return int(Predicate(key, op, tuple(operand) if op == "in" else operand).check(value)[0])  # type: ignore[arg-type]


def where_clauses(flt: SpanFilter) -> tuple[list[str], list[Any]]:
    """The conditions of `flt` as SQL clauses (to be joined with AND) and their parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("task_id", flt.task_id),
        ("task_status", flt.task_status),
        ("task_type", flt.task_type),
        ("task_parent_id", flt.parent_task_id),
        ("agent_id", flt.agent_id),
        ("name", flt.name),
        ("trace_id", flt.trace_id),
        ("source", flt.source),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if flt.task_ids is not None:
        clauses.append(f"task_id IN ({','.join('?' * len(flt.task_ids))})")
        params.extend(flt.task_ids)
    if flt.has_status and flt.task_status is None:
        clauses.append("task_status IS NOT NULL")
    if flt.since_ns is not None:
        clauses.append("start_ns >= ?")
        params.append(flt.since_ns)
    for pred in flt.where:
        path = _json_path(pred.key)
        # Booleans come back from json_extract as 1/0; name them so `== true` compares as intended.
        clauses.append(
            f"{PREDICATE_FUNCTION}(CASE json_type(attributes, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            "ELSE json_extract(attributes, ?) END, ?, ?, ?)"
        )
        operand = list(pred.operand) if pred.op == "in" else pred.operand
        params.extend([path, path, pred.op, dumps(operand), pred.key])
    return clauses, params


_CHAIN_WRITER = """json_extract(attributes, '$."otel_mcp.chain.writer"')"""
_CHAIN_SEQ = """json_extract(attributes, '$."otel_mcp.chain.seq"')"""
# The expressions and the partial-index condition exactly as span_store_chain declares them.
CHAIN_SUMMARY_SQL = (
    f"SELECT count(DISTINCT {_CHAIN_SEQ}), max({_CHAIN_SEQ}) FROM span_store "
    f"WHERE {_CHAIN_WRITER} = ? AND source != 'audit'"
)
CHAIN_LINKS_SQL = (
    f"SELECT {_CHAIN_SEQ}, json_extract(attributes, '$.\"otel_mcp.attestation\"') FROM span_store "
    f"WHERE {_CHAIN_WRITER} = ? AND source != 'audit' AND {_CHAIN_SEQ} IN (SELECT value FROM json_each(?))"
)
