"""One `sandbox_worker` process seen from the server: start it, ask it one thing, or kill it.

Every wait has a deadline. A worker that has not answered by then is killed (SIGKILL: a query stuck
inside one SQLite call cannot be interrupted any other way), and the caller starts a fresh one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from otel_mcp.store.sqlite import sandbox_worker

__all__ = ["WorkerGone", "WorkerProcess", "WorkerTimedOut"]

_WORKER = Path(sandbox_worker.__file__)


class WorkerTimedOut(Exception):
    """The worker did not answer by the deadline; it has been killed."""


class WorkerGone(Exception):
    """The worker exited, or answered something that is not one JSON line; it has been killed."""


class WorkerProcess:
    """A running worker over one store file; used by one thread at a time."""

    def __init__(self, path: Path, settings: dict[str, Any], start_timeout_s: float) -> None:
        # -I: no PYTHON* variables, user site or current directory; an empty environment: the worker
        # needs none of the server's (which may hold the attestation key).
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(_WORKER), str(path), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={},
            start_new_session=True,  # a Ctrl-C in the server's terminal is for the server to handle
        )
        self._buffer = b""
        ready = self.receive(time.monotonic() + start_timeout_s, 1 << 16)
        if "error" in ready:
            self.kill()
            raise WorkerGone(ready["error"]["message"])

    @property
    def pid(self) -> int:
        return self._proc.pid

    def ask(self, request: dict[str, Any], deadline: float, max_bytes: int) -> dict[str, Any]:
        """Send one request; its answer by `deadline` (monotonic), at most `max_bytes` long."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request, ensure_ascii=True).encode("ascii") + b"\n")
            self._proc.stdin.flush()
        except OSError:
            self.kill()
            raise WorkerGone("the query process had exited") from None
        return self.receive(deadline, max_bytes)

    def receive(self, deadline: float, max_bytes: int) -> dict[str, Any]:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.kill()
                raise WorkerTimedOut()
            chunk = os.read(fd, 1 << 16)
            if not chunk or len(self._buffer) + len(chunk) > max_bytes:
                self.kill()
                raise WorkerGone("the query process stopped without an answer" if not chunk else "answer too long")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            self.kill()
            raise WorkerGone("the query process answered something unreadable") from None
        if not isinstance(answer, dict):
            self.kill()
            raise WorkerGone("the query process answered something unreadable")
        return answer

    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """Stop the worker now, whatever it is doing, and reap it."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._close_pipes()

    def close(self, timeout_s: float = 1.0) -> None:
        """Let an idle worker exit on end of input; kill it if it does not in time."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
