"""The SQL behind the embedded store's reads, and the SQL function that evaluates predicates.

Values always travel as bound parameters. Attribute predicates run inside SQLite through
`otel_pred(value, slot)`, which calls `Predicate.holds`, the rule behind the gates' `check`, so
`find_completed(where=...)` and a gate agree on what "holds" means. The slot names a predicate
parsed once for the query (`PredicateSlots`): SQL carries a number, not the operand, so a row costs
one dictionary look-up instead of decoding the operand again (a 100-value `in` list over 2,000 rows
was 2,000 decodes).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_PATHS_ATTR,
    CLAIM_SHARED_ATTR,
    CLAIM_SPAN_NAMES,
    SpanFilter,
)
from otel_mcp.store.predicates import Predicate

__all__ = [
    "CHAIN_LINKS_SQL",
    "CHAIN_SUMMARY_SQL",
    "CLAIM_EVENTS_SQL",
    "CLAIM_LOG_SQL",
    "CLAIM_NAMES_SQL",
    "COLUMN_MISMATCH_SQL",
    "COMMIT_RECORDS_WHERE",
    "MALFORMED_ROWS_SQL",
    "NEWEST_STATUS_SEQ",
    "OLDEST_STATUS_SEQ",
    "PREDICATE_FUNCTION",
    "PredicateSlots",
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
    f"coalesce(json_extract(attributes, '$.\"{CLAIM_LEASE_ATTR}\"'), 0), "
    f"json_extract(attributes, '$.\"{CLAIM_PATHS_ATTR}\"'), json_extract(attributes, '$.\"{CLAIM_SHARED_ATTR}\"') "
    "FROM span_store "
    # No condition on task_status here: it would steer the planner onto the status index.
    f"WHERE name IN ({CLAIM_NAMES_SQL}) AND task_id IS NOT NULL AND agent_id IS NOT NULL"
)

# The same columns by commit order (seq, the rowid): a range scan from a position, never the name index
# (which would walk every claim ever made).
CLAIM_LOG_SQL = (
    CLAIM_EVENTS_SQL.replace("SELECT ", "SELECT seq, ", 1).replace("FROM span_store ", "FROM span_store NOT INDEXED ")
    + " AND seq > ? ORDER BY seq"
)


def _json_path(key: str) -> str:
    # Keys are validated to [A-Za-z0-9_.-/] by the predicate parser's callers; quoting makes the
    # dotted name one JSON member, and it travels as a bound parameter, never as SQL text.
    return '$."' + key + '"'


class PredicateSlots:
    """The predicates of the queries in flight on a connection, by slot number.

    Register the function with `create_function(PREDICATE_FUNCTION, 2, slots.evaluate)`; bind a
    query's predicates with `bound(...)` around building and running it. Slots are never reused, so
    the function is deterministic for SQLite's purposes.
    """

    def __init__(self) -> None:
        self._slots: dict[int, Predicate] = {}
        self._numbers = itertools.count()

    @contextmanager
    def bound(self, predicates: Sequence[Predicate]) -> Iterator[list[int]]:
        """Slot numbers for `predicates`, valid until the block ends."""
        slots = [next(self._numbers) for _ in predicates]
        self._slots.update(zip(slots, predicates, strict=True))
        try:
            yield slots
        finally:
            for slot in slots:
                self._slots.pop(slot, None)

    def evaluate(self, value: Any, slot: int) -> int:
        """`otel_pred(value, slot)`: 1 when the slot's predicate holds for the attribute value, else 0."""
        return int(self._slots[slot].holds(value))


def where_clauses(flt: SpanFilter, slots: Sequence[int] = ()) -> tuple[list[str], list[Any]]:
    """The conditions of `flt` as SQL clauses (to be joined with AND) and their parameters.

    `slots` are the `PredicateSlots` numbers bound to `flt.where`, one per predicate.
    """
    clauses: list[str] = []
    params: list[Any] = []
    task_column, source_column = (_SIGNED_TASK, _SIGNED_SOURCE) if flt.signed else ("task_id", "source")
    for column, value in (
        (task_column, flt.task_id),
        ("task_status", flt.task_status),
        ("task_type", flt.task_type),
        ("task_parent_id", flt.parent_task_id),
        ("agent_id", flt.agent_id),
        ("name", flt.name),
        ("trace_id", flt.trace_id),
        (source_column, flt.source),
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
    for pred, slot in zip(flt.where, slots, strict=True):
        path = _json_path(pred.key)
        # Booleans come back from json_extract as 1/0; name them so `== true` compares as intended.
        value = (
            "CASE json_type(attributes, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            "ELSE json_extract(attributes, ?) END"
        )
        texts = pred.plain_texts
        if texts is not None:
            # Text equality is exact in SQL (a number or boolean never equals a non-numeric text).
            clauses.append(f"{value} IN ({', '.join('?' * len(texts))})")
            params.extend([path, path, *texts])
        else:
            clauses.append(f"{PREDICATE_FUNCTION}({value}, ?)")
            params.extend([path, path, slot])
    return clauses, params


# The signed attributes behind the task_id and source columns, spelled as span_store_signed_task indexes them.
_SIGNED_TASK = """json_extract(attributes, '$."task.id"')"""
_SIGNED_SOURCE = """json_extract(attributes, '$."otel_mcp.source"')"""
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

# Rows whose derived columns disagree with the span's own attributes (what `otel-mcp audit` reports):
# the columns are what filters use, the attributes are what the signature covers.
_DERIVED = (
    ("task_id", "task.id"),
    ("task_type", "task.type"),
    ("task_status", "task.status"),
    ("task_parent_id", "task.parent_id"),
)
COLUMN_MISMATCH_SQL = (
    "SELECT span_id, "
    + ", ".join(f"{col}, json_extract(attributes, '$.\"{key}\"')" for col, key in _DERIVED)
    + ", source, coalesce(json_extract(attributes, '$.\"otel_mcp.source\"'), 'external') FROM span_store WHERE "
    # A row that is not JSON is malformed (MALFORMED_ROWS_SQL), and json_extract would fail on it.
    + "CASE WHEN json_valid(attributes) THEN "
    + " OR ".join(f"{col} IS NOT json_extract(attributes, '$.\"{key}\"')" for col, key in _DERIVED)
    + " OR source IS NOT coalesce(json_extract(attributes, '$.\"otel_mcp.source\"'), 'external') ELSE 0 END LIMIT ?"
)

# Spans whose `task.commits` lists one of the full commit ids bound as a JSON array; a listed id may be
# abbreviated (7+ characters) and then matches the full ids it abbreviates. The first condition
# repeats span_store_commits' own, so only spans that name commits are read.
COMMIT_RECORDS_WHERE = (
    """json_type(attributes, '$."task.commits"') IS NOT NULL AND EXISTS (SELECT 1 FROM """
    """json_each(span_store.attributes, '$."task.commits"') AS c, json_each(?) AS s """
    "WHERE c.type = 'text' AND length(c.value) >= 7 AND substr(s.value, 1, length(c.value)) = c.value)"
)

# Rows `record_from_row` cannot decode: only a hand-written row looks like this (verify lists them).
MALFORMED_ROWS_SQL = (
    "SELECT seq, span_id FROM span_store WHERE typeof(start_ns) != 'integer' OR typeof(end_ns) != 'integer' OR "
    + " OR ".join(
        f"CASE WHEN json_valid({column}) THEN json_type({column}) != '{shape}' ELSE 1 END"
        for column, shape in (("attributes", "object"), ("resource", "object"), ("links", "array"))
    )
    + " LIMIT ?"
)
