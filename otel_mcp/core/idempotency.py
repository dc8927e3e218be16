"""Retries that must not record twice: `record_task(..., idempotency_key=...)`.

An agent whose answer was lost (a killed server, a dropped connection) cannot know whether its
record committed. With a key, the record carries the key and a digest of the call's arguments; a
later call by the same agent, for the same task, with the same key, finds it and gets the first
answer back instead of a second record. The key travels in the store itself, so a retry through
another server process sharing the store (a restarted host) finds it too.

On a transactional store (SQLite) the look-up and the write are one transaction, so even two
retries racing each other record once. ClickHouse has no transactions: a retry finds the first
record once it is readable (this process's own writes always are), so only two copies of one call
in flight at the same moment through two processes could both write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from otel_mcp.core.results import RecordedTask
from otel_mcp.errors import Conflict
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import Predicate
from otel_mcp.telemetry import deferred_store_export

__all__ = ["ATTR_IDEMPOTENCY_DIGEST", "ATTR_IDEMPOTENCY_KEY", "record_once", "request_digest"]

ATTR_IDEMPOTENCY_KEY: Final = "otel_mcp.idempotency.key"
ATTR_IDEMPOTENCY_DIGEST: Final = "otel_mcp.idempotency.digest"
# Records of one task by one agent carrying the key: normally one. A few more are read in case
# number-like keys compare equal as numbers ('1000', '1e3'); the exact text decides.
_LOOKUP_LIMIT: Final = 8


def request_digest(
    task_type: str,
    status: str,
    attributes: Mapping[str, Any],
    parent_task_id: str | None,
    depends_on: Sequence[str],
    summary: str | None,
) -> str:
    """A digest of what a record_task call asked for, so a key reused for another record is caught."""
    canonical = json.dumps(
        [task_type, status, {k: attributes[k] for k in sorted(attributes)}, parent_task_id, list(depends_on), summary],
        separators=(",", ":"),
        default=list,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _earlier(store: Store, agent_id: str, task_id: str, key: str) -> SpanRecord | None:
    flt = SpanFilter(
        task_id=task_id,
        agent_id=agent_id,
        has_status=True,
        where=(Predicate(ATTR_IDEMPOTENCY_KEY, "==", key),),
        oldest_first=True,
        limit=_LOOKUP_LIMIT,
    )
    return next((r for r in store.find_spans(flt) if str(r.attributes.get(ATTR_IDEMPOTENCY_KEY)) == key), None)


def _replay(record: SpanRecord, key: str, digest: str) -> RecordedTask:
    if str(record.attributes.get(ATTR_IDEMPOTENCY_DIGEST)) != digest:
        raise Conflict(
            f"idempotency_key {key!r} was already used for another record of task {record.task_id!r} "
            f"({record.name}, span {record.span_id}); a retry must repeat the same arguments. Nothing was "
            "recorded: use a new key for a new record."
        )
    return RecordedTask(
        span_id=record.span_id,
        trace_id=record.trace_id,
        task_id=record.task_id or "",
        status=record.task_status or "",
        name=record.name,
        parent_span_id=record.parent_span_id,
        replayed=True,
    )


def record_once(
    store: Store, agent_id: str, task_id: str, key: str, digest: str, write: Callable[[], RecordedTask]
) -> RecordedTask:
    """`write()`, unless `agent_id` already recorded `task_id` with `key`: then that first answer.

    `write` must emit exactly the record (carrying the key and digest attributes) and nothing else.
    """
    transaction = getattr(store, "transaction", None)
    export_in = getattr(store, "export_in", None)
    if callable(transaction) and callable(export_in):
        with transaction() as db:
            earlier = _earlier(store, agent_id, task_id, key)
            if earlier is not None:
                return _replay(earlier, key, digest)
            with deferred_store_export() as captured:
                result = write()
            export_in(db, captured)
        return result
    earlier = _earlier(store, agent_id, task_id, key)
    if earlier is not None:
        return _replay(earlier, key, digest)
    return write()
