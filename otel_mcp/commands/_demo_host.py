"""One demo agent's host sends its own OpenTelemetry, as Claude Code does, to `otel-mcp collect`.

The receiver is the real one (`otel-mcp collect --port 0`, a process of its own started in the
demo's repository, so it writes the store the agents share). The host's log event is shaped as
Claude Code's `claude_code.tool_result` over OTLP/HTTP JSON, with the resource attribute the
README tells users to set (`OTEL_RESOURCE_ATTRIBUTES=otel_mcp.agent.id=...`): it lands on that
agent's timeline as `source=external`, never as evidence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import IO

__all__ = ["HostTelemetry"]

_READY_S = 60.0


class HostTelemetry:
    """A running `otel-mcp collect` and the host side that posts events to it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        # Started at once and waited for only when the first event is sent: it starts beside the agents.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "otel_mcp", "collect", "--port", "0"],
            cwd=root,
            env={**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_MCP_", "CLAUDE_"))}, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._endpoint: str | None = None
        self._first: list[str] = []
        self._read = threading.Thread(target=self._first_line, args=(self._proc.stdout,), daemon=True)
        self._read.start()
        self.session = str(uuid.uuid4())

    def _first_line(self, stream: IO[str] | None) -> None:
        if stream is not None:
            self._first.append(stream.readline())

    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`, once the receiver listens (it prints that line first)."""
        if self._endpoint is None:
            self._read.join(_READY_S)
            line = self._first[0] if self._first else ""
            # "otel-mcp collect: OTLP/HTTP at http://127.0.0.1:PORT (/v1/traces, ...)"
            words = [w for w in line.split() if w.startswith("http://")]
            if not words:
                problem = "" if self._proc.poll() is None else (self._proc.stderr.read() if self._proc.stderr else "")
                raise RuntimeError(f"otel-mcp collect did not start: {(line + problem).strip()[:300]}")
            self._endpoint = words[0]
        return self._endpoint

    def tool_result(self, agent: str, task_id: str, tool: str, duration_ms: int) -> None:
        """POST one `claude_code.tool_result` event, as Claude Code's OTLP log exporter sends it (JSON)."""

        def text(key: str, value: str) -> dict[str, object]:
            return {"key": key, "value": {"stringValue": value}}

        now = str(time.time_ns())
        body = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [
                            text("service.name", "claude-code"),
                            # OTEL_RESOURCE_ATTRIBUTES=otel_mcp.agent.id=...,otel_mcp.task.id=...
                            text("otel_mcp.agent.id", agent),
                            text("otel_mcp.task.id", task_id),
                        ]
                    },
                    "scopeLogs": [
                        {
                            "scope": {"name": "com.anthropic.claude_code.events"},
                            "logRecords": [
                                {
                                    "timeUnixNano": now,
                                    "observedTimeUnixNano": now,
                                    "severityNumber": 9,
                                    "body": {"stringValue": "claude_code.tool_result"},
                                    "attributes": [
                                        text("event.name", "tool_result"),
                                        text("session.id", self.session),
                                        text("tool_name", tool),
                                        text("success", "true"),
                                        text("duration_ms", str(duration_ms)),
                                        text("tool_use_id", f"toolu_{uuid.uuid4().hex[:24]}"),
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        request = urllib.request.Request(
            self.endpoint() + "/v1/logs",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            reply = json.loads(answer.read() or b"{}")
        rejected = (reply.get("partialSuccess") or {}).get("rejectedLogRecords")
        if rejected:
            raise RuntimeError(f"otel-mcp collect rejected the host's event: {reply}")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
