"""On stdio, every request received before input ends is answered before the server exits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import stdio_params


def test_three_calls_piped_in_before_stdin_closes_are_all_answered(db_path: Path) -> None:
    params = stdio_params(db_path, "agent-pipe")
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "p", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *(
            {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {
                    "name": "record_task",
                    "arguments": {"task_id": f"piped/{n}", "task_type": "test", "status": "complete"},
                },
            }
            for n in (2, 3, 4)
        ),
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines).encode()
    done = subprocess.run(
        [params.command, *params.args],
        input=stdin,
        env={**params.env, "PATH": "/usr/bin:/bin"},  # type: ignore[dict-item]
        cwd=params.cwd,
        capture_output=True,
        timeout=60,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    by_id = {a.get("id"): a for a in answers}
    assert set(by_id) >= {1, 2, 3, 4}, f"unanswered: {sorted({1, 2, 3, 4} - set(by_id))}"
    for n in (2, 3, 4):
        assert "result" in by_id[n] and not by_id[n]["result"].get("isError"), by_id[n]
