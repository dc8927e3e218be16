"""Appending a claim event on an append-only store (ClickHouse): append, wait until visible and settled, fold.

See `otel_mcp.core.claims.service` for the assumptions this rests on.
"""

from __future__ import annotations

import time

from otel_mcp.core.claims._state import _Appended, _ClaimState, _Request
from otel_mcp.core.claims.fold import NS
from otel_mcp.errors import StoreUnavailable
from otel_mcp.store.base import CLAIM_SPAN, RELEASE_SPAN
from otel_mcp.telemetry import ref


class _ThenSettle(_ClaimState):
    """The claim service's append-then-settle (a part of `ClaimService`)."""

    def _append_then_settle(self, request: _Request) -> _Appended:
        task_id, action = request.task_id, request.action
        anchor, latest = self._task_records(task_id, action)
        attrs = self._attributes(request)
        start = self.now_ns()
        name = CLAIM_SPAN if action == "claim" else RELEASE_SPAN
        record = self.telemetry.spans.emit(name, attrs, parent=ref(anchor), start_ns=start, end_ns=start)
        deadline = time.monotonic() + self.visible_timeout_s
        delay = 0.01
        while True:
            events = self.store.claim_events([task_id])
            if any(e.span_id == record.span_id for e in events):
                break
            if time.monotonic() >= deadline:
                if action == "claim":
                    # If the claim surfaces later and wins the fold, this release frees the task again.
                    release = self._attributes(_Request(task_id, "release"))
                    self.telemetry.spans.emit(RELEASE_SPAN, release, parent=ref(anchor))
                raise StoreUnavailable(
                    f"the {action} of {task_id!r} was written (span {record.span_id}) but did not "
                    f"become readable within {self.visible_timeout_s:g}s, so its outcome is unknown; retry the call"
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.5)
        # Wait out the window in which an earlier-stamped claim could still appear, then fold again.
        settle_until = start + int(self.settle_s * NS)
        while (now := self.now_ns()) < settle_until:
            self._sleep((settle_until - now) / NS)
        events = self.store.claim_events([task_id])
        world = self._fold(task_id, events, start, any(e.paths for e in events))
        lease = world.task(task_id).lease_at(max(start, now))
        outcome, blockers = world.outcomes[record.span_id], world.blocked.get(record.span_id, ())
        return _Appended(outcome, record.span_id, lease, latest, blockers)
