"""Workspace tests count recomputations: the seal's clock runs ten seconds ahead, as if every file
had been still since it was written (a file written within two seconds is not trusted; see
`workspace.seal`, and the test that checks it)."""

from __future__ import annotations

import time

import pytest

from otel_mcp.core.workspace import seal


@pytest.fixture(autouse=True)
def settled_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seal, "_now", lambda: time.time_ns() + 10**10)
