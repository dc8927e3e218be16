"""Hosts' own OpenTelemetry into the store: received spans and log events as `source=external` rows.

Each OTLP request becomes at most one `Store.export` call (one transaction on SQLite): it is stored
whole or not at all. What a sender may not decide is decided here:

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
once). Items are mapped to otel-mcp agents by `AgentMap`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping
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
from otel_mcp.store.base import Store
from otel_mcp.telemetry.host_agents import HOST_AGENT_KEYS, SESSION_KEYS, AgentMap, Clues

__all__ = [
    "ATTR_HOST_AGENT",
    "ATTR_MAPPED_BY",
    "ATTR_SIGNAL",
    "RESOURCE_AGENT_KEY",
    "RESOURCE_TASK_KEY",
    "IngestLimits",
    "IngestResult",
    "Ingestor",
    "TooManyItems",
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
class IngestResult:
    """What one request came to: items stored, refused (with why), and for logs/spans the agents named."""

    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if not self.rejected and not self.reasons:
            return ""
        shown = "; ".join(self.reasons[:3])
        more = f" (+{len(self.reasons) - 3} more)" if len(self.reasons) > 3 else ""
        return shown + more

    def refuse(self, why: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 10:
            self.reasons.append(why)


def _hex(raw: bytes) -> str:
    return raw.hex()


def _valid_id(raw: bytes, size: int) -> bool:
    return len(raw) == size and any(raw)


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
            if len(kinds) == 1 and kinds <= {"string_value", "bool_value", "int_value", "double_value"}:
                scalars = [self.value(v) for v in items]
                return tuple(scalars)  # type: ignore[return-value]
        return self.text(json.dumps(self.plain(value), default=str, ensure_ascii=False))

    def attributes(self, pairs: Iterable[Any]) -> dict[str, AttrValue]:
        out: dict[str, AttrValue] = {}
        for kv in pairs:
            key = kv.key
            if not key or len(key) > self.limits.max_key or len(out) >= self.limits.max_attributes:
                self.dropped += 1
                continue
            value = self.value(kv.value)
            if value is not None:
                out[key] = value
        return out


# What makes a span a task's status record (find_ready, check_prerequisites, guards read these): a
# received span keeps them under `external.` instead, so OTLP can neither complete, plan nor re-parent
# a task past a guard; `task.id` stays, and puts the span on the task's timeline.
_TASK_FIELDS = (ATTR_TASK_TYPE, ATTR_TASK_STATUS, ATTR_PARENT_ID, ATTR_DEPENDS_ON, ATTR_COMMITS)


def _without_reserved(attributes: Mapping[str, AttrValue]) -> dict[str, AttrValue]:
    # Provenance, attestation, chains and claims are the server's to write, never a sender's.
    out = {k: v for k, v in attributes.items() if not k.startswith(RESERVED_PREFIX)}
    for key in _TASK_FIELDS:
        if key in out:
            out["external." + key] = out.pop(key)
    return out


def _first_text(attributes: Mapping[str, AttrValue], keys: Iterable[str]) -> tuple[str, str] | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return key, str(value)
    return None


def _named(attributes: Mapping[str, AttrValue], key: str) -> str | None:
    # Claude Code copies every OTEL_RESOURCE_ATTRIBUTES key into each event's attributes as well.
    value = attributes.get(key)
    return str(value)[:200] if isinstance(value, str | int) and not isinstance(value, bool) and str(value) else None


def _derived_id(size: int, *parts: bytes) -> str:
    digest = hashlib.sha256(b"\x00".join(parts)).digest()[:size]
    return digest.hex() if any(digest) else ("0" * (2 * size - 1) + "1")


@dataclass(slots=True)
class _Item:
    record: dict[str, Any]  # SpanRecord fields but attributes, filled in once mapped
    attributes: dict[str, AttrValue]
    resource: dict[str, AttrValue]
    clues: Clues
    task_id: str | None


class Ingestor:
    """Turns decoded OTLP requests into stored spans; one instance per receiver, thread-safe."""

    def __init__(self, store: Store, limits: IngestLimits | None = None, agents: AgentMap | None = None) -> None:
        self.store = store
        self.limits = limits or IngestLimits()
        self.agents = agents or AgentMap(store)

    def count(self, signal: str, request: Any) -> int:
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

    def ingest(self, signal: str, request: Any, sender: str | None = None) -> IngestResult:
        """Store what the request carries (traces, logs); metrics are counted and refused, honestly.

        Raises TooManyItems (nothing stored) over the item limit; a store failure propagates with
        nothing written.
        """
        n = self.count(signal, request)
        if n > self.limits.max_items:
            raise TooManyItems(
                f"the request carries {n} items; the limit is {self.limits.max_items} per request "
                "(send smaller batches, e.g. OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
            )
        result = IngestResult()
        if signal == "metrics":
            result.rejected = n
            if n:
                result.reasons.append(
                    f"otel-mcp stores traces and logs, not metrics: {n} data points were not stored "
                    "(set OTEL_METRICS_EXPORTER=none, or send metrics to a collector)"
                )
            return result
        values = _Values(self.limits)
        items = list(self._spans(request, values, result) if signal == "traces" else self._logs(request, values))
        self.agents.assign([item.clues for item in items], sender)
        records = [self._record(item, values) for item in items]
        if values.dropped or values.clipped:
            result.reasons.append(
                f"{values.dropped} attributes dropped (over {self.limits.max_attributes} per item, or keys over "
                f"{self.limits.max_key} characters) and {values.clipped} values clipped to the size limits"
            )
        if records:
            self.store.export(records)  # one transaction: all of them or none
        result.accepted = len(records)
        return result

    def _resource(self, resource: Any, values: _Values) -> tuple[dict[str, AttrValue], str | None, str | None]:
        attrs = values.attributes(resource.attributes)
        agent = attrs.get(RESOURCE_AGENT_KEY)
        task = attrs.get(RESOURCE_TASK_KEY)
        return (
            _without_reserved(attrs),
            values.text(str(agent), 200) if agent not in (None, "") else None,
            values.text(str(task), 200) if task not in (None, "") else None,
        )

    def _clues(
        self, trace_id: str, start_ns: int, attrs: Mapping[str, AttrValue], resource: Mapping[str, AttrValue]
    ) -> Clues:
        host = _first_text(attrs, HOST_AGENT_KEYS)
        session = _first_text(attrs, SESSION_KEYS) or _first_text(resource, SESSION_KEYS)
        return Clues(
            trace_id=trace_id,
            start_ns=start_ns,
            host_agent=host[1] if host else None,
            session=session[1] if session else None,
            session_key=session[0] if session else None,
        )

    def _spans(self, request: Any, values: _Values, result: IngestResult) -> Iterable[_Item]:
        for resource_spans in request.resource_spans:
            resource, agent, task = self._resource(resource_spans.resource, values)
            for scope_spans in resource_spans.scope_spans:
                scope = values.text(scope_spans.scope.name, self.limits.max_name)
                for span in scope_spans.spans:
                    if not _valid_id(span.trace_id, 16) or not _valid_id(span.span_id, 8):
                        result.refuse(
                            f"span {values.text(span.name, 60)!r} has no valid trace_id (16 bytes) and span_id "
                            "(8 bytes)"
                        )
                        continue
                    raw = values.attributes(span.attributes)
                    attrs = _without_reserved(raw)
                    trace_id = _hex(span.trace_id)
                    clues = self._clues(trace_id, span.start_time_unix_nano, attrs, resource)
                    clues.direct = _named(raw, RESOURCE_AGENT_KEY) or agent
                    parent = _hex(span.parent_span_id) if _valid_id(span.parent_span_id, 8) else None
                    start = span.start_time_unix_nano or time.time_ns()
                    links = tuple(
                        (_hex(link.trace_id), _hex(link.span_id))
                        for link in span.links[: self.limits.max_list]
                        if _valid_id(link.trace_id, 16) and _valid_id(link.span_id, 8)
                    )
                    record = {
                        "span_id": _hex(span.span_id),
                        "trace_id": trace_id,
                        "parent_span_id": parent,
                        "name": values.text(span.name, self.limits.max_name) or "(unnamed)",
                        "start_ns": start,
                        "end_ns": max(start, span.end_time_unix_nano),
                        "kind": _KINDS.get(span.kind, "Internal"),
                        "status_code": _STATUSES.get(span.status.code, "Unset"),
                        "status_message": values.text(span.status.message, 500),
                        "scope_name": scope,
                        "links": links,
                    }
                    attrs[ATTR_SIGNAL] = "span"
                    yield _Item(record, attrs, resource, clues, _named(raw, RESOURCE_TASK_KEY) or task)

    def _logs(self, request: Any, values: _Values) -> Iterable[_Item]:
        for resource_logs in request.resource_logs:
            resource, agent, task = self._resource(resource_logs.resource, values)
            resource_key = resource_logs.resource.SerializeToString(deterministic=True)
            for scope_logs in resource_logs.scope_logs:
                scope = values.text(scope_logs.scope.name, self.limits.max_name)
                for log in scope_logs.log_records:
                    raw = values.attributes(log.attributes)
                    attrs = _without_reserved(raw)
                    body = log.body.string_value if log.body.WhichOneof("value") == "string_value" else None
                    name = self._event_name(log, attrs, body)
                    if body is not None and body != name:
                        attrs.setdefault("log.body", values.text(body))
                    elif log.body.WhichOneof("value") not in (None, "string_value"):
                        attrs.setdefault("log.body", values.value(log.body) or "")
                    if log.severity_text:
                        attrs.setdefault("log.severity", values.text(log.severity_text, 40))
                    session = _first_text(attrs, SESSION_KEYS) or _first_text(resource, SESSION_KEYS)
                    span_id = _derived_id(8, b"log", resource_key, log.SerializeToString(deterministic=True))
                    if _valid_id(log.trace_id, 16):
                        trace_id = _hex(log.trace_id)
                    elif session is not None:
                        trace_id = _derived_id(16, b"session", session[0].encode(), session[1].encode())
                    else:
                        trace_id = _derived_id(16, b"log-trace", span_id.encode())
                    when = log.time_unix_nano or log.observed_time_unix_nano or time.time_ns()
                    error = log.severity_number >= _SEVERITY_ERROR
                    record = {
                        "span_id": span_id,
                        "trace_id": trace_id,
                        "parent_span_id": _hex(log.span_id) if _valid_id(log.span_id, 8) else None,
                        "name": values.text(name, self.limits.max_name),
                        "start_ns": when,
                        "end_ns": when,
                        "kind": "Internal",
                        "status_code": "Error" if error else "Unset",
                        "status_message": "",
                        "scope_name": scope,
                        "links": (),
                    }
                    attrs[ATTR_SIGNAL] = "log"
                    clues = self._clues(trace_id, when, attrs, resource)
                    clues.direct = _named(raw, RESOURCE_AGENT_KEY) or agent
                    yield _Item(record, attrs, resource, clues, _named(raw, RESOURCE_TASK_KEY) or task)

    @staticmethod
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

    @staticmethod
    def _record(item: _Item, values: _Values) -> SpanRecord:
        attrs = item.attributes
        service = item.resource.get("service.name")
        if service is not None:
            attrs.setdefault("service.name", service)
        if item.task_id and ATTR_TASK_ID not in attrs:
            attrs[ATTR_TASK_ID] = item.task_id
        clues = item.clues
        if clues.agent is not None:
            own = attrs.get(ATTR_AGENT_ID)
            if own is not None and own != clues.agent:
                attrs[ATTR_HOST_AGENT] = own
            attrs[ATTR_AGENT_ID] = clues.agent
            attrs[ATTR_MAPPED_BY] = clues.how or "resource"
        attrs[ATTR_SOURCE] = "external"
        return SpanRecord(attributes=attrs, resource=item.resource, **item.record)
