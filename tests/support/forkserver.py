"""`otel-mcp serve` processes for unit tests, forked from a pre-imported zygote instead of spawned.

A fresh `python -m otel_mcp serve` spends about a second of CPU importing (`import mcp` builds the
SDK's pydantic models); the unit tests start some 150 of them. Here each pytest worker starts one
zygote (`forkserver_zygote`) on first use, which imports all that once and starts no thread. A test's
server command is then the stdlib-only `forkserver_launcher` (`python -S -I`, ~20 ms): it hands its
stdio, argv, env and cwd to the zygote, which forks a child set up as a fresh interpreter would be.
The launcher is the process the test (or the MCP SDK) holds: signals to it reach the server, it exits
as the server did, and the server dies with it, even by SIGKILL.

Measured on this machine (`python -m tests.support.forkserver`: CPU from start to the answer to
`initialize`, median of 5; launcher + forked child vs `python -m otel_mcp serve`): 0.12-0.14 s
against 1.10-1.15 s, ~9x less. What remains is the server's own start (store, tools); the zygote
itself costs ~1.2 s once per worker.

What stays a real spawn (`fork=False` on the helpers): the e2e tests that start servers the way a
host does (the README's config command, start-up in home or `/`), tests of start-up itself (time,
logs, silence, import cost, memory), and tests that read `/proc/<pid>` or signal the server's pid:
the pid a test holds is the launcher's, not the server's. Races of many servers over one store fork
theirs: what they prove is between running processes, not in how each one started.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.processes import cpu_seconds, end

__all__ = ["forked_pids", "otel_mcp_command", "server_command", "stop"]

REPO = Path(__file__).resolve().parent.parent.parent
_HERE = Path(__file__).resolve().parent
_LAUNCHER = _HERE / "forkserver_launcher.py"
_ZYGOTE = _HERE / "forkserver_zygote.py"
# Read by the interpreter at start-up or by a module at import: the zygote runs without them, so a
# child given none of them is what a fresh interpreter is (one given some is refused by the zygote).
_UNSET_IN_ZYGOTE = (
    "PYTHONHOME",
    "PYTHONSAFEPATH",
    "PYTHONNOUSERSITE",
    "PYTHONHASHSEED",
    "PYTHONDEVMODE",
    "PYTHONUTF8",
    "OTEL_PROPAGATORS",
    "OTEL_PYTHON_CONTEXT",
    "OTEL_PYTHON_TRACER_PROVIDER",
    "OTEL_PYTHON_ID_GENERATOR",
)


class _Zygote:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="otel-mcp-zygote-"))
        self.socket = self.dir / "fork.sock"
        self.log = self.dir / "zygote.log"
        env = {k: v for k, v in os.environ.items() if k not in _UNSET_IN_ZYGOTE}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(_ZYGOTE), str(self.socket), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=REPO,
            )
        deadline = time.monotonic() + 60.0  # a bound: the zygote listens after ~1.5 s of imports
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"the fork server did not start: {self.log.read_text(errors='replace')}")
            time.sleep(0.02)

    def stop(self) -> None:
        end(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


_zygote: _Zygote | None = None


def _socket() -> Path:
    """This worker's zygote socket, starting the zygote on first use (or after it died)."""
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        if _zygote is not None:
            _zygote.stop()
        _zygote = _Zygote()
    return _zygote.socket


def server_command(args: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The argv that runs `python -m otel_mcp ARGS` as a child forked from this worker's zygote.

    `env`, when given, is checked for what a fork cannot honour (another PYTHONPATH, a variable the
    interpreter reads at start-up): such a test must use a real spawn.
    """
    for name in _UNSET_IN_ZYGOTE:
        if env and env.get(name):
            raise ValueError(f"a forked server cannot take {name}; start this server with fork=False")
    allowed = {str(REPO), *os.environ.get("PYTHONPATH", "").split(os.pathsep)}
    extra = [p for p in (env or {}).get("PYTHONPATH", "").split(os.pathsep) if p and p not in allowed]
    if extra:
        raise ValueError(f"a forked server cannot take PYTHONPATH {extra}; start this server with fork=False")
    return [sys.executable, "-S", "-I", str(_LAUNCHER), str(_socket()), "--", *args]


def otel_mcp_command(args: Sequence[str], env: Mapping[str, str] | None = None, *, fork: bool = True) -> list[str]:
    """The argv of `python -m otel_mcp ARGS`: forked from the zygote, or (`fork=False`) a real spawn."""
    return server_command(args, env) if fork else [sys.executable, "-m", "otel_mcp", *args]


def forked_pids() -> list[int]:
    """The pids of the servers this worker's zygote is running now (not the launchers' pids)."""
    if _zygote is None or _zygote.proc.poll() is not None:
        return []
    pid = _zygote.proc.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def stop() -> None:
    """Stop this worker's zygote (the session's end; it also exits by itself when the worker dies)."""
    global _zygote
    if _zygote is not None:
        _zygote.stop()
        _zygote = None


atexit.register(stop)


def _measure(runs: int = 5) -> None:
    """CPU seconds from start to the answer to `initialize`: a real spawn vs launcher + forked child."""
    import json

    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "m", "version": "0"}},
    }
    zygote_socket = _socket()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": os.environ.get("PATH", ""), "OTEL_MCP_DB": f"{tmp}/t.db", "PYTHONPATH": str(REPO)}
        real = [sys.executable, "-m", "otel_mcp", "serve"]
        forked = [sys.executable, "-S", "-I", str(_LAUNCHER), str(zygote_socket), "--", "serve"]
        for name, cmd in (("real spawn", real), ("forked", forked)):
            spent = []
            for _ in range(runs):
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=tmp)
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps(hello).encode() + b"\n")
                proc.stdin.flush()
                assert b'"result"' in proc.stdout.readline()
                pids = [proc.pid, *(forked_pids() if cmd is forked else [])]
                spent.append(sum(cpu_seconds(pid) for pid in pids))
                proc.stdin.close()
                proc.wait(30)
            print(f"{name}: {sorted(spent)[len(spent) // 2]:.3f} s CPU to the first answer (median of {runs})")
    stop()


if __name__ == "__main__":
    _measure()
