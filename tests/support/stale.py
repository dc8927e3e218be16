"""Shared by the stale-state tests (issue 20): a gate that guards completion, and a wait for still files."""

from __future__ import annotations

import time
from pathlib import Path

SHIP_GATE = """\
gates:
  - name: ship
    guards: {task_types: [code_generation], status: complete}
    requires_gates: [security]
"""


def wait_still(*roots: Path) -> None:
    """Wait (bounded, 10 s) until every file below `roots` last changed over two seconds ago, so the
    server's two-second re-read of recently written files does not mask what is tested."""
    newest = max(max(p.lstat().st_mtime, p.lstat().st_ctime) for r in roots for p in r.rglob("*"))
    deadline = time.time() + 10
    while time.time() < newest + 2.2 and time.time() < deadline:
        time.sleep(0.1)
