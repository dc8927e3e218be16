"""The store protocol: what coordination and gates need from a span store.

Two backends implement it: SQLite (embedded default, a file shared by every agent process) and
ClickHouse (the collector's `otel_traces` schema). The write side mirrors an OpenTelemetry span
exporter (`export`, `force_flush`, `shutdown`) so the SDK's processors sit directly in front of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from otel_mcp.model import SpanRecord
from otel_mcp.store.predicates import Predicate

__all__ = [
    "CLAIM_ACTION_ATTR",
    "CLAIM_LEASE_ATTR",
    "CLAIM_PATHS_ATTR",
    "CLAIM_SHARED_ATTR",
    "CLAIM_SPAN",
    "CLAIM_SPAN_NAMES",
    "RELEASE_SPAN",
    "SPANS_VIEW_COLUMNS",
    "ClaimEvent",
    "SpanFilter",
    "SqlRows",
    "Store",
    "TaskState",
    "claim_event",
    "span_as_row",
]

# Claim history lives in the span stream like everything else (core's claim service folds it into
# leases): a span named CLAIM_SPAN or RELEASE_SPAN with `task.id`, `otel_mcp.source=agent`, CLAIM_ACTION_ATTR
# ('claim' | 'release') and, for claims, CLAIM_LEASE_ATTR (whole seconds) and, when the claim names
# paths it reserves, CLAIM_PATHS_ATTR (a list of globs; an empty list drops them) and CLAIM_SHARED_ATTR
# (true for a shared reservation). Never `task.status`.
CLAIM_SPAN = "task_claim"
RELEASE_SPAN = "task_release"
CLAIM_SPAN_NAMES: tuple[str, ...] = (CLAIM_SPAN, RELEASE_SPAN)
CLAIM_ACTION_ATTR = "otel_mcp.claim.action"
CLAIM_LEASE_ATTR = "otel_mcp.claim.lease_seconds"
CLAIM_PATHS_ATTR = "otel_mcp.claim.paths"
CLAIM_SHARED_ATTR = "otel_mcp.claim.shared"

# The flat columns of the read-only `spans` view, identical on every backend.
SPANS_VIEW_COLUMNS: tuple[str, ...] = (
    "span_id",
    "trace_id",
    "parent_span_id",
    "name",
    "agent_id",
    "task_id",
    "task_type",
    "task_status",
    "task_parent_id",
    "quality_score",
    "source",
    "status_code",
    "start_time",
    "end_time",
    "duration_ms",
    "attributes",
)


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """Conditions on spans; every field that is set must hold. Results are newest first."""

    task_id: str | None = None
    task_ids: Sequence[str] | None = None
    task_status: str | None = None
    has_status: bool = False  # only task-status records (record_task), not runner/gate/audit spans
    task_type: str | None = None
    parent_task_id: str | None = None
    agent_id: str | None = None
    name: str | None = None
    trace_id: str | None = None
    source: str | None = None
    since_ns: int | None = None
    where: Sequence[Predicate] = field(default_factory=tuple)
    latest_per_task: bool = False  # keep only the newest matching span of each task
    # Match task_id and source against the span's own (signed) attributes, never a derived column
    # a writer without the key could rewrite: how decisions and evidence are looked up.
    signed: bool = False
    oldest_first: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class SqlRows:
    """What an agent's SELECT returned: column names, rows (capped), and why it stopped if it did."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class TaskState:
    """A task as of its newest status record: the lean shape bulk readers (find_ready, report) need."""

    task_id: str
    task_type: str | None
    status: str
    depends_on: tuple[str, ...]  # of the newest status record that declared any (see Store.task_index)
    start_ns: int  # of the newest status record
    span_id: str  # of the newest status record
    agent_id: str | None  # who wrote the newest status record


@dataclass(frozen=True, slots=True)
class ClaimEvent:
    """One claim or release span, reduced to what the lease fold reads."""

    task_id: str
    action: str  # 'claim' | 'release'
    agent_id: str
    start_ns: int
    span_id: str
    lease_s: int = 0  # claims only
    paths: tuple[str, ...] | None = None  # claims only: the globs named; None when the claim named none
    shared: bool = False


