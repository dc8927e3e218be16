"""Decoded OTLP requests as the store's rows, prepared where no server state is needed (a worker process).

What a sender may not decide is decided here:

- provenance: every `otel_mcp.*` attribute it sent is dropped (a received span that copies a runner
  span, attestation and all, is still `external`: unsigned, and evidence only where an admin lists
  `external` in a requirement's `sources`);
- task state: `task.type`, `task.status`, `task.parent_id`, `task.depends_on` and `task.commits`
  are kept as `external.task.*`, so a received span is never a task's status record (it cannot
  complete a task past a guard, or make its dependents ready); `task.id` stays;
- size: at most `max_items` items per request (more is refused whole), `max_attributes` attributes
  per item (the rest dropped and counted), keys and names and string values clipped, lists
  shortened, nested values kept as clipped JSON text;
- ids: a span without a valid trace or span id is refused (counted in the partial-success answer).

A log event becomes a zero-length span in the `spans` view: named by its event name, carrying its
attributes (so `tool_use_id` or `prompt.id` can be searched with `query_spans`), in the trace it was
emitted in, else in a trace derived from its session (every event of one Claude Code session or
Codex conversation shares it), under an id derived from its content (a re-sent event is stored
once).

An item whose agent the request itself names (the sender's token, the `otel_mcp.agent.id` resource
attribute) leaves here as a finished row, encoded by the store's `row_encoder`; the others leave as
`PendingItem`s for `AgentMap` in the server, which alone remembers and looks up what other requests
taught it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_mcp.model import (
    ATTR_AGENT_ID,
    ATTR_COMMITS,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    RESERVED_PREFIX,
    AttrValue,
    SpanRecord,
)
from otel_mcp.telemetry.host_agents import HOST_AGENT_KEYS, SESSION_KEYS, Clues
from otel_mcp.telemetry.otlp_wire import Signal

__all__ = [
    "ATTR_HOST_AGENT",
    "ATTR_MAPPED_BY",
    "ATTR_SIGNAL",
    "RESOURCE_AGENT_KEY",
    "RESOURCE_TASK_KEY",
    "IngestLimits",
    "PendingItem",
    "PreparedRows",
    "TooManyItems",
    "count_items",
    "finish",
    "prepare_rows",
]

# Resource attributes a user sets on a host (OTEL_RESOURCE_ATTRIBUTES) to name its otel-mcp agent and task.
RESOURCE_AGENT_KEY = "otel_mcp.agent.id"
RESOURCE_TASK_KEY = "otel_mcp.task.id"
ATTR_SIGNAL = "otel_mcp.signal"  # 'span' | 'log'
ATTR_MAPPED_BY = "otel_mcp.agent.mapped_by"  # token | resource | trace | host_agent | session
ATTR_HOST_AGENT = "otel_mcp.host.agent.id"  # the sender's own gen_ai.agent.id, when mapping replaced it

_KINDS = {0: "Internal", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
_STATUSES = {0: "Unset", 1: "Ok", 2: "Error"}
_SEVERITY_ERROR = 17  # OTLP SeverityNumber ERROR and above
_NAMED_MAX = 200  # characters of an agent or task id named by a sender


class TooManyItems(ValueError):
    """A request with more items than one request may carry (answered 413, nothing stored)."""


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_items: int = 5000
    max_attributes: int = 128
    max_key: int = 128
    max_string: int = 4096
    max_list: int = 100
    max_name: int = 256


@dataclass(slots=True)
class PendingItem:
    """A span or event whose agent only the server can tell (by trace, host agent id or session)."""

    record: dict[str, Any]  # SpanRecord fields but attributes and resource
    attributes: dict[str, AttrValue]
    resource: dict[str, AttrValue]
    clues: Clues


@dataclass(slots=True)
class PreparedRows:
    """One request, ready to write: plain data, so it crosses from a worker process cheaply."""

    signal: Signal
    items: int  # what the request carries (the sender's rate counts these)
    rows: list[Any] = field(default_factory=list)  # finished, as the store's row_encoder made them
    pending: list[PendingItem] = field(default_factory=list)
    # Of the finished rows: the distinct (trace, host agent, session) -> agent the server should learn.
    learned: list[Clues] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def refuse(self, why: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 10:
            self.reasons.append(why)


def count_items(signal: str, request: Any) -> int:
    """How many items (spans, log records, data points) a decoded request carries."""
    if signal == "traces":
        return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if signal == "logs":
        return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    total = 0
    for r in request.resource_metrics:
        for s in r.scope_metrics:
            for metric in s.metrics:
                which = metric.WhichOneof("data")
                total += len(getattr(metric, which).data_points) if which else 0
    return total


def _hex(raw: bytes) -> str:
    return raw.hex()


def _valid_id(raw: bytes, size: int) -> bool:
    return len(raw) == size and any(raw)


# What makes a span a task's status record (find_ready, check_prerequisites, guards read these): a
# received span keeps them under `external.` instead, so OTLP can neither complete, plan nor re-parent
# a task past a guard; `task.id` stays, and puts the span on the task's timeline.
_TASK_FIELDS = frozenset((ATTR_TASK_TYPE, ATTR_TASK_STATUS, ATTR_PARENT_ID, ATTR_DEPENDS_ON, ATTR_COMMITS))
_SCALARS = frozenset(("string_value", "bool_value", "int_value", "double_value"))


@dataclass(slots=True)
class _Attributes:
    """An item's attributes as stored, and the agent and task it named in reserved keys."""

    values: dict[str, AttrValue]
    agent: str | None = None
    task: str | None = None


