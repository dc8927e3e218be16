"""Fixtures the end-to-end modules share across xdist workers."""

from __future__ import annotations

import os

import pytest

from tests.support.ui_browser import SharedDemo, shared_demo


@pytest.fixture(scope="session")
def kept_demo(tmp_path_factory: pytest.TempPathFactory) -> SharedDemo:
    """One `otel-mcp demo --dir` for the whole run: the CLI test reads its output, the browser tests its store."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist every worker's base temp sits in the run's own folder: share that one.
    return shared_demo(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)
