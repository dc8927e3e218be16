"""The OpenTelemetry JavaScript SDK (from npm) sends traces and logs to `otel-mcp collect`.

Its OTLP/HTTP trace exporters speak JSON (`exporter-trace-otlp-http`) and protobuf
(`exporter-trace-otlp-proto`); its logs exporter speaks JSON. The packages are pinned in
tests/support/js/package.json; `.ci/run` installs them, and this module does when they are missing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.collect_process import Collector, start_collect

JS = REPO / "tests" / "support" / "js"


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "these tests need Node.js and npm (.ci/run installs them)"
    if not (JS / "node_modules" / "@opentelemetry" / "sdk-trace").is_dir():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True, timeout=600)
    return Path(node)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = start_collect(tmp_path_factory.mktemp("js") / "telemetry.db")
    try:
        yield c
    finally:
        c.stop()


def _rows(db: Path, trace_id: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM spans WHERE trace_id = ? OR agent_id LIKE 'js-%'", (trace_id,)).fetchall()
    finally:
        con.close()
    return [{**dict(r), "attributes": json.loads(r["attributes"])} for r in rows]


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_the_javascript_sdk_sends_traces_and_logs_that_land_on_the_agent(
    node_sdk: Path, collector: Collector, encoding: str
) -> None:
    agent = f"js-{encoding}-agent"
    done = subprocess.run(
        [str(node_sdk), "send_otlp.mjs", collector.endpoint, encoding, agent],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    db = Path(collector.lines[1].split(" ", 2)[2])  # "store: sqlite <path>"
    rows = [r for r in _rows(db, sent["trace_id"]) if r["agent_id"] == agent]
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"invoke_agent", "execute_tool", "js_host.tool_result"}
    assert by_name["execute_tool"]["trace_id"] == sent["trace_id"]
    assert by_name["execute_tool"]["span_id"] == sent["child"]
    assert by_name["execute_tool"]["parent_span_id"] == sent["root"]
    assert by_name["js_host.tool_result"]["attributes"]["tool_use_id"] == f"toolu_js_{encoding}"
    assert {r["source"] for r in rows} == {"external"}
    assert by_name["invoke_agent"]["attributes"]["service.name"] == f"js-host-{encoding}"
