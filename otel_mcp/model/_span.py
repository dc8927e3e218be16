"""A span as the store keeps it: the flat shape both backends share, and the task fields read from it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from otel_mcp.model._names import (
    ATTR_AGENT_ID,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_QUALITY,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    AttrValue,
)
from otel_mcp.model._time import format_time

__all__ = ["SpanRecord"]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span, as every store backend returns it."""

    span_id: str
    trace_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: str = "Internal"
    status_code: str = "Unset"  # the exporter's spelling: Unset | Ok | Error
    status_message: str = ""
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    resource: Mapping[str, AttrValue] = field(default_factory=dict)
    scope_name: str = ""
    links: Sequence[tuple[str, str]] = ()  # (trace_id, span_id)

    def _attr_str(self, key: str) -> str | None:
        value = self.attributes.get(key)
        return None if value is None else str(value)

    @property
    def task_id(self) -> str | None:
        return self._attr_str(ATTR_TASK_ID)

    @property
    def task_type(self) -> str | None:
        return self._attr_str(ATTR_TASK_TYPE)

    @property
    def task_status(self) -> str | None:
        return self._attr_str(ATTR_TASK_STATUS)

    @property
    def task_parent_id(self) -> str | None:
        return self._attr_str(ATTR_PARENT_ID)

    @property
    def agent_id(self) -> str | None:
        value = self.attributes.get(ATTR_AGENT_ID, self.resource.get(ATTR_AGENT_ID))
        return None if value is None else str(value)

    @property
    def source(self) -> str:
        # Spans that did not come through this server (CI, tools, other SDKs) are external evidence.
        return self._attr_str(ATTR_SOURCE) or "external"

    @property
    def quality_score(self) -> float | None:
        value = self.attributes.get(ATTR_QUALITY)
        try:
            return None if value is None or isinstance(value, tuple) else float(value)
        except ValueError:
            return None

    @property
    def depends_on(self) -> tuple[str, ...]:
        value = self.attributes.get(ATTR_DEPENDS_ON)
        if value is None:
            return ()
        if isinstance(value, tuple):
            return tuple(str(v) for v in value)
        # ClickHouse keeps attributes as strings: a list arrives as its JSON text.
        text = str(value)
        if text.startswith("["):
            try:
                return tuple(str(v) for v in json.loads(text))
            except ValueError:
                pass
        return tuple(t for t in (s.strip() for s in text.split(",")) if t)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def start_time(self) -> str:
        return format_time(self.start_ns)
