"""Hosts' own OpenTelemetry into the store: prepared rows (`otlp_rows`) mapped to agents and written.

This is the part that needs the server's state, kept small so a full batch costs the server process
milliseconds: the rows arrive finished except for the items whose agent only `AgentMap` can tell
(the trace of an agent's MCP call, a host agent id or session seen before); those are mapped once
per distinct set of clues, with one store look-up per distinct trace, host agent or session, then
finished and encoded (by the workers again, when there are many). Each request is then one
`Store.export_rows` call (one transaction on SQLite): stored whole or not at all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from otel_mcp.store.base import Store
from otel_mcp.telemetry.decode_pool import DecodePool
from otel_mcp.telemetry.host_agents import AgentMap
from otel_mcp.telemetry.otlp_rows import PreparedRows, finish

__all__ = ["IngestResult", "Ingestor"]

# After each of its writes the receiver leaves the store's write lock free this long: agents' writers,
# which try for it every millisecond, get in between a flood of requests instead of after it.
_WRITE_GAP_S = 0.002
# Fewer pending items than this are finished here: a worker's round trip costs more than they do.
_FINISH_ELSEWHERE = 64


@dataclass(slots=True)
class IngestResult:
    """What one request came to: items stored, and refused (with why)."""

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


class Ingestor:
    """Writes prepared requests into the store; one instance per receiver, thread-safe."""

    def __init__(self, store: Store, agents: AgentMap | None = None) -> None:
        self.store = store
        self.agents = agents or AgentMap(store)
        self._turn = threading.Lock()  # one write of the receiver's at a time, each after the gap
        self._free_at = 0.0

    def ingest(self, prepared: PreparedRows, workers: DecodePool | None = None) -> IngestResult:
        """Map the pending items, then write every row in one store call.

        Many pending items are finished and encoded by `workers` (~50 µs each). A store failure, or
        WorkerLost, propagates with nothing written.
        """
        self.agents.learn(prepared.learned)
        rows = prepared.rows
        pending = prepared.pending
        if pending:
            self.agents.assign([item.clues for item in pending])
            encode = self.store.row_encoder()
            if workers is not None and len(pending) >= _FINISH_ELSEWHERE:
                rows = [*rows, *workers.finish(pending, encode)]
            else:
                rows = [*rows, *(encode(finish(item)) for item in pending)]
        if rows:
            with self._turn:
                wait = self._free_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    self.store.export_rows(rows)  # one transaction: all of them or none
                finally:
                    self._free_at = time.monotonic() + _WRITE_GAP_S
        return IngestResult(len(rows), prepared.rejected, list(prepared.reasons))
