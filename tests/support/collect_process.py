"""`otel-mcp collect` as a real process on a free loopback port, and OTLP/JSON built per the specification."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import end

__all__ = ["Collector", "hex_ids", "start_collect"]

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class Collector:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        end(self.proc)


def start_collect(
    db: Path, *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 30.0, db_flag: bool = True
) -> Collector:
    """Start `otel-mcp collect --port 0 --db DB` and read the port from its first lines (bounded wait).

    With `db_flag=False` the store comes from the environment (`env`), as `serve` finds it.
    """
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", "collect", "--port", "0", *(("--db", str(db)) if db_flag else ()), *args],
        env=full_env,
        cwd=db.parent if db.parent.exists() else db.parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("store:"):
            port = int(lines[0].split("http://127.0.0.1:")[1].split()[0])
            return Collector(proc, port, lines)
    proc.kill()
    raise RuntimeError("otel-mcp collect did not start: " + "\n".join(lines))


def hex_ids(node: Any, keys: Sequence[str] = ("traceId", "spanId", "parentSpanId")) -> Any:
    """Proto3 JSON (ids in base64) into OTLP/JSON (ids in hex), as the specification requires."""
    if isinstance(node, dict):
        return {
            k: (base64.b64decode(v).hex() if k in keys and isinstance(v, str) else hex_ids(v, keys))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [hex_ids(v, keys) for v in node]
    return node