def _paths(text: object) -> tuple[str, ...] | None:
    """A stored CLAIM_PATHS_ATTR (JSON list text on both backends; '' or NULL when absent)."""
    if text is None or text == "":
        return None
    try:
        items = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        items = [text]  # a single glob written as plain text by some other writer
    if not isinstance(items, list):
        items = [items]
    return tuple(str(item) for item in items)


def claim_event(
    task_id: str, action: str, agent_id: str, start_ns: int, span_id: str, lease: object, paths: object, shared: object
) -> ClaimEvent:
    """A ClaimEvent from a backend's row: lease as a number, paths as stored, shared as 1/'true'."""
    return ClaimEvent(
        task_id,
        action,
        agent_id,
        int(start_ns),
        span_id,
        int(lease or 0),  # type: ignore[call-overload]
        _paths(paths),
        shared in (1, True, "true", "1"),
    )


def span_as_row(record: SpanRecord) -> SpanRecord:
    """The row encoder of a backend whose write path takes spans as they are."""
    return record


@runtime_checkable
class Store(Protocol):
    """A shared span store. Every method is safe to call from several processes at once."""

    backend: str
    # True when calls wait on a network: callers on an event loop then run them in a worker thread.
    blocking_io: bool

    @property
    def exports_otlp(self) -> bool:
        """Whether the store itself ships spans over OTLP (Telemetry then adds no OTLP exporter of its own)."""

    @property
    def problem(self) -> str | None:
        """Why every call fails until something changes (a damaged file, a store that could not be
        opened), as a sentence for the person behind the agent; None while the store works."""

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Durably write spans; visible to every reader when this returns. Re-sent spans are ignored."""

    # `export` in two halves, for a writer that prepares spans in another process (the OTLP receiver's
    # workers): the encoder runs anywhere, the write is then only the store's own work.
    def row_encoder(self) -> Callable[[SpanRecord], Any]:
        """A module-level function (picklable: it may run in a worker process) turning a span into a row."""

    def export_rows(self, rows: Sequence[Any]) -> None:
        """`export` of spans already encoded by `row_encoder()`: one write, all of them or none."""

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        """The spans with these ids that exist."""

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        """Spans matching the filter, newest first (or oldest first), at most `flt.limit`."""

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        """For each task id that has any status record, its newest one."""

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        """A task's oldest and newest status records (the same one if it has one; None, None if none).

        Oldest and newest as in `find_spans(oldest_first=True)` and `latest_status`.
        """

    def commit_records(self, commits: Sequence[str], limit: int = 500) -> list[SpanRecord]:
        """Spans whose `task.commits` (record_task's `commits`) names one of `commits`, newest first.

        `commits` are full object ids (as `git rev-list` prints them); a span may list an abbreviated
        id (7 or more hex characters), which matches every full id it abbreviates. At most `limit`.
        """

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        """Spans of one trace, oldest first, at most `limit`."""

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run one read-only SELECT over the `spans` view, capped in rows, bytes and time."""

    def count(self) -> int:
        """How many spans the store holds."""

    def chain_summary(self, writer: str) -> tuple[int, int]:
        """Of one writer's signed spans (ATTR_CHAIN_WRITER): how many distinct sequence numbers, and the highest.

        Equal numbers mean no span of the chain is missing below its newest.
        """

    def chain_links(self, writer: str, seqs: Sequence[int]) -> dict[int, str]:
        """seq -> the attestation of the writer's span with that sequence number, for those that exist."""

    def task_index(self) -> list[TaskState]:
        """Every task that has a status record (`task.status` set), as of its newest one.

        "Newest" is the greatest (start time, insertion order), as in `latest_status`. `depends_on`
        comes from the newest status record whose `task.depends_on` is set (a later 'started' record
        without it does not erase the plan); empty when none declared any. Order is unspecified.
        Backends may cache; the answer must include every record visible to `find_spans`.
        """

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        """Claim/release spans (names in CLAIM_SPAN_NAMES carrying CLAIM_ACTION_ATTR), oldest first.

        `task_ids` limits them to those tasks (None: every task). With `active_since_ns`, only tasks
        that have at least one such span starting at or after it are included, but then with their
        whole history: a lease's holder depends on everything before it. `after_ns` keeps only spans
        starting strictly after it (for a caller that already folded the earlier ones). Spans
        without an agent id or with an unknown action are skipped. Ties in start time are ordered
        by span id.
        """

    def force_flush(self, timeout_millis: int = 30000) -> bool: ...

    def shutdown(self) -> None: ...