class _Values:
    """OTLP AnyValue -> a value the store keeps, within the limits; counts what it had to drop."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.dropped = 0
        self.clipped = 0

    def text(self, value: str, limit: int | None = None) -> str:
        limit = limit or self.limits.max_string
        if len(value) > limit:
            self.clipped += 1
            return value[: limit - 3] + "..."
        return value

    def plain(self, value: Any, depth: int = 0) -> Any:
        """Nested AnyValue as plain JSON data (for kvlists and mixed arrays kept as text)."""
        which = value.WhichOneof("value")
        if which is None:
            return None
        if which == "array_value":
            return [self.plain(v, depth + 1) for v in value.array_value.values[: self.limits.max_list]]
        if which == "kvlist_value":
            return {kv.key: self.plain(kv.value, depth + 1) for kv in value.kvlist_value.values[: self.limits.max_list]}
        if which == "bytes_value":
            return value.bytes_value[: self.limits.max_string].hex()
        scalar = getattr(value, which)
        return scalar if not (isinstance(scalar, float) and not math.isfinite(scalar)) else str(scalar)

    def value(self, value: Any) -> AttrValue | None:
        which = value.WhichOneof("value")
        if which is None:
            return None
        if which == "string_value":
            return self.text(value.string_value)
        if which in ("bool_value", "int_value"):
            return getattr(value, which)  # type: ignore[no-any-return]
        if which == "double_value":
            number = float(value.double_value)
            return number if math.isfinite(number) else str(number)
        if which == "array_value":
            items = list(value.array_value.values)
            if len(items) > self.limits.max_list:
                self.clipped += 1
                items = items[: self.limits.max_list]
            kinds = {v.WhichOneof("value") for v in items}
            if len(kinds) == 1 and kinds <= _SCALARS:
                scalars = [self.value(v) for v in items]
                return tuple(scalars)  # type: ignore[return-value]
        return self.text(json.dumps(self.plain(value), default=str, ensure_ascii=False))

    def named(self, value: AttrValue | None) -> str | None:
        # Claude Code copies every OTEL_RESOURCE_ATTRIBUTES key into each event's attributes as well.
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return self.text(str(value), _NAMED_MAX)
        return None

    def attributes(self, pairs: Iterable[Any]) -> _Attributes:
        """In one pass: limits, reserved keys dropped (the agent and task they name kept aside), task state
        renamed. Strings, nearly every value hosts send, take the short way."""
        out: dict[str, AttrValue] = {}
        found = _Attributes(out)
        limits = self.limits
        kept = 0
        for kv in pairs:
            key = kv.key
            if not key or len(key) > limits.max_key or kept >= limits.max_attributes:
                self.dropped += 1
                continue
            any_value = kv.value
            value: AttrValue | None
            if any_value.WhichOneof("value") == "string_value":
                text: str = any_value.string_value
                value = text if len(text) <= limits.max_string else self.text(text)
            else:
                value = self.value(any_value)
                if value is None:
                    continue
            kept += 1
            if key.startswith(RESERVED_PREFIX):
                # Provenance, attestation, chains and claims are the server's to write, never a sender's.
                if key == RESOURCE_AGENT_KEY:
                    found.agent = self.named(value)
                elif key == RESOURCE_TASK_KEY:
                    found.task = self.named(value)
                continue
            out["external." + key if key in _TASK_FIELDS else key] = value
        return found


def _first_text(attributes: Mapping[str, AttrValue], keys: Iterable[str]) -> tuple[str, str] | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return key, str(value)
    return None


def _derived_id(size: int, *parts: bytes) -> str:
    digest = hashlib.sha256(b"\x00".join(parts)).digest()[:size]
    return digest.hex() if any(digest) else ("0" * (2 * size - 1) + "1")


def _clues(trace_id: str, start_ns: int, attrs: Mapping[str, AttrValue], session: tuple[str, str] | None) -> Clues:
    host = _first_text(attrs, HOST_AGENT_KEYS)
    session = _first_text(attrs, SESSION_KEYS) or session
    return Clues(
        trace_id=trace_id,
        start_ns=start_ns,
        host_agent=host[1] if host else None,
        session=session[1] if session else None,
        session_key=session[0] if session else None,
    )


def _event_name(log: Any, attrs: Mapping[str, AttrValue], body: str | None) -> str:
    """The event's name: OTLP's event_name, else `event.name` (its host's full name when the body is it)."""
    if log.event_name:
        return str(log.event_name)
    named = attrs.get("event.name")
    if isinstance(named, str) and named:
        # Claude Code: body 'claude_code.tool_result', event.name 'tool_result'.
        if body and len(body) <= 128 and body.endswith(named) and " " not in body:
            return body
        return named
    if body and len(body) <= 128 and "\n" not in body:
        return body
    return "log"


def finish(item: PendingItem) -> SpanRecord:
    """The span an item becomes once its clues say which agent it belongs to (or that none is known)."""
    attrs = item.attributes
    clues = item.clues
    if clues.agent is not None:
        own = attrs.get(ATTR_AGENT_ID)
        if own is not None and own != clues.agent:
            attrs[ATTR_HOST_AGENT] = own
        attrs[ATTR_AGENT_ID] = clues.agent
        attrs[ATTR_MAPPED_BY] = clues.how or "resource"
    attrs[ATTR_SOURCE] = "external"
    return SpanRecord(attributes=attrs, resource=item.resource, **item.record)


class _Preparing:
    """One request on its way to rows: the finished ones encoded at once, the rest left pending."""

    def __init__(
        self, prepared: PreparedRows, sender: str | None, encode: Callable[[SpanRecord], Any], values: _Values
    ) -> None:
        self.prepared = prepared
        self.sender = sender
        self.encode = encode
        self.values = values
        self._learned: dict[tuple[str, str | None, str | None, str], Clues] = {}

    def add(self, item: PendingItem, direct: str | None) -> None:
        clues = item.clues
        if self.sender:
            clues.agent, clues.how = self.sender, "token"
        elif direct:
            clues.agent, clues.how = direct, "resource"
        else:
            self.prepared.pending.append(item)
            return
        self.prepared.rows.append(self.encode(finish(item)))
        key = (clues.trace_id, clues.host_agent, clues.session, clues.agent)
        if key not in self._learned:
            self._learned[key] = clues

    def done(self) -> PreparedRows:
        self.prepared.learned = list(self._learned.values())
        values = self.values
        if values.dropped or values.clipped:
            self.prepared.reasons.append(
                f"{values.dropped} attributes dropped (over {values.limits.max_attributes} per item, or keys over "
                f"{values.limits.max_key} characters) and {values.clipped} values clipped to the size limits"
            )
        return self.prepared


def prepare_rows(
    signal: Signal,
    request: Any,
    sender: str | None,
    encode: Callable[[SpanRecord], Any],
    limits: IngestLimits | None = None,
) -> PreparedRows:
    """The rows a decoded `Export<Signal>ServiceRequest` becomes (metrics: none, counted as refused).

    `sender` is the bearer token's agent, if any; `encode` the store's `row_encoder()`. Raises
    TooManyItems over the item limit, before converting anything.
    """
    limits = limits or IngestLimits()
    n = count_items(signal, request)
    if n > limits.max_items:
        raise TooManyItems(
            f"the request carries {n} items; the limit is {limits.max_items} per request "
            "(send smaller batches, e.g. OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
        )
    prepared = PreparedRows(signal, n)
    if signal == "metrics":
        prepared.rejected = n
        if n:
            prepared.reasons.append(
                f"otel-mcp stores traces and logs, not metrics: {n} data points were not stored "
                "(set OTEL_METRICS_EXPORTER=none, or send metrics to a collector)"
            )
        return prepared
    preparing = _Preparing(prepared, sender, encode, _Values(limits))
    if signal == "traces":
        _spans(request, preparing)
    else:
        _logs(request, preparing)
    return preparing.done()


def _resource(resource: Any, values: _Values) -> tuple[_Attributes, tuple[str, str] | None]:
    attrs = values.attributes(resource.attributes)
    return attrs, _first_text(attrs.values, SESSION_KEYS)


def _item(record: dict[str, Any], attrs: _Attributes, resource: _Attributes, clues: Clues) -> PendingItem:
    values = attrs.values
    service = resource.values.get("service.name")
    if service is not None:
        values.setdefault("service.name", service)
    task = attrs.task or resource.task
    if task and ATTR_TASK_ID not in values:
        values[ATTR_TASK_ID] = task
    return PendingItem(record, values, resource.values, clues)


def _spans(request: Any, preparing: _Preparing) -> None:
    values = preparing.values
    limits = values.limits
    for resource_spans in request.resource_spans:
        resource, session = _resource(resource_spans.resource, values)
        for scope_spans in resource_spans.scope_spans:
            scope = values.text(scope_spans.scope.name, limits.max_name)
            for span in scope_spans.spans:
                if not _valid_id(span.trace_id, 16) or not _valid_id(span.span_id, 8):
                    preparing.prepared.refuse(
                        f"span {values.text(span.name, 60)!r} has no valid trace_id (16 bytes) and span_id (8 bytes)"
                    )
                    continue
                attrs = values.attributes(span.attributes)
                trace_id = _hex(span.trace_id)
                parent = _hex(span.parent_span_id) if _valid_id(span.parent_span_id, 8) else None
                start = span.start_time_unix_nano or time.time_ns()
                links = tuple(
                    (_hex(link.trace_id), _hex(link.span_id))
                    for link in span.links[: limits.max_list]
                    if _valid_id(link.trace_id, 16) and _valid_id(link.span_id, 8)
                )
                record = {
                    "span_id": _hex(span.span_id),
                    "trace_id": trace_id,
                    "parent_span_id": parent,
                    "name": values.text(span.name, limits.max_name) or "(unnamed)",
                    "start_ns": start,
                    "end_ns": max(start, span.end_time_unix_nano),
                    "kind": _KINDS.get(span.kind, "Internal"),
                    "status_code": _STATUSES.get(span.status.code, "Unset"),
                    "status_message": values.text(span.status.message, 500),
                    "scope_name": scope,
                    "links": links,
                }
                attrs.values[ATTR_SIGNAL] = "span"
                clues = _clues(trace_id, span.start_time_unix_nano, attrs.values, session)
                preparing.add(_item(record, attrs, resource, clues), attrs.agent or resource.agent)


def _logs(request: Any, preparing: _Preparing) -> None:
    values = preparing.values
    limits = values.limits
    for resource_logs in request.resource_logs:
        resource, resource_session = _resource(resource_logs.resource, values)
        resource_key = resource_logs.resource.SerializeToString(deterministic=True)
        for scope_logs in resource_logs.scope_logs:
            scope = values.text(scope_logs.scope.name, limits.max_name)
            for log in scope_logs.log_records:
                attrs = values.attributes(log.attributes)
                kept = attrs.values
                which = log.body.WhichOneof("value")
                body = log.body.string_value if which == "string_value" else None
                name = _event_name(log, kept, body)
                if body is not None and body != name:
                    kept.setdefault("log.body", values.text(body))
                elif which not in (None, "string_value"):
                    kept.setdefault("log.body", values.value(log.body) or "")
                if log.severity_text:
                    kept.setdefault("log.severity", values.text(log.severity_text, 40))
                session = _first_text(kept, SESSION_KEYS) or resource_session
                span_id = _derived_id(8, b"log", resource_key, log.SerializeToString(deterministic=True))
                if _valid_id(log.trace_id, 16):
                    trace_id = _hex(log.trace_id)
                elif session is not None:
                    trace_id = _derived_id(16, b"session", session[0].encode(), session[1].encode())
                else:
                    trace_id = _derived_id(16, b"log-trace", span_id.encode())
                when = log.time_unix_nano or log.observed_time_unix_nano or time.time_ns()
                record = {
                    "span_id": span_id,
                    "trace_id": trace_id,
                    "parent_span_id": _hex(log.span_id) if _valid_id(log.span_id, 8) else None,
                    "name": values.text(name, limits.max_name),
                    "start_ns": when,
                    "end_ns": when,
                    "kind": "Internal",
                    "status_code": "Error" if log.severity_number >= _SEVERITY_ERROR else "Unset",
                    "status_message": "",
                    "scope_name": scope,
                    "links": (),
                }
                kept[ATTR_SIGNAL] = "log"
                clues = _clues(trace_id, when, kept, resource_session)
                preparing.add(_item(record, attrs, resource, clues), attrs.agent or resource.agent)
