"""Which otel-mcp agent a host's own span or event belongs to, from what hosts really send.

Hosts know nothing of otel-mcp's agent ids, and their events carry none (Claude Code's events carry
`session.id`, Codex's `conversation.id`). In order, an item is mapped by (the first two are read
off the request itself where its rows are prepared, `otlp_rows`; `AgentMap` learns from them and
does the rest, which needs what it remembers and the store):

1. `token`: the bearer token the OTLP request came with (a served receiver with tokens);
2. `resource`: the resource attribute `otel_mcp.agent.id` the README tells users to set
   (`OTEL_RESOURCE_ATTRIBUTES=otel_mcp.agent.id=...`);
3. `trace`: the trace one of otel-mcp's own spans joined (a host that sent `traceparent` with its MCP
   call: the audit span and the records the call wrote carry the agent);
4. `host_agent`: the host's own agent id (`agent_id` on Claude Code's tool and LLM spans) once any
   item carrying it was mapped;
5. `session`: the session (`session.id`, `conversation.id`, `gen_ai.conversation.id`) once any item
   of it was mapped.

What is learned is remembered (bounded) and looked up in the store (the last day) when not
remembered, so a receiver that restarts, or another process's receiver, maps the same way. An
item nothing maps keeps no agent id and stays under its session.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import Predicate

__all__ = ["HOST_AGENT_KEYS", "SESSION_KEYS", "AgentMap", "Clues"]

SESSION_KEYS = ("session.id", "conversation.id", "gen_ai.conversation.id")
HOST_AGENT_KEYS = ("agent_id",)
_CAPACITY = 10_000
_MISS_TTL_S = 30.0  # a trace or session not found in the store is looked up again after this
_LOOKUPS_PER_BATCH = 32  # store look-ups one request may cause
_LOOKBACK_NS = 24 * 3600 * 10**9  # how far back a session or host agent is looked up in the store


@dataclass(slots=True)
class Clues:
    """What one received item offers for mapping, and (filled in by `AgentMap.assign`) the answer."""

    trace_id: str
    start_ns: int = 0  # when the item happened (look-ups reach back a day from then)
    host_agent: str | None = None
    session: str | None = None
    session_key: str | None = None
    agent: str | None = None
    how: str | None = None


class _Lru:
    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class AgentMap:
    """Maps received items to agent ids; safe to share between a receiver's worker threads."""

    def __init__(self, store: Store, capacity: int = _CAPACITY) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._traces = _Lru(capacity)
        self._hosts = _Lru(capacity)
        self._sessions = _Lru(capacity)
        self._misses: OrderedDict[str, float] = OrderedDict()

    def assign(self, items: Sequence[Clues]) -> None:
        """Fill in `agent` and `how` for the items no token or resource attribute named an agent for:
        by trace, then host agent id, then session (see the module's order).

        Items with the same clues are mapped once (a batch is a few traces and sessions, thousands of
        items), and the store is asked once per distinct trace, host agent or session, at most a few
        times per request.
        """
        groups: dict[tuple[str, str | None, str | None, str | None], list[Clues]] = {}
        for item in items:
            groups.setdefault((item.trace_id, item.host_agent, item.session, item.session_key), []).append(item)
        firsts = [group[0] for group in groups.values()]
        budget = [_LOOKUPS_PER_BATCH]
        for item in firsts:
            if item.agent is None:
                agent = self._by_trace(item.trace_id, budget)
                if agent:
                    item.agent, item.how = agent, "trace"
        self.learn(firsts)
        for item in firsts:
            if item.agent is None and item.host_agent:
                agent = self._by_attribute(self._hosts, HOST_AGENT_KEYS[0], item.host_agent, item.start_ns, budget)
                if agent:
                    item.agent, item.how = agent, "host_agent"
        self.learn(firsts)
        for item in firsts:
            if item.agent is None and item.session and item.session_key:
                agent = self._by_attribute(self._sessions, item.session_key, item.session, item.start_ns, budget)
                if agent:
                    item.agent, item.how = agent, "session"
        self.learn(firsts)
        for first, *rest in groups.values():
            for item in rest:
                item.agent, item.how = first.agent, first.how

    def learn(self, items: Iterable[Clues]) -> None:
        """Remember the agents items were mapped to (here, or by token or resource attribute elsewhere)."""
        with self._lock:
            for item in items:
                if item.agent is None:
                    continue
                self._traces.put(item.trace_id, item.agent)
                if item.host_agent:
                    self._hosts.put(item.host_agent, item.agent)
                if item.session:
                    self._sessions.put(item.session, item.agent)

    def _missed_recently(self, key: str) -> bool:
        with self._lock:
            when = self._misses.get(key)
        return when is not None and time.monotonic() - when < _MISS_TTL_S

    def _miss(self, key: str) -> None:
        with self._lock:
            self._misses[key] = time.monotonic()
            while len(self._misses) > _CAPACITY:
                self._misses.popitem(last=False)

    def _by_trace(self, trace_id: str, budget: list[int]) -> str | None:
        with self._lock:
            known = self._traces.get(trace_id)
        if known or self._missed_recently("t:" + trace_id) or budget[0] <= 0:
            return known
        budget[0] -= 1
        # otel-mcp's own spans in that trace (the audit span of the host's MCP call, its records).
        for span in self._store.trace(trace_id, 50):
            if span.source != "external" and span.agent_id:
                with self._lock:
                    self._traces.put(trace_id, span.agent_id)
                return span.agent_id
        self._miss("t:" + trace_id)
        return None

    def _by_attribute(self, known: _Lru, key: str, value: str, when_ns: int, budget: list[int]) -> str | None:
        """The agent an earlier received item with `key == value` was mapped to (remembered, else the store's)."""
        with self._lock:
            agent = known.get(value)
        miss = f"{key}:{value}"
        if agent or self._missed_recently(miss) or budget[0] <= 0:
            return agent
        budget[0] -= 1
        since = (when_ns or time.time_ns()) - _LOOKBACK_NS
        flt = SpanFilter(source="external", since_ns=since, where=(Predicate(key, "==", value),), limit=20)
        for span in self._store.find_spans(flt):
            if span.agent_id:
                with self._lock:
                    known.put(value, span.agent_id)
                return span.agent_id
        self._miss(miss)
        return None
