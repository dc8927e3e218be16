"""What a page asks for: an agent, a task prefix, a time window, each checked before any read."""

from __future__ import annotations

from dataclasses import dataclass

from otel_mcp.errors import InvalidArgument, excerpt
from otel_mcp.model import parse_since

__all__ = ["MAX_FILTER_CHARS", "ViewFilter", "view_filter"]

MAX_FILTER_CHARS = 256


@dataclass(frozen=True, slots=True)
class ViewFilter:
    """Conditions every view applies; None means no condition."""

    agent: str | None = None
    prefix: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None

    def task_matches(self, task_id: str | None) -> bool:
        return self.prefix is None or (task_id is not None and task_id.startswith(self.prefix))

    def agent_matches(self, agent_id: str | None) -> bool:
        return self.agent is None or agent_id == self.agent

    def time_matches(self, ns: int) -> bool:
        return (self.since_ns is None or ns >= self.since_ns) and (self.until_ns is None or ns <= self.until_ns)


def _text(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_FILTER_CHARS:
        raise InvalidArgument(f"{name} must be text of at most {MAX_FILTER_CHARS} characters; got {excerpt(value)}")
    return value


def view_filter(
    now_ns: int,
    agent: str | None = None,
    prefix: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> ViewFilter:
    """A ViewFilter from a page's query: `since`/`until` are ages ('15m') or ISO-8601 instants."""
    since_ns = parse_since(since, now_ns, "since") if since else None
    until_ns = parse_since(until, now_ns, "until") if until else None
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidArgument(f"until ({excerpt(until)}) is before since ({excerpt(since)}): give a window forwards")
    return ViewFilter(_text("agent", agent), _text("prefix", prefix), since_ns, until_ns)
